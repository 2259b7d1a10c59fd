#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

mod matrix;
mod schedule;

pub use matrix::Matrix;
pub use schedule::LrSchedule;

/// The CPU backend the training crates (lora, ser-bilstm, llama-extract's fine-tuning) run on
/// by default: burn's pure-Rust Flex backend.
#[cfg(feature = "burn")]
pub type CpuBackend = burn::backend::Flex;

/// Index of the largest value, the first one on ties (as `torch.argmax`); 0 for an empty
/// slice. Comparisons with NaN are false, so a NaN wins only at index 0.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::argmax;

    #[test]
    fn argmax_takes_the_first_of_equal_maxima() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), 1);
        assert_eq!(argmax(&[]), 0);
        assert_eq!(argmax(&[f32::NEG_INFINITY, -1e30]), 1);
    }
}
