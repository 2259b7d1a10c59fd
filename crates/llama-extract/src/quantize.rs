//! llama-quantize for Llama GGUF files: the file types people download (`Q4_K_M`, `Q5_K_M`,
//! `Q8_0`, `IQ4_XS`, …), llama.cpp's choice of block type for every tensor of such a file, and a
//! requantizer that streams one GGUF file into another with quant5's encoders (byte-exact with
//! ggml's reference quantizers, no importance matrix).
//!
//! The type rules follow `llama_tensor_get_type` in llama.cpp's `src/llama-quant.cpp` for the
//! Llama architecture:
//! * the output matrix (or the token embedding when the two are tied) gets Q6_K, or Q8_0 when its
//!   rows are not whole super-blocks;
//! * attention-value matrices get more bits in some mixes (Q3_K_M: Q5_K for the first two, Q4_K
//!   after; Q3_K_L: Q5_K; Q4_K_M and Q5_K_M: Q6_K on the `use_more_bits` layers; Q4_K_S: Q5_K for
//!   the first four; Q2_K: Q3_K, or Q4_K with grouped-query attention of 4+; 70B models and
//!   8-expert models as llama.cpp);
//! * `ffn_down` likewise per layer (Q4_K_M / Q5_K_M: Q6_K on `use_more_bits` layers; Q3_K_M:
//!   Q5_K on the first sixteenth, Q4_K after; Q3_K_L: Q5_K; Q4_K_S: Q5_K on the first eighth;
//!   Q2_K: Q3_K; IQ4: Q5_K on the first eighth);
//! * `attn_output`: Q2_K → Q3_K, Q3_K_M → Q4_K, Q3_K_L → Q5_K;
//! * a matrix whose rows are not a whole number of the chosen type's blocks falls back
//!   ([`row_fallback`]);
//! * norms, vectors and tensors already of the chosen type are copied byte for byte.
//!
//! Tensors are processed and written in llama.cpp's order (non-layer tensors by name, then each
//! layer's by name), so the per-layer counters match.

use std::io::{BufWriter, Seek, Write};
use std::path::Path;

use quant5::{GgmlType, dequantize_row, quantize_row};
use rayon::prelude::*;

use crate::LlamaError;
use crate::runtime::gguf::{GgufFile, GgufValue, TensorEntry, TensorInfo, write_gguf_header};

/// A llama.cpp file type (`llama_ftype`): the default block type plus its per-tensor rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum FileType {
    /// `MOSTLY_Q4_0`.
    Q4_0,
    /// `MOSTLY_Q4_1`.
    Q4_1,
    /// `MOSTLY_Q5_0`.
    Q5_0,
    /// `MOSTLY_Q5_1`.
    Q5_1,
    /// `MOSTLY_Q8_0`.
    Q8_0,
    /// `MOSTLY_Q2_K`.
    Q2_K,
    /// `MOSTLY_Q3_K_S`: Q3_K throughout.
    Q3_K_S,
    /// `MOSTLY_Q3_K_M`: Q3_K, sensitive tensors in higher types (llama.cpp's rules).
    Q3_K_M,
    /// `MOSTLY_Q3_K_L`: Q3_K, sensitive tensors in Q5_K (llama.cpp's rules).
    Q3_K_L,
    /// `MOSTLY_Q4_K_S`: Q4_K, a few tensors higher (llama.cpp's rules).
    Q4_K_S,
    /// `MOSTLY_Q4_K_M`: Q4_K; V and down projections of llama.cpp's `use_more_bits` layers and the head in Q6_K.
    Q4_K_M,
    /// `MOSTLY_Q5_K_S`: Q5_K, the head in Q6_K (llama.cpp's rules).
    Q5_K_S,
    /// `MOSTLY_Q5_K_M`: Q5_K; V and down projections of llama.cpp's `use_more_bits` layers and the head in Q6_K.
    Q5_K_M,
    /// `MOSTLY_Q6_K`.
    Q6_K,
    /// `MOSTLY_IQ4_NL`.
    IQ4_NL,
    /// `MOSTLY_IQ4_XS`.
    IQ4_XS,
}

