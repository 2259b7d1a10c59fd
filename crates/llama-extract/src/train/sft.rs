//! Supervised LoRA fine-tuning of the f32 decoder on (prompt, response) pairs.
//!
//! Each pair becomes one chat turn (the model's template, the response closed by its
//! end-of-turn token); the loss is the mean cross-entropy over the response tokens only. AdamW
//! updates the adapters (everything else is frozen), with linear warmup then cosine decay,
//! gradient accumulation, clipping by the global gradient norm, periodic evaluation loss, and
//! adapter-only checkpoints in PEFT format. Seeded: the same seed gives the same adapters.
//! Pairs longer than `max_len` tokens are an error, never truncated silently.

use std::path::{Path, PathBuf};

use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, Optimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Device, ElementConversion, Int, Tensor, TensorData};
use lora::QuantLinearBackend;
use numeric::LrSchedule;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::LlamaError;
use crate::runtime::burn_model::BurnLlama;
use crate::runtime::tokenizer::{ChatTemplate, LlamaTokenizer, Message, Role};

/// One training pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SftPair {
    /// A system turn before the prompt (the extractor's instructions), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The user turn.
    pub prompt: String,
    /// The assistant turn the loss is computed on.
    pub response: String,
}

/// Reads JSON lines `{"prompt": …, "response": …}`; errors name the line.
pub fn read_pairs(path: impl AsRef<Path>) -> Result<Vec<SftPair>, LlamaError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| LlamaError::io(path, e))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| LlamaError::Config(format!("{} line {}: {e}", path.display(), i + 1)))
        })
        .collect()
}

/// A tokenized pair: the model reads `ids[..n-1]` and is scored on predicting
/// `ids[first_target..]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPair {
    /// Token ids of the whole conversation.
    pub ids: Vec<u32>,
    /// Index of the first response token.
    pub first_target: usize,
}

/// The end-of-turn token text of a template.
fn end_of_turn(t: ChatTemplate) -> &'static str {
    match t {
        ChatTemplate::Llama3 => "<|eot_id|>",
        ChatTemplate::ChatMl => "<|im_end|>",
    }
}

/// The prompt part of a pair as the model sees it at inference (chat turn + assistant header).
pub fn chat_prompt(tok: &LlamaTokenizer, prompt: &str) -> String {
    tok.chat_template.format(&[Message::new(Role::User, prompt)], true)
}

impl SftPair {
    /// The prompt as the model sees it at inference: the system turn if any, the user turn and
    /// the assistant header.
    pub fn chat(&self, tok: &LlamaTokenizer) -> String {
        match &self.system {
            Some(system) => tok.chat_template.format(
                &[Message::new(Role::System, system.as_str()), Message::new(Role::User, self.prompt.as_str())],
                true,
            ),
            None => chat_prompt(tok, &self.prompt),
        }
    }
}

/// Tokenizes a pair; fails when it is longer than `max_len`.
pub fn encode_pair(tok: &LlamaTokenizer, pair: &SftPair, max_len: usize) -> Result<EncodedPair, LlamaError> {
    let mut ids = tok.encode_prompt(&pair.chat(tok))?;
    let first_target = ids.len();
    ids.extend(tok.encode(&pair.response, false)?);
    let eot = tok
        .token_id(end_of_turn(tok.chat_template))
        .ok_or_else(|| LlamaError::Tokenizer(format!("no {} token", end_of_turn(tok.chat_template))))?;
    ids.push(eot);
    if ids.len() > max_len {
        return Err(LlamaError::ContextOverflow { needed: ids.len(), limit: max_len });
    }
    if first_target == 0 || first_target >= ids.len() {
        return Err(LlamaError::Config("a pair needs a prompt and a response".into()));
    }
    Ok(EncodedPair { ids, first_target })
}

/// Sum of the response tokens' negative log-likelihood, and how many there are.
pub fn pair_nll<B: QuantLinearBackend>(
    model: &BurnLlama<B>,
    pair: &EncodedPair,
) -> Result<(Tensor<B, 1>, usize), LlamaError> {
    let n = pair.ids.len();
    // Position p predicts ids[p + 1]: only positions first_target-1 .. n-2 are scored, so only
    // their logits are computed.
    let count = n - pair.first_target;
    let logits = model.forward_last(&pair.ids[..n - 1], &mut model.new_cache(n), count)?; // [count, V]
    let device = logits.device();
    let targets: Vec<i64> = pair.ids[pair.first_target..].iter().map(|&t| t as i64).collect();
    let targets = Tensor::<B, 2, Int>::from_data(TensorData::new(targets, [count, 1]), &device);
    let picked = log_softmax(logits, 1).gather(1, targets);
    Ok((picked.sum().neg(), count))
}

