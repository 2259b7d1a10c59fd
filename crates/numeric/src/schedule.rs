//! Learning-rate schedules, stepped once per batch.

use serde::{Deserialize, Serialize};

/// A per-batch learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LrSchedule {
    /// The reference's `WarmupCosineSchedulerLR`: linear from `min_lr` to `max_lr` over
    /// `warmup_steps`, then half a cosine down to `min_lr` at `total_steps`, then flat.
    WarmupCosine {
        /// Rate at step 0 and from `total_steps` on.
        min_lr: f64,
        /// Rate at the end of the warm-up.
        max_lr: f64,
        /// Steps of linear warm-up.
        warmup_steps: usize,
        /// Step where the cosine reaches `min_lr`.
        total_steps: usize,
    },
    /// PyTorch's `CosineAnnealingLR` (closed form): `eta_min + (base − eta_min)(1 + cos(π t/T_max))/2`.
    CosineAnnealing {
        /// Rate at step 0.
        base_lr: f64,
        /// Rate at step `t_max`.
        eta_min: f64,
        /// Half-period in steps.
        t_max: usize,
    },
    /// A fixed rate.
    Constant {
        /// The rate.
        lr: f64,
    },
}

impl LrSchedule {
    /// The reference settings: warmup 5 epochs, cosine to 1e-5 over `epochs`, max 1e-3.
    pub fn reference(epochs: usize, steps_per_epoch: usize) -> Self {
        Self::WarmupCosine {
            min_lr: 1e-5,
            max_lr: 1e-3,
            warmup_steps: 5 * steps_per_epoch,
            total_steps: epochs * steps_per_epoch,
        }
    }

    /// The rate the schedule gives at step `s` (the reference's `clr(s)`), computed with the
    /// reference's operation order so the values agree to the last bit.
    pub fn at(&self, s: usize) -> f64 {
        match *self {
            Self::WarmupCosine { min_lr, max_lr, warmup_steps, total_steps } => {
                let step = s as f64;
                if s < warmup_steps {
                    min_lr + (max_lr - min_lr) * (step / warmup_steps as f64)
                } else if s < total_steps {
                    let w = warmup_steps as f64;
                    min_lr
                        + 0.5
                            * (max_lr - min_lr)
                            * (1.0 + (std::f64::consts::PI * (step - w) / (total_steps as f64 - w)).cos())
                } else {
                    min_lr
                }
            }
            Self::CosineAnnealing { base_lr, eta_min, t_max } => {
                let t = s as f64;
                eta_min + (base_lr - eta_min) * (1.0 + (std::f64::consts::PI * t / t_max.max(1) as f64).cos()) / 2.0
            }
            Self::Constant { lr } => lr,
        }
    }

    /// The largest rate (what the reference builds its optimizer with).
    pub fn peak(&self) -> f64 {
        match *self {
            Self::WarmupCosine { max_lr, .. } => max_lr,
            Self::CosineAnnealing { base_lr, .. } => base_lr,
            Self::Constant { lr } => lr,
        }
    }

    /// The rate used by global batch `k`. With `first_batch_quirk` (the reference), batch 0
    /// uses [`peak`](Self::peak) and batch k ≥ 1 uses `at(k − 1)`, because the reference steps
    /// its scheduler after the optimizer; without it, batch k uses `at(k)`.
    pub fn lr_for_batch(&self, k: usize, first_batch_quirk: bool) -> f64 {
        if !first_batch_quirk {
            self.at(k)
        } else if k == 0 {
            self.peak()
        } else {
            self.at(k - 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_anchors() {
        let s = LrSchedule::reference(60, 41);
        assert_eq!(s.at(0), 1e-5);
        assert!((s.at(10) - 5.8293e-5).abs() < 1e-9);
        assert!((s.at(204) - 9.9517e-4).abs() < 1e-8);
        assert_eq!(s.at(205), 1e-3);
        assert!((s.at(1332) - 5.0534e-4).abs() < 1e-8);
        assert_eq!(s.at(2460), 1e-5);
        assert_eq!(s.lr_for_batch(0, true), 1e-3);
        assert_eq!(s.lr_for_batch(0, false), 1e-5);
    }

    #[test]
    fn cosine_annealing_endpoints() {
        let s = LrSchedule::CosineAnnealing { base_lr: 1e-3, eta_min: 0.0, t_max: 72 * 41 };
        assert_eq!(s.at(0), 1e-3);
        assert!(s.at(72 * 41).abs() < 1e-18);
        // The spec's note: about 6.7e-5 at the end of epoch 60.
        assert!((s.at(60 * 41) - 6.7e-5).abs() < 1e-6, "{}", s.at(60 * 41));
    }
}
