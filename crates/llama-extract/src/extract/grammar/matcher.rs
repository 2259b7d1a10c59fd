//! Feeding text to the compiled schema one character at a time: a stack of frames, one per
//! open value, that says whether a character extends a valid prefix and how the document can
//! be closed.

use super::*;

impl Grammar {
    /// A matcher at the start of a document.
    pub fn matcher(&self) -> Matcher<'_> {
        Matcher { grammar: self, stack: vec![Frame::Value(self.root)], last_index: None, quoted: None }
    }
}

#[derive(Debug, Clone)]
enum Frame<'g> {
    /// Text that must follow verbatim, from byte `pos`.
    Literal(&'g str, usize),
    /// A value of this shape starts here.
    Value(ShapeId),
    /// Inside an array after `count` items.
    ArrayNext {
        item: ShapeId,
        count: usize,
        min: usize,
        max: usize,
    },
    /// Inside a free string; `escape` holds what follows an open backslash (`u`, `u0`, ...).
    Str {
        chars: usize,
        min: usize,
        max: usize,
        prose: bool,
        escape: Option<String>,
    },
    Enum {
        shape: ShapeId,
        prefix: String,
    },
    Int {
        shape: ShapeId,
        digits: String,
        /// Quote first: the utterances the quote just written occurs in (a subset of the
        /// shape's values), which replace them.
        only: Option<Vec<u64>>,
    },
    Unit {
        text: String,
        min: f64,
    },
    /// Inside a verbatim quote: the candidate (utterance, byte offset) pairs where the text so
    /// far occurs, `len` bytes of it.
    Quote {
        starts: Vec<(u64, usize)>,
        /// Quote first: the index shape that follows and is narrowed to where the quote occurs.
        names_index: Option<ShapeId>,
        len: usize,
        chars: usize,
        max: usize,
        /// After a backslash: the next character names the escaped one.
        escaping: bool,
    },
}

/// JSON's one-letter escapes: the letter after the backslash, and the character it stands for.
const SHORT_ESCAPES: [(char, char); 8] =
    [('"', '"'), ('\\', '\\'), ('/', '/'), ('b', '\u{8}'), ('f', '\u{c}'), ('n', '\n'), ('r', '\r'), ('t', '\t')];

/// Whether `c` may follow the escape text `esc` (what came after the backslash so far). Lone
/// surrogates (`\uD800`–`\uDFFF`) are refused at their second digit, so every accepted prefix
/// still has a completion that JSON parsers accept.
fn escape_extends(esc: &str, c: char) -> bool {
    match esc.len() {
        0 => c == 'u' || unescape_short(c).is_some(),
        2 if esc[1..].eq_ignore_ascii_case("d") => matches!(c, '0'..='7'),
        1..=4 => esc.starts_with('u') && c.is_ascii_hexdigit(),
        _ => false,
    }
}

fn escape_complete(esc: &str) -> bool {
    (esc.len() == 1 && esc != "u") || esc.len() == 5
}

/// The character a one-letter escape stands for (`\u` escapes are not offered inside quotes).
fn unescape_short(letter: char) -> Option<char> {
    SHORT_ESCAPES.iter().find(|e| e.0 == letter).map(|e| e.1)
}

/// The letter that escapes `decoded` (the inverse of [`unescape_short`]).
fn escape_letter(decoded: char) -> Option<char> {
    SHORT_ESCAPES.iter().find(|e| e.1 == decoded).map(|e| e.0)
}

/// The automaton's state: a stack of what must come next.
#[derive(Debug, Clone)]
pub struct Matcher<'g> {
    grammar: &'g Grammar,
    stack: Vec<Frame<'g>>,
    last_index: Option<u64>,
    /// The utterances the last quote written before its index occurs in, for that index shape.
    quoted: Option<(ShapeId, Vec<u64>)>,
}

/// Letters, digits and in-word apostrophes (`can't` is one word, as [`super::ground`] reads it).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '\'' || c == '\u{2019}'
}

