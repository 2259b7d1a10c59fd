//! Decoding one 30 s window as CTranslate2 does for faster-whisper: the prompt before the
//! start-of-transcript token fed in one pass, then one token per step with the logit rules
//! (suppressed tokens, suppress-blank, timestamp rules), greedy argmax at temperature 0,
//! sampling above it, or beam search; the no-speech probability from the raw first-step logits.

use crate::AsrError;
use crate::model::{CrossKv, KvCache, Logits, Whisper};
use crate::ops::log_softmax;
use crate::tokenizer::WhisperTokenizer;
use rand::SeedableRng;
use rand::distr::Distribution;

/// The logit processors, in CTranslate2's order.
#[derive(Debug, Clone)]
pub struct LogitRules {
    /// Tokens never allowed.
    pub suppress: Vec<u32>,
    /// Tokens not allowed as the first token (suppress-blank: the space and end-of-text).
    pub suppress_begin: Vec<u32>,
    /// `<|endoftext|>`.
    pub eot: u32,
    /// `<|notimestamps|>`.
    pub no_timestamps: u32,
    /// `<|0.00|>`, the first timestamp token.
    pub timestamp_begin: u32,
    /// Last allowed first timestamp, in steps of 0.02 s past `<|0.00|>` (`None`: no limit).
    pub max_initial_timestamp_index: Option<u32>,
    /// Timestamp rules on (the prompt does not end with `<|notimestamps|>`).
    pub timestamps: bool,
}

/// CTranslate2 disables a token by setting its logit to the lowest finite float.
const DISABLED: f32 = f32::MIN;

impl LogitRules {
    /// Applies the rules for decoding step `step` (0 at the start-of-transcript position) after
    /// `generated` tokens of this window.
    pub fn apply(&self, logits: &mut [f32], step: usize, generated: &[u32]) {
        let n = logits.len();
        let ts = (self.timestamp_begin as usize).min(n);
        let mut disable = |i: u32| {
            if let Some(l) = logits.get_mut(i as usize) {
                *l = DISABLED;
            }
        };
        for &t in &self.suppress {
            disable(t);
        }
        if step == 0 {
            for &t in &self.suppress_begin {
                disable(t);
            }
        }
        if !self.timestamps {
            return;
        }
        disable(self.no_timestamps);
        let mut check = false;
        if step == 0 {
            logits[..ts].fill(DISABLED);
            if let Some(max) = self.max_initial_timestamp_index {
                let from = (ts + max as usize + 1).min(n);
                logits[from..].fill(DISABLED);
            }
        } else if let Some(&last) = generated.last() {
            if last >= self.timestamp_begin {
                let pen = if generated.len() >= 2 { generated[generated.len() - 2] } else { last };
                if pen >= self.timestamp_begin {
                    logits[ts..].fill(DISABLED);
                } else {
                    logits[..(self.eot as usize).min(n)].fill(DISABLED);
                    logits[ts..(last as usize).min(n)].fill(DISABLED);
                    check = true;
                }
            } else {
                // Timestamps strictly increase.
                if let Some(&t) = generated.iter().rev().find(|&&t| t >= self.timestamp_begin) {
                    logits[ts..(t as usize + 1).min(n)].fill(DISABLED);
                }
                check = true;
            }
        }
        if check {
            // If the timestamps together are likelier than any single text token, force one.
            let mut lp = Vec::with_capacity(n);
            log_softmax(logits, &mut lp);
            let ts_max = lp[ts..].iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let ts_lse = if ts_max.is_finite() {
                ts_max + lp[ts..].iter().map(|&v| f64::from(v - ts_max).exp()).sum::<f64>().ln() as f32
            } else {
                f32::NEG_INFINITY
            };
            let text_max = lp[..ts].iter().copied().fold(f32::NEG_INFINITY, f32::max);
            if ts_lse > text_max {
                logits[..ts].fill(DISABLED);
            }
        }
    }
}

/// Result of decoding one window at one temperature.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowDecode {
    /// Generated tokens, end-of-text excluded.
    pub tokens: Vec<u32>,
    /// Log-probability of each chosen token (the end-of-text step included when reached).
    pub token_logprobs: Vec<f32>,
    /// Sum of `token_logprobs`.
    pub sum_logprob: f64,
    /// `sum_logprob / (tokens + 1)`, faster-whisper's figure.
    pub avg_logprob: f64,
    /// Probability of the no-speech token at the first step.
    pub no_speech_prob: f32,
    /// Sampling temperature used (0 for greedy and beam search).
    pub temperature: f32,
    /// Whether decoding reached end-of-text (rather than the length limit).
    pub ended_with_eot: bool,
}

