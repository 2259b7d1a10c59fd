//! The tokenizer's vocabulary as tries, so a step offers exactly the tokens whose text keeps
//! the document a valid prefix, and the [`GrammarConstraint`] that plugs it into generation.

use super::*;

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

/// A [`Grammar`] as a [`TokenConstraint`](crate::runtime::generate::TokenConstraint) for
/// [`generate_with`](crate::runtime::generate::generate_with): before each choice the trie offers every
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

impl crate::runtime::generate::TokenConstraint for GrammarConstraint<'_> {
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
