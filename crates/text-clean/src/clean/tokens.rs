//! A small lossless tokenizer: words, punctuation and bracketed annotations, each remembering
//! whether whitespace preceded it, so cleaned text can be rebuilt with normal spacing.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokKind {
    /// Letters/digits/underscore, with inner apostrophes and hyphens (`don't`, `well-known`).
    Word,
    /// One punctuation or symbol character.
    Punct,
    /// `<label>` or `[label]` where the label starts with a letter.
    Annotation,
}

#[derive(Debug, Clone)]
pub(crate) struct Tok<'a> {
    pub kind: TokKind,
    pub text: &'a str,
    pub space_before: bool,
    /// Byte offset in the source text.
    pub offset: usize,
}

/// Longest annotation label accepted inside brackets.
const MAX_ANNOTATION_LABEL: usize = 48;

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_joiner(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '-')
}

pub(crate) fn tokenize(text: &str) -> Vec<Tok<'_>> {
    let mut toks = Vec::new();
    let mut space = false;
    let mut iter = text.char_indices().peekable();
    while let Some(&(start, c)) = iter.peek() {
        if c.is_whitespace() {
            space = true;
            iter.next();
            continue;
        }
        if is_word_char(c) {
            let mut end = start;
            while let Some(&(i, ch)) = iter.peek() {
                let joins = is_joiner(ch) && text[i + ch.len_utf8()..].chars().next().is_some_and(is_word_char);
                if is_word_char(ch) || joins {
                    end = i + ch.len_utf8();
                    iter.next();
                } else {
                    break;
                }
            }
            toks.push(Tok { kind: TokKind::Word, text: &text[start..end], space_before: space, offset: start });
            space = false;
            continue;
        }
        if let Some(len) = annotation_len(&text[start..]) {
            toks.push(Tok {
                kind: TokKind::Annotation,
                text: &text[start..start + len],
                space_before: space,
                offset: start,
            });
            while iter.peek().is_some_and(|&(i, _)| i < start + len) {
                iter.next();
            }
            space = false;
            continue;
        }
        let end = start + c.len_utf8();
        toks.push(Tok { kind: TokKind::Punct, text: &text[start..end], space_before: space, offset: start });
        iter.next();
        space = false;
    }
    toks
}

/// Byte length of an annotation at the start of `s`, if there is one: `<label>` or `[label]`,
/// the label starting with a letter, at most [`MAX_ANNOTATION_LABEL`] characters, on one line.
/// Annotations may nest (`[o[sigh]]`): a nested one is part of the outer annotation and does
/// not count towards its label, so removing annotations never leaves a new one behind
/// (cleaning stays idempotent in one pass however deep the nesting; iterative, so depth cannot
/// overflow the stack).
fn annotation_len(s: &str) -> Option<usize> {
    struct Open {
        close: char,
        label_chars: usize,
    }
    let mut open: Vec<Open> = Vec::new();
    for (i, ch) in s.char_indices() {
        let Some(top) = open.last_mut() else {
            // Only the first character can get here.
            let close = match ch {
                '<' => '>',
                '[' => ']',
                _ => return None,
            };
            open.push(Open { close, label_chars: 0 });
            continue;
        };
        if ch == top.close && top.label_chars > 0 {
            open.pop();
            if open.is_empty() {
                return Some(i + ch.len_utf8());
            }
            continue;
        }
        match ch {
            '<' => open.push(Open { close: '>', label_chars: 0 }),
            '[' => open.push(Open { close: ']', label_chars: 0 }),
            ']' | '>' | '\n' => return None,
            _ => {
                if top.label_chars == 0 && !ch.is_alphabetic() || top.label_chars >= MAX_ANNOTATION_LABEL {
                    return None;
                }
                top.label_chars += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(TokKind, &str, bool)> {
        tokenize(s).into_iter().map(|t| (t.kind, t.text, t.space_before)).collect()
    }

    #[test]
    fn words_keep_inner_apostrophes_and_hyphens() {
        let k = kinds("I don't-know, well-known 'quote'");
        let words: Vec<&str> = k.iter().filter(|t| t.0 == TokKind::Word).map(|t| t.1).collect();
        assert_eq!(words, ["I", "don't-know", "well-known", "quote"]);
    }

    #[test]
    fn nested_annotations_are_one() {
        let k = kinds("a [o[sigh]] <x<y>z> [[m]] b");
        let ann: Vec<&str> = k.iter().filter(|t| t.0 == TokKind::Annotation).map(|t| t.1).collect();
        assert_eq!(ann, ["[o[sigh]]", "<x<y>z>", "[m]"]);
        // Deep nesting is one annotation and does not recurse.
        let deep = format!("{}x{}", "[a".repeat(100_000), "]".repeat(100_000));
        assert_eq!(annotation_len(&deep), Some(deep.len()));
        assert_eq!(annotation_len("[a[b]"), None);
    }

    #[test]
    fn annotations() {
        let k = kinds("yes <laughter> [sigh] < not> <3");
        let ann: Vec<&str> = k.iter().filter(|t| t.0 == TokKind::Annotation).map(|t| t.1).collect();
        assert_eq!(ann, ["<laughter>", "[sigh]"]);
    }
}