/// How to choose tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Search {
    /// The most probable token at every step.
    Greedy,
    /// Beam search.
    Beam {
        /// Beams kept.
        size: usize,
    },
    /// Sampling at a temperature (the fallback after a failed window).
    Sample {
        /// Softmax temperature (> 0).
        temperature: f32,
        /// Candidates drawn; the best by log-probability is kept.
        candidates: usize,
        /// Seed of the generator, for repeatable runs.
        seed: u64,
    },
}

/// Decodes one window.
pub fn decode_window(
    model: &Whisper,
    tokenizer: &WhisperTokenizer,
    cross: &CrossKv,
    prompt: &[u32],
    rules: &LogitRules,
    search: Search,
    threads: usize,
) -> Result<WindowDecode, AsrError> {
    let Some((&start, before)) = prompt.split_last() else {
        return Err(AsrError::Decode("empty prompt".into()));
    };
    let ctx = model.dims.n_text_ctx;
    if prompt.len() > ctx / 2 + 1 {
        return Err(AsrError::Decode(format!(
            "prompt of {} tokens leaves no room in the {ctx}-token context",
            prompt.len()
        )));
    }
    let mut cache = model.new_cache();
    if !before.is_empty() {
        model.decode(before, &mut cache, cross, threads, None, Logits::None)?;
    }
    let first = model.decode(&[start], &mut cache, cross, threads, None, Logits::Last)?;
    let mut probs = Vec::new();
    log_softmax(&first, &mut probs);
    let no_speech_prob = probs.get(tokenizer.no_speech as usize).map_or(0.0, |lp| lp.exp());
    let max_steps = (ctx / 2).min(ctx - before.len());
    let mut result = match search {
        Search::Greedy => sample(model, cross, rules, cache, first, max_steps, 0.0, None, threads)?,
        Search::Sample { temperature, candidates, seed } => {
            let mut best: Option<WindowDecode> = None;
            for c in 0..candidates.max(1) {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed.wrapping_add(c as u64));
                let d = sample(
                    model,
                    cross,
                    rules,
                    cache.clone(),
                    first.clone(),
                    max_steps,
                    temperature,
                    Some(&mut rng),
                    threads,
                )?;
                let score = d.sum_logprob / d.tokens.len().max(1) as f64;
                if best.as_ref().is_none_or(|b| score > b.sum_logprob / b.tokens.len().max(1) as f64) {
                    best = Some(d);
                }
            }
            best.ok_or_else(|| AsrError::Decode("no candidate".into()))?
        }
        Search::Beam { size } => beam(model, cross, rules, cache, first, max_steps, size.max(1), threads)?,
    };
    result.no_speech_prob = no_speech_prob;
    Ok(result)
}

#[allow(clippy::too_many_arguments)]
fn sample(
    model: &Whisper,
    cross: &CrossKv,
    rules: &LogitRules,
    mut cache: KvCache,
    mut logits: Vec<f32>,
    max_steps: usize,
    temperature: f32,
    mut rng: Option<&mut rand::rngs::StdRng>,
    threads: usize,
) -> Result<WindowDecode, AsrError> {
    let mut tokens = Vec::new();
    let mut token_logprobs = Vec::new();
    let mut lp = Vec::new();
    let mut ended = false;
    for step in 0..max_steps {
        if step > 0 {
            let last = tokens[tokens.len() - 1];
            logits = model.decode(&[last], &mut cache, cross, threads, None, Logits::Last)?;
        }
        rules.apply(&mut logits, step, &tokens);
        log_softmax(&logits, &mut lp);
        let tok = match rng.as_deref_mut() {
            Some(rng) if temperature > 0.0 => {
                let weights: Vec<f64> = lp.iter().map(|&v| (f64::from(v) / f64::from(temperature)).exp()).collect();
                let dist = rand::distr::weighted::WeightedIndex::new(&weights)
                    .map_err(|e| AsrError::Decode(format!("sampling: {e}")))?;
                dist.sample(rng) as u32
            }
            _ => numeric::argmax(&lp) as u32,
        };
        token_logprobs.push(lp[tok as usize]);
        if tok == rules.eot {
            ended = true;
            break;
        }
        tokens.push(tok);
    }
    Ok(finish(tokens, token_logprobs, temperature, ended))
}