/// Byte offsets where a word starts: a letter or digit not preceded by a word character (a
/// verbatim quote begins at one of these).
fn word_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.char_indices()
        .filter(|&(i, c)| c.is_alphanumeric() && !text[..i].chars().next_back().is_some_and(is_word_char))
        .map(|(i, _)| i)
}

/// Whether a verbatim quote can be taken from `text` (it has a word start). Only such
/// utterances may be offered for citing ([`Narrowing::utterances`]).
pub fn is_citable(text: &str) -> bool {
    word_starts(text).next().is_some()
}

/// `t` is a whole number of the unit-interval syntax and at least `min`.
fn unit_complete(t: &str, min: f64) -> bool {
    let syntax = matches!(t, "0" | "1" | "1.0") || (t.starts_with("0.") && t.len() > 2);
    syntax && t.parse::<f64>().is_ok_and(|v| v >= min)
}

/// The largest value a number starting with `t` can still reach (three decimals at most).
fn unit_reach(t: &str) -> f64 {
    if t.is_empty() || t.starts_with('1') {
        return 1.0;
    }
    let digits = t.strip_prefix("0.").unwrap_or("");
    format!("0.{digits:9<3}").parse().unwrap_or(0.0)
}

/// `t + c` is a prefix of the syntax from which a value of at least `min` is reachable.
fn unit_extends(t: &str, c: char, min: f64) -> bool {
    let syntax = match (t, c) {
        ("", '0' | '1') => true,
        ("0", '.') | ("1", '.') => true,
        ("1.", '0') => true,
        _ => t.starts_with("0.") && t.len() < 5 && c.is_ascii_digit(),
    };
    syntax && unit_reach(&format!("{t}{c}")) >= min
}

impl<'g> Matcher<'g> {
    /// The document is complete: nothing more may follow.
    pub fn is_done(&self) -> bool {
        self.stack.is_empty()
    }

    /// Inside a free string with room for at least `chars` more characters.
    /// `Some((room, prose))` once a prose string has its first character (before that only a
    /// letter may come, so the tokens are searched one by one).
    pub fn free_string_room(&self) -> Option<(usize, bool)> {
        match self.stack.last() {
            Some(Frame::Str { chars, max, prose, escape: None, .. }) if !*prose || *chars > 0 => {
                Some((max - chars, *prose))
            }
            _ => None,
        }
    }

    /// At the first character of a prose string (which must be a letter) with room for
    /// `Some(chars)` characters.
    pub fn prose_start_room(&self) -> Option<usize> {
        match self.stack.last() {
            Some(Frame::Str { chars: 0, max, prose: true, escape: None, .. }) => Some(*max),
            _ => None,
        }
    }

    /// Feeds all of `text`; false (and the state unspecified) if any character is refused.
    pub fn feed_str(&mut self, text: &str) -> bool {
        text.chars().all(|c| self.feed(c))
    }

