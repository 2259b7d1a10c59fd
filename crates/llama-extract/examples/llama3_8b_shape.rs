//! A Llama-3-8B-shaped model without 8B of weights: a GGUF file with Llama-3-8B's
//! hyper-parameters (hidden 4096, FFN 14336, 32 query / 8 KV heads of 128, vocabulary 128 256,
//! untied output) but only `--layers` decoder layers of seeded random weights, quantized by our
//! own quantizer with llama-quantize's type rules for `--type` (default Q4_K_M). It is loaded
//! and run like a real model, and the report gives bytes and time per layer and per part, and
//! the full 32-layer model's size (from its own type plan), resident memory and speed
//! extrapolated from them.
//!
//! ```text
//! cargo run --release -p llama-extract --example llama3_8b_shape -- [--layers 2] [--type Q4_K_M]
//!     [--threads 2] [--prompt 64] [--decode 8] [--kv-f16] [--out FILE]
//! ```
//! Writes about 1 GB for 2 layers (the embedding and output matrices are most of it).

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use llama_extract::quantize::{FileType, Metadata, plan_tensors};
use llama_extract::runtime::gguf::{GgufValue, TensorEntry, TensorInfo, write_gguf_header};
use llama_extract::{GgufFile, KvPrecision, QuantLlama, WeightFormat};
use quant5::{GgmlType, QuantizedMatrix, quantize_row};
use rayon::prelude::*;

const HIDDEN: u64 = 4096;
const FFN: u64 = 14336;
const HEADS: u64 = 32;
const KV_HEADS: u64 = 8;
const HEAD_DIM: u64 = 128;
const VOCAB: u64 = 128_256;
const FULL_LAYERS: usize = 32;

