//! The tokenizer's vocabulary as tries, so a step offers exactly the tokens whose text keeps
//! the document a valid prefix, and the [`GrammarConstraint`] that plugs it into generation.

use super::*;

/// The vocabulary as text, arranged for fast masking.
#[derive(Debug, Clone)]
pub struct TokenTrie {
    nodes: Vec<TrieNode>,
    /// Root of a second trie holding only the tokens that are not string-safe (they contain
    /// `"`, `\` or a control character, so they could close or break a string).
    special_root: usize,
    /// The string-safe tokens as bit sets by room: `safe_fit[r]` holds those of at most `r`
    /// characters (the last entry: all of them), so a free string's wholesale part of a mask
    /// is one copy of 49,152 bits.
    safe_fit: Vec<TokenSet>,
    /// The same for the string-safe tokens a prose string accepts after its first letter
    /// ([`is_prose_char`] throughout).
    prose_fit: Vec<TokenSet>,
    /// The same for the prose tokens that start with a letter (what a prose string's first
    /// character admits): without them that position walked every token of the vocabulary
    /// that starts with a letter.
    prose_start_fit: Vec<TokenSet>,
    /// Token texts by id (empty for tokens that are never offered).
    pub texts: Vec<String>,
}

/// Bit sets by room: entry `r` holds the `ids` of at most `r` characters (the last entry: all of
/// them).
fn sets_by_room(texts: &[String], ids: impl Iterator<Item = u32>) -> Vec<TokenSet> {
    let mut by_chars: Vec<(usize, u32)> = ids.map(|id| (texts[id as usize].chars().count(), id)).collect();
    by_chars.sort_unstable();
    let longest = by_chars.last().map_or(0, |&(n, _)| n);
    let mut set = TokenSet::with_vocab(texts.len());
    let mut next = by_chars.iter().peekable();
    (0..=longest)
        .map(|room| {
            while let Some(&(_, id)) = next.next_if(|&&(n, _)| n <= room) {
                set.insert(id);
            }
            set.clone()
        })
        .collect()
}

/// A set of token ids as a bit vector over the vocabulary: what a step's mask is, built and
/// applied without a list of tens of thousands of ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenSet {
    words: Vec<u64>,
}

impl TokenSet {
    /// An empty set for ids below `vocab`.
    pub fn with_vocab(vocab: usize) -> Self {
        Self { words: vec![0; vocab.div_ceil(64)] }
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: u32) -> bool {
        self.words.get(id as usize / 64).is_some_and(|w| w >> (id % 64) & 1 == 1)
    }

    /// Adds `id` (ids past the vocabulary the set was made for are ignored).
    pub fn insert(&mut self, id: u32) {
        if let Some(w) = self.words.get_mut(id as usize / 64) {
            *w |= 1 << (id % 64);
        }
    }

