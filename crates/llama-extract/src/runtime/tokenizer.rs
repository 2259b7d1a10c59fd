//! Tokenizers: Hugging Face `tokenizer.json`, or one built from a GGUF's own vocabulary, and
//! the chat templates of the two families we run (Llama-3 headers, ChatML).
//!
//! Both kinds run on the `tokenizers` crate (pure Rust, `fancy-regex` for Llama-3's look-ahead
//! pattern). From a GGUF we build the equivalent `tokenizer.json` in memory: byte-level BPE from
//! `tokenizer.ggml.tokens` + `merges`, control tokens (type 3) as special added tokens, and the
//! pre-tokenizer llama.cpp selects by `tokenizer.ggml.pre`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use serde_json::json;

use crate::LlamaError;
use crate::runtime::gguf::GgufFile;

/// Llama 3's pre-tokenizer pattern (llama.cpp's `llama-bpe`).
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Prompt layout of a chat model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>` (Llama 3).
    Llama3,
    /// `<|im_start|>role\n…<|im_end|>\n` (SmolLM2, Qwen, …).
    ChatMl,
}

/// Who says a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Instructions.
    System,
    /// The user.
    User,
    /// The model.
    Assistant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Who says it.
    pub role: Role,
    /// What is said.
    pub content: String,
}

impl Message {
    /// A message.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self { role, content: content.into() }
    }
}

impl ChatTemplate {
    /// Formats messages, ending with the assistant header when `add_generation_prompt`.
    /// No default system message is inserted (SmolLM2's Jinja template would add one).
    /// BOS is not part of the text: [`LlamaTokenizer::encode_prompt`] adds it.
    pub fn format(self, messages: &[Message], add_generation_prompt: bool) -> String {
        let mut out = String::new();
        match self {
            ChatTemplate::Llama3 => {
                for m in messages {
                    out.push_str(&format!(
                        "<|start_header_id|>{}<|end_header_id|>\n\n{}<|eot_id|>",
                        m.role.as_str(),
                        m.content
                    ));
                }
                if add_generation_prompt {
                    out.push_str("<|start_header_id|>assistant<|end_header_id|>\n\n");
                }
            }
            ChatTemplate::ChatMl => {
                for m in messages {
                    out.push_str(&format!("<|im_start|>{}\n{}<|im_end|>\n", m.role.as_str(), m.content));
                }
                if add_generation_prompt {
                    out.push_str("<|im_start|>assistant\n");
                }
            }
        }
        out
    }
}

/// A tokenizer with the special tokens generation needs.
#[derive(Clone)]
pub struct LlamaTokenizer {
    inner: tokenizers::Tokenizer,
    /// `inner` with special-token text split as ordinary text (a transcript's words), made
    /// once: cloning the vocabulary per call had taken 4 % of a long extraction.
    literal: tokenizers::Tokenizer,
    /// Begin-of-text id, and whether prompts start with it.
    pub bos: Option<u32>,
    /// Whether prompts start with `bos`.
    pub add_bos: bool,
    /// Ids that end a generation (end of text, end of turn).
    pub stop_ids: Vec<u32>,
    /// How conversations are laid out.
    pub chat_template: ChatTemplate,
}

impl std::fmt::Debug for LlamaTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlamaTokenizer")
            .field("vocab", &self.inner.get_vocab_size(true))
            .field("bos", &self.bos)
            .field("stop_ids", &self.stop_ids)
            .field("chat_template", &self.chat_template)
            .finish()
    }
}

/// Checks that every BPE merge joins two vocabulary tokens into a third. tokenizers 0.23 builds
/// the merged text in a scratch buffer as long as the longest token and slices past it (a
/// panic) when a merge of two known tokens is longer than any token, before it would report the
/// missing result; so a hostile or damaged vocabulary is refused here, with the merge named.
fn check_bpe_merges<'m>(
    in_vocab: impl Fn(&str) -> bool,
    prefix: &str,
    merges: impl IntoIterator<Item = (&'m str, &'m str)>,
) -> Result<(), LlamaError> {
    let mut joined = String::new();
    for (rank, (a, b)) in merges.into_iter().enumerate() {
        let bad = |what: String| Err(LlamaError::Tokenizer(format!("merge {rank} ({a:?} {b:?}): {what}")));
        let Some(tail) = b.strip_prefix(prefix) else {
            return bad(format!("does not start with the continuing-subword prefix {prefix:?}"));
        };
        joined.clear();
        joined.push_str(a);
        joined.push_str(tail);
        for t in [a, b, joined.as_str()] {
            if !in_vocab(t) {
                return bad(format!("{t:?} is not in the vocabulary"));
            }
        }
    }
    Ok(())
}

/// Just the parts of a `tokenizer.json` the merge check reads, borrowed where the JSON has no
/// escapes (a second full parse into `serde_json::Value` doubled the load time).
#[derive(serde::Deserialize)]
struct BpeParts<'a> {
    #[serde(borrow)]
    model: BpeModelParts<'a>,
}

#[derive(serde::Deserialize)]
struct BpeModelParts<'a> {
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    vocab: Option<HashMap<Cow<'a, str>, serde::de::IgnoredAny>>,
    #[serde(borrow, default)]
    merges: Option<Vec<MergeParts<'a>>>,
    #[serde(borrow, default)]
    continuing_subword_prefix: Option<Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum MergeParts<'a> {
    /// `"a b"` (older files); lines with other than two parts are refused by tokenizers itself.
    Legacy(#[serde(borrow)] Cow<'a, str>),
    Pair(#[serde(borrow)] Cow<'a, str>, #[serde(borrow)] Cow<'a, str>),
}

/// [`check_bpe_merges`] on `tokenizer.json` bytes. Files this cannot read as a BPE model with a
/// vocabulary map and merges (Unigram, WordPiece, malformed JSON) are left to tokenizers.
fn check_bpe_json(bytes: &[u8]) -> Result<(), LlamaError> {
    let Ok(doc) = serde_json::from_slice::<BpeParts<'_>>(bytes) else { return Ok(()) };
    let m = doc.model;
    let (Some(vocab), Some(merges)) = (m.vocab, m.merges) else { return Ok(()) };
    if m.kind.is_some_and(|k| k != "BPE") {
        return Ok(());
    }
    let pairs = merges.iter().filter_map(|merge| match merge {
        MergeParts::Legacy(line) if line.starts_with("#version") => None,
        MergeParts::Legacy(line) => {
            let mut parts = line.split(' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), None) => Some((a, b)),
                _ => None,
            }
        }
        MergeParts::Pair(a, b) => Some((a.as_ref(), b.as_ref())),
    });
    check_bpe_merges(|t| vocab.contains_key(t), m.continuing_subword_prefix.as_deref().unwrap_or(""), pairs)
}

fn tok_err(e: impl std::fmt::Display) -> LlamaError {
    LlamaError::Tokenizer(e.to_string())
}

impl LlamaTokenizer {
    /// Loads a Hugging Face `tokenizer.json`; special tokens are found by their text
    /// (`<|begin_of_text|>`, `<|eot_id|>`, `<|im_end|>`, …).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, LlamaError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| LlamaError::Tokenizer(format!("{}: {e}", path.display())))?;
        Self::from_json_bytes(&bytes).map_err(|e| LlamaError::Tokenizer(format!("{}: {e}", path.display())))
    }

    /// Builds from `tokenizer.json` bytes.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self, LlamaError> {
        check_bpe_json(bytes)?;
        Ok(Self::with_known_specials(tokenizers::Tokenizer::from_bytes(bytes).map_err(tok_err)?))
    }

    fn with_known_specials(inner: tokenizers::Tokenizer) -> Self {
        let id = |t: &str| inner.token_to_id(t);
        let llama3 = id("<|start_header_id|>").is_some();
        let bos = id("<|begin_of_text|>").or(id("<s>"));
        let stop_ids: Vec<u32> = ["<|eot_id|>", "<|end_of_text|>", "<|eom_id|>", "<|im_end|>", "<|endoftext|>", "</s>"]
            .iter()
            .filter_map(|t| id(t))
            .collect();
        let mut literal = inner.clone();
        literal.set_encode_special_tokens(true);
        Self {
            inner,
            literal,
            bos,
            add_bos: llama3,
            stop_ids,
            chat_template: if llama3 { ChatTemplate::Llama3 } else { ChatTemplate::ChatMl },
        }
    }

    /// The tokenizer as a Hugging Face `tokenizer.json` document (for a GGUF's tokenizer, the one
    /// [`Self::from_gguf`] built): what another library needs to tokenize exactly as this one.
    pub fn to_json(&self) -> Result<String, LlamaError> {
        self.inner.to_string(false).map_err(tok_err)
    }

    /// Builds the tokenizer a GGUF describes (`tokenizer.ggml.model` = `gpt2`).
    // ~85 lines: one `tokenizer.json` document written field by field from the GGUF keys, each
    // checked where it is read (see docs/fuzzing.md for the merges it must refuse).
    pub fn from_gguf(f: &GgufFile) -> Result<Self, LlamaError> {
        let model = f.str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(LlamaError::Unsupported(format!("GGUF tokenizer model {model:?} (only gpt2-style BPE)")));
        }
        let tokens = f.strings("tokenizer.ggml.tokens")?;
        let merges = f.strings("tokenizer.ggml.merges")?;
        let types: Vec<u64> = match f.get("tokenizer.ggml.token_type").and_then(|v| v.as_array()) {
            Some(a) => a.iter().map(|v| v.as_u64().unwrap_or(1)).collect(),
            None => vec![1; tokens.len()],
        };
        let pre = f.get("tokenizer.ggml.pre").and_then(|v| v.as_str()).unwrap_or("default");
        let (pre_tokenizer, ignore_merges) = match pre {
            "smollm" => (
                json!({"type": "Sequence", "pretokenizers": [
                    {"type": "Digits", "individual_digits": true},
                    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}]}),
                false,
            ),
            "llama-bpe" | "llama3" => (
                json!({"type": "Sequence", "pretokenizers": [
                    {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": false},
                    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}),
                true,
            ),
            "default" | "gpt2" => (
                json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}),
                false,
            ),
            other => return Err(LlamaError::Unsupported(format!("GGUF pre-tokenizer {other:?}"))),
        };
        let mut vocab = serde_json::Map::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            // A repeated token text would leave its first id unreachable and ids past the
            // vocabulary's size: refuse rather than mis-number the embedding rows.
            if let Some(first) = vocab.insert((*t).to_string(), json!(i)) {
                return Err(LlamaError::Tokenizer(format!("token {i} {t:?} repeats token {first}")));
            }
        }
        let pairs: Vec<(&str, &str)> = merges
            .iter()
            .map(|m| m.split_once(' ').ok_or_else(|| LlamaError::Tokenizer(format!("merge {m:?} has no space"))))
            .collect::<Result<_, LlamaError>>()?;
        check_bpe_merges(|t| vocab.contains_key(t), "", pairs.iter().copied())?;
        let merges: Vec<serde_json::Value> = pairs.iter().map(|(a, b)| json!([a, b])).collect();
        let added: Vec<serde_json::Value> = tokens
            .iter()
            .enumerate()
            .filter(|(i, _)| matches!(types.get(*i), Some(3) | Some(4)))
            .map(|(i, t)| {
                json!({"id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                       "normalized": false, "special": types.get(i) == Some(&3)})
            })
            .collect();
        let unk =
            f.get("tokenizer.ggml.unknown_token_id").and_then(|v| v.as_u64()).and_then(|i| tokens.get(i as usize));
        let doc = json!({
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": added, "normalizer": null,
            "pre_tokenizer": pre_tokenizer, "post_processor": null,
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {"type": "BPE", "dropout": null, "unk_token": unk, "continuing_subword_prefix": null,
                      "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                      "ignore_merges": ignore_merges, "vocab": vocab, "merges": merges},
        });
        let inner: tokenizers::Tokenizer = serde_json::from_value(doc).map_err(tok_err)?;
        // Special-token ids are hints: one outside the vocabulary is ignored, never emitted.
        let id_key = |k: &str| f.get(k).and_then(|v| v.as_u64()).filter(|&v| v < tokens.len() as u64).map(|v| v as u32);
        let mut tok = Self::with_known_specials(inner);
        tok.bos = id_key("tokenizer.ggml.bos_token_id").or(tok.bos);
        tok.add_bos = f.get("tokenizer.ggml.add_bos_token").and_then(|v| v.as_bool()).unwrap_or(tok.add_bos);
        for k in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
            if let Some(id) = id_key(k)
                && !tok.stop_ids.contains(&id)
            {
                tok.stop_ids.push(id);
            }
        }
        if let Some(t) = f.get("tokenizer.chat_template").and_then(|v| v.as_str()) {
            if t.contains("<|start_header_id|>") {
                tok.chat_template = ChatTemplate::Llama3;
            } else if t.contains("<|im_start|>") {
                tok.chat_template = ChatTemplate::ChatMl;
            }
        }
        Ok(tok)
    }

    /// Token ids of `text`. With `parse_special`, special-token text (e.g. `<|im_start|>`) maps
    /// to its id; without, it is split as ordinary text. No BOS is added (see [`Self::encode_prompt`]).
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, LlamaError> {
        let enc = if parse_special { self.inner.encode(text, false) } else { self.literal.encode(text, false) };
        Ok(enc.map_err(tok_err)?.get_ids().to_vec())
    }

    /// A prompt's ids: BOS first when the model wants it, special tokens parsed.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, LlamaError> {
        let mut ids = Vec::new();
        if self.add_bos
            && let Some(b) = self.bos
        {
            ids.push(b);
        }
        ids.extend(self.encode(text, true)?);
        Ok(ids)
    }

    /// Text of `ids`; special tokens are rendered unless `skip_special`.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, LlamaError> {
        self.inner.decode(ids, skip_special).map_err(tok_err)
    }

    /// Tokens in the vocabulary, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token's text, if it is in the vocabulary.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.inner.token_to_id(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bpe_json(vocab: &[&str], merges: serde_json::Value) -> Vec<u8> {
        let vocab: serde_json::Map<String, serde_json::Value> =
            vocab.iter().enumerate().map(|(i, t)| (t.to_string(), json!(i))).collect();
        serde_json::to_vec(&json!({
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": [], "normalizer": null,
            "pre_tokenizer": null, "post_processor": null, "decoder": null,
            "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                      "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                      "vocab": vocab, "merges": merges},
        }))
        .unwrap()
    }

    #[test]
    fn merges_must_join_vocabulary_tokens_into_one() {
        // Both merge formats work when the merge is whole.
        for merges in [json!(["a b", "ab c"]), json!([["a", "b"], ["ab", "c"]])] {
            let t = LlamaTokenizer::from_json_bytes(&bpe_json(&["a", "b", "c", "ab", "abc"], merges)).unwrap();
            assert_eq!(t.encode("abc", false).unwrap(), vec![4]);
        }
        // "ab" + "ab" is longer than every token: tokenizers 0.23 would panic building this.
        let e = LlamaTokenizer::from_json_bytes(&bpe_json(&["a", "b", "ab"], json!(["a b", "ab ab"])))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("merge 1") && e.contains("\"abab\" is not in the vocabulary"), "{e}");
        let e = LlamaTokenizer::from_json_bytes(&bpe_json(&["a"], json!([["a", "z"]]))).err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("\"z\" is not in the vocabulary")));
    }

    #[test]
    fn the_json_document_rebuilds_the_same_tokenizer() {
        let t =
            LlamaTokenizer::from_json_bytes(&bpe_json(&["a", "b", "c", "ab", "abc"], json!(["a b", "ab c"]))).unwrap();
        let again = LlamaTokenizer::from_json_bytes(t.to_json().unwrap().as_bytes()).unwrap();
        for text in ["abc", "cab", "abcabc", "ba"] {
            assert_eq!(again.encode(text, false).unwrap(), t.encode(text, false).unwrap(), "{text}");
        }
        assert_eq!(again.vocab_size(), 5);
    }
}
