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

/// `Σ a[i]·b[i]` over the shorter of the two, in sixteen independent lanes added at the end:
/// the compiler keeps them in vector registers (one running sum would be a chain of dependent
/// scalar adds), and the sums come in the same order at every vector width.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 16;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut lanes = [0f32; L];
    let (ac, bc) = (a.chunks_exact(L), b.chunks_exact(L));
    let tail: f32 = ac.remainder().iter().zip(bc.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ac.zip(bc) {
        for i in 0..L {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::argmax;

    #[test]
    fn dot_sums_every_product_of_the_shorter_slice() {
        let a: Vec<f32> = (0..37).map(|i| i as f32).collect();
        let b = vec![2.0f32; 40];
        assert_eq!(super::dot(&a, &b), 2.0 * (0..37).sum::<i32>() as f32);
        assert_eq!(super::dot(&[], &b), 0.0);
    }

    #[test]
    fn argmax_takes_the_first_of_equal_maxima() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), 1);
        assert_eq!(argmax(&[]), 0);
        assert_eq!(argmax(&[f32::NEG_INFINITY, -1e30]), 1);
    }
}