    /// Feeds one character; false (state unchanged) if the grammar refuses it.
    // One match over the automaton's frame kinds (~180 lines): the pushdown machine's whole
    // transition table in one place, with the undo copy shared by every arm.
    pub fn feed(&mut self, c: char) -> bool {
        let mut copy: Option<Vec<Frame<'g>>> = None;
        // Expansions and pops before the character is consumed are undone on refusal.
        loop {
            let g = self.grammar;
            let Some(top) = self.stack.last_mut() else {
                return self.refuse(copy);
            };
            match top {
                Frame::Literal(s, pos) => {
                    let s: &str = s;
                    return if s[*pos..].starts_with(c) {
                        *pos += c.len_utf8();
                        if *pos == s.len() {
                            self.stack.pop();
                        }
                        true
                    } else {
                        self.refuse(copy)
                    };
                }
                Frame::Value(id) => {
                    let id = *id;
                    copy.get_or_insert_with(|| self.stack.clone());
                    self.stack.pop();
                    self.expand(id);
                }
                Frame::ArrayNext { item, count, min, max } => {
                    if c == ']' {
                        if *count < *min {
                            return self.refuse(copy);
                        }
                        self.stack.pop();
                        return true;
                    }
                    if *count >= *max {
                        return self.refuse(copy);
                    }
                    let (item, first) = (*item, *count == 0);
                    if !first && c != ',' {
                        return self.refuse(copy);
                    }
                    if first {
                        copy.get_or_insert_with(|| self.stack.clone());
                    }
                    if let Some(Frame::ArrayNext { count, .. }) = self.stack.last_mut() {
                        *count += 1;
                    }
                    self.stack.push(Frame::Value(item));
                    if first {
                        continue;
                    }
                    return true;
                }
                Frame::Str { chars, min, max, prose, escape } => {
                    if let Some(esc) = escape {
                        if !escape_extends(esc, c) {
                            return self.refuse(copy);
                        }
                        esc.push(c);
                        if escape_complete(esc) {
                            *escape = None;
                            *chars += 1;
                        }
                        return true;
                    }
                    if c == '"' {
                        if *chars < *min {
                            return self.refuse(copy);
                        }
                        self.stack.pop();
                        return true;
                    }
                    let prose_refuses = *prose && (!is_prose_char(c) || (*chars == 0 && !c.is_alphabetic()));
                    if c.is_control() || *chars >= *max || prose_refuses {
                        return self.refuse(copy);
                    }
                    if c == '\\' {
                        *escape = Some(String::new());
                    } else {
                        *chars += 1;
                    }
                    return true;
                }
                Frame::Enum { shape, prefix } => {
                    let Shape::Enum(options) = &g.shapes[*shape] else { return self.refuse(copy) };
                    if c == '"' {
                        if options.iter().any(|o| o == prefix) {
                            self.stack.pop();
                            return true;
                        }
                        return self.refuse(copy);
                    }
                    prefix.push(c);
                    if options.iter().any(|o| o.starts_with(prefix.as_str())) {
                        return true;
                    }
                    prefix.pop();
                    return self.refuse(copy);
                }
                Frame::Int { shape, digits, only } => {
                    let Shape::Integer(options) = &g.shapes[*shape] else { return self.refuse(copy) };
                    let options = only.as_deref().unwrap_or(options);
                    if c.is_ascii_digit() {
                        digits.push(c);
                        // No leading zeros: "0" only as itself.
                        let ok = !(digits.len() > 1 && digits.starts_with('0'))
                            && options.iter().any(|o| o.to_string().starts_with(digits.as_str()));
                        if ok {
                            return true;
                        }
                        digits.pop();
                        return self.refuse(copy);
                    }
                    let value = digits.parse::<u64>().ok().filter(|v| options.contains(v));
                    match value {
                        Some(v) => {
                            copy.get_or_insert_with(|| self.stack.clone());
                            self.last_index = Some(v);
                            self.stack.pop();
                        }
                        None => return self.refuse(copy),
                    }
                }
                Frame::Unit { text, min } => {
                    if unit_extends(text, c, *min) {
                        text.push(c);
                        return true;
                    }
                    if unit_complete(text, *min) {
                        copy.get_or_insert_with(|| self.stack.clone());
                        self.stack.pop();
                    } else {
                        return self.refuse(copy);
                    }
                }
                Frame::Quote { starts, names_index, len, chars, max, escaping } => {
                    let l = *len;
                    // What follows a candidate in its utterance.
                    let rest = |&(u, s): &(u64, usize)| g.utterances.get(&u).map_or("", |t| &t[s + l..]);
                    // An escape stands for one character of the utterance (`\"`, `\\`, `\n`...).
                    let c = if *escaping {
                        match unescape_short(c) {
                            Some(decoded) => decoded,
                            None => return self.refuse(copy),
                        }
                    } else if c == '\\'
                        && *chars < *max
                        && l > 0
                        && starts.iter().any(|s| rest(s).chars().next().and_then(escape_letter).is_some())
                    {
                        *escaping = true;
                        return true;
                    } else {
                        c
                    };
                    if c == '"' && !*escaping {
                        // Whole words only: close where some candidate ends on a word boundary.
                        let ends: Vec<&(u64, usize)> =
                            starts.iter().filter(|s| !rest(s).starts_with(is_word_char)).collect();
                        if l == 0 || (ends.is_empty() && *chars < *max) {
                            return self.refuse(copy);
                        }
                        if let Some(index) = *names_index {
                            // The index may name only the utterances where the quote is whole words.
                            let from = if ends.is_empty() { starts.iter().collect() } else { ends };
                            let mut found: Vec<u64> = from.iter().map(|s| s.0).collect();
                            found.dedup(); // candidates are grouped by utterance
                            self.quoted = Some((index, found));
                        }
                        self.stack.pop();
                        return true;
                    }
                    if (c.is_control() && !*escaping) || *chars >= *max {
                        return self.refuse(copy);
                    }
                    let next: Vec<(u64, usize)> = starts.iter().copied().filter(|s| rest(s).starts_with(c)).collect();
                    if next.is_empty() {
                        return self.refuse(copy);
                    }
                    *escaping = false;
                    *starts = next;
                    *len += c.len_utf8();
                    *chars += 1;
                    return true;
                }
            }
        }
    }

