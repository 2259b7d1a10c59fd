//! `adapter_config.json`: PEFT's `LoraConfig`, with every field PEFT writes kept for a
//! lossless round trip.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::LoraError;

/// Which modules an adapter targets: a list of names (a module matches when its path equals
/// one or ends with `.name`), or a regular expression the whole path must match (PEFT's rule
/// for a string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    /// Module names (a path matches when it equals one or ends with `.name`).
    List(Vec<String>),
    /// A regular expression the whole module path must match.
    Regex(String),
}

/// PEFT's LoRA configuration. Unknown and rarely used fields are kept in `extra` and written
/// back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// `"LORA"`.
    #[serde(default = "default_peft_type")]
    pub peft_type: String,
    /// PEFT's task type (`"CAUSAL_LM"`), kept as written.
    #[serde(default)]
    pub task_type: Option<String>,
    /// The base model the adapter was trained on, as written.
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    /// Rank.
    pub r: usize,
    /// α: the update is scaled by α/r (α/√r with rsLoRA).
    #[serde(serialize_with = "number_as_written")]
    pub lora_alpha: f64,
    /// Which modules are adapted.
    pub target_modules: TargetModules,
    /// Dropout on the adapter's input during training.
    #[serde(default)]
    pub lora_dropout: f64,
    /// `none`, `all` or `lora_only`; only `none` is supported for training here.
    #[serde(default = "default_bias")]
    pub bias: String,
    /// Scale by α/√r instead of α/r.
    #[serde(default)]
    pub use_rslora: bool,
    /// Base weights stored `[in, out]` (GPT-2 Conv1D); false for Llama.
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// Only these layer indices are adapted (PEFT accepts an index or a list).
    #[serde(default)]
    pub layers_to_transform: Option<Value>,
    /// Every other field, written back unchanged.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Whole numbers are written as integers, as PEFT (Python) writes `lora_alpha: 16`.
fn number_as_written<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 { s.serialize_i64(*v as i64) } else { s.serialize_f64(*v) }
}

fn default_peft_type() -> String {
    "LORA".into()
}

fn default_bias() -> String {
    "none".into()
}

impl LoraConfig {
    /// A config for `targets` with rank `r` and `lora_alpha` α, PEFT's defaults elsewhere.
    pub fn new(r: usize, lora_alpha: f64, targets: &[&str]) -> Self {
        Self {
            peft_type: default_peft_type(),
            task_type: Some("CAUSAL_LM".into()),
            base_model_name_or_path: None,
            r,
            lora_alpha,
            target_modules: TargetModules::List(targets.iter().map(|s| s.to_string()).collect()),
            lora_dropout: 0.0,
            bias: default_bias(),
            use_rslora: false,
            fan_in_fan_out: false,
            layers_to_transform: None,
            extra: BTreeMap::new(),
        }
    }

    /// Parses `adapter_config.json` text.
    pub fn from_json(text: &str) -> Result<Self, LoraError> {
        let c: Self = serde_json::from_str(text).map_err(|e| LoraError::Config(format!("adapter_config.json: {e}")))?;
        c.validate()
    }

    /// Reads `adapter_config.json`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoraError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| LoraError::io(path, e))?;
        Self::from_json(&text).map_err(|e| LoraError::Config(format!("{}: {e}", path.display())))
    }

    /// Pretty JSON, as PEFT writes it.
    pub fn to_json(&self) -> Result<String, LoraError> {
        serde_json::to_string_pretty(self).map_err(|e| LoraError::Config(e.to_string()))
    }

    fn validate(self) -> Result<Self, LoraError> {
        if self.peft_type != "LORA" {
            return Err(LoraError::Config(format!("peft_type {:?} (only LORA)", self.peft_type)));
        }
        if self.r == 0 {
            return Err(LoraError::Config("r must be positive".into()));
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return Err(LoraError::Config(format!("lora_dropout {} not in [0, 1)", self.lora_dropout)));
        }
        for flag in ["use_dora", "use_qalora"] {
            if self.extra.get(flag).and_then(Value::as_bool) == Some(true) {
                return Err(LoraError::Config(format!("{flag} adapters are not supported")));
            }
        }
        if let TargetModules::Regex(r) = &self.target_modules
            && r != "all-linear"
        {
            regex::Regex::new(r).map_err(|e| LoraError::Config(format!("target_modules regex: {e}")))?;
        }
        Ok(self)
    }

    /// α/r, or α/√r with rsLoRA.
    pub fn scaling(&self) -> f64 {
        if self.use_rslora { self.lora_alpha / (self.r as f64).sqrt() } else { self.lora_alpha / self.r as f64 }
    }

    /// Whether the module at `path` (e.g. `model.layers.3.self_attn.q_proj`) is adapted.
    pub fn targets(&self, path: &str) -> bool {
        let name_ok = match &self.target_modules {
            TargetModules::List(names) => names.iter().any(|n| path == n || path.ends_with(&format!(".{n}"))),
            TargetModules::Regex(r) if r == "all-linear" => !path.ends_with("lm_head"),
            TargetModules::Regex(r) => regex::Regex::new(&format!("^(?:{r})$")).is_ok_and(|re| re.is_match(path)),
        };
        name_ok && self.layer_allowed(path)
    }

    fn layer_allowed(&self, path: &str) -> bool {
        let Some(allowed) = &self.layers_to_transform else { return true };
        let layer = path
            .split('.')
            .collect::<Vec<_>>()
            .windows(2)
            .find(|w| w[0] == "layers")
            .and_then(|w| w[1].parse::<u64>().ok());
        match (layer, allowed) {
            (None, _) => false,
            (Some(l), Value::Number(n)) => n.as_u64() == Some(l),
            (Some(l), Value::Array(list)) => list.iter().any(|v| v.as_u64() == Some(l)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_rules() {
        let mut c = LoraConfig::new(8, 16.0, &["q_proj", "v_proj"]);
        assert!(c.targets("model.layers.3.self_attn.q_proj"));
        assert!(!c.targets("model.layers.3.self_attn.k_proj"));
        assert!(!c.targets("model.layers.3.self_attn.xq_proj"));
        c.layers_to_transform = Some(serde_json::json!([0, 1]));
        assert!(!c.targets("model.layers.3.self_attn.q_proj"));
        assert!(c.targets("model.layers.1.self_attn.v_proj"));
        let r = LoraConfig {
            target_modules: TargetModules::Regex(r".*\.(gate|up)_proj".into()),
            ..LoraConfig::new(4, 8.0, &[])
        };
        assert!(r.targets("model.layers.0.mlp.up_proj"));
        assert!(!r.targets("model.layers.0.mlp.down_proj"));
        assert_eq!(LoraConfig::new(4, 8.0, &[]).scaling(), 2.0);
        assert_eq!(LoraConfig { use_rslora: true, ..LoraConfig::new(4, 8.0, &[]) }.scaling(), 4.0);
        assert!(LoraConfig::from_json(r#"{"r": 0, "lora_alpha": 8, "target_modules": ["q_proj"]}"#).is_err());
        assert!(
            LoraConfig::from_json(r#"{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj"], "use_dora": true}"#)
                .is_err()
        );
    }
}