/// Mean per-token loss of the responses in `pairs` (no gradients).
pub fn eval_loss<B: QuantLinearBackend>(model: &BurnLlama<B>, pairs: &[EncodedPair]) -> Result<f64, LlamaError> {
    let (mut total, mut count) = (0f64, 0usize);
    for p in pairs {
        let (nll, n) = pair_nll(model, p)?;
        total += nll.into_scalar().elem::<f64>();
        count += n;
    }
    Ok(if count == 0 { 0.0 } else { total / count as f64 })
}

/// Fine-tuning settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SftConfig {
    /// Passes over the training pairs.
    pub epochs: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warmup, in optimizer steps.
    pub warmup_steps: usize,
    /// Pairs per optimizer step.
    pub grad_accum: usize,
    /// Clip the global gradient norm to this (0 = off).
    pub clip_norm: f64,
    /// Evaluate every this many optimizer steps (0 = only at the end of each epoch).
    pub eval_every: usize,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Seeds the shuffles and adapter initialisation.
    pub seed: u64,
}

impl Default for SftConfig {
    fn default() -> Self {
        Self {
            epochs: 2,
            lr: 1e-3,
            warmup_steps: 10,
            grad_accum: 4,
            clip_norm: 1.0,
            eval_every: 0,
            weight_decay: 0.0,
            seed: 0,
        }
    }
}

/// What the loop reports.
#[derive(Debug, Clone, PartialEq)]
pub enum SftEvent {
    /// An optimizer step was taken.
    Step {
        /// 1-based step.
        step: usize,
        /// Steps the run will take.
        total_steps: usize,
        /// Mean loss per response token over the step's pairs.
        loss: f64,
        /// The learning rate it used.
        lr: f64,
        /// Global gradient norm before clipping.
        grad_norm: f64,
        /// Training throughput.
        tokens_per_s: f64,
    },
    /// The evaluation set was scored.
    Eval {
        /// Steps taken before it.
        step: usize,
        /// Mean loss per response token.
        loss: f64,
    },
}

/// The outcome of [`finetune`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftReport {
    /// Optimizer steps taken.
    pub steps: usize,
    /// `(step, eval loss)`, first entry before any training.
    pub eval: Vec<(usize, f64)>,
    /// Response tokens trained on.
    pub train_tokens: usize,
    /// Wall-clock time.
    pub seconds: f64,
}

struct GradNorm<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    sum: f64,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for GradNorm<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.get::<B::InnerBackend, D>(param.id) {
            self.sum += g.square().sum().into_scalar().elem::<f64>();
        }
    }
}

struct GradScale<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    factor: f64,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for GradScale<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(g) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads.register::<B::InnerBackend, D>(param.id, g * self.factor);
        }
    }
}

/// The gradients' global L2 norm; when it exceeds `clip` (> 0) every gradient is scaled down
/// so the norm is `clip`.
fn clip_global_norm<B>(model: &BurnLlama<B>, grads: &mut GradientsParams, clip: f64) -> f64
where
    B: AutodiffBackend + QuantLinearBackend,
{
    let mut norm = GradNorm::<B> { grads, sum: 0.0, _b: std::marker::PhantomData };
    model.visit(&mut norm);
    let grad_norm = norm.sum.sqrt();
    if clip > 0.0 && grad_norm > clip {
        let mut scale = GradScale::<B> { grads, factor: clip / grad_norm, _b: std::marker::PhantomData };
        model.visit(&mut scale);
    }
    grad_norm
}

/// The rate for optimizer step `step` (0-based) of `total`: linear warm-up to `cfg.lr` over
/// `warmup_steps`, then half a cosine to 0. The shared schedule is read one step ahead, so the
/// first step already moves (a schedule at step 0 gives 0) and 0 comes one step after the last.
fn lr_at(step: usize, total: usize, cfg: &SftConfig) -> f64 {
    let schedule = LrSchedule::WarmupCosine {
        min_lr: 0.0,
        max_lr: cfg.lr,
        warmup_steps: cfg.warmup_steps,
        total_steps: total + 1,
    };
    schedule.at(step + 1)
}