impl FileType {
    /// Every file type this crate writes.
    pub const ALL: [FileType; 16] = [
        FileType::Q4_0,
        FileType::Q4_1,
        FileType::Q5_0,
        FileType::Q5_1,
        FileType::Q8_0,
        FileType::Q2_K,
        FileType::Q3_K_S,
        FileType::Q3_K_M,
        FileType::Q3_K_L,
        FileType::Q4_K_S,
        FileType::Q4_K_M,
        FileType::Q5_K_S,
        FileType::Q5_K_M,
        FileType::Q6_K,
        FileType::IQ4_NL,
        FileType::IQ4_XS,
    ];

    /// The name llama-quantize takes (`Q4_K_M`, …).
    pub fn name(self) -> &'static str {
        match self {
            FileType::Q4_0 => "Q4_0",
            FileType::Q4_1 => "Q4_1",
            FileType::Q5_0 => "Q5_0",
            FileType::Q5_1 => "Q5_1",
            FileType::Q8_0 => "Q8_0",
            FileType::Q2_K => "Q2_K",
            FileType::Q3_K_S => "Q3_K_S",
            FileType::Q3_K_M => "Q3_K_M",
            FileType::Q3_K_L => "Q3_K_L",
            FileType::Q4_K_S => "Q4_K_S",
            FileType::Q4_K_M => "Q4_K_M",
            FileType::Q5_K_S => "Q5_K_S",
            FileType::Q5_K_M => "Q5_K_M",
            FileType::Q6_K => "Q6_K",
            FileType::IQ4_NL => "IQ4_NL",
            FileType::IQ4_XS => "IQ4_XS",
        }
    }

    /// The file type named `name` (case-insensitive).
    pub fn from_name(name: &str) -> Result<Self, LlamaError> {
        Self::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(name)).ok_or_else(|| {
            let known: Vec<&str> = Self::ALL.iter().map(|t| t.name()).collect();
            LlamaError::Unsupported(format!("file type {name:?} (known: {})", known.join(", ")))
        })
    }

    /// The `general.file_type` value llama.cpp writes (`LLAMA_FTYPE_MOSTLY_*`).
    pub fn id(self) -> u32 {
        match self {
            FileType::Q4_0 => 2,
            FileType::Q4_1 => 3,
            FileType::Q8_0 => 7,
            FileType::Q5_0 => 8,
            FileType::Q5_1 => 9,
            FileType::Q2_K => 10,
            FileType::Q3_K_S => 11,
            FileType::Q3_K_M => 12,
            FileType::Q3_K_L => 13,
            FileType::Q4_K_S => 14,
            FileType::Q4_K_M => 15,
            FileType::Q5_K_S => 16,
            FileType::Q5_K_M => 17,
            FileType::Q6_K => 18,
            FileType::IQ4_NL => 25,
            FileType::IQ4_XS => 30,
        }
    }

    /// The block type most tensors get.
    pub fn default_type(self) -> GgmlType {
        match self {
            FileType::Q4_0 => GgmlType::Q4_0,
            FileType::Q4_1 => GgmlType::Q4_1,
            FileType::Q5_0 => GgmlType::Q5_0,
            FileType::Q5_1 => GgmlType::Q5_1,
            FileType::Q8_0 => GgmlType::Q8_0,
            FileType::Q2_K => GgmlType::Q2_K,
            FileType::Q3_K_S | FileType::Q3_K_M | FileType::Q3_K_L => GgmlType::Q3_K,
            FileType::Q4_K_S | FileType::Q4_K_M => GgmlType::Q4_K,
            FileType::Q5_K_S | FileType::Q5_K_M => GgmlType::Q5_K,
            FileType::Q6_K => GgmlType::Q6_K,
            FileType::IQ4_NL => GgmlType::IQ4_NL,
            FileType::IQ4_XS => GgmlType::IQ4_XS,
        }
    }
}

