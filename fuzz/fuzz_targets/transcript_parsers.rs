//! Every transcript parser, then the cleaner, on arbitrary bytes: must never panic, and
//! cleaning must be idempotent on whatever parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use text_clean::{Cleaner, Format, parse_bytes};

fuzz_target!(|data: &[u8]| {
    let cleaner = Cleaner::default();
    for format in [None, Some(Format::Daic), Some(Format::Plain), Some(Format::Vtt), Some(Format::Srt)] {
        if let Ok(transcript) = parse_bytes(data, format) {
            for u in &transcript.utterances {
                let once = cleaner.clean_text(&u.text).text;
                assert_eq!(cleaner.clean_text(&once).text, once);
            }
        }
    }
});