    fn refuse(&mut self, copy: Option<Vec<Frame<'g>>>) -> bool {
        if let Some(stack) = copy {
            self.stack = stack;
        }
        false
    }

    fn expand(&mut self, id: ShapeId) {
        let g = self.grammar;
        match &g.shapes[id] {
            Shape::Object(fields, _) if fields.is_empty() => self.stack.push(Frame::Literal("{}", 0)),
            Shape::Object(fields, intros) => {
                self.stack.push(Frame::Literal("}", 0));
                for ((_, shape), intro) in fields.iter().zip(intros).rev() {
                    self.stack.push(Frame::Value(*shape));
                    self.stack.push(Frame::Literal(intro, 0));
                }
            }
            Shape::Array { item, min_items, max_items } => {
                self.stack.push(Frame::ArrayNext { item: *item, count: 0, min: *min_items, max: *max_items });
                self.stack.push(Frame::Literal("[", 0));
            }
            Shape::String { min_chars, max_chars, prose } => {
                let (min, max, prose) = (*min_chars, *max_chars, *prose);
                self.stack.push(Frame::Str { chars: 0, min, max, prose, escape: None });
                self.stack.push(Frame::Literal("\"", 0));
            }
            Shape::Enum(_) => {
                self.stack.push(Frame::Enum { shape: id, prefix: String::new() });
                self.stack.push(Frame::Literal("\"", 0));
            }
            Shape::Integer(_) => {
                let only = self.quoted_for(id).map(<[u64]>::to_vec);
                self.stack.push(Frame::Int { shape: id, digits: String::new(), only })
            }
            Shape::UnitInterval { min } => self.stack.push(Frame::Unit { text: String::new(), min: *min }),
            Shape::Quote { max_chars, names_index } => {
                // Quote first: any utterance the following index admits; else the one it named.
                let from: Vec<u64> = match names_index.map(|i| &g.shapes[i]) {
                    Some(Shape::Integer(options)) => options.clone(),
                    _ => vec![self.last_index.unwrap_or(0)],
                };
                let starts = from
                    .iter()
                    .filter_map(|&u| Some((u, g.utterances.get(&u)?)))
                    .flat_map(|(u, text)| word_starts(text).map(move |s| (u, s)))
                    .collect();
                let (names_index, max) = (*names_index, *max_chars);
                self.stack.push(Frame::Quote { starts, names_index, len: 0, chars: 0, max, escaping: false });
                self.stack.push(Frame::Literal("\"", 0));
            }
        }
    }

