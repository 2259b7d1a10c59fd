//! Token generation: greedy or sampled (temperature, top-k, top-p, repetition penalty, seed),
//! stopping on end-of-text / end-of-turn ids, stop strings or a token budget, with a callback
//! per token for streaming.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use serde::{Deserialize, Serialize};

use crate::LlamaError;
use crate::runtime::quant_model::QuantLlama;
use crate::runtime::tokenizer::LlamaTokenizer;

/// Something that turns tokens into next-token logits, keeping its own context.
pub trait LanguageModel {
    /// Feeds tokens after the current context; logits after the last one.
    fn feed(&mut self, tokens: &[u32]) -> Result<Vec<f32>, LlamaError>;
    /// Tokens in the context.
    fn context_len(&self) -> usize;
    /// Most tokens the context can hold.
    fn context_capacity(&self) -> usize;
    /// Keeps the first `len` tokens of the context and forgets the rest, so a prompt that
    /// shares a prefix with the last one (the instructions) is fed only from where they part.
    fn truncate(&mut self, len: usize);
    /// Empties the context.
    fn reset(&mut self) {
        self.truncate(0);
    }
    /// The hidden state after block `layer` of the last of `shared` + `own`, fed in a context
    /// of their own (this one is left as it was; `shared`, the same for many calls, may be kept
    /// there between them); `None` when the model does not expose hidden states.
    fn hidden_state(&mut self, shared: &[u32], own: &[u32], layer: usize) -> Result<Option<Vec<f32>>, LlamaError> {
        let _ = (shared, own, layer);
        Ok(None)
    }
    /// [`Self::hidden_state`] of `shared` + each of `owns`: the same states, computed together
    /// where the model can (one pass over the weights for many short texts).
    fn hidden_states(
        &mut self,
        shared: &[u32],
        owns: &[Vec<u32>],
        layer: usize,
    ) -> Result<Option<Vec<Vec<f32>>>, LlamaError> {
        let mut out = Vec::with_capacity(owns.len());
        for own in owns {
            let Some(state) = self.hidden_state(shared, own, layer)? else { return Ok(None) };
            out.push(state);
        }
        Ok(Some(out))
    }
}

/// Restricts which tokens may come next: a grammar, a JSON schema, a list of choices. The one
/// [`generate_with`] loop asks it before every choice, so any [`LanguageModel`] can decode under
/// it.
pub trait TokenConstraint {
    /// Sets the logits of the tokens that may not come next to −∞; `false` when no token may
    /// (the constraint is stuck, and generation stops).
    fn mask(&mut self, logits: &mut [f32]) -> bool;
    /// Takes the chosen token; an error if it was not one [`Self::mask`] allowed.
    fn accept(&mut self, token: u32) -> Result<(), LlamaError>;
    /// The output is complete: generation stops.
    fn is_done(&self) -> bool;
}

/// A decoder that keeps its keys and values in a cache of its own: what a [`Session`] drives.
pub trait Decoder {
    /// Its keys and values.
    type Cache: ContextCache;
    /// An empty cache for `capacity` positions (at most the model's context).
    fn new_cache(&self, capacity: usize) -> Self::Cache;
    /// Feeds `tokens` after what `cache` holds; the logits after the last one.
    fn next_logits(&self, tokens: &[u32], cache: &mut Self::Cache) -> Result<Vec<f32>, LlamaError>;
    /// Feeds `tokens` after what `cache` holds; the last one's hidden state after block
    /// `layer` (`None` when this decoder does not expose them).
    fn hidden_state(
        &self,
        tokens: &[u32],
        cache: &mut Self::Cache,
        layer: usize,
    ) -> Result<Option<Vec<f32>>, LlamaError> {
        let _ = (tokens, cache, layer);
        Ok(None)
    }
    /// [`Self::hidden_state`] of each of `owns`, each fed after what `cache` holds on its own;
    /// the cache is left holding what it held.
    fn hidden_states(
        &self,
        owns: &[&[u32]],
        cache: &mut Self::Cache,
        layer: usize,
    ) -> Result<Option<Vec<Vec<f32>>>, LlamaError> {
        let start = cache.len();
        let mut out = Vec::with_capacity(owns.len());
        for own in owns {
            cache.truncate(start);
            let Some(state) = self.hidden_state(own, cache, layer)? else { return Ok(None) };
            out.push(state);
        }
        cache.truncate(start);
        Ok(Some(out))
    }
}

