//! WebVTT and SRT subtitles. Cue times are kept; the speaker comes from a WebVTT voice tag
//! (`<v Ellie>`), or a `Speaker:` prefix, else it is `Other("unknown")`. Formatting tags are
//! stripped; other angle-bracket annotations (`<laughter>`) stay for the cleaner to turn into cues.

use super::ParseError;
use super::lines::Lines;
use super::plain::split_speaker;
use crate::transcript::{Speaker, Utterance};
use std::collections::VecDeque;
use std::io::BufRead;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    Vtt,
    Srt,
}

/// Streaming WebVTT reader.
pub struct VttReader<R>(CueReader<R>);
/// Streaming SRT reader.
pub struct SrtReader<R>(CueReader<R>);

impl<R: BufRead> VttReader<R> {
    /// A reader over `reader`'s lines.
    pub fn new(reader: R) -> Self {
        Self(CueReader::new(reader, Flavor::Vtt))
    }
}

impl<R: BufRead> SrtReader<R> {
    /// A reader over `reader`'s lines.
    pub fn new(reader: R) -> Self {
        Self(CueReader::new(reader, Flavor::Srt))
    }
}

impl<R: BufRead> Iterator for VttReader<R> {
    type Item = Result<Utterance, ParseError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_item()
    }
}

impl<R: BufRead> Iterator for SrtReader<R> {
    type Item = Result<Utterance, ParseError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next_item()
    }
}

struct CueReader<R> {
    lines: Lines<R>,
    flavor: Flavor,
    started: bool,
    failed: bool,
    pending: VecDeque<Utterance>,
}

impl<R: BufRead> CueReader<R> {
    fn new(reader: R, flavor: Flavor) -> Self {
        Self { lines: Lines::new(reader), flavor, started: false, failed: false, pending: VecDeque::new() }
    }

    fn next_item(&mut self) -> Option<Result<Utterance, ParseError>> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(u) = self.pending.pop_front() {
                return Some(Ok(u));
            }
            match self.read_block() {
                Ok(Some(block)) => {
                    if let Err(e) = self.handle_block(block) {
                        self.failed = true;
                        return Some(Err(e));
                    }
                }
                Ok(None) => return None,
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }

    /// The next run of non-blank lines.
    fn read_block(&mut self) -> Result<Option<Vec<(usize, String)>>, ParseError> {
        let mut block = Vec::new();
        while let Some((n, line)) = self.lines.next_line()? {
            if line.trim().is_empty() {
                if block.is_empty() {
                    continue;
                }
                break;
            }
            block.push((n, line));
        }
        Ok(if block.is_empty() { None } else { Some(block) })
    }

    fn handle_block(&mut self, block: Vec<(usize, String)>) -> Result<(), ParseError> {
        let first_block = !self.started;
        self.started = true;
        let (first_no, first) = &block[0];
        if self.flavor == Flavor::Vtt {
            if first_block && first.starts_with("WEBVTT") {
                return Ok(()); // header block (may carry metadata lines)
            }
            if first_block && !first.contains("-->") {
                return Err(ParseError::syntax(*first_no, "WebVTT file must start with `WEBVTT`"));
            }
            if ["NOTE", "STYLE", "REGION"].iter().any(|k| first.starts_with(k)) {
                return Ok(());
            }
        }
        let timing_at = if first.contains("-->") {
            0
        } else if block.len() > 1 && block[1].1.contains("-->") {
            if self.flavor == Flavor::Srt && first.trim().parse::<u64>().is_err() {
                return Err(ParseError::syntax(
                    *first_no,
                    format!("expected an SRT cue number, found `{}`", first.trim()),
                ));
            }
            1
        } else {
            return Err(ParseError::syntax(*first_no, "expected a cue timing line `start --> end`"));
        };
        let (timing_no, timing) = &block[timing_at];
        let (start, end) = parse_timing(timing, *timing_no, self.flavor)?;
        let mut current: Option<(Speaker, String)> = None;
        for (_, line) in &block[timing_at + 1..] {
            let (voice, text) = strip_tags(line);
            let (speaker, text) = match voice {
                Some(v) => (Some(Speaker::from_label(&v)), text),
                None => match split_speaker(&text) {
                    Some((label, rest)) => (Some(Speaker::from_label(label)), rest.trim().to_string()),
                    None => (None, text),
                },
            };
            let text = text.trim().to_string();
            match (speaker, &mut current) {
                (Some(sp), Some((cur_sp, cur_text))) if sp == *cur_sp => join(cur_text, &text),
                (Some(sp), cur) => {
                    if let Some((s, t)) = cur.take() {
                        self.pending.push_back(Utterance::new(Some(start), Some(end), s, t));
                    }
                    *cur = Some((sp, text));
                }
                (None, Some((_, cur_text))) => join(cur_text, &text),
                (None, cur @ None) => *cur = Some((Speaker::Other("unknown".into()), text)),
            }
        }
        let (speaker, text) = current.unwrap_or((Speaker::Other("unknown".into()), String::new()));
        self.pending.push_back(Utterance::new(Some(start), Some(end), speaker, text));
        Ok(())
    }
}