/// llama.cpp's fallback for a matrix whose rows (`cols` values) are not a whole number of
/// `t`'s blocks: IQ4_XS → IQ4_NL, Q2_K and Q3_K → Q4_0, Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0,
/// and F16 when even that does not fit. `t` itself when it fits; `None` when llama.cpp defines
/// no fallback (a 32-value type on rows that are not a multiple of 32).
pub fn row_fallback(t: GgmlType, cols: usize) -> Option<GgmlType> {
    if cols.is_multiple_of(t.block_size()) {
        return Some(t);
    }
    let fallback = match t {
        GgmlType::IQ4_XS => GgmlType::IQ4_NL,
        GgmlType::Q2_K | GgmlType::Q3_K => GgmlType::Q4_0,
        GgmlType::Q4_K => GgmlType::Q5_0,
        GgmlType::Q5_K => GgmlType::Q5_1,
        GgmlType::Q6_K | GgmlType::Q8_K => GgmlType::Q8_0,
        _ => return None,
    };
    Some(if cols.is_multiple_of(fallback.block_size()) { fallback } else { GgmlType::F16 })
}

/// What a tensor is, for the type rules (llama.cpp's `tensor_category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    TokenEmbd,
    AttnV,
    AttnK,
    AttnOutput,
    FfnDown,
    Output,
    Other,
}

fn category(name: &str) -> Category {
    if name == "output.weight" {
        Category::Output
    } else if name == "token_embd.weight" {
        Category::TokenEmbd
    } else if name.contains("attn_qkv.weight") || name.contains("attn_kv_b.weight") || name.contains("attn_v.weight") {
        Category::AttnV
    } else if name.contains("attn_k.weight") {
        Category::AttnK
    } else if name.contains("attn_output.weight") {
        Category::AttnOutput
    } else if name.contains("ffn_down") {
        Category::FfnDown
    } else {
        Category::Other
    }
}

/// Whether llama.cpp quantizes this tensor at all: matrices named `*weight`, not norms.
fn is_quantizable(t: &TensorInfo) -> bool {
    t.dims.len() >= 2 && t.name.ends_with("weight") && !t.name.contains("_norm.weight")
}

/// The layer of a `blk.N.…` name; `None` for the others.
fn layer_of(name: &str) -> Option<usize> {
    name.strip_prefix("blk.")?.split('.').next()?.parse().ok()
}