/// The positions a [`Decoder`]'s cache holds.
pub trait ContextCache {
    /// Positions cached.
    fn len(&self) -> usize;
    /// Whether nothing is cached.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Most positions it may hold.
    fn capacity(&self) -> usize;
    /// Keeps only the first `len` positions.
    fn truncate(&mut self, len: usize);
}

/// A decoder with its cache: the [`LanguageModel`] that generation and extraction run on.
pub struct Session<'m, D: Decoder> {
    /// The model.
    pub model: &'m D,
    /// Its keys and values so far.
    pub cache: D::Cache,
    /// Caches for [`LanguageModel::hidden_state`], each holding the shared tokens of a recent
    /// call, the most recent first (extraction alternates two questions: feelings, topics).
    scratch: Vec<(Vec<u32>, D::Cache)>,
}

/// How many shared prefixes a [`Session`] keeps for hidden states.
const SCRATCH_PREFIXES: usize = 2;

impl<'m, D: Decoder> Session<'m, D> {
    /// A session with room for `capacity` tokens (capped at the model's context).
    pub fn new(model: &'m D, capacity: usize) -> Self {
        Self { model, cache: model.new_cache(capacity), scratch: Vec::new() }
    }

    /// A cache holding `shared` and room for `longest` more tokens after it (made and fed
    /// when none of the kept ones fits), cut back to `shared`.
    fn scratch_for(&mut self, shared: &[u32], longest: usize) -> Result<&mut D::Cache, LlamaError> {
        let fits = |s: &(Vec<u32>, D::Cache)| s.0 == shared && s.1.capacity() >= shared.len() + longest;
        match self.scratch.iter().position(fits) {
            Some(i) => {
                let kept = self.scratch.remove(i);
                self.scratch.insert(0, kept);
            }
            None => {
                let mut cache = self.model.new_cache(shared.len() + longest.max(128));
                if !shared.is_empty() {
                    self.model.next_logits(shared, &mut cache)?;
                }
                self.scratch.retain(|s| s.0 != shared);
                self.scratch.insert(0, (shared.to_vec(), cache));
                self.scratch.truncate(SCRATCH_PREFIXES);
            }
        }
        let cache = &mut self.scratch[0].1;
        cache.truncate(shared.len());
        Ok(cache)
    }
}

impl<D: Decoder> LanguageModel for Session<'_, D> {
    fn feed(&mut self, tokens: &[u32]) -> Result<Vec<f32>, LlamaError> {
        self.model.next_logits(tokens, &mut self.cache)
    }

    fn context_len(&self) -> usize {
        self.cache.len()
    }

    fn context_capacity(&self) -> usize {
        self.cache.capacity()
    }

    fn truncate(&mut self, len: usize) {
        self.cache.truncate(len);
    }

    fn hidden_state(&mut self, shared: &[u32], own: &[u32], layer: usize) -> Result<Option<Vec<f32>>, LlamaError> {
        if own.is_empty() {
            return Err(LlamaError::Generation("no tokens to feed".into()));
        }
        let model = self.model;
        let cache = self.scratch_for(shared, own.len())?;
        model.hidden_state(own, cache, layer)
    }

    fn hidden_states(
        &mut self,
        shared: &[u32],
        owns: &[Vec<u32>],
        layer: usize,
    ) -> Result<Option<Vec<Vec<f32>>>, LlamaError> {
        if owns.iter().any(Vec::is_empty) {
            return Err(LlamaError::Generation("no tokens to feed".into()));
        }
        let longest = owns.iter().map(Vec::len).max().unwrap_or(0);
        let model = self.model;
        let cache = self.scratch_for(shared, longest)?;
        let owns: Vec<&[u32]> = owns.iter().map(Vec::as_slice).collect();
        model.hidden_states(&owns, cache, layer)
    }
}

