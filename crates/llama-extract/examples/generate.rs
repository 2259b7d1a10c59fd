//! Streams a continuation of a prompt from a local model.
//!
//! ```text
//! cargo run --release -p llama-extract --example generate -- \
//!     --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf --prompt "What is the capital of France?" --chat
//! ```
//!
//! `--model` is a GGUF file or a Hugging Face folder (`config.json`, `tokenizer.json`,
//! `*.safetensors`). `--ids` prints token ids instead of text. `--adapter DIR` applies a PEFT
//! LoRA adapter (unmerged). `--f32` runs the burn f32 path
//! instead of the quantized kernels; `--requantize q5_0|q5_1|q5_k|q8_0|f32` re-quantizes on load.

use std::io::Write;
use std::time::Instant;

use clap::Parser;
use llama_extract::runtime::weights::ModelSource;
use llama_extract::{
    BurnLlama, BurnSession, CpuBackend, GenerateOptions, LanguageModel, Message, QuantLlama, QuantSession, Role,
    Sampling, WeightFormat, generate,
};

#[derive(Parser)]
struct Args {
    /// GGUF file or HF checkpoint folder.
    #[arg(long)]
    model: std::path::PathBuf,
    #[arg(long)]
    prompt: String,
    /// Wrap the prompt as a user turn in the model's chat template.
    #[arg(long)]
    chat: bool,
    /// System message (with --chat).
    #[arg(long)]
    system: Option<String>,
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    #[arg(long, default_value_t = 1.0)]
    repeat_penalty: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop when this text appears (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Print token ids instead of text.
    #[arg(long)]
    ids: bool,
    /// Threads for the quantized kernels.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Run the f32 burn path.
    #[arg(long)]
    f32: bool,
    /// A PEFT LoRA adapter folder to apply (unmerged).
    #[arg(long)]
    adapter: Option<std::path::PathBuf>,
    /// Re-quantize projections on load: q5_0, q5_1, q5_k (falls back to q5_1 on rows not a multiple of 256), q8_0, f32.
    #[arg(long)]
    requantize: Option<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let format = match a.requantize.as_deref() {
        None => WeightFormat::AsLoaded,
        Some(t) => WeightFormat::Requantize(match t {
            "q5_0" => quant5::GgmlType::Q5_0,
            "q5_k" => quant5::GgmlType::Q5_K,
            "q5_1" => quant5::GgmlType::Q5_1,
            "q8_0" => quant5::GgmlType::Q8_0,
            "f32" => quant5::GgmlType::F32,
            other => return Err(format!("--requantize {other:?}: expected q5_0, q5_1, q5_k, q8_0 or f32").into()),
        }),
    };
    let load = Instant::now();
    let source = ModelSource::open(&a.model)?;
    let (config, tokenizer, weights) = (source.config()?, source.tokenizer()?, source.weights());
    let text = if a.chat {
        let mut messages = Vec::new();
        if let Some(s) = &a.system {
            messages.push(Message::new(Role::System, s.clone()));
        }
        messages.push(Message::new(Role::User, a.prompt.clone()));
        tokenizer.chat_template.format(&messages, true)
    } else {
        a.prompt.clone()
    };
    let prompt = tokenizer.encode_prompt(&text)?;
    let capacity = prompt.len() + a.max_tokens;
    let quant;
    let burn;
    let adapter = a.adapter.as_ref().map(lora::LoraAdapter::load).transpose()?;
    let mut session: Box<dyn LanguageModel> = if a.f32 {
        let mut m = BurnLlama::<CpuBackend>::from_weights(config, &weights, &Default::default())?;
        if let Some(ad) = &adapter {
            m.load_adapter(ad, &Default::default())?;
        }
        burn = m;
        Box::new(BurnSession::new(&burn, capacity))
    } else {
        let mut m = QuantLlama::from_weights(config, &weights, format)?.with_threads(a.threads)?;
        if let Some(ad) = &adapter {
            m.apply_adapter(ad)?;
        }
        quant = m;
        Box::new(QuantSession::new(&quant, capacity))
    };
    eprintln!("loaded in {:.2} s; prompt {} tokens", load.elapsed().as_secs_f64(), prompt.len());
    let opts = GenerateOptions {
        max_new_tokens: a.max_tokens,
        sampling: Sampling {
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
            repetition_penalty: a.repeat_penalty,
            repeat_last_n: 64,
            seed: a.seed,
        },
        stop_strings: a.stop.clone(),
        stop_on_eos: true,
    };
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    let g = generate(session.as_mut(), &tokenizer, &prompt, &opts, &mut |id, piece| {
        let _ = if a.ids { write!(out, "{id} ") } else { write!(out, "{piece}") };
        let _ = out.flush();
        true
    })?;
    writeln!(out)?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} tokens in {secs:.2} s ({:.1} tokens/s incl. prefill); stop: {:?}",
        g.tokens.len(),
        g.tokens.len() as f64 / secs,
        g.stop
    );
    Ok(())
}
