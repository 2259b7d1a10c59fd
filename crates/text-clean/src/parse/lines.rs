//! Line reading shared by the parsers: 1-based numbering, CRLF and BOM tolerance, and a typed
//! error for invalid UTF-8 instead of lossy replacement (silent data loss).

use super::ParseError;
use std::io::BufRead;

pub(crate) struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    line_no: usize,
    peeked: Option<(usize, String)>,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self { reader, buf: Vec::new(), line_no: 0, peeked: None }
    }

    /// The next line without its terminator, with its 1-based number; `None` at end of input.
    pub(crate) fn next_line(&mut self) -> Result<Option<(usize, String)>, ParseError> {
        if let Some(p) = self.peeked.take() {
            return Ok(Some(p));
        }
        self.buf.clear();
        let n = self.reader.read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        let mut bytes: &[u8] = &self.buf;
        if let Some(rest) = bytes.strip_suffix(b"\n") {
            bytes = rest;
        }
        if let Some(rest) = bytes.strip_suffix(b"\r") {
            bytes = rest;
        }
        if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF").filter(|_| self.line_no == 1) {
            bytes = rest;
        }
        let line = std::str::from_utf8(bytes).map_err(|_| ParseError::InvalidUtf8 { line: self.line_no })?.to_string();
        Ok(Some((self.line_no, line)))
    }

    /// Looks at the next line without consuming it.
    pub(crate) fn peek_line(&mut self) -> Result<Option<&(usize, String)>, ParseError> {
        if self.peeked.is_none() {
            self.peeked = self.next_line()?;
        }
        Ok(self.peeked.as_ref())
    }
}