fn finish(tokens: Vec<u32>, token_logprobs: Vec<f32>, temperature: f32, ended_with_eot: bool) -> WindowDecode {
    let sum_logprob: f64 = token_logprobs.iter().map(|&v| f64::from(v)).sum();
    let avg_logprob = sum_logprob / (tokens.len() + 1) as f64;
    WindowDecode { tokens, token_logprobs, sum_logprob, avg_logprob, no_speech_prob: 0.0, temperature, ended_with_eot }
}

struct Hypothesis {
    tokens: Vec<u32>,
    logprobs: Vec<f32>,
    sum: f64,
    cache: KvCache,
    logits: Vec<f32>,
}

/// Beam search with length-normalised scores (length penalty 1, patience 1).
#[allow(clippy::too_many_arguments)]
fn beam(
    model: &Whisper,
    cross: &CrossKv,
    rules: &LogitRules,
    cache: KvCache,
    first: Vec<f32>,
    max_steps: usize,
    size: usize,
    threads: usize,
) -> Result<WindowDecode, AsrError> {
    let mut alive = vec![Hypothesis { tokens: Vec::new(), logprobs: Vec::new(), sum: 0.0, cache, logits: first }];
    let mut finished: Vec<(f64, Vec<u32>, Vec<f32>)> = Vec::new();
    let mut lp = Vec::new();
    for step in 0..max_steps {
        let mut candidates: Vec<(f64, usize, u32, f32)> = Vec::new();
        for (b, h) in alive.iter_mut().enumerate() {
            if step > 0 {
                let last = h.tokens[h.tokens.len() - 1];
                h.logits = model.decode(&[last], &mut h.cache, cross, threads, None, Logits::Last)?;
            }
            rules.apply(&mut h.logits, step, &h.tokens);
            log_softmax(&h.logits, &mut lp);
            let mut idx: Vec<u32> = (0..lp.len() as u32).collect();
            let k = (size + 1).min(idx.len());
            idx.select_nth_unstable_by(k - 1, |&a, &c| lp[c as usize].total_cmp(&lp[a as usize]));
            for &t in &idx[..k] {
                candidates.push((h.sum + f64::from(lp[t as usize]), b, t, lp[t as usize]));
            }
        }
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut next = Vec::new();
        for (sum, b, t, l) in candidates {
            let h = &alive[b];
            if t == rules.eot {
                let mut logprobs = h.logprobs.clone();
                logprobs.push(l);
                let score = sum / h.tokens.len().max(1) as f64;
                finished.push((score, h.tokens.clone(), logprobs));
            } else if next.len() < size {
                let mut tokens = h.tokens.clone();
                tokens.push(t);
                let mut logprobs = h.logprobs.clone();
                logprobs.push(l);
                next.push(Hypothesis { tokens, logprobs, sum, cache: h.cache.clone(), logits: Vec::new() });
            }
            // As openai-whisper and CTranslate2: the first `size` live candidates go on; an
            // end-of-text ranked above them finishes its hypothesis.
            if next.len() >= size {
                break;
            }
        }
        alive = next;
        if finished.len() >= size || alive.is_empty() {
            break;
        }
    }
    let ended = !finished.is_empty();
    if finished.is_empty() {
        for h in alive {
            finished.push((h.sum / h.tokens.len().max(1) as f64, h.tokens, h.logprobs));
        }
    }
    finished.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (_, tokens, logprobs) =
        finished.into_iter().next().ok_or_else(|| AsrError::Decode("beam search found nothing".into()))?;
    Ok(finish(tokens, logprobs, 0.0, ended))
}

/// `len(text) / len(zlib(text))` with zlib level 6, as faster-whisper measures repetition.
pub fn compression_ratio(text: &str) -> f64 {
    use std::io::Write;
    if text.is_empty() {
        return 0.0;
    }
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    // Writing to a Vec cannot fail.
    let compressed = enc.write_all(text.as_bytes()).and_then(|_| enc.finish()).map_or(1, |c| c.len().max(1));
    text.len() as f64 / compressed as f64
}
