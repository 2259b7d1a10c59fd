#![doc = include_str!("../README.md")]
// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

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