#[derive(Parser)]
#[command(about = "Build, load and run a Llama-3-8B-shaped GGUF with a few layers of random weights")]
struct Args {
    /// Decoder layers to build (Llama-3-8B has 32).
    #[arg(long, default_value_t = 2)]
    layers: usize,
    /// llama.cpp file type.
    #[arg(long = "type", default_value = "Q4_K_M")]
    file_type: String,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Prompt tokens to prefill.
    #[arg(long, default_value_t = 64)]
    prompt: usize,
    /// Tokens to decode after the prompt.
    #[arg(long, default_value_t = 8)]
    decode: usize,
    /// Keep the KV cache in f16 (llama.cpp's default cache type) instead of f32.
    #[arg(long)]
    kv_f16: bool,
    /// Where to write the model (default: llama3-8b-shape.gguf in the system's temporary folder).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() {
    if let Err(e) = run(&Args::parse()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The model's tensors in ggml order (`dims[0]` = row length), as F32 sources.
fn tensors(layers: usize) -> Vec<TensorInfo> {
    let t = |name: String, dims: Vec<u64>| TensorInfo { name, dims, ggml_type: GgmlType::F32, offset: 0, n_bytes: 0 };
    let mut v = vec![
        t("token_embd.weight".into(), vec![HIDDEN, VOCAB]),
        t("output_norm.weight".into(), vec![HIDDEN]),
        t("output.weight".into(), vec![HIDDEN, VOCAB]),
    ];
    let kv = KV_HEADS * HEAD_DIM;
    for l in 0..layers {
        for (name, dims) in [
            ("attn_norm", vec![HIDDEN]),
            ("attn_q", vec![HIDDEN, HEADS * HEAD_DIM]),
            ("attn_k", vec![HIDDEN, kv]),
            ("attn_v", vec![HIDDEN, kv]),
            ("attn_output", vec![HEADS * HEAD_DIM, HIDDEN]),
            ("ffn_norm", vec![HIDDEN]),
            ("ffn_gate", vec![HIDDEN, FFN]),
            ("ffn_up", vec![HIDDEN, FFN]),
            ("ffn_down", vec![FFN, HIDDEN]),
        ] {
            v.push(t(format!("blk.{l}.{name}.weight"), dims));
        }
    }
    v
}

fn metadata(layers: usize) -> Metadata {
    let u = |v: u64| GgufValue::U32(v as u32);
    [
        ("general.architecture", GgufValue::String("llama".into())),
        ("general.name", GgufValue::String(format!("Llama-3-8B shape, {layers} random layers"))),
        ("llama.block_count", u(layers as u64)),
        ("llama.embedding_length", u(HIDDEN)),
        ("llama.feed_forward_length", u(FFN)),
        ("llama.attention.head_count", u(HEADS)),
        ("llama.attention.head_count_kv", u(KV_HEADS)),
        ("llama.rope.dimension_count", u(HEAD_DIM)),
        ("llama.rope.freq_base", GgufValue::F32(500_000.0)),
        ("llama.attention.layer_norm_rms_epsilon", GgufValue::F32(1e-5)),
        ("llama.context_length", u(8192)),
        ("llama.vocab_size", u(VOCAB)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Row `r` of a tensor: seeded, roughly normal values of standard deviation 0.02 (norm vectors
/// are all 1).
fn random_row(seed: u64, r: u64, cols: usize, is_norm: bool) -> Vec<f32> {
    if is_norm {
        return vec![1.0; cols];
    }
    let mut s = seed ^ (r.wrapping_add(1)).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    // Irwin–Hall: four uniforms have variance 1/3.
    (0..cols).map(|_| ((0..4).map(|_| uniform()).sum::<f32>() - 2.0) * 0.02 * 3f32.sqrt()).collect()
}

fn rss_mib(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let out_path = args.out.clone().unwrap_or_else(|| std::env::temp_dir().join("llama3-8b-shape.gguf"));
    let ftype = FileType::from_name(&args.file_type)?;
    let meta = metadata(args.layers);
    let planned = plan_tensors(&meta, &tensors(args.layers), ftype)?;

    // Write: header, then each tensor quantized from seeded rows, a batch of rows at a time.
    let started = Instant::now();
    let sizes = planned.iter().map(|p| p.n_bytes()).collect::<Result<Vec<_>, _>>()?;
    let entries: Vec<TensorEntry<'_>> = planned
        .iter()
        .zip(&sizes)
        .map(|(p, &n_bytes)| TensorEntry { name: &p.name, dims: &p.dims, ggml_type: p.to, n_bytes })
        .collect();
    let header: Vec<(&str, GgufValue)> = meta.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let mut out = BufWriter::new(std::fs::File::create(&out_path)?);
    let offsets = write_gguf_header(&mut out, &header, &entries, 32)?;
    let mut written = 0u64;
    for (i, (p, &offset)) in planned.iter().zip(&offsets).enumerate() {
        out.write_all(&vec![0u8; (offset - written) as usize])?;
        written = offset;
        let cols = p.dims[0] as usize;
        let rows: u64 = p.dims.iter().skip(1).product();
        let is_norm = p.dims.len() == 1;
        for batch in (0..rows).collect::<Vec<_>>().chunks(256) {
            let encoded = batch
                .par_iter()
                .map(|&r| {
                    let mut q = Vec::new();
                    quantize_row(p.to, &random_row(i as u64, r, cols, is_norm), &mut q).map(|_| q)
                })
                .collect::<Result<Vec<_>, _>>()?;
            for q in encoded {
                out.write_all(&q)?;
                written += q.len() as u64;
            }
        }
        eprint!("\rwrote {:<28} {:>7}", p.name, p.to.name());
    }
    out.flush()?;
    drop(out);
    eprintln!();
    let write_s = started.elapsed().as_secs_f64();

    // Load and run, with the peak resident memory counted from here (Linux: clear_refs 5).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let file = GgufFile::open(&out_path)?;
    let precision = if args.kv_f16 { KvPrecision::F16 } else { KvPrecision::F32 };
    let model =
        QuantLlama::from_gguf(&file, WeightFormat::AsLoaded)?.with_threads(args.threads)?.with_kv_precision(precision);
    let rss_loaded = rss_mib("VmRSS:");
    let ids: Vec<u32> = (0..args.prompt as u32).map(|i| (i * 7919) % VOCAB as u32).collect();
    let mut cache = model.new_cache(args.prompt + args.decode);
    let t = Instant::now();
    model.forward(&ids, &mut cache)?;
    let prefill_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..args.decode {
        model.forward(&[(i as u32 * 31) % VOCAB as u32], &mut cache)?;
    }
    let decode_s = t.elapsed().as_secs_f64() / args.decode.max(1) as f64;
    let peak = rss_mib("VmHWM:");

    // The LM head alone, to split a token's time into head and layers.
    let head = model.head();
    let x: Vec<f32> = (0..HIDDEN as usize).map(|i| ((i * 13) % 17) as f32 / 17.0 - 0.5).collect();
    let mut y = vec![0f32; head.rows];
    let t = Instant::now();
    let reps = 5;
    for _ in 0..reps {
        head.matvec_into(&x, &mut y, args.threads)?;
    }
    let head_s = t.elapsed().as_secs_f64() / reps as f64;
    let layer_s = (decode_s - head_s).max(0.0) / args.layers.max(1) as f64;

    let bytes = |m: &QuantizedMatrix| m.bytes.len() as u64;
    let b0 = &model.blocks()[0];
    let layer_bytes: u64 =
        [&b0.wq, &b0.wk, &b0.wv, &b0.wo, &b0.w_gate, &b0.w_up, &b0.w_down].iter().map(|m| bytes(m)).sum();
    let layer_bytes_max: u64 = model
        .blocks()
        .iter()
        .map(|b| [&b.wq, &b.wk, &b.wv, &b.wo, &b.w_gate, &b.w_up, &b.w_down].iter().map(|m| bytes(m)).sum::<u64>())
        .max()
        .unwrap_or(0);
    let fixed = bytes(model.embed()) + bytes(head);
    // The full model's size from its own plan: the `_M` rules give different layers different
    // types, so it is not 32 × one layer.
    let full_plan = plan_tensors(&metadata(FULL_LAYERS), &tensors(FULL_LAYERS), ftype)?;
    let full_bytes = full_plan.iter().map(|p| p.n_bytes()).sum::<Result<u64, _>>()?;
    let kv_per_token = FULL_LAYERS as u64 * 2 * KV_HEADS * HEAD_DIM * precision.bytes() as u64;
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    let types: Vec<String> =
        planned.iter().filter(|p| p.dims.len() > 1).map(|p| format!("{} {}", p.name, p.to.name())).collect();
    println!("{}", types.join("\n"));
    println!(
        "{} layers of Llama-3-8B shape ({}), {} threads: wrote {:.0} MiB in {write_s:.1} s",
        args.layers,
        ftype.name(),
        args.threads,
        mib(std::fs::metadata(&out_path)?.len())
    );
    println!(
        "per layer: {:.1} MiB (largest {:.1} MiB); embedding {:.1} MiB, output {:.1} MiB",
        mib(layer_bytes),
        mib(layer_bytes_max),
        mib(bytes(model.embed())),
        mib(bytes(head))
    );
    println!(
        "RSS after load {rss_loaded:.0} MiB, peak {peak:.0} MiB; prefill {} tokens {:.1} tok/s; decode {:.3} s/token = head {head_s:.3} s + {} × layer {layer_s:.3} s",
        args.prompt,
        args.prompt as f64 / prefill_s,
        decode_s,
        args.layers
    );
    println!(
        "extrapolated to 32 layers: weights {:.2} GiB; resident ≈ {:.2} GiB + KV {:.0} KiB/token ({}); decode ≈ {:.2} tok/s ({head_s:.3} + 32 × {layer_s:.3} s); prefill ≈ {:.1} tok/s",
        full_bytes as f64 / (1u64 << 30) as f64,
        (full_bytes as f64 + (peak - mib(fixed + args.layers as u64 * layer_bytes)).max(0.0) * (1u64 << 20) as f64)
            / (1u64 << 30) as f64,
        kv_per_token as f64 / 1024.0,
        if args.kv_f16 { "f16" } else { "f32" },
        1.0 / (head_s + FULL_LAYERS as f64 * layer_s),
        args.prompt as f64 / (prefill_s * (FULL_LAYERS as f64 / args.layers as f64))
    );
    drop(model);
    drop(file);
    Ok(())
}
