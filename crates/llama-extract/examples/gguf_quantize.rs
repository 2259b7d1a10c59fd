//! Requantizes a Llama GGUF file the way llama.cpp's `llama-quantize` does: the same block type
//! for every tensor (the `_M` layer rules, output and attention-value rules, fallbacks for rows
//! that are not whole super-blocks) and the same bytes (quant5's encoders are byte-exact with
//! ggml's reference quantizers; no importance matrix).
//!
//! ```text
//! cargo run --release -p llama-extract --example gguf_quantize -- <in.gguf> <out.gguf> --type Q4_K_M [--dry-run]
//! ```
//! Types: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K
//! IQ4_NL IQ4_XS. `--dry-run` prints the plan (tensor, old type, new type) without writing.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use llama_extract::GgufFile;
use llama_extract::quantize::{FileType, plan, quantize_file};

#[derive(Parser)]
#[command(about = "Requantize a Llama GGUF file with llama-quantize's per-tensor type rules")]
struct Args {
    /// The GGUF file to read.
    input: PathBuf,
    /// The GGUF file to write.
    output: PathBuf,
    /// llama.cpp file type (Q4_K_M, Q5_K_M, Q6_K, Q8_0, IQ4_XS, …).
    #[arg(long = "type")]
    file_type: String,
    /// Print each tensor's old and new type; write nothing.
    #[arg(long)]
    dry_run: bool,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let ftype = FileType::from_name(&args.file_type)?;
    let input = GgufFile::open(&args.input)?;
    if args.dry_run {
        for p in plan(&input, ftype)? {
            println!("{:<36} {:>7} -> {:<7} {:?}", p.name, p.from.name(), p.to.name(), p.dims);
        }
        return Ok(());
    }
    let started = Instant::now();
    let report = quantize_file(&input, ftype, &args.output, &mut |i, n, p| {
        if p.requantized() {
            eprint!("\r[{:>4}/{n}] {:<36} {:>7} -> {:<7}", i + 1, p.name, p.from.name(), p.to.name());
        }
    })?;
    eprintln!();
    let types: Vec<String> = report.types.iter().map(|(t, n)| format!("{t} ×{n}")).collect();
    println!(
        "{}: {} tensors ({} requantized; {}), {:.1} MiB -> {:.1} MiB in {:.1} s",
        args.output.display(),
        report.tensors,
        report.requantized,
        types.join(", "),
        report.bytes_in as f64 / (1 << 20) as f64,
        report.bytes_out as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
