//! PEFT adapter files (`adapter_config.json` + `adapter_model.safetensors`) and merging them
//! into Hugging Face-named base weights.
//!
//! Key names are PEFT's: `base_model.model.<module>.lora_A.weight` `[r, in]` and
//! `…lora_B.weight` `[out, r]` (an adapter name between `lora_A.` and `weight`, as in-memory
//! PEFT state dicts have, is accepted on load and dropped, as PEFT does on save).

use std::collections::BTreeMap;
use std::path::Path;

use safetensors::Dtype;
use safetensors::tensor::TensorView;

pub use numeric::Matrix;

use crate::{LoraConfig, LoraError};

const PREFIX: &str = "base_model.model.";

/// One adapted module's factors, PEFT layout.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraPair {
    /// `[r, in]`.
    pub a: Matrix,
    /// `[out, r]`.
    pub b: Matrix,
}

/// A pair served beside a frozen base at run time, unmerged (llama.cpp's way of serving
/// adapters): `y += scaling · B·(A·x)`, in f32.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaledPair {
    pair: LoraPair,
    scaling: f32,
    /// `B` transposed, `[r, out]`: the update is then `r` contiguous `y += c·row` passes,
    /// which vectorise, instead of a strided dot product of length `r` per output.
    b_by_rank: Vec<f32>,
}

impl ScaledPair {
    /// Serves `pair` with `scaling` (`alpha / r`, or the rsLoRA scaling).
    pub fn new(pair: LoraPair, scaling: f32) -> Self {
        let b_by_rank = pair.b.transposed().data;
        Self { pair, scaling, b_by_rank }
    }

    /// The factors, `A` `[r, in]` and `B` `[out, r]`.
    pub fn pair(&self) -> &LoraPair {
        &self.pair
    }

    /// The scaling applied to `B·A`.
    pub fn scaling(&self) -> f32 {
        self.scaling
    }

    /// Adds the update for every row of `x` (`[n, in]`) to `y` (`[n, out]`).
    pub fn apply(&self, x: &[f32], y: &mut [f32]) {
        let (a, b) = (&self.pair.a, &self.pair.b);
        let (r, inp, out) = (a.rows, a.cols, b.rows);
        if r == 0 || inp == 0 || out == 0 {
            return;
        }
        let mut ax = vec![0f32; r];
        for (xr, yr) in x.chunks_exact(inp).zip(y.chunks_exact_mut(out)) {
            for (k, v) in ax.iter_mut().enumerate() {
                *v = numeric::dot(&a.data[k * inp..(k + 1) * inp], xr) * self.scaling;
            }
            for (c, row) in ax.iter().zip(self.b_by_rank.chunks_exact(out)) {
                yr.iter_mut().zip(row).for_each(|(y, b)| *y += c * b);
            }
        }
    }
}

impl LoraPair {
    /// `scaling · B·A` as `[out, in]`, accumulated in f64.
    pub fn delta(&self, scaling: f64) -> Vec<f64> {
        let (out, r, inp) = (self.b.rows, self.a.rows, self.a.cols);
        let mut d = vec![0f64; out * inp];
        for o in 0..out {
            for k in 0..r {
                let bk = self.b.data[o * r + k] as f64 * scaling;
                let arow = &self.a.data[k * inp..(k + 1) * inp];
                for (dst, &a) in d[o * inp..(o + 1) * inp].iter_mut().zip(arow) {
                    *dst += bk * a as f64;
                }
            }
        }
        d
    }
}

/// An adapter: its config and the factors of every adapted module, by module path
/// (`model.layers.0.self_attn.q_proj`).
#[derive(Debug, Clone, PartialEq)]
pub struct LoraAdapter {
    /// The PEFT configuration (`adapter_config.json`).
    pub config: LoraConfig,
    /// The A and B factors of each adapted module, by module path.
    pub modules: BTreeMap<String, LoraPair>,
}

fn read_f32(name: &str, view: &TensorView<'_>) -> Result<Vec<f32>, LoraError> {
    let d = view.data();
    Ok(match view.dtype() {
        Dtype::F32 => d.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => d.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => d.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        other => {
            return Err(LoraError::Tensor { key: name.into(), what: format!("dtype {other:?} is not a float type") });
        }
    })
}