/// A [`QuantLlama`] with its KV cache.
pub type QuantSession<'m> = Session<'m, QuantLlama>;

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0 = greedy (argmax, lowest id on ties).
    pub temperature: f32,
    /// Keep the k most likely tokens (0 = all).
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches p (1 = all).
    pub top_p: f32,
    /// llama.cpp's penalty: positive logits of recent tokens divided by it, negative ones
    /// multiplied (1 = off).
    pub repetition_penalty: f32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: usize,
    /// Seeds sampling.
    pub seed: u64,
}

impl Sampling {
    /// Greedy decoding, no penalty.
    pub fn greedy() -> Self {
        Self { temperature: 0.0, top_k: 0, top_p: 1.0, repetition_penalty: 1.0, repeat_last_n: 64, seed: 0 }
    }
}

/// The decoding settings a model or adapter folder recommends, from its
/// `generation_config.json` (Hugging Face's file; only the keys below are read, others are
/// ignored). The project's extraction adapter ships one: it copies quotes and JSON keys it has
/// just written, which llama.cpp's repetition penalty would push it away from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerationConfig {
    /// llama.cpp's repetition penalty (1 = off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repetition_penalty: Option<f32>,
    /// Sampling temperature (0 = greedy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
}

impl GenerationConfig {
    /// `dir/generation_config.json`, or `None` when the folder has none.
    pub fn read(dir: &std::path::Path) -> Result<Option<Self>, LlamaError> {
        let path = dir.join("generation_config.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| LlamaError::Config(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LlamaError::io(&path, e)),
        }
    }

    /// Overrides the settings this file names.
    pub fn apply(&self, sampling: &mut Sampling) {
        if let Some(p) = self.repetition_penalty.filter(|p| p.is_finite() && *p > 0.0) {
            sampling.repetition_penalty = p;
        }
        if let Some(t) = self.temperature.filter(|t| t.is_finite() && *t >= 0.0) {
            sampling.temperature = t;
        }
    }
}

impl Default for Sampling {
    fn default() -> Self {
        Self::greedy()
    }
}

/// Why generation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// An end-of-text / end-of-turn token (not included in the output).
    StopToken(u32),
    /// A stop string appeared (the text is cut before it).
    StopString(String),
    /// `max_new_tokens` were generated.
    MaxTokens,
    /// The [`TokenConstraint`] said the output is complete.
    ConstraintDone,
    /// The [`TokenConstraint`] allowed no token.
    ConstraintStuck,
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Most tokens to generate.
    pub max_new_tokens: usize,
    /// How tokens are chosen.
    pub sampling: Sampling,
    /// Stop when the text ends with one of these (not included in the output).
    pub stop_strings: Vec<String>,
    /// Also stop on the tokenizer's stop ids (EOS/EOT); off to observe raw continuations.
    pub stop_on_eos: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self { max_new_tokens: 256, sampling: Sampling::greedy(), stop_strings: Vec::new(), stop_on_eos: true }
    }
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The generated ids.
    pub tokens: Vec<u32>,
    /// Their text.
    pub text: String,
    /// Why generation ended.
    pub stop: StopReason,
}

/// Index of the largest logit (lowest id on ties): the workspace's one `argmax`.
pub use numeric::argmax;

