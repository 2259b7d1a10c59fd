//! Transcript parsers. Each format has a streaming reader (an iterator of utterances over any
//! [`BufRead`]); [`parse`] collects one, and [`detect_format`] picks the format from content
//! and file extension.

mod daic;
mod lines;
mod plain;
mod subtitle;

pub use daic::DaicReader;
pub use plain::PlainReader;
pub use subtitle::{SrtReader, VttReader};

use crate::transcript::{Transcript, Utterance};
use std::io::{BufRead, Read};
use std::path::Path;

/// The transcript formats this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// DAIC-WOZ `*_TRANSCRIPT.csv`: tab-separated `start_time stop_time speaker value`.
    Daic,
    /// One `Speaker: text` per line, no times.
    Plain,
    /// WebVTT subtitles.
    Vtt,
    /// SubRip subtitles.
    Srt,
}

impl Format {
    /// The format's short name, as accepted by [`Format::from_name`].
    pub fn name(self) -> &'static str {
        match self {
            Format::Daic => "daic",
            Format::Plain => "plain",
            Format::Vtt => "vtt",
            Format::Srt => "srt",
        }
    }

    /// Parses a short name (`daic`, `plain`, `vtt`, `srt`; also `tsv`, `txt`, `webvtt`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "daic" | "daic-woz" | "tsv" | "csv" => Some(Format::Daic),
            "plain" | "txt" | "text" => Some(Format::Plain),
            "vtt" | "webvtt" => Some(Format::Vtt),
            "srt" | "subrip" => Some(Format::Srt),
            _ => None,
        }
    }
}

/// Why a transcript could not be parsed. Every variant that concerns content carries the
/// 1-based line number where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// A line the format does not allow.
    #[error("line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// Bytes that are not UTF-8.
    #[error("line {line}: text is not valid UTF-8")]
    InvalidUtf8 {
        /// 1-based line number.
        line: usize,
    },
    /// Reading the source failed.
    #[error("reading transcript: {0}")]
    Io(#[from] std::io::Error),
}

impl ParseError {
    pub(crate) fn syntax(line: usize, reason: impl Into<String>) -> Self {
        ParseError::Syntax { line, reason: reason.into() }
    }

    /// The 1-based line the error refers to, if it concerns content.
    pub fn line(&self) -> Option<usize> {
        match self {
            ParseError::Syntax { line, .. } | ParseError::InvalidUtf8 { line } => Some(*line),
            ParseError::Io(_) => None,
        }
    }
}

/// Guesses the format from the first bytes of a file and, when the content is not decisive,
/// from its extension. Content wins because files are often misnamed (`.txt` subtitles).
pub fn detect_format(head: &[u8], path: Option<&Path>) -> Format {
    let text = String::from_utf8_lossy(head);
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    let second = lines.next().unwrap_or("");
    if first.starts_with("WEBVTT") {
        return Format::Vtt;
    }
    if first.chars().all(|c| c.is_ascii_digit()) && !first.is_empty() && second.contains("-->") {
        return Format::Srt;
    }
    if first.contains("-->") {
        // Cues without a header or index: treat as WebVTT, which allows `.` in times.
        return Format::Vtt;
    }
    if daic::looks_like_daic(first) || daic::looks_like_daic(second) {
        return Format::Daic;
    }
    let ext = path.and_then(|p| p.extension()).and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("vtt") => Format::Vtt,
        Some("srt") => Format::Srt,
        Some("csv") | Some("tsv") => Format::Daic,
        _ => Format::Plain,
    }
}

/// Parses a whole transcript in the given format.
pub fn parse<R: BufRead>(reader: R, format: Format) -> Result<Transcript, ParseError> {
    let utterances = match format {
        Format::Daic => DaicReader::new(reader).collect::<Result<Vec<Utterance>, _>>()?,
        Format::Plain => PlainReader::new(reader).collect::<Result<Vec<Utterance>, _>>()?,
        Format::Vtt => VttReader::new(reader).collect::<Result<Vec<Utterance>, _>>()?,
        Format::Srt => SrtReader::new(reader).collect::<Result<Vec<Utterance>, _>>()?,
    };
    Ok(Transcript { utterances })
}

/// Parses bytes, detecting the format when `format` is `None`.
pub fn parse_bytes(bytes: &[u8], format: Option<Format>) -> Result<Transcript, ParseError> {
    let format = format.unwrap_or_else(|| detect_format(bytes, None));
    parse(bytes, format)
}

/// Opens and parses a file, detecting the format when `format` is `None`.
pub fn parse_path(path: &Path, format: Option<Format>) -> Result<Transcript, ParseError> {
    let file = std::fs::File::open(path)?;
    let mut reader = std::io::BufReader::new(file);
    let mut head = Vec::with_capacity(4096);
    (&mut reader).take(4096).read_to_end(&mut head)?;
    let format = format.unwrap_or_else(|| detect_format(&head, Some(path)));
    parse(head.as_slice().chain(reader), format)
}
