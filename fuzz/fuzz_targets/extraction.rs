//! libFuzzer binary for `whispers_fuzz::extraction` (what it feeds and checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| whispers_fuzz::extraction(data));
