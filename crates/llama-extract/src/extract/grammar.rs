//! Grammar-constrained decoding: a JSON Schema compiled to a character automaton, and a trie of
//! the tokenizer's vocabulary so each step only offers tokens that keep the output a valid
//! prefix of a schema-conformant document.
//!
//! The schema subset is what [`super::schema::ModelOutput`]'s generated schema uses: objects
//! (every `required` property, in that order), arrays with `maxItems`, strings with `maxLength`,
//! string enums, integers and numbers in `[minimum, maximum]`, `$ref` into `$defs`. Output is
//! compact JSON (no whitespace between tokens of the syntax), which costs the model nothing and
//! keeps the automaton small. Two refinements tie the output to the transcript, each named by a
//! keyword of the schema (so the schema, not this compiler, says which fields they apply to): an
//! integer marked `x-utterance-index` only admits the indices of the prompt, and a string marked
//! `x-verbatim-quote` after it can be required to be whole words copied verbatim from that
//! utterance.
//!
//! ```
//! use llama_extract::extract::grammar::{Grammar, Narrowing};
//! use llama_extract::extract::schema::model_output_schema;
//!
//! let n = Narrowing {
//!     utterances: [(3, "I can't sleep at night".to_string())].into_iter().collect(),
//!     quotes_verbatim: true,
//!     default_max_chars: 200,
//!     default_max_items: 4,
//!     participant: None,
//! };
//! let grammar = Grammar::from_schema(&model_output_schema(), &n).unwrap();
//! let mut m = grammar.matcher();
//! assert!(m.feed_str(r#"{"emotions":[{"label":"fatigue","intensity":0.7,"evidence":[{"utterance_index":3,"quote":"can't sleep"#));
//! assert!(!m.clone().feed_str(" well"), "not the utterance's words");
//! let done = m.completion(); // the shortest valid ending
//! assert!(done.starts_with(r#""}]}],"topics":[]"#));
//! ```

use std::collections::BTreeMap;

use serde_json::Value;

use crate::LlamaError;

/// Index of a [`Shape`] in [`Grammar::shapes`].
type ShapeId = usize;

/// One node of the compiled schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Properties in order (all of them are written), each with the text that introduces it
    /// (`{"key":` for the first, `,"key":` after).
    Object(Vec<(String, ShapeId)>, Vec<String>),
    /// A JSON array of one item shape.
    Array {
        /// The shape of every item.
        item: ShapeId,
        /// Fewest items.
        min_items: usize,
        /// Most items.
        max_items: usize,
    },
    /// A free string of `min_chars..=max_chars` characters; `prose` (the schema's `x-prose`)
    /// also requires a letter first and refuses [`NOT_PROSE`] characters, so free text cannot
    /// hold markup, template fragments or questions.
    String {
        /// Fewest characters.
        min_chars: usize,
        /// Most characters.
        max_chars: usize,
        /// Prose rules apply.
        prose: bool,
    },
    /// One of these strings.
    Enum(Vec<String>),
    /// An integer from this set (written in decimal).
    Integer(Vec<u64>),
    /// A number in `[min, 1]` written as `0`, `1`, `1.0` or `0.` and 1–3 digits.
    UnitInterval {
        /// Smallest value allowed.
        min: f64,
    },
    /// Whole words copied verbatim from the utterance chosen by the preceding
    /// `utterance_index` (at most `max_chars` characters).
    Quote {
        /// Most characters.
        max_chars: usize,
    },
}

/// A compiled schema and the utterances it may quote.
#[derive(Debug, Clone)]
pub struct Grammar {
    /// Every node; [`Shape`]s refer to each other by index.
    pub shapes: Vec<Shape>,
    /// The document's node.
    pub root: ShapeId,
    /// Texts by utterance index, for [`Shape::Quote`].
    pub utterances: BTreeMap<u64, String>,
}

/// How the schema's generic parts are narrowed for one prompt.
#[derive(Debug, Clone, Default)]
pub struct Narrowing {
    /// Allowed `utterance_index` values with their texts.
    pub utterances: BTreeMap<u64, String>,
    /// Make `quote` strings verbatim substrings of the indexed utterance.
    pub quotes_verbatim: bool,
    /// Longest free string when the schema gives no `maxLength`.
    pub default_max_chars: usize,
    /// Most items when the schema gives no `maxItems`.
    pub default_max_items: usize,
    /// The participant's utterances (a subset of `utterances`), when speakers are known: the
    /// `utterance_index` of a schema node marked `x-participant-only` admits only these, and an
    /// `x-participant-only` array with none of them to cite must stay empty. `None`: no
    /// speaker restriction.
    pub participant: Option<std::collections::BTreeSet<u64>>,
}