impl LoraAdapter {
    /// Reads `adapter_config.json` and `adapter_model.safetensors` from a folder.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, LoraError> {
        let dir = dir.as_ref();
        let config = LoraConfig::load(dir.join("adapter_config.json"))?;
        let path = dir.join("adapter_model.safetensors");
        let bytes = std::fs::read(&path).map_err(|e| LoraError::io(&path, e))?;
        Self::from_safetensors(config, &bytes)
    }

    /// Parses adapter tensors for `config`.
    pub fn from_safetensors(config: LoraConfig, bytes: &[u8]) -> Result<Self, LoraError> {
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| LoraError::Format(e.to_string()))?;
        let mut a_parts: BTreeMap<String, Matrix> = BTreeMap::new();
        let mut b_parts: BTreeMap<String, Matrix> = BTreeMap::new();
        for (key, view) in st.tensors() {
            let bad = |what: String| LoraError::Tensor { key: key.clone(), what };
            let rest = key.strip_prefix(PREFIX).ok_or_else(|| bad(format!("does not start with {PREFIX:?}")))?;
            let (module, kind) = if let Some((m, tail)) = rest.split_once(".lora_A.") {
                (m, ('A', tail))
            } else if let Some((m, tail)) = rest.split_once(".lora_B.") {
                (m, ('B', tail))
            } else {
                return Err(bad(
                    "is not a lora_A / lora_B weight (embedding, bias and DoRA adapters are not supported)".into(),
                ));
            };
            if kind.1 != "weight" && !kind.1.ends_with(".weight") {
                return Err(bad("does not end in .weight".into()));
            }
            let shape = view.shape().to_vec();
            let [rows, cols] = shape[..] else { return Err(bad(format!("shape {shape:?} is not 2-D"))) };
            let m = Matrix { rows, cols, data: read_f32(&key, &view)? };
            let slot = if kind.0 == 'A' { &mut a_parts } else { &mut b_parts };
            if slot.insert(module.to_string(), m).is_some() {
                return Err(bad("appears twice (several adapter names in one file?)".into()));
            }
        }
        let mut modules = BTreeMap::new();
        for (module, a) in a_parts {
            let key = |ab: &str| format!("{PREFIX}{module}.lora_{ab}.weight");
            let b =
                b_parts.remove(&module).ok_or_else(|| LoraError::Tensor { key: key("B"), what: "missing".into() })?;
            if b.cols != a.rows {
                return Err(LoraError::Tensor {
                    key: key("B"),
                    what: format!("rank {} differs from lora_A's {}", b.cols, a.rows),
                });
            }
            let has_rank_pattern =
                config.extra.get("rank_pattern").and_then(|v| v.as_object()).is_some_and(|m| !m.is_empty());
            if a.rows != config.r && !has_rank_pattern {
                return Err(LoraError::Tensor {
                    key: key("A"),
                    what: format!("rank {} but r = {} in the config", a.rows, config.r),
                });
            }
            if !config.targets(&module) {
                return Err(LoraError::Tensor { key: key("A"), what: "module is not among target_modules".into() });
            }
            modules.insert(module, LoraPair { a, b });
        }
        if let Some(module) = b_parts.keys().next() {
            return Err(LoraError::Tensor { key: format!("{PREFIX}{module}.lora_A.weight"), what: "missing".into() });
        }
        Ok(Self { config, modules })
    }

    /// The adapter tensors as safetensors bytes (f32, PEFT key names, `{"format": "pt"}`).
    pub fn to_safetensors(&self) -> Result<Vec<u8>, LoraError> {
        let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (module, pair) in &self.modules {
            for (ab, m) in [("A", &pair.a), ("B", &pair.b)] {
                named.push((
                    format!("{PREFIX}{module}.lora_{ab}.weight"),
                    vec![m.rows, m.cols],
                    m.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                ));
            }
        }
        let views = named
            .iter()
            .map(|(k, s, b)| TensorView::new(Dtype::F32, s.clone(), b).map(|v| (k.clone(), v)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LoraError::Format(e.to_string()))?;
        let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        safetensors::serialize(views, Some(meta)).map_err(|e| LoraError::Format(e.to_string()))
    }

    /// Writes `adapter_config.json` and `adapter_model.safetensors` into `dir`.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<(), LoraError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| LoraError::io(dir, e))?;
        let cfg = dir.join("adapter_config.json");
        std::fs::write(&cfg, self.config.to_json()?).map_err(|e| LoraError::io(&cfg, e))?;
        let model = dir.join("adapter_model.safetensors");
        std::fs::write(&model, self.to_safetensors()?).map_err(|e| LoraError::io(&model, e))
    }

    /// Adds (`unmerge = false`) or subtracts `scaling·B·A` to every adapted module's
    /// `<module>.weight` in `weights`; returns how many tensors changed. Computed in f64 and
    /// stored back in each tensor's own dtype.
    pub fn merge_into(&self, weights: &mut WeightFile, unmerge: bool) -> Result<usize, LoraError> {
        let scaling = self.config.scaling() * if unmerge { -1.0 } else { 1.0 };
        for (module, pair) in &self.modules {
            let key = format!("{module}.weight");
            let t = weights
                .tensors
                .get_mut(&key)
                .ok_or_else(|| LoraError::Tensor { key: key.clone(), what: "missing from the base weights".into() })?;
            let (out, inp) = (pair.b.rows, pair.a.cols);
            let want = if self.config.fan_in_fan_out { [inp, out] } else { [out, inp] };
            if t.shape != want {
                return Err(LoraError::Tensor {
                    key,
                    what: format!("shape {:?}, the adapter needs {want:?}", t.shape),
                });
            }
            let delta = pair.delta(scaling);
            for o in 0..out {
                for i in 0..inp {
                    let at = if self.config.fan_in_fan_out { i * out + o } else { o * inp + i };
                    t.values[at] = (t.values[at] as f64 + delta[o * inp + i]) as f32;
                }
            }
        }
        Ok(self.modules.len())
    }

    /// Parameters the adapter holds.
    pub fn num_params(&self) -> usize {
        self.modules.values().map(|p| p.a.data.len() + p.b.data.len()).sum()
    }
}