/// llama.cpp's layers that get more bits in the `_M` mixes: the first and last eighth, and every
/// third layer in between.
fn use_more_bits(i: usize, n: usize) -> bool {
    // `i - n / 8` cannot underflow: the first test returned for smaller `i`.
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

/// The model facts the rules read, and the per-category counters they advance.
struct Rules {
    ftype: FileType,
    n_layers: usize,
    n_gqa: usize,
    n_expert: usize,
    is_70b: bool,
    tied_embeddings: bool,
    n_attention_wv: usize,
    i_attention_wv: usize,
    i_ffn_down: usize,
}

impl Rules {
    fn new(metadata: &Metadata, ftype: FileType, order: &[&TensorInfo]) -> Result<Self, LlamaError> {
        let arch = metadata
            .get("general.architecture")
            .and_then(GgufValue::as_str)
            .ok_or_else(|| LlamaError::Config("general.architecture missing".into()))?;
        let key = |k: &str| metadata.get(&format!("{arch}.{k}")).and_then(GgufValue::as_u64).map(|v| v as usize);
        let n_layers = key("block_count").ok_or_else(|| LlamaError::Config(format!("{arch}.block_count missing")))?;
        let n_heads = key("attention.head_count").unwrap_or(1);
        let n_kv_heads = key("attention.head_count_kv").unwrap_or(n_heads).max(1);
        Ok(Self {
            ftype,
            n_layers,
            n_gqa: n_heads / n_kv_heads,
            n_expert: key("expert_count").unwrap_or(0),
            // llama.cpp's LLM_TYPE_70B for the Llama architecture: 80 layers.
            is_70b: arch == "llama" && n_layers == 80,
            tied_embeddings: !order.iter().any(|t| category(&t.name) == Category::Output),
            n_attention_wv: order.iter().filter(|t| category(&t.name) == Category::AttnV).count(),
            i_attention_wv: 0,
            i_ffn_down: 0,
        })
    }

    /// The type for one quantizable tensor, before the row-size fallback; advances the counters.
    fn choose(&mut self, t: &TensorInfo) -> GgmlType {
        use FileType as F;
        use GgmlType as G;
        let ftype = self.ftype;
        let mut new_type = ftype.default_type();
        let cat = category(&t.name);
        if cat == Category::Output || (self.tied_embeddings && cat == Category::TokenEmbd) {
            let nx = t.dims[0] as usize;
            if !nx.is_multiple_of(new_type.block_size()) {
                new_type = G::Q8_0;
            } else if new_type != G::Q8_0 {
                new_type = G::Q6_K;
            }
            return new_type;
        }
        match cat {
            Category::AttnV => {
                let i = self.i_attention_wv;
                match ftype {
                    F::Q2_K => new_type = if self.n_gqa >= 4 { G::Q4_K } else { G::Q3_K },
                    F::Q3_K_M => new_type = if i < 2 { G::Q5_K } else { G::Q4_K },
                    F::Q3_K_L => new_type = G::Q5_K,
                    F::IQ4_NL | F::IQ4_XS if self.n_gqa >= 4 => new_type = G::Q5_K,
                    F::Q4_K_M | F::Q5_K_M if use_more_bits(i, self.n_attention_wv) => new_type = G::Q6_K,
                    F::Q4_K_S if i < 4 => new_type = G::Q5_K,
                    _ => {}
                }
                if self.is_70b && matches!(new_type, G::Q3_K | G::Q4_K) {
                    new_type = G::Q5_K;
                }
                if self.n_expert == 8 {
                    new_type = G::Q8_0;
                }
                self.i_attention_wv += 1;
            }
            Category::AttnK if self.n_expert == 8 => new_type = G::Q8_0,
            Category::FfnDown => {
                // Expert FFNs are not consecutive in the file: their layer comes from the name.
                let i = if self.n_expert > 1 { layer_of(&t.name).unwrap_or(self.i_ffn_down) } else { self.i_ffn_down };
                let n = self.n_layers;
                match ftype {
                    F::Q2_K => new_type = G::Q3_K,
                    F::Q3_K_M => new_type = if i < n / 16 { G::Q5_K } else { G::Q4_K },
                    F::Q3_K_L => new_type = G::Q5_K,
                    F::Q4_K_M if use_more_bits(i, n) => new_type = G::Q6_K,
                    F::IQ4_NL | F::IQ4_XS if i < n / 8 => new_type = G::Q5_K,
                    F::Q5_K_M if use_more_bits(i, n) => new_type = G::Q6_K,
                    F::Q4_K_S if i < n / 8 => new_type = G::Q5_K,
                    _ => {}
                }
                self.i_ffn_down += 1;
            }
            Category::AttnOutput => {
                if self.n_expert == 8 {
                    if matches!(ftype, F::Q2_K | F::Q3_K_S | F::Q3_K_M | F::IQ4_NL | F::Q4_K_S | F::Q4_K_M | F::IQ4_XS)
                    {
                        new_type = G::Q5_K;
                    }
                } else {
                    match ftype {
                        F::Q2_K => new_type = G::Q3_K,
                        F::Q3_K_M => new_type = G::Q4_K,
                        F::Q3_K_L => new_type = G::Q5_K,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        new_type
    }
}

/// One tensor of the output file: where it comes from and what it becomes.
#[derive(Debug, Clone)]
pub struct PlannedTensor {
    /// Tensor name.
    pub name: String,
    /// ggml order (`dims[0]` is the row length).
    pub dims: Vec<u64>,
    /// Its type in the input file.
    pub from: GgmlType,
    /// Its type in the output file.
    pub to: GgmlType,
}

impl PlannedTensor {
    /// Bytes of the tensor in its new type.
    pub fn n_bytes(&self) -> Result<u64, LlamaError> {
        let cols = self.dims.first().copied().unwrap_or(1) as usize;
        let rows: u64 = self.dims.iter().skip(1).product();
        Ok(self.to.row_bytes(cols)? as u64 * rows)
    }

    /// Whether the data is re-encoded (else copied byte for byte).
    pub fn requantized(&self) -> bool {
        self.from != self.to
    }
}

/// A GGUF file's metadata.
pub type Metadata = std::collections::BTreeMap<String, GgufValue>;

/// llama.cpp's tensor order: tensors outside the layers by name, then layer by layer by name.
fn llama_cpp_order(tensors: &[TensorInfo]) -> Vec<&TensorInfo> {
    let mut order: Vec<&TensorInfo> = tensors.iter().collect();
    order.sort_by(|a, b| {
        let layer = |t: &TensorInfo| layer_of(&t.name).map_or(-1, |l| l as i64);
        layer(a).cmp(&layer(b)).then_with(|| a.name.cmp(&b.name))
    });
    order
}

/// The type llama-quantize gives every tensor of `file` for `ftype`, in its output order.
pub fn plan(file: &GgufFile, ftype: FileType) -> Result<Vec<PlannedTensor>, LlamaError> {
    plan_tensors(&file.metadata, &file.tensors, ftype)
}

/// [`plan`] for a model described by its metadata and tensor list (the tensors' types are the
/// source types; their data is not read).
pub fn plan_tensors(
    metadata: &Metadata,
    tensors: &[TensorInfo],
    ftype: FileType,
) -> Result<Vec<PlannedTensor>, LlamaError> {
    let order = llama_cpp_order(tensors);
    let mut rules = Rules::new(metadata, ftype, &order)?;
    order
        .into_iter()
        .map(|t| {
            let to = if is_quantizable(t) {
                let chosen = rules.choose(t);
                let cols = t.dims[0] as usize;
                row_fallback(chosen, cols).ok_or_else(|| {
                    LlamaError::Unsupported(format!(
                        "tensor {}: rows of {cols} values are not whole {} blocks and llama.cpp defines no fallback",
                        t.name,
                        chosen.name()
                    ))
                })?
            } else {
                t.ggml_type
            };
            Ok(PlannedTensor { name: t.name.clone(), dims: t.dims.clone(), from: t.ggml_type, to })
        })
        .collect()
}

/// What [`quantize_file`] wrote.
#[derive(Debug, Clone, Default)]
pub struct QuantizeReport {
    /// Tensors written.
    pub tensors: usize,
    /// Tensors whose type changed.
    pub requantized: usize,
    /// Tensor bytes read.
    pub bytes_in: u64,
    /// Tensor bytes written.
    pub bytes_out: u64,
    /// Tensors per output type, by type name.
    pub types: std::collections::BTreeMap<String, usize>,
}

/// Rows re-encoded per batch: bounds the f32 staging memory to a few MiB per thread whatever
/// the model size.
const ROWS_PER_BATCH: usize = 256;

/// One tensor's data in its new type, written to `out`.
fn write_tensor(file: &GgufFile, info: &TensorInfo, p: &PlannedTensor, out: &mut impl Write) -> Result<(), LlamaError> {
    let data = file.tensor_data(info);
    if !p.requantized() {
        return out.write_all(data).map_err(|e| LlamaError::io(Path::new(&p.name), e));
    }
    let cols = p.dims[0] as usize;
    let (in_row, out_row) = (p.from.row_bytes(cols)?, p.to.row_bytes(cols)?);
    if in_row == 0 {
        return Ok(()); // an empty tensor
    }
    for batch in data.chunks(ROWS_PER_BATCH * in_row) {
        let encoded: Vec<Vec<u8>> = batch
            .par_chunks(in_row)
            .map_init(
                || vec![0f32; cols],
                |x, row| {
                    dequantize_row(p.from, row, x)?;
                    let mut q = Vec::with_capacity(out_row);
                    quantize_row(p.to, x, &mut q)?;
                    Ok(q)
                },
            )
            .collect::<Result<_, quant5::QuantError>>()
            .map_err(|e| LlamaError::Weights(format!("tensor {}: {e}", p.name)))?;
        for row in encoded {
            out.write_all(&row).map_err(|e| LlamaError::io(Path::new(&p.name), e))?;
        }
    }
    Ok(())
}

/// Requantizes `input` to `ftype` into a new GGUF file at `out_path`, tensor by tensor (memory
/// stays a few batches of rows). Metadata is copied with `general.file_type` and
/// `general.quantization_version` set as llama.cpp sets them. `progress(done, total, tensor)` is
/// called before each tensor.
pub fn quantize_file(
    input: &GgufFile,
    ftype: FileType,
    out_path: &Path,
    progress: &mut dyn FnMut(usize, usize, &PlannedTensor),
) -> Result<QuantizeReport, LlamaError> {
    let planned = plan(input, ftype)?;
    let mut metadata: Vec<(&str, GgufValue)> = input
        .metadata
        .iter()
        .filter(|(k, _)| *k != "general.file_type" && *k != "general.quantization_version")
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    metadata.push(("general.quantization_version", GgufValue::U32(2)));
    metadata.push(("general.file_type", GgufValue::U32(ftype.id())));
    let sizes = planned.iter().map(PlannedTensor::n_bytes).collect::<Result<Vec<_>, _>>()?;
    let entries: Vec<TensorEntry<'_>> = planned
        .iter()
        .zip(&sizes)
        .map(|(p, &n_bytes)| TensorEntry { name: &p.name, dims: &p.dims, ggml_type: p.to, n_bytes })
        .collect();
    let io = |e| LlamaError::io(out_path, e);
    let mut out = BufWriter::new(std::fs::File::create(out_path).map_err(io)?);
    let offsets = write_gguf_header(&mut out, &metadata, &entries, input.alignment).map_err(io)?;
    let base = out.stream_position().map_err(io)?;
    let mut report = QuantizeReport { tensors: planned.len(), ..Default::default() };
    for (i, (p, &offset)) in planned.iter().zip(&offsets).enumerate() {
        progress(i, planned.len(), p);
        let pos = out.stream_position().map_err(io)?;
        out.write_all(&vec![0u8; (base + offset).saturating_sub(pos) as usize]).map_err(io)?;
        let info = input
            .tensor(&p.name)
            .ok_or_else(|| LlamaError::Weights(format!("tensor {} vanished from the input", p.name)))?;
        write_tensor(input, info, p, &mut out)?;
        report.requantized += usize::from(p.requantized());
        report.bytes_in += info.n_bytes;
        *report.types.entry(p.to.name().to_string()).or_default() += 1;
    }
    out.flush().map_err(io)?;
    report.bytes_out = out.stream_position().map_err(io)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_more_bits_matches_llama_cpp_on_30_layers() {
        let more: Vec<usize> = (0..30).filter(|&i| use_more_bits(i, 30)).collect();
        assert_eq!(more, [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]);
    }

    #[test]
    fn fallbacks_for_rows_that_are_not_whole_super_blocks() {
        assert_eq!(row_fallback(GgmlType::Q4_K, 576), Some(GgmlType::Q5_0));
        assert_eq!(row_fallback(GgmlType::Q4_K, 1536), Some(GgmlType::Q4_K));
        assert_eq!(row_fallback(GgmlType::Q6_K, 576), Some(GgmlType::Q8_0));
        assert_eq!(row_fallback(GgmlType::IQ4_XS, 576), Some(GgmlType::IQ4_NL));
        assert_eq!(row_fallback(GgmlType::Q3_K, 576), Some(GgmlType::Q4_0));
        assert_eq!(row_fallback(GgmlType::Q5_K, 100), Some(GgmlType::F16));
        assert_eq!(row_fallback(GgmlType::Q5_0, 100), None);
    }

    #[test]
    fn file_types_parse_by_name() {
        for t in FileType::ALL {
            assert_eq!(FileType::from_name(&t.name().to_lowercase()).unwrap(), t);
        }
        assert!(FileType::from_name("Q4_K_X").unwrap_err().to_string().contains("Q4_K_M"));
    }
}
