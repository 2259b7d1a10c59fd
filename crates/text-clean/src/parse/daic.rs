//! DAIC-WOZ `*_TRANSCRIPT.csv` files: despite the extension they are tab-separated, with the
//! header `start_time<TAB>stop_time<TAB>speaker<TAB>value` and times in seconds from the recording start.

use super::ParseError;
use super::lines::Lines;
use crate::transcript::{Speaker, Utterance};
use std::io::BufRead;

const HEADER: [&str; 4] = ["start_time", "stop_time", "speaker", "value"];

/// Streaming DAIC-WOZ reader: one utterance per data row.
///
/// Tolerates CRLF line ends, a missing header, trailing empty columns and empty values
/// (kept as utterances with empty text, so nothing is lost). Rejects non-numeric or negative
/// times, a stop time before the start time, and rows with the wrong number of columns.
pub struct DaicReader<R> {
    lines: Lines<R>,
    failed: bool,
}

impl<R: BufRead> DaicReader<R> {
    /// A reader over `reader`'s lines.
    pub fn new(reader: R) -> Self {
        Self { lines: Lines::new(reader), failed: false }
    }

    fn next_row(&mut self) -> Result<Option<Utterance>, ParseError> {
        loop {
            let Some((line_no, line)) = self.lines.next_line()? else {
                return Ok(None);
            };
            if line.trim().is_empty() {
                continue;
            }
            let mut fields: Vec<&str> = line.split('\t').collect();
            // Trailing tabs produce empty trailing columns: drop them, but never a 4th column
            // (an empty value is legal).
            while fields.len() > 4 && fields.last().is_some_and(|f| f.trim().is_empty()) {
                fields.pop();
            }
            if fields.len() == 3 && line.ends_with('\t') {
                fields.push("");
            }
            if fields.len() != 4 {
                return Err(ParseError::syntax(
                    line_no,
                    format!(
                        "expected 4 tab-separated columns (start_time, stop_time, speaker, value), found {}",
                        fields.len()
                    ),
                ));
            }
            if fields.iter().zip(HEADER).all(|(f, h)| f.trim().eq_ignore_ascii_case(h)) {
                continue;
            }
            let start = parse_time(fields[0], line_no, "start_time")?;
            let stop = parse_time(fields[1], line_no, "stop_time")?;
            if stop < start {
                return Err(ParseError::syntax(line_no, format!("stop_time {stop} is before start_time {start}")));
            }
            let speaker_label = fields[2].trim();
            if speaker_label.is_empty() {
                return Err(ParseError::syntax(line_no, "speaker column is empty"));
            }
            return Ok(Some(Utterance::new(
                Some(start),
                Some(stop),
                Speaker::from_label(speaker_label),
                fields[3].trim(),
            )));
        }
    }
}

fn parse_time(field: &str, line: usize, column: &str) -> Result<f64, ParseError> {
    let value: f64 = field
        .trim()
        .parse()
        .map_err(|_| ParseError::syntax(line, format!("{column} `{}` is not a number", field.trim())))?;
    if !value.is_finite() || value < 0.0 {
        return Err(ParseError::syntax(
            line,
            format!("{column} `{}` is not a finite, non-negative time", field.trim()),
        ));
    }
    Ok(value)
}

impl<R: BufRead> Iterator for DaicReader<R> {
    type Item = Result<Utterance, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.next_row().transpose();
        if matches!(item, Some(Err(_))) {
            self.failed = true;
        }
        item
    }
}

/// True when a line is a DAIC-WOZ header or a data row (two numbers, a speaker, a value).
pub(super) fn looks_like_daic(line: &str) -> bool {
    let fields: Vec<&str> = line.split('\t').collect();
    if fields.len() < 3 {
        return false;
    }
    let header = fields.iter().zip(HEADER).take(3).all(|(f, h)| f.trim().eq_ignore_ascii_case(h));
    let numeric = fields[0].trim().parse::<f64>().is_ok() && fields[1].trim().parse::<f64>().is_ok();
    header || numeric
}
