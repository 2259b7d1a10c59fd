//! libFuzzer binary for `whispers_fuzz::ravdess_manifest` (what it feeds and checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| whispers_fuzz::ravdess_manifest(data));