/// Trains the adapters already attached to `model` (see [`BurnLlama::attach_lora`]); when
/// `checkpoints` is given, writes the adapters there (PEFT format) after every evaluation as
/// `step_N/` and at the end as `final/`.
// ~85 lines: one optimizer step per accumulated chunk, kept in one loop for the same reason as
// ser-bilstm's `train` — the model moves through the optimizer by value.
#[allow(clippy::too_many_arguments)]
pub fn finetune<B>(
    mut model: BurnLlama<B>,
    lora_config: &lora::LoraConfig,
    train: &[EncodedPair],
    eval: &[EncodedPair],
    cfg: &SftConfig,
    checkpoints: Option<&Path>,
    observer: &mut dyn FnMut(&SftEvent),
    device: &Device<B>,
) -> Result<(BurnLlama<B>, SftReport), LlamaError>
where
    B: AutodiffBackend + QuantLinearBackend,
    B::InnerBackend: QuantLinearBackend,
{
    if train.is_empty() || cfg.grad_accum == 0 || cfg.epochs == 0 {
        return Err(LlamaError::Config("fine-tuning needs pairs, epochs ≥ 1 and grad_accum ≥ 1".into()));
    }
    let (trainable, _) = model.parameter_counts();
    if trainable == 0 {
        return Err(LlamaError::Config("no adapters attached: nothing would train".into()));
    }
    B::seed(device, cfg.seed);
    let mut optim = AdamWConfig::new().with_weight_decay(cfg.weight_decay as f32).init::<B, BurnLlama<B>>();
    let steps_per_epoch = train.len().div_ceil(cfg.grad_accum);
    let total = steps_per_epoch * cfg.epochs;
    let started = std::time::Instant::now();
    let mut report = SftReport { steps: 0, eval: Vec::new(), train_tokens: 0, seconds: 0.0 };
    let first = eval_loss(&model.valid(), eval)?;
    report.eval.push((0, first));
    observer(&SftEvent::Eval { step: 0, loss: first });
    let save = |model: &mut BurnLlama<B>, name: String| -> Result<(), LlamaError> {
        if let Some(dir) = checkpoints {
            let path: PathBuf = dir.join(name);
            model.adapter(lora_config)?.save(&path)?;
        }
        Ok(())
    };
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    for epoch in 0..cfg.epochs {
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut rng);
        for chunk in order.chunks(cfg.grad_accum) {
            let step_started = std::time::Instant::now();
            let mut acc = GradientsAccumulator::<BurnLlama<B>>::new();
            let (mut loss_sum, mut tokens) = (0f64, 0usize);
            for &i in chunk {
                let (nll, n) = pair_nll(&model, &train[i])?;
                loss_sum += nll.clone().into_scalar().elem::<f64>();
                tokens += n;
                // Mean over the step's response tokens: scale each pair's sum accordingly.
                let scaled =
                    nll / (chunk.iter().map(|&j| train[j].ids.len() - train[j].first_target).sum::<usize>() as f64);
                acc.accumulate(&model, GradientsParams::from_grads(scaled.backward(), &model));
            }
            let mut grads = acc.grads();
            let grad_norm = clip_global_norm(&model, &mut grads, cfg.clip_norm);
            let lr = lr_at(report.steps, total, cfg);
            model = optim.step(lr, model, grads);
            report.steps += 1;
            report.train_tokens += tokens;
            let tokens_per_s =
                chunk.iter().map(|&i| train[i].ids.len()).sum::<usize>() as f64 / step_started.elapsed().as_secs_f64();
            observer(&SftEvent::Step {
                step: report.steps,
                total_steps: total,
                loss: loss_sum / tokens.max(1) as f64,
                lr,
                grad_norm,
                tokens_per_s,
            });
            let end_of_epoch = report.steps == (epoch + 1) * steps_per_epoch;
            if (cfg.eval_every > 0 && report.steps.is_multiple_of(cfg.eval_every)) || end_of_epoch {
                let loss = eval_loss(&model.valid(), eval)?;
                report.eval.push((report.steps, loss));
                observer(&SftEvent::Eval { step: report.steps, loss });
                save(&mut model, format!("step_{}", report.steps))?;
            }
        }
    }
    save(&mut model, "final".into())?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok((model, report))
}

/// Emotions of the synthetic extraction set.
pub const DEMO_EMOTIONS: [&str; 5] = ["sad", "anxious", "angry", "hopeful", "calm"];
/// Topics of the synthetic extraction set.
pub const DEMO_TOPICS: [&str; 6] = ["sleep", "work", "family", "friends", "appetite", "health"];

