//! Plain transcripts: one `Speaker: text` per line, no times. A line without a speaker prefix
//! continues the previous utterance (wrapped text); a transcript cannot start with one.

use super::ParseError;
use super::lines::Lines;
use crate::transcript::{Speaker, Utterance};
use std::io::BufRead;

/// Longest speaker label accepted before the colon.
const MAX_LABEL_CHARS: usize = 40;

/// Streaming reader for `Speaker: text` transcripts.
pub struct PlainReader<R> {
    lines: Lines<R>,
    failed: bool,
}

impl<R: BufRead> PlainReader<R> {
    /// A reader over `reader`'s lines.
    pub fn new(reader: R) -> Self {
        Self { lines: Lines::new(reader), failed: false }
    }

    fn next_utterance(&mut self) -> Result<Option<Utterance>, ParseError> {
        let (line_no, line) = loop {
            match self.lines.next_line()? {
                None => return Ok(None),
                Some((_, l)) if l.trim().is_empty() => continue,
                Some(found) => break found,
            }
        };
        let Some((label, text)) = split_speaker(&line) else {
            return Err(ParseError::syntax(line_no, "expected `Speaker: text` (the first utterance needs a speaker)"));
        };
        let mut text = text.trim().to_string();
        // Continuation lines: anything up to the next line that has a speaker prefix.
        while let Some((_, next)) = self.lines.peek_line()? {
            if split_speaker(next).is_some() {
                break;
            }
            let next = next.trim().to_string();
            self.lines.next_line()?;
            if !next.is_empty() {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(&next);
            }
        }
        Ok(Some(Utterance::new(None, None, Speaker::from_label(label), text)))
    }
}

/// Splits `Speaker: text`. The label must start with a letter, be at most 40 characters and
/// contain no sentence punctuation, so that "Note: ..." counts but "I said: no" does not.
pub(crate) fn split_speaker(line: &str) -> Option<(&str, &str)> {
    let (label, text) = line.split_once(':')?;
    let label = label.trim();
    let ok = !label.is_empty()
        && label.chars().count() <= MAX_LABEL_CHARS
        && label.chars().next().is_some_and(char::is_alphabetic)
        && label.split_whitespace().count() <= 3
        && !label.chars().any(|c| matches!(c, '.' | ',' | '!' | '?' | ';' | '"' | '<' | '>' | '[' | ']'))
        && !label.split_whitespace().any(is_common_word);
    ok.then_some((label, text))
}

/// Words that start sentences but are never speaker names; rejects "I said: no".
fn is_common_word(w: &str) -> bool {
    matches!(
        w.to_lowercase().as_str(),
        "said" | "says" | "asked" | "told" | "was" | "is" | "the" | "and" | "but" | "so" | "then" | "because"
    )
}

impl<R: BufRead> Iterator for PlainReader<R> {
    type Item = Result<Utterance, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.next_utterance().transpose();
        if matches!(item, Some(Err(_))) {
            self.failed = true;
        }
        item
    }
}