fn join(acc: &mut String, more: &str) {
    if more.is_empty() {
        return;
    }
    if !acc.is_empty() {
        acc.push(' ');
    }
    acc.push_str(more);
}

fn parse_timing(line: &str, line_no: usize, flavor: Flavor) -> Result<(f64, f64), ParseError> {
    let (a, b) = line.split_once("-->").ok_or_else(|| ParseError::syntax(line_no, "expected `start --> end`"))?;
    // WebVTT cue settings follow the end time after whitespace.
    let b = b.split_whitespace().next().unwrap_or("");
    let start = parse_timestamp(a.trim(), flavor)
        .ok_or_else(|| ParseError::syntax(line_no, format!("bad start timestamp `{}`", a.trim())))?;
    let end =
        parse_timestamp(b, flavor).ok_or_else(|| ParseError::syntax(line_no, format!("bad end timestamp `{b}`")))?;
    if end < start {
        return Err(ParseError::syntax(line_no, format!("cue ends ({end} s) before it starts ({start} s)")));
    }
    Ok((start, end))
}

/// `hh:mm:ss.mmm` or `mm:ss.mmm` (WebVTT), `hh:mm:ss,mmm` (SRT; `.` tolerated).
fn parse_timestamp(s: &str, flavor: Flavor) -> Option<f64> {
    let s = if flavor == Flavor::Srt { s.replace(',', ".") } else { s.to_string() };
    let parts: Vec<&str> = s.split(':').collect();
    let (h, m, sec) = match parts.as_slice() {
        [h, m, sec] => (*h, *m, *sec),
        [m, sec] => ("0", *m, *sec),
        _ => return None,
    };
    let digits = |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_digit());
    let (whole, frac) = sec.split_once('.').unwrap_or((sec, "0"));
    if !digits(h) || !digits(m) || !digits(whole) || !digits(frac) || m.len() > 2 || whole.len() > 2 {
        return None;
    }
    let h: f64 = h.parse().ok()?;
    let m: f64 = m.parse().ok()?;
    let sec: f64 = format!("{whole}.{frac}").parse().ok()?;
    if m >= 60.0 || sec >= 60.0 {
        return None;
    }
    Some(h * 3600.0 + m * 60.0 + sec)
}

/// Removes formatting markup and returns the voice (`<v Name>`) if the line has one.
/// Tags that are not WebVTT/SRT markup are kept as text: they are transcript annotations.
fn strip_tags(line: &str) -> (Option<String>, String) {
    let mut voice = None;
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let Some(close) = after.find('>') else {
            out.push_str(after);
            rest = "";
            break;
        };
        let tag = &after[1..close];
        let name = tag.trim_start_matches('/');
        let head = name.split(|c: char| c == '.' || c.is_whitespace()).next().unwrap_or("");
        let is_timestamp = !tag.is_empty() && tag.chars().all(|c| c.is_ascii_digit() || c == ':' || c == '.');
        match head {
            "v" if !tag.starts_with('/') => {
                let label = name.split_once(char::is_whitespace).map(|x| x.1.trim()).unwrap_or("");
                if !label.is_empty() && voice.is_none() {
                    voice = Some(label.to_string());
                }
            }
            "v" | "c" | "i" | "b" | "u" | "ruby" | "rt" | "lang" | "font" => {}
            _ if is_timestamp => {}
            _ => out.push_str(&after[..=close]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    let out = out
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&lrm;", "")
        .replace("&rlm;", "")
        .replace("&amp;", "&");
    (voice, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_timestamp("00:01:02.500", Flavor::Vtt), Some(62.5));
        assert_eq!(parse_timestamp("01:02.250", Flavor::Vtt), Some(62.25));
        assert_eq!(parse_timestamp("01:00:00,001", Flavor::Srt), Some(3600.001));
        assert_eq!(parse_timestamp("1:61.0", Flavor::Vtt), None);
        assert_eq!(parse_timestamp("a:00.0", Flavor::Vtt), None);
    }

    #[test]
    fn tags() {
        let (v, t) = strip_tags("<v.loud Ellie>How <i>are</i> you<00:00:01.000> doing?</v>");
        assert_eq!(v.as_deref(), Some("Ellie"));
        assert_eq!(t, "How are you doing?");
        let (v, t) = strip_tags("I <laughter> don't know &amp; stuff");
        assert_eq!(v, None);
        assert_eq!(t, "I <laughter> don't know & stuff");
    }
}