/// Characters a prose string (`x-prose`) refuses: markup, template and code syntax, and `?`
/// (free text states findings; it does not ask).
pub const NOT_PROSE: &[char] =
    &['{', '}', '[', ']', '<', '>', '|', '\\', '#', '*', '_', '~', '^', '=', '@', '$', '`', '?'];

/// Whether `c` may appear in a prose string.
pub fn is_prose_char(c: char) -> bool {
    !c.is_control() && !NOT_PROSE.contains(&c)
}

/// Schema keyword of an integer that is an utterance index: it admits only the indices of
/// [`Narrowing::utterances`] (or the participant's, under `x-participant-only`).
pub const UTTERANCE_INDEX: &str = "x-utterance-index";

/// Schema keyword of a string that is a quote: under [`Narrowing::quotes_verbatim`], whole words
/// copied verbatim from the utterance the preceding utterance index chose.
pub const VERBATIM_QUOTE: &str = "x-verbatim-quote";

/// The project's schema keywords, which hold for the whole subtree they mark (an array's
/// items, an object's properties).
#[derive(Debug, Clone, Copy, Default)]
struct Marks {
    /// `x-participant-only`: indices cite only the participant ([`Narrowing::participant`]).
    participant_only: bool,
    /// `x-prose`: free strings are prose ([`Shape::String`]).
    prose: bool,
}

fn schema_err(what: impl Into<String>) -> LlamaError {
    LlamaError::Config(format!("schema: {}", what.into()))
}

impl Grammar {
    /// Compiles a JSON Schema (draft 2020-12 as schemars writes it) under `narrowing`.
    pub fn from_schema(schema: &Value, narrowing: &Narrowing) -> Result<Self, LlamaError> {
        if narrowing.utterances.is_empty() {
            return Err(schema_err("no utterances to cite"));
        }
        let mut g = Grammar { shapes: Vec::new(), root: 0, utterances: narrowing.utterances.clone() };
        g.root = g.compile(schema, schema, narrowing, Marks::default(), 0)?;
        Ok(g)
    }

    fn push(&mut self, s: Shape) -> ShapeId {
        self.shapes.push(s);
        self.shapes.len() - 1
    }

