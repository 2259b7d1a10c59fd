//! Logits of a reference-named checkpoint (a PyTorch `mser` state dict saved as safetensors)
//! for a `[B, D]` f32 `.npy` input, as JSON — the check against the reference, from the shell.
//!
//! ```text
//! cargo run --release -p ser-bilstm --example logits -- \
//!     --checkpoint bilstm_d768.safetensors --model bilstm --input x.npy [--batch-as-time]
//! ```

use burn::tensor::{Tensor, TensorData};
use clap::Parser;
use ser_bilstm::{BaseModel, BiLstmClassifier, CpuBackend, ForwardMode, StateDict};

#[derive(Parser)]
struct Args {
    /// Safetensors state dict with PyTorch names.
    #[arg(long)]
    checkpoint: std::path::PathBuf,
    /// bilstm or base.
    #[arg(long)]
    model: String,
    /// `[B, D]` float32 .npy.
    #[arg(long)]
    input: std::path::PathBuf,
    /// Reproduce the reference's training-mode forward: the batch is one sequence.
    #[arg(long)]
    batch_as_time: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let device = Default::default();
    let dict = StateDict::load(&a.checkpoint)?;
    let bytes = std::fs::read(&a.input)?;
    let npy = npyz::NpyFile::new(&bytes[..])?;
    let shape = npy.shape().to_vec();
    let [b, d] = shape[..] else { return Err(format!("input shape {shape:?}, expected [B, D]").into()) };
    let x: Vec<f32> = npy.into_vec()?;
    let x = Tensor::<CpuBackend, 2>::from_data(TensorData::new(x, [b as usize, d as usize]), &device);
    let mode = if a.batch_as_time { ForwardMode::BatchAsTime } else { ForwardMode::Independent };
    let logits = match a.model.as_str() {
        "bilstm" => BiLstmClassifier::<CpuBackend>::from_state_dict(&dict, &device)?.forward(x, mode),
        "base" => BaseModel::<CpuBackend>::from_state_dict(&dict, &device)?.forward(x),
        other => return Err(format!("--model {other:?}: expected bilstm or base").into()),
    };
    let c = logits.dims()[1];
    let values = logits.into_data().to_vec::<f32>().map_err(|e| format!("{e:?}"))?;
    let rows: Vec<&[f32]> = values.chunks_exact(c).collect();
    println!("{}", serde_json::json!({ "logits": rows }));
    Ok(())
}
