//! Shared test helpers: the model (loaded once per test binary), fixture paths, clips.
#![allow(dead_code)]

use asr::{Asr, LoadOptions, WeightPrecision};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The f32 model, shared by every test in the binary. Panics with the fetch command when the
/// model is missing (CI runs `scripts/fetch-models.sh` first).
pub fn model() -> &'static Asr {
    static MODEL: OnceLock<Asr> = OnceLock::new();
    MODEL.get_or_init(|| load(WeightPrecision::F32))
}

pub fn load(precision: WeightPrecision) -> Asr {
    let dir = asr::default_model_dir();
    assert!(dir.join("model.bin").exists(), "{} missing: run scripts/fetch-models.sh", dir.display());
    Asr::load(&dir, LoadOptions { precision, threads: 1 }).expect("load whisper tiny.en")
}

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

pub fn npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let arr = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = arr.shape().to_vec();
    (shape, arr.into_vec::<f32>().unwrap())
}

/// The 13 clip names in the order the long clip joins them.
pub fn clip_names() -> Vec<String> {
    let clips = json(&fixtures().join("audio/clips.json"));
    clips["long_concat"]["parts"].as_array().unwrap().iter().map(|p| p["clip"].as_str().unwrap().to_string()).collect()
}

/// A clip's samples (PCM16 / 32768); `long_concat` is rebuilt from the 13 clips with 1 s of
/// silence between them, as the golden clip was made.
pub fn clip(name: &str) -> Vec<f32> {
    if name == "long_concat" {
        let mut out = Vec::new();
        for (i, n) in clip_names().iter().enumerate() {
            if i > 0 {
                out.extend(std::iter::repeat_n(0.0, 16_000));
            }
            out.extend(clip(n));
        }
        return out;
    }
    let audio = audio_dsp::decode_path(fixtures().join(format!("audio/{name}.wav"))).unwrap();
    assert_eq!(audio.sample_rate, 16_000);
    audio.samples
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}