    fn compile(
        &mut self,
        root: &Value,
        node: &Value,
        n: &Narrowing,
        inherited: Marks,
        depth: usize,
    ) -> Result<ShapeId, LlamaError> {
        if depth > 32 {
            return Err(schema_err("nested too deeply (recursive $ref?)"));
        }
        let marked = |key: &str| node.get(key) == Some(&Value::Bool(true));
        let marks = Marks {
            participant_only: inherited.participant_only || marked("x-participant-only"),
            prose: inherited.prose || marked("x-prose"),
        };
        let participant_only = marks.participant_only;
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let target = r
                .strip_prefix("#/$defs/")
                .or_else(|| r.strip_prefix("#/definitions/"))
                .ok_or_else(|| schema_err(format!("unsupported $ref {r}")))?;
            let def = root
                .get("$defs")
                .or_else(|| root.get("definitions"))
                .and_then(|d| d.get(target))
                .ok_or_else(|| schema_err(format!("missing definition {target}")))?;
            return self.compile(root, def, n, marks, depth + 1);
        }
        if let Some(options) = node.get("enum").and_then(Value::as_array) {
            let values: Option<Vec<String>> = options.iter().map(|v| v.as_str().map(str::to_string)).collect();
            let values = values.ok_or_else(|| schema_err("only string enums are supported"))?;
            if values.is_empty() || values.iter().any(|v| v.contains(['"', '\\'])) {
                return Err(schema_err("enum values must be non-empty plain strings"));
            }
            return Ok(self.push(Shape::Enum(values)));
        }
        if let Some(options) = node.get("oneOf").and_then(Value::as_array) {
            // schemars writes documented enum variants as oneOf of {const}.
            let values: Option<Vec<String>> =
                options.iter().map(|v| v.get("const").and_then(Value::as_str).map(str::to_string)).collect();
            let values = values.ok_or_else(|| schema_err("oneOf is only supported for string constants"))?;
            return Ok(self.push(Shape::Enum(values)));
        }
        let ty = node.get("type").and_then(Value::as_str).ok_or_else(|| schema_err("node without a type"))?;
        let max_usize =
            |key: &str, default: usize| node.get(key).and_then(Value::as_u64).map_or(default, |v| v as usize);
        Ok(match ty {
            "object" => {
                let props = node.get("properties").and_then(Value::as_object);
                let required = node.get("required").and_then(Value::as_array);
                let mut fields = Vec::new();
                if let (Some(props), Some(required)) = (props, required) {
                    for key in required.iter().filter_map(Value::as_str) {
                        let p = props.get(key).ok_or_else(|| schema_err(format!("required {key} has no schema")))?;
                        if key.contains(['"', '\\']) {
                            return Err(schema_err(format!("property name {key}")));
                        }
                        fields.push((key.to_string(), self.compile(root, p, n, marks, depth + 1)?));
                    }
                }
                let intros = fields
                    .iter()
                    .enumerate()
                    .map(|(i, (key, _))| format!("{}\"{key}\":", if i == 0 { "{" } else { "," }))
                    .collect();
                self.push(Shape::Object(fields, intros))
            }
            "array" => {
                let items = node.get("items").ok_or_else(|| schema_err("array without items"))?;
                let item = self.compile(root, items, n, marks, depth + 1)?;
                let mut max_items = max_usize("maxItems", n.default_max_items);
                if participant_only && self.citable(n, true).is_empty() {
                    max_items = 0; // nothing the participant said can be cited here
                }
                let min_items = max_usize("minItems", 0).min(max_items);
                self.push(Shape::Array { item, min_items, max_items })
            }
            "string" => {
                let max_chars = max_usize("maxLength", n.default_max_chars);
                if marked(VERBATIM_QUOTE) && n.quotes_verbatim {
                    self.push(Shape::Quote { max_chars })
                } else {
                    let min_chars = max_usize("minLength", 0).min(max_chars);
                    self.push(Shape::String { min_chars, max_chars, prose: marks.prose })
                }
            }
            "integer" => {
                let set: Vec<u64> = if marked(UTTERANCE_INDEX) {
                    let set = self.citable(n, participant_only);
                    // A participant-only index with nothing to cite sits in an array kept empty.
                    if set.is_empty() && !participant_only {
                        return Err(schema_err("no utterance has a word to cite"));
                    }
                    set
                } else {
                    let lo = node.get("minimum").and_then(Value::as_u64).unwrap_or(0);
                    let hi = node
                        .get("maximum")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| schema_err("integer without maximum"))?;
                    if hi.saturating_sub(lo) > 10_000 {
                        return Err(schema_err("integer range too wide to enumerate"));
                    }
                    (lo..=hi).collect()
                };
                self.push(Shape::Integer(set))
            }
            "number" => {
                let lo = node.get("minimum").and_then(Value::as_f64);
                let hi = node.get("maximum").and_then(Value::as_f64);
                match (lo, hi) {
                    (Some(min), Some(max)) if (0.0..1.0).contains(&min) && max == 1.0 => {
                        self.push(Shape::UnitInterval { min })
                    }
                    _ => return Err(schema_err("only numbers in [min, 1] with 0 <= min < 1 are supported")),
                }
            }
            other => return Err(schema_err(format!("unsupported type {other}"))),
        })
    }

    /// The indices an `utterance_index` may take: utterances with a word to quote when quotes
    /// are verbatim (admitting another would lead to a dead end), and only the participant's
    /// when `participant_only` and speakers are known.
    fn citable(&self, n: &Narrowing, participant_only: bool) -> Vec<u64> {
        n.utterances
            .iter()
            .filter(|(_, text)| !n.quotes_verbatim || is_citable(text))
            .filter(|(i, _)| !participant_only || n.participant.as_ref().is_none_or(|p| p.contains(i)))
            .map(|(i, _)| *i)
            .collect()
    }

    /// A matcher at the start of a document.
    pub fn matcher(&self) -> Matcher<'_> {
        Matcher { grammar: self, stack: vec![Frame::Value(self.root)], last_index: None }
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
    },
    Unit {
        text: String,
        min: f64,
    },
    /// Inside a verbatim quote of `utterance`: candidate byte offsets where the text so far
    /// occurs.
    Quote {
        utterance: u64,
        starts: Vec<usize>,
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
                Frame::Int { shape, digits } => {
                    let Shape::Integer(options) = &g.shapes[*shape] else { return self.refuse(copy) };
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
                Frame::Quote { utterance, starts, len, chars, max, escaping } => {
                    let Some(text) = g.utterances.get(utterance) else { return self.refuse(copy) };
                    // An escape stands for one character of the utterance (`\"`, `\\`, `\n`...).
                    let c = if *escaping {
                        match unescape_short(c) {
                            Some(decoded) => decoded,
                            None => return self.refuse(copy),
                        }
                    } else if c == '\\'
                        && *chars < *max
                        && *len > 0
                        && starts.iter().any(|&s| text[s + *len..].chars().next().and_then(escape_letter).is_some())
                    {
                        *escaping = true;
                        return true;
                    } else {
                        c
                    };
                    if c == '"' && !*escaping {
                        // Whole words only: close where some candidate ends on a word boundary.
                        let at_boundary = |s: &usize| !text[s + *len..].starts_with(is_word_char);
                        if *len > 0 && (starts.iter().any(at_boundary) || *chars >= *max) {
                            self.stack.pop();
                            return true;
                        }
                        return self.refuse(copy);
                    }
                    if (c.is_control() && !*escaping) || *chars >= *max {
                        return self.refuse(copy);
                    }
                    let next: Vec<usize> =
                        starts.iter().copied().filter(|&s| text[s + *len..].starts_with(c)).collect();
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
            Shape::Integer(_) => self.stack.push(Frame::Int { shape: id, digits: String::new() }),
            Shape::UnitInterval { min } => self.stack.push(Frame::Unit { text: String::new(), min: *min }),
            Shape::Quote { max_chars } => {
                let utterance = self.last_index.unwrap_or(0);
                let text = g.utterances.get(&utterance).map(String::as_str).unwrap_or("");
                let starts = word_starts(text).collect();
                self.stack.push(Frame::Quote { utterance, starts, len: 0, chars: 0, max: *max_chars, escaping: false });
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
                Shape::Integer(options) => options.first()?.to_string().chars().next()?,
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
            Frame::Quote { utterance, starts, len, chars, max, escaping } => {
                let text = g.utterances.get(utterance)?;
                if *escaping {
                    // The escape letter for a candidate's next character.
                    return starts.iter().find_map(|&s| text[s + *len..].chars().next().and_then(escape_letter));
                }
                let s = *starts.first()?;
                match text[s + *len..].chars().next() {
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
            Frame::Int { shape, digits } => {
                let Shape::Integer(options) = &g.shapes[*shape] else { return None };
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

/// The vocabulary as text, arranged for fast masking.
#[derive(Debug, Clone)]
pub struct TokenTrie {
    nodes: Vec<TrieNode>,
    /// Root of a second trie holding only tokens that are not [`Self::string_safe`].
    special_root: usize,
    /// Tokens made only of characters any free string accepts, and their most characters.
    string_safe: Vec<u32>,
    /// Character counts of `string_safe`, ascending.
    safe_chars: Vec<usize>,
    /// The string-safe tokens a prose string accepts after its first letter
    /// ([`is_prose_char`] throughout), and their character counts, ascending.
    prose_safe: Vec<u32>,
    prose_chars: Vec<usize>,
    /// Token texts by id (empty for tokens that are never offered).
    pub texts: Vec<String>,
}

#[derive(Debug, Clone, Default)]
struct TrieNode {
    edges: Vec<(char, usize)>,
    tokens: Vec<u32>,
}

impl TokenTrie {
    /// Builds the tries from each token's text. Tokens whose text is empty (special tokens)
    /// or not whole UTF-8 characters (byte fragments) are never offered.
    pub fn new(texts: Vec<String>) -> Self {
        let mut t = TokenTrie {
            nodes: vec![TrieNode::default(), TrieNode::default()],
            special_root: 1,
            string_safe: Vec::new(),
            safe_chars: Vec::new(),
            prose_safe: Vec::new(),
            prose_chars: Vec::new(),
            texts: Vec::new(),
        };
        for (id, text) in texts.iter().enumerate() {
            if text.is_empty() || text.contains('\u{fffd}') {
                continue;
            }
            let safe = !text.contains(['"', '\\']) && !text.chars().any(char::is_control);
            if safe {
                t.string_safe.push(id as u32);
            }
            t.insert(0, text, id as u32);
            if !safe {
                t.insert(1, text, id as u32);
            }
        }
        // Shortest first, so the tokens that fit in `room` characters are a prefix.
        t.string_safe.sort_by_key(|&id| (texts[id as usize].chars().count(), id));
        t.safe_chars = t.string_safe.iter().map(|&id| texts[id as usize].chars().count()).collect();
        t.prose_safe =
            t.string_safe.iter().copied().filter(|&id| texts[id as usize].chars().all(is_prose_char)).collect();
        t.prose_chars = t.prose_safe.iter().map(|&id| texts[id as usize].chars().count()).collect();
        t.texts = texts;
        t
    }

    /// The tables for a tokenizer's vocabulary (each token decoded on its own).
    pub fn for_tokenizer(tokenizer: &crate::LlamaTokenizer) -> Result<Self, LlamaError> {
        let texts: Result<Vec<String>, LlamaError> =
            (0..tokenizer.vocab_size() as u32).map(|id| tokenizer.decode(&[id], true)).collect();
        Ok(Self::new(texts?))
    }

    fn insert(&mut self, root: usize, text: &str, id: u32) {
        let mut node = root;
        for c in text.chars() {
            node = match self.nodes[node].edges.iter().find(|e| e.0 == c) {
                Some(&(_, next)) => next,
                None => {
                    self.nodes.push(TrieNode::default());
                    let next = self.nodes.len() - 1;
                    self.nodes[node].edges.push((c, next));
                    next
                }
            };
        }
        self.nodes[node].tokens.push(id);
    }

    /// Every token that keeps `m` a valid prefix, into `out` (cleared first).
    pub fn allowed(&self, m: &Matcher<'_>, out: &mut Vec<u32>) {
        out.clear();
        let root = match m.free_string_room() {
            // Inside a free string every string-safe token that fits is allowed: take them
            // wholesale and search only the tokens that could close or break the string.
            // (A string-safe token with a character prose refuses is in neither table nor the
            // second trie, so prose never offers it.)
            Some((room, prose)) => {
                let (tokens, chars) =
                    if prose { (&self.prose_safe, &self.prose_chars) } else { (&self.string_safe, &self.safe_chars) };
                let fit = chars.partition_point(|&n| n <= room);
                out.extend_from_slice(&tokens[..fit]);
                self.special_root
            }
            None => 0,
        };
        let mut stack: Vec<(usize, Matcher<'_>)> = vec![(root, m.clone())];
        while let Some((node, state)) = stack.pop() {
            for &(c, next) in &self.nodes[node].edges {
                let mut s = state.clone();
                if s.feed(c) {
                    out.extend_from_slice(&self.nodes[next].tokens);
                    stack.push((next, s));
                }
            }
        }
    }
}

/// A [`Grammar`] as a [`TokenConstraint`](crate::generate::TokenConstraint) for
/// [`generate_with`](crate::generate::generate_with): before each choice the trie offers every
/// token whose text keeps the document a valid prefix, and the chosen token's text is fed to
/// the matcher.
pub struct GrammarConstraint<'g> {
    matcher: Matcher<'g>,
    trie: &'g TokenTrie,
    allowed: Vec<u32>,
    kept: Vec<f32>,
    busy: std::time::Duration,
}

impl<'g> GrammarConstraint<'g> {
    /// At the start of a document of `grammar`, with `trie` built for the model's tokenizer.
    pub fn new(grammar: &'g Grammar, trie: &'g TokenTrie) -> Self {
        Self { matcher: grammar.matcher(), trie, allowed: Vec::new(), kept: Vec::new(), busy: Default::default() }
    }

    /// The shortest text that closes the document from here.
    pub fn completion(&self) -> String {
        self.matcher.completion()
    }

    /// Time spent computing masks and feeding the matcher.
    pub fn busy(&self) -> std::time::Duration {
        self.busy
    }
}

impl crate::generate::TokenConstraint for GrammarConstraint<'_> {
    fn mask(&mut self, logits: &mut [f32]) -> bool {
        let t = std::time::Instant::now();
        self.trie.allowed(&self.matcher, &mut self.allowed);
        self.kept.clear();
        self.kept.extend(self.allowed.iter().map(|&id| logits.get(id as usize).copied().unwrap_or(f32::NEG_INFINITY)));
        logits.fill(f32::NEG_INFINITY);
        for (&id, &v) in self.allowed.iter().zip(&self.kept) {
            if let Some(l) = logits.get_mut(id as usize) {
                *l = v;
            }
        }
        self.busy += t.elapsed();
        !self.allowed.is_empty()
    }

    fn accept(&mut self, token: u32) -> Result<(), LlamaError> {
        let t = std::time::Instant::now();
        let fed = self.trie.texts.get(token as usize).is_some_and(|text| self.matcher.feed_str(text));
        self.busy += t.elapsed();
        if fed { Ok(()) } else { Err(LlamaError::Generation(format!("the grammar refused token {token}"))) }
    }

    fn is_done(&self) -> bool {
        self.matcher.is_done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grammar() -> Grammar {
        let schema = serde_json::json!({
            "type": "object",
            "required": ["tags", "score", "cite"],
            "properties": {
                "tags": {"type": "array", "maxItems": 2, "items": {"enum": ["sad", "sadder", "calm"]}},
                "score": {"type": "number", "minimum": 0.0, "maximum": 1.0},
                "cite": {"type": "array", "items": {"$ref": "#/$defs/Cite"}}
            },
            "$defs": {"Cite": {"type": "object", "required": ["utterance_index", "quote"], "properties": {
                "utterance_index": {"type": "integer", "minimum": 0, "x-utterance-index": true},
                "quote": {"type": "string", "maxLength": 20, "x-verbatim-quote": true}
            }}}
        });
        let mut utterances = BTreeMap::new();
        utterances.insert(3, "I can't sleep at night".to_string());
        utterances.insert(12, "work is fine".to_string());
        let n = test_narrowing(utterances);
        Grammar::from_schema(&schema, &n).unwrap()
    }

    /// Verbatim quotes, small defaults, no speaker rule.
    fn test_narrowing(utterances: BTreeMap<u64, String>) -> Narrowing {
        Narrowing { utterances, quotes_verbatim: true, default_max_chars: 50, default_max_items: 3, participant: None }
    }

    fn accepts(g: &Grammar, text: &str) -> bool {
        let mut m = g.matcher();
        m.feed_str(text) && m.is_done()
    }

    #[test]
    fn only_utterances_with_a_word_to_quote_can_be_cited() {
        // Found by the extraction fuzz target: `'be` has letters but no word start (the
        // apostrophe joins), so citing it led to a quote that could not begin.
        let schema = serde_json::json!({
            "type": "object", "required": ["cite"],
            "properties": {"cite": {"type": "object", "required": ["utterance_index", "quote"], "properties": {
                "utterance_index": {"type": "integer", "minimum": 0, "x-utterance-index": true},
                "quote": {"type": "string", "maxLength": 40, "x-verbatim-quote": true}
            }}}
        });
        let utterances: BTreeMap<u64, String> = [(0, "'be".to_string()), (1, "fine".to_string())].into();
        assert!(!is_citable("'be") && is_citable("fine") && !is_citable("…?!"));
        let n = test_narrowing(utterances);
        let g = Grammar::from_schema(&schema, &n).unwrap();
        assert!(!g.matcher().feed_str(r#"{"cite":{"utterance_index":0"#));
        assert!(accepts(&g, r#"{"cite":{"utterance_index":1,"quote":"fine"}}"#));
        let n = Narrowing { utterances: [(0, "'be".to_string())].into(), ..n };
        assert!(Grammar::from_schema(&schema, &n).is_err(), "nothing to cite");
    }

    /// The extraction schema over an interviewer question (0) and a participant answer (1).
    fn interview(participant: &[u64]) -> Grammar {
        let utterances: BTreeMap<u64, String> =
            [(0, "do you feel sad or hopeless?".to_string()), (1, "i feel sad most days at work".to_string())].into();
        let n = Narrowing {
            utterances,
            quotes_verbatim: true,
            default_max_chars: 200,
            default_max_items: 4,
            participant: Some(participant.iter().copied().collect()),
        };
        Grammar::from_schema(&crate::extract::schema::model_output_schema(), &n).unwrap()
    }

    const TAIL: &str = r#"],"topics":[],"key_phrases":[],"summary":"The participant feels sad at work.","concerns":[],"suggested_actions":[]}"#;

    #[test]
    fn emotion_evidence_cites_only_the_participant_and_topics_cite_anyone() {
        let g = interview(&[1]);
        let emotion = |i: u64, q: &str| {
            format!(
                r#"{{"emotions":[{{"label":"sadness","intensity":0.6,"evidence":[{{"utterance_index":{i},"quote":"{q}"}}]}}"#
            )
        };
        assert!(accepts(&g, &format!("{}{TAIL}", emotion(1, "i feel sad"))));
        assert!(
            !g.matcher().feed_str(&emotion(0, "sad")),
            "the interviewer's words are not the participant's feelings"
        );
        let topic = r#"{"emotions":[],"topics":[{"category":"mood","label":"low mood","evidence":[{"utterance_index":0,"quote":"sad or hopeless"}]}],"key_phrases":[],"summary":"The participant feels sad at work.","concerns":[],"suggested_actions":[]}"#;
        assert!(accepts(&g, topic));
        // A reported emotion has evidence and some intensity.
        assert!(!g.matcher().feed_str(r#"{"emotions":[{"label":"sadness","intensity":0.6,"evidence":[]"#));
        for zero in ["0,", "0.0", "0.05", "0.099"] {
            assert!(
                !g.matcher().feed_str(&format!(r#"{{"emotions":[{{"label":"sadness","intensity":{zero}"#)),
                "{zero}"
            );
        }
        for some in ["0.1,", "0.25,", "1,", "1.0,"] {
            assert!(
                g.matcher().feed_str(&format!(r#"{{"emotions":[{{"label":"sadness","intensity":{some}"#)),
                "{some}"
            );
        }
        // With no participant utterance to cite, there are no emotions to report.
        let g = interview(&[]);
        assert!(!g.matcher().feed_str(r#"{"emotions":[{"#));
        assert!(accepts(&g, &format!(r#"{{"emotions":[{TAIL}"#)));
    }

    #[test]
    fn free_text_is_prose_of_a_minimum_length() {
        let g = interview(&[1]);
        let with_summary = |s: &str| {
            format!(
                r#"{{"emotions":[],"topics":[],"key_phrases":[],"summary":"{s}","concerns":[],"suggested_actions":[]}}"#
            )
        };
        assert!(accepts(&g, &with_summary("The participant feels sad at work.")));
        for bad in [
            "How are things at work?",                // a question
            "{{{{}}}}, i'm not sure what's going on", // template fragment
            "Sad <|im_end|> at work all the time",
            "- sad at work, tired all the time",     // not a letter first
            "Sad at work.",                          // under 20 characters
            "Sad at \"work\" all the time and more", // no escapes in prose
        ] {
            assert!(!accepts(&g, &with_summary(bad)), "{bad}");
        }
        // Completing a short prose string pads it to a valid document.
        let mut m = g.matcher();
        assert!(m.feed_str(r#"{"emotions":[],"topics":[],"key_phrases":[],"summary":"Sad"#));
        let done = format!(r#"{{"emotions":[],"topics":[],"key_phrases":[],"summary":"Sad{}"#, m.completion());
        assert!(accepts(&g, &done), "{done}");
        let mut m = g.matcher();
        assert!(m.feed_str(
            r#"{"emotions":[],"topics":[],"key_phrases":[],"summary":"The participant sleeps badly.","concerns":["#
        ));
        let done = format!(
            r#"{{"emotions":[],"topics":[],"key_phrases":[],"summary":"The participant sleeps badly.","concerns":[{}"#,
            m.completion()
        );
        assert!(accepts(&g, &done), "{done}");
        // The trie never offers a prose string a token it would refuse.
        let texts: Vec<String> =
            ["The", " sad", "?", " {{", "\"", ".\"", " work?", "<|", "a\\"].iter().map(|s| s.to_string()).collect();
        let trie = TokenTrie::new(texts.clone());
        let mut m = g.matcher();
        assert!(m.feed_str(r#"{"emotions":[],"topics":[],"key_phrases":[],"summary":"The sad"#));
        let mut out = Vec::new();
        trie.allowed(&m, &mut out);
        out.sort();
        let names: Vec<&str> = out.iter().map(|&i| texts[i as usize].as_str()).collect();
        assert_eq!(names, vec!["The", " sad"], "too short to close yet");
    }

    #[test]
    fn json_escapes_in_free_strings_and_quotes() {
        let schema = serde_json::json!({
            "type": "object", "required": ["note", "cite"],
            "properties": {
                "note": {"type": "string", "maxLength": 8},
                "cite": {"type": "object", "required": ["utterance_index", "quote"], "properties": {
                    "utterance_index": {"type": "integer", "minimum": 0, "x-utterance-index": true},
                    "quote": {"type": "string", "maxLength": 40, "x-verbatim-quote": true}
                }}
            }
        });
        let mut utterances = BTreeMap::new();
        utterances.insert(0, r#"she said "no" to me\you"#.to_string());
        let n = test_narrowing(utterances);
        let g = Grammar::from_schema(&schema, &n).unwrap();
        let doc = |note: &str, quote: &str| {
            format!(r#"{{"note":"{note}","cite":{{"utterance_index":0,"quote":"{quote}"}}}}"#)
        };
        // Escapes count as one character each; every short escape and \u (not a lone surrogate).
        assert!(accepts(&g, &doc(r#"a\"b\\c\n\u00e9"#, "she")));
        assert!(accepts(&g, &doc(r#"\t\t\t\t\t\t\t\t"#, "she")));
        assert!(!accepts(&g, &doc(r#"\t\t\t\t\t\t\t\t\t"#, "she")), "9 characters in 8");
        assert!(!g.matcher().feed_str(r#"{"note":"\x"#));
        assert!(!g.matcher().feed_str(r#"{"note":"\uD8"#), "lone surrogate");
        assert!(g.matcher().feed_str(r#"{"note":"\uD7"#));
        // Quotes: an escaped character of the utterance matches it; nothing else does.
        assert!(accepts(&g, &doc("", r#"said \"no\" to me\\you"#)));
        let before_space = r#"{"note":"","cite":{"utterance_index":0,"quote":"said \"no\" to\"#;
        assert!(!g.matcher().feed_str(before_space), "escape where the utterance has none");
        assert!(!accepts(&g, &doc("", r#"said \"no\" to me\/you"#)));
        // Completing from inside an escape gives a document that parses.
        for prefix in
            [r#"{"note":"ab\"#, r#"{"note":"ab\u0"#, r#"{"note":"","cite":{"utterance_index":0,"quote":"said \"#]
        {
            let mut m = g.matcher();
            assert!(m.feed_str(prefix), "{prefix}");
            let full = format!("{prefix}{}", m.completion());
            assert!(accepts(&g, &full), "{full}");
            serde_json::from_str::<serde_json::Value>(&full).unwrap();
        }
    }

    #[test]
    fn documents_are_accepted_or_refused_as_the_schema_says() {
        let g = grammar();
        assert!(accepts(
            &g,
            r#"{"tags":["sad","calm"],"score":0.75,"cite":[{"utterance_index":3,"quote":"sleep at"}]}"#
        ));
        assert!(accepts(&g, r#"{"tags":[],"score":1,"cite":[]}"#));
        assert!(accepts(&g, r#"{"tags":["sadder"],"score":0,"cite":[{"utterance_index":12,"quote":"work"}]}"#));
        for bad in [
            r#"{"tags":["happy"],"score":0.5,"cite":[]}"#,           // not in the enum
            r#"{"tags":["sad","sad","sad"],"score":0.5,"cite":[]}"#, // maxItems
            r#"{"tags":[],"score":1.5,"cite":[]}"#,                  // range
            r#"{"tags":[],"score":0.5,"cite":[{"utterance_index":4,"quote":"x"}]}"#, // no such utterance
            r#"{"tags":[],"score":0.5,"cite":[{"utterance_index":3,"quote":"work"}]}"#, // not in utterance 3
            r#"{"tags":[],"score":0.5,"cite":[{"utterance_index":3,"quote":"leep at"}]}"#, // not a whole word
            r#"{"tags":[],"score":0.5,"cite":[{"utterance_index":3,"quote":"sleep a"}]}"#, // not a whole word
            r#"{"tags":[],"score":0.5,"cite":[{"utterance_index":3,"quote":""}]}"#, // empty
            r#"{"tags":[],"score":0.5,"cite":[{"utterance_index":12,"quote":"work is fine"}]} "#, // trailing text
            r#"{"score":0.5,"tags":[],"cite":[]}"#,                  // order
            r#"{"tags": [],"score":0.5,"cite":[]}"#,                 // whitespace
        ] {
            assert!(!accepts(&g, bad), "{bad}");
        }
    }

    #[test]
    fn a_refused_character_leaves_the_state_unchanged() {
        let g = grammar();
        let mut m = g.matcher();
        assert!(m.feed_str(r#"{"tags":["sa"#));
        assert!(!m.feed('x'));
        assert!(m.feed_str(r#"d"],"score":0.5"#));
        assert!(!m.feed('x'));
        assert!(m.feed_str(r#","cite":[]}"#) && m.is_done());
    }

    #[test]
    fn every_prefix_completes_to_a_valid_document() {
        let g = grammar();
        let doc = r#"{"tags":["sad"],"score":0.75,"cite":[{"utterance_index":12,"quote":"work is"}]}"#;
        for cut in 0..doc.len() {
            let mut m = g.matcher();
            assert!(m.feed_str(&doc[..cut]));
            let completed = format!("{}{}", &doc[..cut], m.completion());
            assert!(accepts(&g, &completed), "{completed}");
            serde_json::from_str::<Value>(&completed).unwrap();
        }
    }

    #[test]
    fn the_trie_offers_exactly_the_tokens_that_fit() {
        let g = grammar();
        let texts: Vec<String> =
            ["{\"", "{", "\"tags", "\":[", "]", "sad", "\"sad", "\",\"", "x", "", "\u{fffd}", "calm\"]", " "]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let trie = TokenTrie::new(texts.clone());
        let mut out = Vec::new();
        let m = g.matcher();
        trie.allowed(&m, &mut out);
        out.sort();
        assert_eq!(out, vec![0, 1]);
        let mut m = g.matcher();
        assert!(m.feed_str(r#"{"tags":["#));
        trie.allowed(&m, &mut out);
        out.sort();
        let names: Vec<&str> = out.iter().map(|&i| texts[i as usize].as_str()).collect();
        assert_eq!(names, vec!["]", "\"sad"]);
        // Brute force agrees for every state along a document.
        let doc = r#"{"tags":["calm"],"score":0.5,"cite":[]}"#;
        for cut in 0..doc.len() {
            let mut m = g.matcher();
            assert!(m.feed_str(&doc[..cut]));
            trie.allowed(&m, &mut out);
            out.sort();
            let brute: Vec<u32> = (0..texts.len() as u32)
                .filter(|&i| {
                    let t = &texts[i as usize];
                    !t.is_empty() && !t.contains('\u{fffd}') && m.clone().feed_str(t)
                })
                .collect();
            assert_eq!(out, brute, "after {:?}", &doc[..cut]);
        }
    }
}
