//! Constrained decoding, our grammar beside llguidance (the constrained-decoding library of
//! llama.cpp, vLLM and mistral.rs): the time to compile the extraction schema and the time per
//! token to compute the mask of allowed tokens and take the chosen one, on the same schema,
//! the same tokenizer (SmolLM2's, from its GGUF) and the same answer, token by token.
//!
//! The answer is a dev-set answer key (`benches/data/`), written as the model writes it (compact JSON,
//! properties in schema order), tokenized by SmolLM2's tokenizer. Our grammar runs without the
//! verbatim-quote narrowing, which llguidance cannot express (it keeps the utterance-index
//! narrowing, a small integer set); llguidance gets the same JSON Schema with compact
//! separators and its lenient mode (the schema's `x-` keywords are ours).
//!
//! `cargo bench -p llama-extract --bench grammar --features llguidance-comparison` (needs the
//! model from `scripts/fetch-models.sh`); without the feature only our side runs. Never in CI.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use llama_extract::extract::grammar::{Grammar, GrammarConstraint, Narrowing, TokenSet, TokenTrie};
use llama_extract::extract::schema::{ModelOutput, model_output_schema};
use llama_extract::runtime::generate::TokenConstraint;
use llama_extract::{GgufFile, LlamaTokenizer};

/// The excerpt whose answer is decoded: the dev set's first excerpt as of session 15, kept here
/// so the figures stay comparable when the generated sets change.
const EXCERPT: &str = "crates/llama-extract/benches/data/grammar_excerpt";

fn workspace_file(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

/// The excerpt's utterances by index (the transcript's rows after the header).
fn utterances() -> BTreeMap<u64, String> {
    let tsv = std::fs::read_to_string(workspace_file(&format!("{EXCERPT}_TRANSCRIPT.csv"))).expect("bench transcript");
    tsv.lines()
        .skip(1)
        .enumerate()
        .map(|(i, line)| (i as u64, line.split('\t').nth(3).unwrap_or_default().to_string()))
        .collect()
}

/// The answer key as the model writes it.
fn answer() -> String {
    let key = std::fs::read_to_string(workspace_file(&format!("{EXCERPT}_labels.json"))).expect("bench labels");
    let key: ModelOutput = serde_json::from_str(&key).expect("labels are a ModelOutput");
    serde_json::to_string(&key).expect("serialises")
}

/// Our allowed-token sets over `tokens` as bit sets (what llguidance's `compute_mask` gives: the
/// set, not yet applied to logits), then each token fed to the matcher.
fn ours_sets(grammar: &Grammar, trie: &TokenTrie, tokens: &[u32]) {
    let mut m = grammar.matcher();
    let mut allowed = TokenSet::default();
    for &t in tokens {
        trie.allowed_set(&m, &mut allowed);
        assert!(allowed.contains(t), "our grammar refused token {t}");
        assert!(m.feed_str(&trie.texts[t as usize]));
    }
}

/// Our constraint over `tokens`: a mask applied to logits before each, then the token.
fn ours(grammar: &Grammar, trie: &TokenTrie, tokens: &[u32], vocab: usize) {
    let mut c = GrammarConstraint::new(grammar, trie);
    let mut logits = vec![0f32; vocab];
    for &t in tokens {
        logits.fill(0.0);
        assert!(c.mask(&mut logits), "stuck");
        assert!(logits[t as usize].is_finite(), "our grammar refused token {t}");
        c.accept(t).expect("accepted");
    }
}

fn bench(c: &mut Criterion) {
    let path = llama_extract::models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let file = GgufFile::open(&path).expect("run scripts/fetch-models.sh first");
    let tok = LlamaTokenizer::from_gguf(&file).expect("GGUF tokenizer");
    let schema = model_output_schema();
    let narrowing = Narrowing {
        utterances: utterances(),
        quotes_verbatim: false,
        default_max_chars: 200,
        default_max_items: 4,
        participant: None,
    };
    let text = answer();
    let tokens = tok.encode(&text, false).expect("encodes");
    let trie = TokenTrie::for_tokenizer(&tok).expect("trie");
    let grammar = Grammar::from_schema(&schema, &narrowing).expect("compiles");
    eprintln!("answer: {} characters, {} tokens", text.len(), tokens.len());

    let mut g = c.benchmark_group("grammar");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.bench_function("ours_compile", |b| b.iter(|| Grammar::from_schema(black_box(&schema), &narrowing).unwrap()));
    g.bench_function("ours_vocabulary_trie", |b| b.iter(|| TokenTrie::for_tokenizer(&tok).unwrap()));
    g.bench_function("ours_answer_sets", |b| b.iter(|| ours_sets(&grammar, &trie, &tokens)));
    g.bench_function("ours_answer_masks", |b| b.iter(|| ours(&grammar, &trie, &tokens, tok.vocab_size())));

    #[cfg(feature = "llguidance-comparison")]
    llguidance_side(&mut g, &tok, &schema, &tokens);
    g.finish();
}

#[cfg(feature = "llguidance-comparison")]
fn llguidance_side(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    tok: &LlamaTokenizer,
    schema: &serde_json::Value,
    tokens: &[u32],
) {
    use llguidance::api::TopLevelGrammar;
    use llguidance::{Matcher, ParserFactory};

    let json = tok.to_json().expect("tokenizer.json");
    let vocabulary = || {
        let byte_tok =
            toktrie_hf_tokenizers::ByteTokenizer::from_json_bytes(json.as_bytes()).expect("llguidance reads it");
        let env = byte_tok.into_tok_env(Some(tok.vocab_size())).expect("token environment");
        ParserFactory::new_simple(&env).expect("factory")
    };
    // Per tokenizer, as `ours_vocabulary_trie`: the token environment and its trie.
    g.bench_function("llguidance_vocabulary", |b| b.iter(vocabulary));
    let factory = vocabulary();
    let mut schema = schema.clone();
    schema["x-guidance"] =
        serde_json::json!({"whitespace_flexible": false, "item_separator": ",", "key_separator": ":", "lenient": true});
    let grammar = TopLevelGrammar::from_json_schema(schema);
    let run = |matcher: &mut Matcher| {
        for &t in tokens {
            let mask = matcher.compute_mask().expect("mask");
            assert!(mask.is_allowed(t), "llguidance refused token {t}");
            matcher.consume_token(t).expect("accepted");
        }
    };
    // Checked once outside the timing: llguidance takes the whole answer.
    run(&mut Matcher::new(factory.create_parser(grammar.clone())));
    g.bench_function("llguidance_compile", |b| {
        b.iter(|| Matcher::new(factory.create_parser(black_box(grammar.clone()))))
    });
    g.bench_function("llguidance_answer_masks", |b| {
        b.iter_batched(
            || Matcher::new(factory.create_parser(grammar.clone())),
            |mut m| run(&mut m),
            criterion::BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