    /// How many ids the set holds.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// The ids in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(i, &w)| {
            let mut rest = w;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros();
                    rest &= rest - 1;
                    (i * 64) as u32 + bit
                })
            })
        })
    }

    /// Sets every logit whose id is not in the set to −∞ (logits past the set's vocabulary too).
    pub fn mask_logits(&self, logits: &mut [f32]) {
        let mut chunks = logits.chunks_mut(64);
        // Words first in the zip: it stops on them without taking a chunk it would drop.
        for (&w, chunk) in self.words.iter().zip(&mut chunks) {
            match w {
                u64::MAX => {}
                0 => chunk.fill(f32::NEG_INFINITY),
                // A select per lane (no branch per bit): the compiler vectorises it.
                _ => {
                    for (j, l) in chunk.iter_mut().enumerate() {
                        let keep = (w >> j) & 1 == 1;
                        *l = if keep { *l } else { f32::NEG_INFINITY };
                    }
                }
            }
        }
        for chunk in chunks {
            chunk.fill(f32::NEG_INFINITY);
        }
    }
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
            safe_fit: Vec::new(),
            prose_fit: Vec::new(),
            prose_start_fit: Vec::new(),
            texts: Vec::new(),
        };
        let mut string_safe = Vec::new();
        for (id, text) in texts.iter().enumerate() {
            if text.is_empty() || text.contains('\u{fffd}') {
                continue;
            }
            let safe = !text.contains(['"', '\\']) && !text.chars().any(char::is_control);
            if safe {
                string_safe.push(id as u32);
            }
            t.insert(0, text, id as u32);
            if !safe {
                t.insert(1, text, id as u32);
            }
        }
        let prose = |id: &u32| texts[*id as usize].chars().all(is_prose_char);
        let starts_with_letter = |id: &u32| texts[*id as usize].chars().next().is_some_and(char::is_alphabetic);
        t.safe_fit = sets_by_room(&texts, string_safe.iter().copied());
        t.prose_fit = sets_by_room(&texts, string_safe.iter().copied().filter(prose));
        t.prose_start_fit = sets_by_room(&texts, string_safe.iter().copied().filter(prose).filter(starts_with_letter));
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

    /// Every token that keeps `m` a valid prefix, into `out` (cleared first), ascending.
    pub fn allowed(&self, m: &Matcher<'_>, out: &mut Vec<u32>) {
        let mut set = TokenSet::default();
        self.allowed_set(m, &mut set);
        out.clear();
        out.extend(set.iter());
    }

    /// Every token that keeps `m` a valid prefix, as a bit set (`out` is resized to the
    /// vocabulary). Inside a free string, and at a prose string's first letter, every
    /// string-safe token that fits is allowed: one copy of a precomputed set, then only the
    /// tokens that could close or break the string are searched. (A string-safe token with a
    /// character prose refuses is in neither set nor the second trie, so prose never offers
    /// it.)
    pub fn allowed_set(&self, m: &Matcher<'_>, out: &mut TokenSet) {
        let words = self.texts.len().div_ceil(64);
        let fits = match (m.free_string_room(), m.prose_start_room()) {
            (Some((room, false)), _) => Some((&self.safe_fit, room)),
            (Some((room, true)), _) => Some((&self.prose_fit, room)),
            (None, Some(room)) => Some((&self.prose_start_fit, room)),
            (None, None) => None,
        };
        let root = match fits {
            Some((fits, room)) => {
                match fits.get(room).or(fits.last()) {
                    Some(set) => out.clone_from(set),
                    None => *out = TokenSet::with_vocab(self.texts.len()),
                }
                self.special_root
            }
            None => {
                out.words.clear();
                out.words.resize(words, 0);
                0
            }
        };
        self.walk(root, m, |tokens| {
            for &id in tokens {
                out.insert(id);
            }
        });
    }

    /// Depth-first over the trie from `root`, feeding each edge's character to a copy of the
    /// matcher and passing every reached node's tokens to `emit`. A refused character leaves a
    /// matcher unchanged, so one probe copy serves a node's edges until one is accepted: a
    /// copy per accepted edge, not per edge (the copies had been a third of a mask's time).
    fn walk(&self, root: usize, m: &Matcher<'_>, mut emit: impl FnMut(&[u32])) {
        let mut stack: Vec<(usize, Matcher<'_>)> = vec![(root, m.clone())];
        while let Some((node, state)) = stack.pop() {
            let mut probe = state.clone();
            for &(c, next) in &self.nodes[node].edges {
                if probe.feed(c) {
                    emit(&self.nodes[next].tokens);
                    let accepted = std::mem::replace(&mut probe, state.clone());
                    if !self.nodes[next].edges.is_empty() {
                        stack.push((next, accepted));
                    }
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
    allowed: TokenSet,
    busy: std::time::Duration,
}

impl<'g> GrammarConstraint<'g> {
    /// At the start of a document of `grammar`, with `trie` built for the model's tokenizer.
    pub fn new(grammar: &'g Grammar, trie: &'g TokenTrie) -> Self {
        Self { matcher: grammar.matcher(), trie, allowed: TokenSet::default(), busy: Default::default() }
    }

    /// The shortest text that closes the document from here.
    pub fn completion(&self) -> String {
        self.matcher.completion()
    }

    /// Feeds `text` as if the model had written it (an answer's forced opening); `false`, with
    /// the matcher left part-way, when the grammar refuses it.
    pub fn force(&mut self, text: &str) -> bool {
        self.matcher.feed_str(text)
    }

    /// Time spent computing masks and feeding the matcher.
    pub fn busy(&self) -> std::time::Duration {
        self.busy
    }
}

impl crate::runtime::generate::TokenConstraint for GrammarConstraint<'_> {
    fn mask(&mut self, logits: &mut [f32]) -> bool {
        let t = std::time::Instant::now();
        self.trie.allowed_set(&self.matcher, &mut self.allowed);
        self.allowed.mask_logits(logits);
        self.busy += t.elapsed();
        // Allowed and inside the logits (a trie built for a larger vocabulary than the model's
        // offers nothing past it).
        self.allowed.iter().next().is_some_and(|id| (id as usize) < logits.len())
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
