//! Criterion benchmarks of the speech-to-text stages (written below).
fn main() {}