/// Picks the next token from `logits` (modified in place by penalties).
pub fn sample(logits: &mut [f32], recent: &[u32], s: &Sampling, rng: &mut StdRng) -> u32 {
    if s.repetition_penalty != 1.0 {
        let start = recent.len().saturating_sub(s.repeat_last_n);
        let mut seen = std::collections::HashSet::new();
        for &t in &recent[start..] {
            if seen.insert(t)
                && let Some(l) = logits.get_mut(t as usize)
            {
                *l = if *l > 0.0 { *l / s.repetition_penalty } else { *l * s.repetition_penalty };
            }
        }
    }
    if s.temperature <= 0.0 {
        return argmax(logits) as u32;
    }
    let mut cand: Vec<(u32, f32)> = logits.iter().enumerate().map(|(i, &l)| (i as u32, l / s.temperature)).collect();
    cand.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if s.top_k > 0 {
        cand.truncate(s.top_k);
    }
    let max = cand[0].1;
    let mut probs: Vec<f32> = cand.iter().map(|&(_, l)| (l - max).exp()).collect();
    let total: f32 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if s.top_p < 1.0 {
        let mut acc = 0.0;
        let keep = probs
            .iter()
            .position(|&p| {
                acc += p;
                acc >= s.top_p
            })
            .map_or(probs.len(), |i| i + 1);
        probs.truncate(keep);
    }
    let total: f32 = probs.iter().sum();
    let mut r = rng.random::<f32>() * total;
    for (i, p) in probs.iter().enumerate() {
        r -= p;
        if r <= 0.0 {
            return cand[i].0;
        }
    }
    cand[probs.len() - 1].0
}

/// Generates after `prompt`. `on_token(id, new_text)` is called for every generated token with
/// the text it completes (possibly empty while a multi-byte character is incomplete); return
/// `false` to stop early.
pub fn generate(
    model: &mut dyn LanguageModel,
    tokenizer: &LlamaTokenizer,
    prompt: &[u32],
    opts: &GenerateOptions,
    on_token: &mut dyn FnMut(u32, &str) -> bool,
) -> Result<Generation, LlamaError> {
    generate_with(model, tokenizer, prompt, opts, Hooks { on_token: Some(on_token), ..Hooks::default() })
}

/// Called per generated token with the text it completes; `false` stops.
pub type OnToken<'a> = dyn FnMut(u32, &str) -> bool + 'a;

/// What [`generate_with`] consults besides the model.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Tokens already in the model's context before the prompt (a reused prefix): the
    /// repetition penalty looks back over them too, as if they had been fed with the prompt.
    pub earlier: &'a [u32],
    /// Restricts every choice (constrained decoding).
    pub constraint: Option<&'a mut dyn TokenConstraint>,
    /// Called per generated token with the text it completes; `false` stops.
    pub on_token: Option<&'a mut OnToken<'a>>,
}

