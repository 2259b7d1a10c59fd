//! Per-dimension standardisation, as sklearn's `StandardScaler`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::SerError;
use crate::checkpoint::{NamedTensor, StateDict};

/// `x' = (x − mean) / scale`, fitted on training features only. `scale` is the population
/// standard deviation (ddof 0) accumulated in f64; a dimension with zero variance gets scale 1,
/// as sklearn.
#[derive(Debug, Clone, PartialEq)]
pub struct StandardScaler {
    /// Per-dimension mean of the training features.
    pub mean: Vec<f32>,
    /// Per-dimension standard deviation (1 where it was 0).
    pub scale: Vec<f32>,
}

impl StandardScaler {
    /// Fits on rows of `dim` values (for frame features, every frame is a row).
    pub fn fit<'a>(rows: impl IntoIterator<Item = &'a [f32]>, dim: usize) -> Result<Self, SerError> {
        let mut count = 0usize;
        let mut mean = vec![0f64; dim];
        let mut m2 = vec![0f64; dim];
        // Welford's update: one pass, stable for large offsets (log-mel values sit near −50 dB).
        for (i, row) in rows.into_iter().enumerate() {
            if row.len() != dim {
                return Err(SerError::Data(format!("scaler row {i}: {} values, expected {dim}", row.len())));
            }
            count += 1;
            for (k, &v) in row.iter().enumerate() {
                let v = v as f64;
                let delta = v - mean[k];
                mean[k] += delta / count as f64;
                m2[k] += delta * (v - mean[k]);
            }
        }
        if count == 0 {
            return Err(SerError::Data("cannot fit a scaler on no rows".into()));
        }
        let scale = m2
            .iter()
            .map(|&s| {
                let sd = (s / count as f64).sqrt();
                if sd == 0.0 { 1.0 } else { sd as f32 }
            })
            .collect();
        Ok(Self { mean: mean.into_iter().map(|m| m as f32).collect(), scale })
    }

    /// Feature dimension.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Standardises `values` in place; its length must be a multiple of the dimension.
    pub fn transform_in_place(&self, values: &mut [f32]) -> Result<(), SerError> {
        let dim = self.dim();
        if dim == 0 || !values.len().is_multiple_of(dim) {
            return Err(SerError::Data(format!("{} values is not a whole number of {dim}-d rows", values.len())));
        }
        for row in values.chunks_exact_mut(dim) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *v = (*v - m) / s;
            }
        }
        Ok(())
    }

    /// As a state dict with tensors `mean` and `scale` (sklearn's `mean_` / `scale_`).
    pub fn to_state_dict(&self) -> StateDict {
        let mut tensors = BTreeMap::new();
        tensors.insert("mean".into(), NamedTensor { shape: vec![self.dim()], values: self.mean.clone() });
        tensors.insert("scale".into(), NamedTensor { shape: vec![self.dim()], values: self.scale.clone() });
        StateDict { tensors }
    }

    /// Reads what [`to_state_dict`](Self::to_state_dict) wrote.
    pub fn from_state_dict(dict: &StateDict) -> Result<Self, SerError> {
        let mean =
            dict.tensors.get("mean").ok_or_else(|| SerError::Checkpoint("scaler: missing tensor mean".into()))?;
        let scale = dict.get("scale", &mean.shape)?;
        if mean.shape.len() != 1 {
            return Err(SerError::Checkpoint(format!("scaler: mean has shape {:?}, expected 1-D", mean.shape)));
        }
        if let Some(bad) = scale.values.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(SerError::Checkpoint(format!(
                "scaler: scale[{bad}] = {} is not a positive number",
                scale.values[bad]
            )));
        }
        Ok(Self { mean: mean.values.clone(), scale: scale.values.clone() })
    }

    /// Saves as safetensors.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), SerError> {
        self.to_state_dict().save(path)
    }

    /// Loads from safetensors.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SerError> {
        Self::from_state_dict(&StateDict::load(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_population_statistics_and_constant_dims_get_unit_scale() {
        let rows = [[1.0f32, 5.0], [3.0, 5.0], [5.0, 5.0]];
        let s = StandardScaler::fit(rows.iter().map(|r| &r[..]), 2).unwrap();
        assert_eq!(s.mean, vec![3.0, 5.0]);
        assert!((s.scale[0] - (8.0f32 / 3.0).sqrt()).abs() < 1e-6);
        assert_eq!(s.scale[1], 1.0);
        let mut x = vec![3.0, 5.0, 5.0, 5.0];
        s.transform_in_place(&mut x).unwrap();
        assert_eq!(x[0], 0.0);
        assert_eq!(x[1], 0.0);
        assert!(s.transform_in_place(&mut [1.0; 3]).is_err());
    }

    #[test]
    fn state_dict_round_trip_and_bad_scale_rejected() {
        let s = StandardScaler { mean: vec![1.0, 2.0], scale: vec![0.5, 4.0] };
        let back = StandardScaler::from_state_dict(
            &StateDict::from_safetensors(&s.to_state_dict().to_safetensors(None).unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(back, s);
        let mut d = s.to_state_dict();
        d.tensors.get_mut("scale").unwrap().values[1] = 0.0;
        assert!(StandardScaler::from_state_dict(&d).is_err());
    }
}
