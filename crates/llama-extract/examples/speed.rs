//! Prefill and decode speed on one model, as one JSON line (used by
//! `benches/llama_cpp_side_by_side.py` to put us beside llama.cpp in the same run).
//!
//! ```text
//! cargo run --release -p llama-extract --example speed -- --model M.gguf --threads 2 --prefill 128 --decode 64
//! ```
//!
//! `--kv-f16` keeps the KV cache in f16, as llama.cpp does by default.

use std::time::Instant;

use clap::Parser;
use llama_extract::runtime::weights::WeightSet;
use llama_extract::{
    BurnLlama, CpuBackend, GgufFile, KvPrecision, LlamaConfig, LlamaTokenizer, QuantLlama, WeightFormat,
};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    model: std::path::PathBuf,
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Prompt tokens to prefill.
    #[arg(long, default_value_t = 128)]
    prefill: usize,
    /// Tokens to decode after the prompt.
    #[arg(long, default_value_t = 64)]
    decode: usize,
    /// Run the f32 burn path.
    #[arg(long)]
    f32: bool,
    /// Keep the quantized path's keys and values in f16 (llama.cpp's default cache type).
    #[arg(long)]
    kv_f16: bool,
    /// Repeat and keep the fastest run.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

/// Peak resident set size in MiB (Linux), if known.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let file = GgufFile::open(&a.model)?;
    let tok = LlamaTokenizer::from_gguf(&file)?;
    let para = "The interviewer asked how the week had been, and the participant said that sleep had been \
                difficult, that work felt heavy, and that talking to friends helped a little. ";
    let mut ids = Vec::new();
    while ids.len() < a.prefill {
        ids.extend(tok.encode(para, true)?);
    }
    ids.truncate(a.prefill);
    let (mut prefill_s, mut decode_s) = (f64::MAX, f64::MAX);
    if a.f32 {
        let model = BurnLlama::<CpuBackend>::from_weights(
            LlamaConfig::from_gguf(&file)?,
            &WeightSet::Gguf(&file),
            &Default::default(),
        )?;
        for _ in 0..a.repeat {
            let mut cache = model.new_cache(a.prefill + a.decode);
            let t = Instant::now();
            model.forward(&ids, &mut cache)?.into_data();
            prefill_s = prefill_s.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            for _ in 0..a.decode {
                model.forward(&[504], &mut cache)?.into_data();
            }
            decode_s = decode_s.min(t.elapsed().as_secs_f64());
        }
    } else {
        let precision = if a.kv_f16 { KvPrecision::F16 } else { KvPrecision::F32 };
        let model =
            QuantLlama::from_gguf(&file, WeightFormat::AsLoaded)?.with_threads(a.threads)?.with_kv_precision(precision);
        for _ in 0..a.repeat {
            let mut cache = model.new_cache(a.prefill + a.decode);
            let t = Instant::now();
            model.forward(&ids, &mut cache)?;
            prefill_s = prefill_s.min(t.elapsed().as_secs_f64());
            let t = Instant::now();
            for _ in 0..a.decode {
                model.forward(&[504], &mut cache)?;
            }
            decode_s = decode_s.min(t.elapsed().as_secs_f64());
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "impl": if a.f32 { "whispers f32 burn" } else { "whispers quantized" },
            "threads": a.threads, "prefill_tokens": a.prefill, "decode_tokens": a.decode,
            "kv_cache": if a.kv_f16 && !a.f32 { "f16" } else { "f32" },
            "prefill_tok_s": a.prefill as f64 / prefill_s, "decode_tok_s": a.decode as f64 / decode_s,
            "peak_rss_mib": peak_rss_mib(),
        })
    );
    Ok(())
}
