//! Writers for the timed formats the parsers read: WebVTT, SRT and DAIC-WOZ TSV. What they
//! write parses back to the same utterances (times to the millisecond).

use crate::transcript::{Speaker, Transcript, Utterance};
use std::fmt::Write as _;

/// Why a transcript cannot be written in a timed format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// An utterance without times, for a format that needs them.
    #[error("utterance {index} has no start or end time; {format} needs both")]
    MissingTime {
        /// The utterance's index.
        index: usize,
        /// The format being written.
        format: &'static str,
    },
    /// An utterance whose times cannot be written.
    #[error("utterance {index} has a negative, infinite or reversed time")]
    BadTime {
        /// The utterance's index.
        index: usize,
    },
}

fn times(u: &Utterance, index: usize, format: &'static str) -> Result<(f64, f64), WriteError> {
    let (Some(s), Some(e)) = (u.start_s, u.end_s) else {
        return Err(WriteError::MissingTime { index, format });
    };
    if !(s.is_finite() && e.is_finite() && s >= 0.0 && e >= s) {
        return Err(WriteError::BadTime { index });
    }
    Ok((s, e))
}

fn clock(t: f64, sep: char) -> String {
    let ms = (t * 1000.0).round() as u64;
    format!("{:02}:{:02}:{:02}{sep}{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// Text on one line: line breaks and tabs become spaces (cue text and TSV cells are one line).
fn one_line(text: &str) -> String {
    text.split(['\n', '\r', '\t']).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The speaker a format should name, or `None` when unknown.
fn named(speaker: &Speaker) -> Option<&str> {
    match speaker {
        Speaker::Other(name) if name.is_empty() || name == "unknown" => None,
        Speaker::Interviewer => Some("Interviewer"),
        Speaker::Participant => Some("Participant"),
        Speaker::Other(name) => Some(name),
    }
}

/// WebVTT, speakers as voice tags (`<v Participant>`).
pub fn write_vtt(t: &Transcript) -> Result<String, WriteError> {
    let mut out = String::from("WEBVTT\n");
    for (i, u) in t.utterances.iter().enumerate() {
        let (s, e) = times(u, i, "WebVTT")?;
        let _ = write!(out, "\n{} --> {}\n", clock(s, '.'), clock(e, '.'));
        match named(&u.speaker) {
            Some(name) => {
                let _ = writeln!(out, "<v {name}>{}", one_line(&u.text));
            }
            None => {
                let _ = writeln!(out, "{}", one_line(&u.text));
            }
        }
    }
    Ok(out)
}

/// SRT, speakers as a `Name:` prefix.
pub fn write_srt(t: &Transcript) -> Result<String, WriteError> {
    let mut out = String::new();
    for (i, u) in t.utterances.iter().enumerate() {
        let (s, e) = times(u, i, "SRT")?;
        let text = one_line(&u.text);
        let line = match named(&u.speaker) {
            Some(name) => format!("{name}: {text}"),
            None => text,
        };
        let _ = write!(out, "{}\n{} --> {}\n{line}\n\n", i + 1, clock(s, ','), clock(e, ','));
    }
    Ok(out)
}

/// DAIC-WOZ `*_TRANSCRIPT.csv` (tab-separated, with its header); the interviewer is "Ellie" as
/// in the corpus, an unknown speaker "unknown".
pub fn write_daic_tsv(t: &Transcript) -> Result<String, WriteError> {
    let mut out = String::from("start_time\tstop_time\tspeaker\tvalue\n");
    for (i, u) in t.utterances.iter().enumerate() {
        let (s, e) = times(u, i, "DAIC-WOZ TSV")?;
        let speaker = match &u.speaker {
            Speaker::Interviewer => "Ellie",
            Speaker::Participant => "Participant",
            Speaker::Other(name) if name.trim().is_empty() => "unknown",
            Speaker::Other(name) => name.as_str(),
        };
        let _ = writeln!(out, "{s:.3}\t{e:.3}\t{}\t{}", one_line(speaker), one_line(&u.text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, parse_bytes};

    fn sample() -> Transcript {
        Transcript {
            utterances: vec![
                Utterance::new(Some(0.0), Some(2.5), Speaker::Interviewer, "How are you?"),
                Utterance::new(Some(3.25), Some(7.001), Speaker::Participant, "Not great,\nhonestly."),
                Utterance::new(Some(3725.5), Some(3730.0), Speaker::Other("unknown".into()), "machine text"),
            ],
        }
    }

    #[test]
    fn every_writer_parses_back() {
        let t = sample();
        for (text, format) in [
            (write_vtt(&t).unwrap(), Format::Vtt),
            (write_srt(&t).unwrap(), Format::Srt),
            (write_daic_tsv(&t).unwrap(), Format::Daic),
        ] {
            let back = parse_bytes(text.as_bytes(), Some(format)).unwrap();
            assert_eq!(back.utterances.len(), 3, "{format:?}:\n{text}");
            for (a, b) in back.utterances.iter().zip(&t.utterances) {
                assert_eq!(a.text, one_line(&b.text), "{format:?}");
                assert!((a.start_s.unwrap() - b.start_s.unwrap()).abs() < 1e-3, "{format:?}");
                assert!((a.end_s.unwrap() - b.end_s.unwrap()).abs() < 1e-3, "{format:?}");
            }
            assert_eq!(back.utterances[0].speaker, Speaker::Interviewer, "{format:?}");
            assert_eq!(back.utterances[1].speaker, Speaker::Participant, "{format:?}");
            assert_eq!(back.utterances[2].speaker, Speaker::Other("unknown".into()), "{format:?}");
        }
        assert!(write_vtt(&t).unwrap().contains("01:02:05.500 --> 01:02:10.000"));
        assert!(write_srt(&t).unwrap().contains("00:00:07,001"));
    }

    #[test]
    fn untimed_or_reversed_utterances_are_errors() {
        let mut t = sample();
        t.utterances[1].end_s = None;
        assert_eq!(write_srt(&t), Err(WriteError::MissingTime { index: 1, format: "SRT" }));
        let mut t = sample();
        t.utterances[2].end_s = Some(1.0);
        assert_eq!(write_vtt(&t), Err(WriteError::BadTime { index: 2 }));
    }
}
