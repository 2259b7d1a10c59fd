//! Cleaning throughput on a synthetic 10 MB DAIC-WOZ-style transcript.
//!
//! `cargo bench -p text-clean --bench clean_throughput`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use text_clean::{Cleaner, Format, parse_bytes};

const TARGET_BYTES: usize = 10 * 1024 * 1024;

/// `cargo test` runs each benchmark once to check it works (no `--bench` argument; the test build
/// is unoptimised): 64 KB then.
fn target_bytes() -> usize {
    if std::env::args().any(|a| a == "--bench") { TARGET_BYTES } else { 64 * 1024 }
}

/// A deterministic interview-like transcript: ~8 % disfluent tokens, some annotations.
fn synthetic_transcript(target_bytes: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "i", "don't", "know", "what", "to", "do", "it's", "been", "hard", "lately", "sleep", "work", "my", "sister",
        "tired", "really", "think", "that", "the", "and", "was", "feel", "like", "nothing", "matters", "okay",
    ];
    const DISFLUENT: &[&str] = &["um", "uh,", "well,", "hmm", "oh,", "actually", "ummm", "er"];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = b"start_time\tstop_time\tspeaker\tvalue\n".to_vec();
    let mut t = 0.0f64;
    while out.len() < target_bytes {
        let speaker = if next() % 2 == 0 { "Ellie" } else { "Participant" };
        let n = 4 + (next() % 20) as usize;
        let mut text = String::new();
        for i in 0..n {
            let r = next() % 100;
            let w = if r < 8 {
                DISFLUENT[(next() % DISFLUENT.len() as u64) as usize]
            } else if r == 8 {
                "<laughter>"
            } else {
                WORDS[(next() % WORDS.len() as u64) as usize]
            };
            if i > 0 {
                text.push(' ');
            }
            text.push_str(w);
        }
        let dur = 0.3 * n as f64;
        out.extend_from_slice(format!("{t:.3}\t{:.3}\t{speaker}\t{text}\n", t + dur).as_bytes());
        t += dur + 1.0;
    }
    out
}

fn bench(c: &mut Criterion) {
    let bytes = synthetic_transcript(target_bytes());
    let transcript = parse_bytes(&bytes, Some(Format::Daic)).expect("synthetic transcript parses");
    let text_bytes: usize = transcript.utterances.iter().map(|u| u.text.len()).sum();
    let cleaner = Cleaner::default();

    let mut group = c.benchmark_group("text_clean_10MB");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(text_bytes as u64));
    group.bench_function("clean_transcript", |b| b.iter(|| cleaner.clean_transcript(black_box(&transcript))));
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("parse_daic", |b| b.iter(|| parse_bytes(black_box(&bytes), Some(Format::Daic))));
    group.bench_function("parse_and_clean", |b| {
        b.iter(|| {
            let t = parse_bytes(black_box(&bytes), Some(Format::Daic)).expect("parses");
            cleaner.clean_transcript(&t)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
