//! SmolLM2-135M-Instruct (Q4_1 GGUF) on CPU: prefill of 128 and 1024 tokens and decoding one
//! token after a 128-token context, for the quantized-kernel path at 1 and 2 threads and the
//! f32 burn path. Throughput is tokens/s. The llama.cpp side of the comparison runs from
//! `benches/llama_cpp_side_by_side.py` on the same file and machine (not in CI).
//!
//! Needs the model from `scripts/fetch-models.sh`. `cargo bench -p llama-extract --bench llama`

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use llama_extract::runtime::weights::WeightSet;
use llama_extract::{BurnLlama, CpuBackend, GgufFile, LlamaConfig, LlamaTokenizer, QuantLlama, WeightFormat};

/// `n` tokens of ordinary English text.
fn prompt_tokens(tok: &LlamaTokenizer, n: usize) -> Vec<u32> {
    let para = "The interviewer asked how the week had been, and the participant said that sleep had been \
                difficult, that work felt heavy, and that talking to friends helped a little. ";
    let mut ids = Vec::new();
    while ids.len() < n {
        ids.extend(tok.encode(para, true).expect("plain text encodes"));
    }
    ids.truncate(n);
    ids
}

/// `cargo test` runs each benchmark once to check it works (no `--bench` argument): short prompts
/// then, so the check costs seconds, not minutes.
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn bench(c: &mut Criterion) {
    let (prefill_lengths, context) = if measuring() { (vec![128usize, 1024], 128) } else { (vec![16], 16) };
    let path = llama_extract::models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let file = GgufFile::open(&path).expect("run scripts/fetch-models.sh first");
    let tok = LlamaTokenizer::from_gguf(&file).expect("GGUF tokenizer");
    let config = LlamaConfig::from_gguf(&file).expect("config");
    let burn =
        BurnLlama::<CpuBackend>::from_weights(config, &WeightSet::Gguf(&file), &Default::default()).expect("f32 model");

    let mut g = c.benchmark_group("prefill");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    for n in prefill_lengths {
        let ids = prompt_tokens(&tok, n);
        g.throughput(Throughput::Elements(n as u64));
        for threads in [1usize, 2] {
            let model = QuantLlama::from_gguf(&file, WeightFormat::AsLoaded)
                .expect("model")
                .with_threads(threads)
                .expect("pool");
            g.bench_with_input(BenchmarkId::new(format!("q4_1_{threads}t"), n), &ids, |b, ids| {
                b.iter(|| model.forward(ids, &mut model.new_cache(ids.len())).expect("fits"))
            });
        }
        g.bench_with_input(BenchmarkId::new("f32_burn", n), &ids, |b, ids| {
            b.iter(|| burn.forward(ids, &mut burn.new_cache(ids.len())).expect("fits").into_data())
        });
    }
    g.finish();

    let mut g = c.benchmark_group(format!("decode_after_{context}"));
    g.throughput(Throughput::Elements(1));
    let ctx = prompt_tokens(&tok, context);
    let quantized = [
        ("q4_1_1t".to_string(), WeightFormat::AsLoaded, 1),
        ("q4_1_2t".to_string(), WeightFormat::AsLoaded, 2),
        // Q5_K needs 256-wide rows; SmolLM2 (576) would fall back to Q5_1, so Q5_1 is named directly.
        ("q5_0_2t".to_string(), WeightFormat::Requantize(quant5::GgmlType::Q5_0), 2),
        ("q5_1_2t".to_string(), WeightFormat::Requantize(quant5::GgmlType::Q5_1), 2),
    ];
    for (name, format, threads) in quantized {
        let model = QuantLlama::from_gguf(&file, format).expect("model").with_threads(threads).expect("pool");
        let mut cache = model.new_cache(256);
        model.forward(&ctx, &mut cache).expect("fits");
        g.bench_function(name, |b| {
            b.iter(|| {
                let logits = model.forward(&[504], &mut cache).expect("fits");
                cache.truncate(context);
                logits
            })
        });
    }
    let mut cache = burn.new_cache(256);
    burn.forward(&ctx, &mut cache).expect("fits");
    g.bench_function("f32_burn", |b| {
        b.iter(|| {
            let logits = burn.forward(&[504], &mut cache).expect("fits").into_data();
            cache.truncate(context);
            logits
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