    /// The character that closes the innermost open construct soonest.
    fn closing_char(&self) -> Option<char> {
        let g = self.grammar;
        let opening = |id: ShapeId| -> Option<char> {
            Some(match &g.shapes[id] {
                Shape::Object(..) => '{',
                Shape::Array { .. } => '[',
                Shape::String { .. } | Shape::Enum(_) | Shape::Quote { .. } => '"',
                // After a quote written first, the first utterance it occurs in.
                Shape::Integer(options) => {
                    self.quoted_for(id).unwrap_or(options).first()?.to_string().chars().next()?
                }
                Shape::UnitInterval { .. } => '0',
            })
        };
        Some(match self.stack.last()? {
            Frame::Literal(s, pos) => s[*pos..].chars().next()?,
            Frame::Value(id) => opening(*id)?,
            // Too few items: start (or separate) the next one.
            Frame::ArrayNext { item, count: 0, min, .. } if *min > 0 => opening(*item)?,
            Frame::ArrayNext { count, min, .. } if count < min => ',',
            Frame::ArrayNext { .. } => ']',
            // Finish an open escape with its shortest form (`\"` or a hex digit), then close.
            Frame::Str { escape: Some(esc), .. } if esc.is_empty() => '"',
            Frame::Str { escape: Some(_), .. } => '0',
            // Too short: a letter, then padding.
            Frame::Str { chars: 0, min, .. } if *min > 0 => 'N',
            Frame::Str { chars, min, .. } if chars < min => '.',
            Frame::Str { .. } => '"',
            Frame::Quote { starts, len, chars, max, escaping, .. } => {
                let rest = |&(u, s): &(u64, usize)| g.utterances.get(&u).map_or("", |t| &t[s + *len..]);
                if *escaping {
                    // The escape letter for a candidate's next character.
                    return starts.iter().find_map(|s| rest(s).chars().next().and_then(escape_letter));
                }
                match rest(starts.first()?).chars().next() {
                    Some(c) if (*len == 0 || is_word_char(c)) && *chars < *max => c,
                    _ => '"',
                }
            }
            Frame::Enum { shape, prefix } => {
                let Shape::Enum(options) = &g.shapes[*shape] else { return None };
                if options.iter().any(|o| o == prefix) {
                    '"'
                } else {
                    options.iter().find(|o| o.starts_with(prefix.as_str()))?[prefix.len()..].chars().next()?
                }
            }
            Frame::Int { shape, digits, only } => {
                let Shape::Integer(options) = &g.shapes[*shape] else { return None };
                let options = only.as_deref().unwrap_or(options);
                if digits.parse::<u64>().is_ok_and(|v| options.contains(&v)) {
                    // Complete: whatever follows the number closes it.
                    return self.after_pop_closing();
                }
                let s = options.iter().map(u64::to_string).find(|o| o.starts_with(digits.as_str()))?;
                s[digits.len()..].chars().next()?
            }
            Frame::Unit { text, min } => {
                if unit_complete(text, *min) {
                    return self.after_pop_closing();
                }
                // The smallest next character from which the value can still reach `min`.
                "0123456789.".chars().find(|&c| unit_extends(text, c, *min))?
            }
        })
    }

    /// The utterances the quote just written occurs in, when integer shape `id` is its index.
    fn quoted_for(&self, id: ShapeId) -> Option<&[u64]> {
        self.quoted.as_ref().filter(|q| q.0 == id).map(|q| q.1.as_slice())
    }

    fn after_pop_closing(&self) -> Option<char> {
        let mut m = self.clone();
        m.stack.pop();
        m.closing_char()
    }

    /// The shortest text that completes the document from here (empty when done).
    pub fn completion(&self) -> String {
        let mut m = self.clone();
        let mut out = String::new();
        // Each closing character finishes or shrinks a construct; the bound is a safeguard.
        for _ in 0..100_000 {
            if m.is_done() {
                break;
            }
            let Some(c) = m.closing_char() else { break };
            if !m.feed(c) {
                break;
            }
            out.push(c);
        }
        out
    }
}