/// One tensor of a weight file, as f32 with its stored dtype remembered.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightTensor {
    /// The dtype it was stored in (and is written back in).
    pub dtype: Dtype,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its values, widened to f32, row-major.
    pub values: Vec<f32>,
}

/// A safetensors weight file held as f32, written back in each tensor's original dtype
/// (F32, F16 or BF16), metadata kept.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WeightFile {
    /// Every tensor, by key.
    pub tensors: BTreeMap<String, WeightTensor>,
    /// The file's `__metadata__`, kept as read.
    pub metadata: Option<std::collections::HashMap<String, String>>,
}

impl WeightFile {
    /// Reads a safetensors file (F32, F16 or BF16 tensors).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoraError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| LoraError::io(path, e))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| LoraError::Format(format!("{}: {e}", path.display())))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| LoraError::Format(format!("{}: {e}", path.display())))?;
        let mut tensors = BTreeMap::new();
        for (key, view) in st.tensors() {
            let values = read_f32(&key, &view)?;
            tensors.insert(key, WeightTensor { dtype: view.dtype(), shape: view.shape().to_vec(), values });
        }
        Ok(Self { tensors, metadata: meta.metadata().clone() })
    }

    /// Writes the file, each tensor in its original dtype, metadata kept.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), LoraError> {
        let path = path.as_ref();
        let encoded: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(k, t)| {
                let bytes = match t.dtype {
                    Dtype::F16 => t.values.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect(),
                    Dtype::BF16 => t.values.iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect(),
                    _ => t.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                };
                let dtype = if matches!(t.dtype, Dtype::F16 | Dtype::BF16) { t.dtype } else { Dtype::F32 };
                (k.clone(), dtype, t.shape.clone(), bytes)
            })
            .collect();
        let views = encoded
            .iter()
            .map(|(k, d, s, b)| TensorView::new(*d, s.clone(), b).map(|v| (k.clone(), v)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LoraError::Format(e.to_string()))?;
        let bytes =
            safetensors::serialize(views, self.metadata.clone()).map_err(|e| LoraError::Format(e.to_string()))?;
        std::fs::write(path, bytes).map_err(|e| LoraError::io(path, e))
    }
}