/// A synthetic interview-excerpt → extraction-JSON set, **for demonstrating fine-tuning, not
/// clinical data**: an interviewer question about a topic and a participant answer whose
/// wording carries an emotion, in varied phrasings; the response is
/// `{"emotion": …, "topic": …}`. Deterministic for a seed.
pub fn synthetic_pairs(n: usize, seed: u64) -> Vec<SftPair> {
    use rand::Rng;
    let questions: [&[&str]; 6] = [
        &["How have you been sleeping lately?", "Tell me about your nights.", "Are you getting enough rest?"],
        &["How are things at work?", "What's your job been like recently?", "How do you feel about your workplace?"],
        &["How is your family doing?", "Tell me about home.", "How are things with your parents?"],
        &["Do you see your friends much?", "Who do you spend time with?", "How are your friendships?"],
        &["How has your appetite been?", "Are you eating regularly?", "Tell me about your meals."],
        &["How is your health?", "Any problems with your body lately?", "How do you feel physically?"],
    ];
    let subjects: [&[&str]; 6] = [
        &["my sleep", "the nights", "getting to sleep", "waking up at four"],
        &["my job", "the office", "my boss", "the deadlines"],
        &["my family", "my mother", "my brother", "home"],
        &["my friends", "the people I used to see", "my best friend", "my old group"],
        &["eating", "my meals", "food", "my appetite"],
        &["my health", "the headaches", "my back", "the tiredness"],
    ];
    let feelings: [&[&str]; 5] = [
        &[
            "I just feel empty about {s}",
            "{s} makes me want to cry",
            "honestly {s} leaves me so down",
            "I feel hopeless about {s}",
        ],
        &[
            "I keep worrying about {s}",
            "{s} makes me really nervous",
            "I'm on edge about {s} all the time",
            "I panic when I think about {s}",
        ],
        &[
            "{s} makes me furious",
            "I'm so fed up with {s}",
            "I get really irritated about {s}",
            "{s} just makes me angry",
        ],
        &[
            "I think {s} is getting better",
            "I'm looking forward to sorting out {s}",
            "things are improving with {s}",
            "I feel positive about {s} now",
        ],
        &[
            "{s} is fine, I'm pretty relaxed",
            "I'm at peace with {s}",
            "{s} doesn't bother me much",
            "I feel steady about {s}",
        ],
    ];
    let fillers = ["", "Well, ", "Um, ", "You know, ", "I guess "];
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let t = rng.random_range(0..DEMO_TOPICS.len());
            let e = rng.random_range(0..DEMO_EMOTIONS.len());
            let q = questions[t][rng.random_range(0..questions[t].len())];
            let s = subjects[t][rng.random_range(0..subjects[t].len())];
            let f = feelings[e][rng.random_range(0..feelings[e].len())].replace("{s}", s);
            let filler = fillers[rng.random_range(0..fillers.len())];
            let mut answer = format!("{filler}{f}.");
            if let Some(c) = answer.get(..1) {
                answer = c.to_uppercase() + &answer[1..];
            }
            SftPair {
                system: None,
                prompt: format!(
                    "Extract the participant's main emotion and topic as JSON.\n\nInterviewer: {q}\nParticipant: {answer}"
                ),
                response: serde_json::json!({"emotion": DEMO_EMOTIONS[e], "topic": DEMO_TOPICS[t]}).to_string(),
            }
        })
        .collect()
}

/// Share of expected JSON fields a response reproduces exactly (an unparsable response scores
/// 0 for every field).
pub fn field_accuracy(expected: &str, got: &str) -> (usize, usize) {
    let want: serde_json::Value = serde_json::from_str(expected).unwrap_or_default();
    let have: serde_json::Value = serde_json::from_str(got.trim()).unwrap_or_default();
    let Some(fields) = want.as_object() else { return (0, 0) };
    let right = fields.iter().filter(|(k, v)| have.get(k.as_str()) == Some(v)).count();
    (right, fields.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_warms_up_from_the_first_step_peaks_once_and_decays_without_reaching_zero() {
        let cfg = SftConfig { lr: 1e-3, warmup_steps: 4, ..SftConfig::default() };
        let total = 20;
        let rates: Vec<f64> = (0..total).map(|s| lr_at(s, total, &cfg)).collect();
        assert!((rates[0] - 0.25e-3).abs() < 1e-15, "the first step already moves: {}", rates[0]);
        assert_eq!(rates[3], 1e-3, "the peak ends the warm-up");
        assert!(rates.iter().filter(|&&r| r == 1e-3).count() == 1, "the peak is held for one step");
        assert!(rates.windows(2).take(3).all(|w| w[0] < w[1]), "warm-up rises: {rates:?}");
        assert!(rates.windows(2).skip(3).all(|w| w[0] > w[1]), "decay falls: {rates:?}");
        assert!(rates[total - 1] > 0.0, "the last step still learns");
    }
}