/// The generation loop: [`generate`] with a prefix the penalty sees, and an optional
/// [`TokenConstraint`] masking the logits before each choice.
pub fn generate_with(
    model: &mut dyn LanguageModel,
    tokenizer: &LlamaTokenizer,
    prompt: &[u32],
    opts: &GenerateOptions,
    mut hooks: Hooks<'_>,
) -> Result<Generation, LlamaError> {
    if prompt.is_empty() {
        return Err(LlamaError::Generation("empty prompt".into()));
    }
    let needed = model.context_len() + prompt.len() + opts.max_new_tokens;
    if needed > model.context_capacity() {
        return Err(LlamaError::ContextOverflow { needed, limit: model.context_capacity() });
    }
    let mut rng = StdRng::seed_from_u64(opts.sampling.seed);
    let mut logits = model.feed(prompt)?;
    let mut history: Vec<u32> = [hooks.earlier, prompt].concat();
    let mut tokens = Vec::new();
    let mut text = String::new();
    let mut stop = StopReason::MaxTokens;
    while tokens.len() < opts.max_new_tokens {
        if let Some(c) = hooks.constraint.as_deref_mut()
            && !c.mask(&mut logits)
        {
            stop = StopReason::ConstraintStuck;
            break;
        }
        let next = sample(&mut logits, &history, &opts.sampling, &mut rng);
        if opts.stop_on_eos && tokenizer.stop_ids.contains(&next) {
            stop = StopReason::StopToken(next);
            break;
        }
        if let Some(c) = hooks.constraint.as_deref_mut() {
            c.accept(next)?;
        }
        tokens.push(next);
        history.push(next);
        let full = tokenizer.decode(&tokens, false)?;
        // Hold back output while the last character is an incomplete UTF-8 sequence.
        let new = if full.ends_with('\u{fffd}') || !full.starts_with(&text) { "" } else { &full[text.len()..] };
        let new = new.to_string();
        if !new.is_empty() {
            text = full.clone();
        }
        if let Some(s) = opts.stop_strings.iter().find(|s| full.contains(s.as_str())) {
            let cut = full.find(s.as_str()).unwrap_or(full.len());
            text = full[..cut].to_string();
            stop = StopReason::StopString(s.clone());
            break;
        }
        if let Some(on_token) = hooks.on_token.as_deref_mut()
            && !on_token(next, &new)
        {
            break;
        }
        if hooks.constraint.as_deref().is_some_and(|c| c.is_done()) {
            stop = StopReason::ConstraintDone;
            break;
        }
        if tokens.len() < opts.max_new_tokens {
            logits = model.feed(&[next])?;
        }
    }
    if matches!(stop, StopReason::MaxTokens | StopReason::ConstraintDone | StopReason::ConstraintStuck) {
        text = tokenizer.decode(&tokens, false)?;
    }
    Ok(Generation { tokens, text, stop })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_generation_config_overrides_only_what_it_names() {
        let dir = std::env::temp_dir().join(format!("whispers-gencfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(GenerationConfig::read(&dir).unwrap(), None, "no file, no change");
        std::fs::write(dir.join("generation_config.json"), r#"{"repetition_penalty": 1.0, "max_length": 20}"#).unwrap();
        let g = GenerationConfig::read(&dir).unwrap().unwrap();
        let mut s = Sampling { repetition_penalty: 1.2, temperature: 0.3, ..Sampling::greedy() };
        g.apply(&mut s);
        assert_eq!((s.repetition_penalty, s.temperature), (1.0, 0.3));
        std::fs::write(dir.join("generation_config.json"), "{ not json").unwrap();
        assert!(GenerationConfig::read(&dir).unwrap_err().to_string().contains("generation_config.json"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    use super::*;

    #[test]
    fn sampling_rules() {
        let mut rng = StdRng::seed_from_u64(1);
        let logits = vec![1.0, 3.0, 3.0, -2.0];
        assert_eq!(sample(&mut logits.clone(), &[], &Sampling::greedy(), &mut rng), 1, "lowest id on ties");
        // Penalising token 1 hands the argmax to 2.
        let s = Sampling { repetition_penalty: 1.5, ..Sampling::greedy() };
        assert_eq!(sample(&mut logits.clone(), &[1], &s, &mut rng), 2);
        // top-k 1 at any temperature is greedy.
        let s = Sampling { temperature: 5.0, top_k: 1, ..Sampling::greedy() };
        assert!((0..50).all(|_| sample(&mut logits.clone(), &[], &s, &mut rng) == 1));
        // top-p keeps only the two tied leaders (≈ 0.47 each).
        let s = Sampling { temperature: 1.0, top_p: 0.9, ..Sampling::greedy() };
        let picks: std::collections::HashSet<u32> =
            (0..200).map(|_| sample(&mut logits.clone(), &[], &s, &mut rng)).collect();
        assert_eq!(picks, [1, 2].into_iter().collect());
        // Same seed, same draws.
        let s = Sampling { temperature: 1.0, seed: 9, ..Sampling::greedy() };
        let draw = |seed| {
            let mut r = StdRng::seed_from_u64(seed);
            (0..20).map(|_| sample(&mut logits.clone(), &[], &s, &mut r)).collect::<Vec<_>>()
        };
        assert_eq!(draw(9), draw(9));
    }

    /// A word-level tokenizer over `a`, `b`, `c`, `d` (ids 0–3).
    fn tiny_tokenizer() -> LlamaTokenizer {
        let json = r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,
            "pre_tokenizer":{"type":"Whitespace"},"post_processor":null,"decoder":null,
            "model":{"type":"WordLevel","vocab":{"a":0,"b":1,"c":2,"d":3},"unk_token":"a"}}"#;
        LlamaTokenizer::from_json_bytes(json.as_bytes()).unwrap()
    }

    /// The same logits after every feed; records what it was fed.
    struct Fixed {
        logits: Vec<f32>,
        fed: Vec<Vec<u32>>,
        len: usize,
    }

    impl LanguageModel for Fixed {
        fn feed(&mut self, tokens: &[u32]) -> Result<Vec<f32>, LlamaError> {
            self.fed.push(tokens.to_vec());
            self.len += tokens.len();
            Ok(self.logits.clone())
        }
        fn context_len(&self) -> usize {
            self.len
        }
        fn context_capacity(&self) -> usize {
            64
        }
        fn truncate(&mut self, len: usize) {
            self.len = self.len.min(len);
        }
    }

    /// Allows `steps[i]` at the i-th choice; done after the last.
    struct Script {
        steps: Vec<Vec<u32>>,
        at: usize,
    }

    impl TokenConstraint for Script {
        fn mask(&mut self, logits: &mut [f32]) -> bool {
            let allowed = &self.steps[self.at];
            for (id, l) in logits.iter_mut().enumerate() {
                if !allowed.contains(&(id as u32)) {
                    *l = f32::NEG_INFINITY;
                }
            }
            !allowed.is_empty()
        }
        fn accept(&mut self, token: u32) -> Result<(), LlamaError> {
            if !self.steps[self.at].contains(&token) {
                return Err(LlamaError::Generation(format!("{token} was not allowed")));
            }
            self.at += 1;
            Ok(())
        }
        fn is_done(&self) -> bool {
            self.at == self.steps.len()
        }
    }

    fn run(steps: Vec<Vec<u32>>, max_new_tokens: usize) -> (Generation, Fixed) {
        let mut model = Fixed { logits: vec![5.0, 1.0, 1.0, 1.0], fed: Vec::new(), len: 0 };
        let mut script = Script { steps, at: 0 };
        let opts = GenerateOptions { max_new_tokens, ..Default::default() };
        let hooks = Hooks { constraint: Some(&mut script), ..Hooks::default() };
        let g = generate_with(&mut model, &tiny_tokenizer(), &[3], &opts, hooks).unwrap();
        (g, model)
    }

    #[test]
    fn a_constraint_steers_every_choice_and_ends_generation_when_done() {
        // The model always prefers `a`; the constraint allows only `b`, then only `c`.
        let (g, model) = run(vec![vec![1], vec![2]], 10);
        assert_eq!((g.tokens.as_slice(), g.text.as_str(), &g.stop), (&[1, 2][..], "b c", &StopReason::ConstraintDone));
        // The prompt and `b` were fed; the last token is not (nothing follows it).
        assert_eq!(model.fed, vec![vec![3], vec![1]]);
        // No token allowed: generation stops there.
        let (g, _) = run(vec![vec![1], vec![]], 10);
        assert_eq!((g.tokens, g.stop), (vec![1], StopReason::ConstraintStuck));
        // The budget runs out first: the caller sees MaxTokens (and may close the document).
        let (g, _) = run(vec![vec![1], vec![2]], 1);
        assert_eq!((g.tokens, g.stop), (vec![1], StopReason::MaxTokens));
    }

    #[test]
    fn the_penalty_sees_the_tokens_already_in_the_context() {
        let tokenizer = tiny_tokenizer();
        let sampling = Sampling { repetition_penalty: 1.2, ..Sampling::greedy() };
        let opts = GenerateOptions { max_new_tokens: 1, sampling, ..Default::default() };
        let first = |earlier: &[u32]| {
            let mut model = Fixed { logits: vec![5.0, 4.5, 0.0, 0.0], fed: Vec::new(), len: earlier.len() };
            let hooks = Hooks { earlier, ..Hooks::default() };
            generate_with(&mut model, &tokenizer, &[3], &opts, hooks).unwrap().tokens[0]
        };
        assert_eq!(first(&[]), 0);
        // `a` in the reused prefix: 5 / 1.2 < 4.5, so `b` wins.
        assert_eq!(first(&[0]), 1);
    }
}
