//! The GGUF reader (header, metadata, tensor table, data bounds), then the model config and the
//! tokenizer built from its metadata, on arbitrary bytes: errors, never panics or huge
//! allocations.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llama_extract::{GgufFile, LlamaConfig, LlamaTokenizer};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = GgufFile::from_bytes(data.to_vec()) else { return };
    for info in file.tensors.iter() {
        let _ = file.tensor_data(info);
    }
    let _ = LlamaConfig::from_gguf(&file);
    let _ = LlamaTokenizer::from_gguf(&file);
});
