//! libFuzzer binary for `whispers_fuzz::ct2_model` (what it feeds and checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| whispers_fuzz::ct2_model(data));
