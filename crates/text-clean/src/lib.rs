//! Interview transcripts in, clean text and non-verbal cues out.
//!
//! This crate is the transcript side of the *Whispers of Sound* pipeline (its "Algorithm 1:
//! remove interjections"), done carefully enough for research use:
//!
//! * **Parsing** ([`parse`]) of DAIC-WOZ `*_TRANSCRIPT.csv` files, plain `Speaker: text`
//!   transcripts, WebVTT and SRT, each as a streaming iterator over a [`std::io::BufRead`],
//!   with typed errors that carry the 1-based line number ([`ParseError`]).
//! * **Cleaning** ([`Cleaner`]) removes the paper's interjections and fillers on word
//!   boundaries, case-insensitively, including elongations (`ummm`), and repairs the
//!   punctuation and capitalisation the removal disturbs. Discourse words such as "well" are
//!   only removed where they act as discourse markers, unless asked otherwise
//!   ([`FillerPosition`]); [`CleanMode::InterjectionsOnly`] keeps fillers altogether.
//! * **Cues**: annotations like `<laughter>`, `[sigh]`, `xxx` and `scrubbed_entry` leave the
//!   text but stay on the utterance as [`Cue`]s: non-verbal information matters here.
//! * **Writing** WebVTT, SRT and DAIC-WOZ TSV ([`write_vtt`], [`write_srt`],
//!   [`write_daic_tsv`]) for timed transcripts such as speech-to-text output.
//! * **Statistics**: removed tokens by category and disfluency / filled-pause rates per 100
//!   words, per utterance, per speaker and per transcript (filled pauses are a known marker of
//!   depressed speech, so they are counted, not just deleted).
//!
//! ```
//! use text_clean::{Cleaner, Format, Speaker, parse_bytes};
//!
//! let tsv = b"start_time\tstop_time\tspeaker\tvalue\n\
//!             1.2\t3.4\tEllie\thow are you doing today\n\
//!             3.9\t7.0\tParticipant\tOh, I don't know what to do! <sigh> Uh, can you help me?\n";
//! let transcript = parse_bytes(tsv, Some(Format::Daic)).unwrap();
//! let cleaned = Cleaner::default().clean_transcript(&transcript);
//! let answer = &cleaned.utterances[1];
//! assert_eq!(answer.speaker, Speaker::Participant);
//! assert_eq!(answer.text, "I don't know what to do! Can you help me?");
//! assert_eq!(answer.cues[0].raw, "<sigh>");
//! assert_eq!(answer.stats.interjections_removed, 2);
//! ```

// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod clean;
mod parse;
mod transcript;
mod write;

pub use clean::{
    Category, CleanConfig, CleanMode, CleanedText, CleanedTranscript, CleanedUtterance, Cleaner, CleaningStats,
    FillerPosition, PAPER_FILLERS, PAPER_INTERJECTIONS, Removal,
};
pub use parse::{
    DaicReader, Format, ParseError, PlainReader, SrtReader, VttReader, detect_format, parse, parse_bytes, parse_path,
};
pub use transcript::{Cue, CueKind, Speaker, Transcript, Utterance};
pub use write::{WriteError, write_daic_tsv, write_srt, write_vtt};
