//! Replays every fuzz target's seed corpus (`fuzz/corpus/<target>/`) and every crash input
//! found so far (`fuzz/regressions/<target>/`) through the same entry points the libFuzzer
//! binaries call, on the stable toolchain. Keeps the targets compiling and the fixed crashes
//! fixed without nightly or cargo-fuzz.

#[path = "../../../fuzz/src/lib.rs"]
mod fuzz_entry_points;

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn every_target_has_seeds_and_replays_its_corpus_and_regressions() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).unwrap();
    let mut replayed = 0;
    for &(name, entry) in fuzz_entry_points::TARGETS {
        assert!(manifest.contains(&format!("name = \"{name}\"")), "{name} has no binary in fuzz/Cargo.toml");
        assert!(fuzz.join(format!("fuzz_targets/{name}.rs")).is_file(), "fuzz_targets/{name}.rs is missing");
        let seeds = inputs(&fuzz.join("corpus").join(name));
        assert!(!seeds.is_empty(), "fuzz/corpus/{name} has no seeds");
        for path in seeds.iter().chain(&inputs(&fuzz.join("regressions").join(name))) {
            let data = std::fs::read(path).unwrap();
            let outcome = std::panic::catch_unwind(|| entry(&data));
            assert!(outcome.is_ok(), "{name} panicked on {}", path.display());
            replayed += 1;
        }
    }
    // Every binary in fuzz/Cargo.toml is a listed target.
    let binaries = manifest.matches("[[bin]]").count();
    assert_eq!(binaries, fuzz_entry_points::TARGETS.len(), "fuzz/Cargo.toml and TARGETS disagree");
    assert!(replayed >= fuzz_entry_points::TARGETS.len());
}
