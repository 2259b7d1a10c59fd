//! GGUF (v2 and v3) reader: header, metadata of every value type, tensor infos, alignment, and
//! memory-mapped tensor data.
//!
//! Everything read from the file is bounds-checked before it is used to size an allocation:
//! string and array lengths against the bytes left, tensor dimensions with overflow checks,
//! tensor data ranges against the data section. A malformed file gives a [`GgufError`] naming
//! what and where (byte offset, key or tensor), never a panic.

use std::collections::BTreeMap;
use std::path::Path;

use quant5::GgmlType;

/// `GGUF` little-endian.
const MAGIC: u32 = 0x4655_4747;
const DEFAULT_ALIGNMENT: u64 = 32;
/// Deeper nesting than this in metadata arrays is refused (no real file nests at all).
const MAX_ARRAY_DEPTH: usize = 4;

/// Errors reading a GGUF file.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The first four bytes are not `GGUF`.
    #[error("not a GGUF file (magic {0:#010x})")]
    Magic(u32),
    /// A version other than 2 or 3.
    #[error("unsupported GGUF version {0} (2 and 3 are read)")]
    Version(u32),
    /// The file ends inside a field.
    #[error("truncated at byte {at}: need {need} more bytes for {what}")]
    Truncated {
        /// Offset of the field.
        at: u64,
        /// Bytes missing.
        need: u64,
        /// Which field.
        what: String,
    },
    /// A field with an impossible value (a count larger than the file, an unknown type, …).
    #[error("at byte {at}: {what}")]
    Malformed {
        /// Offset of the field.
        at: u64,
        /// What is wrong.
        what: String,
    },
    /// A tensor whose description does not fit its data.
    #[error("tensor {name}: {what}")]
    Tensor {
        /// The tensor.
        name: String,
        /// What is wrong.
        what: String,
    },
    /// A metadata value of the wrong type or out of range.
    #[error("metadata {key}: {what}")]
    Metadata {
        /// The key.
        key: String,
        /// What is wrong.
        what: String,
    },
}

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum GgufValue {
    /// `uint8`.
    U8(u8),
    /// `int8`.
    I8(i8),
    /// `uint16`.
    U16(u16),
    /// `int16`.
    I16(i16),
    /// `uint32`.
    U32(u32),
    /// `int32`.
    I32(i32),
    /// `float32`.
    F32(f32),
    /// `bool`.
    Bool(bool),
    /// A UTF-8 string.
    String(String),
    /// An array of one value type.
    Array(Vec<GgufValue>),
    /// `uint64`.
    U64(u64),
    /// `int64`.
    I64(i64),
    /// `float64`.
    F64(f64),
}

impl GgufValue {
    /// The value as an unsigned integer, if it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::U8(v) => Some(v as u64),
            Self::U16(v) => Some(v as u64),
            Self::U32(v) => Some(v as u64),
            Self::U64(v) => Some(v),
            Self::I8(v) => u64::try_from(v).ok(),
            Self::I16(v) => u64::try_from(v).ok(),
            Self::I32(v) => u64::try_from(v).ok(),
            Self::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, if it is any number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::F32(v) => Some(v as f64),
            Self::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64).or(match *self {
                Self::I8(v) => Some(v as f64),
                Self::I16(v) => Some(v as f64),
                Self::I32(v) => Some(v as f64),
                Self::I64(v) => Some(v as f64),
                _ => None,
            }),
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        if let Self::String(s) = self { Some(s) } else { None }
    }

    /// The bool, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        if let Self::Bool(b) = self { Some(*b) } else { None }
    }

    /// The items, if this is an array.
    pub fn as_array(&self) -> Option<&[GgufValue]> {
        if let Self::Array(a) = self { Some(a) } else { None }
    }
}

/// One tensor's description.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// Tensor name (`blk.0.attn_q.weight`, …).
    pub name: String,
    /// ggml order: `dims[0]` is the contiguous axis (the reverse of a PyTorch shape).
    pub dims: Vec<u64>,
    /// Block type of its data.
    pub ggml_type: GgmlType,
    /// Offset within the data section.
    pub offset: u64,
    /// Bytes of tensor data.
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Number of values.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// `(rows, cols)` of a matrix (cols = `dims[0]`); a vector is one row.
    pub fn matrix_shape(&self) -> Option<(usize, usize)> {
        match self.dims[..] {
            [cols] => Some((1, cols as usize)),
            [cols, rows] => Some((rows as usize, cols as usize)),
            _ => None,
        }
    }
}

enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            Self::Mapped(m) => m,
            Self::Owned(v) => v,
        }
    }
}

/// A parsed GGUF file; tensor data stays in the (mapped) file until asked for.
pub struct GgufFile {
    /// GGUF version (2 or 3).
    pub version: u32,
    /// Metadata by key.
    pub metadata: BTreeMap<String, GgufValue>,
    /// Tensor descriptions, in file order.
    pub tensors: Vec<TensorInfo>,
    /// Alignment of tensor data (`general.alignment`, 32 by default).
    pub alignment: u64,
    /// Start of the data section in the file.
    pub data_offset: u64,
    bytes: std::sync::Arc<Bytes>,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .field("data_offset", &self.data_offset)
            .finish()
    }
}

/// `general.alignment`, or the default; anything but a power of two is an error.
fn alignment(metadata: &BTreeMap<String, GgufValue>) -> Result<u64, GgufError> {
    match metadata.get("general.alignment") {
        None => Ok(DEFAULT_ALIGNMENT),
        Some(v) => {
            let a = v.as_u64().unwrap_or(0);
            if a == 0 || !a.is_power_of_two() {
                return Err(GgufError::Metadata {
                    key: "general.alignment".into(),
                    what: format!("{v:?} is not a power of two"),
                });
            }
            Ok(a)
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// One tensor info: name, dimensions, type and data offset, checked (1–4 dimensions, whole
    /// blocks per row, no overflow, offset aligned).
    fn tensor_info(&mut self, alignment: u64) -> Result<TensorInfo, GgufError> {
        let name = self.string("tensor name")?;
        let at = self.pos as u64;
        let n_dims = self.u32(&name)?;
        if !(1..=4).contains(&n_dims) {
            return Err(GgufError::Tensor { name, what: format!("{n_dims} dimensions (1–4 allowed)") });
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(self.u64(&name)?);
        }
        let type_id = self.u32(&name)?;
        let offset = self.u64(&name)?;
        let ggml_type = GgmlType::from_id(type_id).map_err(|_| GgufError::Tensor {
            name: name.clone(),
            what: format!("unsupported ggml type id {type_id}"),
        })?;
        let n_elements = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| GgufError::Tensor { name: name.clone(), what: format!("dims {dims:?} overflow") })?;
        let block = ggml_type.block_size() as u64;
        if dims[0] % block != 0 {
            return Err(GgufError::Tensor {
                name,
                what: format!("row of {} is not a whole number of {block}-element blocks", dims[0]),
            });
        }
        let n_bytes = (n_elements / block)
            .checked_mul(ggml_type.type_size() as u64)
            .ok_or_else(|| GgufError::Tensor { name: name.clone(), what: "size overflows".into() })?;
        if offset % alignment != 0 {
            return Err(GgufError::Malformed {
                at,
                what: format!("tensor {name}: offset {offset} not aligned to {alignment}"),
            });
        }
        Ok(TensorInfo { name, dims, ggml_type, offset, n_bytes })
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&'a [u8], GgufError> {
        let left = (self.bytes.len() - self.pos) as u64;
        if n > left {
            return Err(GgufError::Truncated { at: self.pos as u64, need: n - left, what: what.to_string() });
        }
        let s = &self.bytes[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N as u64, what)?);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let at = self.pos as u64;
        let len = self.u64(what)?;
        let raw = self.take(len, what)?;
        String::from_utf8(raw.to_vec()).map_err(|_| GgufError::Malformed { at, what: format!("{what} is not UTF-8") })
    }

    fn value(&mut self, ty: u32, key: &str, depth: usize) -> Result<GgufValue, GgufError> {
        Ok(match ty {
            0 => GgufValue::U8(self.array::<1>(key)?[0]),
            1 => GgufValue::I8(self.array::<1>(key)?[0] as i8),
            2 => GgufValue::U16(u16::from_le_bytes(self.array(key)?)),
            3 => GgufValue::I16(i16::from_le_bytes(self.array(key)?)),
            4 => GgufValue::U32(self.u32(key)?),
            5 => GgufValue::I32(i32::from_le_bytes(self.array(key)?)),
            6 => GgufValue::F32(f32::from_le_bytes(self.array(key)?)),
            7 => {
                let at = self.pos as u64;
                match self.array::<1>(key)?[0] {
                    0 => GgufValue::Bool(false),
                    1 => GgufValue::Bool(true),
                    b => return Err(GgufError::Malformed { at, what: format!("{key}: bool byte {b}") }),
                }
            }
            8 => GgufValue::String(self.string(key)?),
            9 => {
                let at = self.pos as u64;
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::Malformed {
                        at,
                        what: format!("{key}: arrays nested deeper than {MAX_ARRAY_DEPTH}"),
                    });
                }
                let elem = self.u32(key)?;
                let count = self.u64(key)?;
                // Each element takes at least `min_encoded_size(elem)` bytes: a count whose
                // elements cannot fit in the bytes left is a lie, caught before reserving memory.
                let left = (self.bytes.len() - self.pos) as u64;
                let need = count.saturating_mul(min_encoded_size(elem));
                if need > left {
                    return Err(GgufError::Truncated {
                        at,
                        need: need - left,
                        what: format!("{key}: array of {count}"),
                    });
                }
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.value(elem, key, depth + 1)?);
                }
                GgufValue::Array(items)
            }
            10 => GgufValue::U64(self.u64(key)?),
            11 => GgufValue::I64(i64::from_le_bytes(self.array(key)?)),
            12 => GgufValue::F64(f64::from_le_bytes(self.array(key)?)),
            other => {
                return Err(GgufError::Malformed { at: self.pos as u64, what: format!("{key}: value type {other}") });
            }
        })
    }
}

/// The fewest bytes a value of GGUF type `ty` takes in a file (unknown types count as 1; they
/// are rejected when read).
fn min_encoded_size(ty: u32) -> u64 {
    match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 | 10..=12 => 8,
        9 => 12, // element type and count
        _ => 1,
    }
}

/// Fewest bytes of one metadata entry (key length, type, a 1-byte value) and of one tensor info
/// (name length, dimension count, one dimension, type, offset).
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 8 + 4 + 8;

impl GgufFile {
    /// Opens and memory-maps a file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GgufError> {
        let path = path.as_ref();
        let io = |source| GgufError::Io { path: path.display().to_string(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the map is read-only and private to this value. Like every mmap reader
        // (llama.cpp, candle), we rely on the file not being truncated while mapped; a writer
        // doing so would be a bug outside this process.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::parse(Bytes::Mapped(map))
    }

    /// Parses a GGUF image held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, GgufError> {
        Self::parse(Bytes::Owned(bytes))
    }

    fn parse(bytes: Bytes) -> Result<Self, GgufError> {
        let data = bytes.as_ref();
        let mut r = Reader { bytes: data, pos: 0 };
        let magic = r.u32("magic")?;
        if magic != MAGIC {
            return Err(GgufError::Magic(magic));
        }
        let version = r.u32("version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::Version(version));
        }
        let n_tensors = r.u64("tensor count")?;
        let n_kv = r.u64("metadata count")?;
        // Counts whose entries cannot fit in the file are lies, caught before reserving memory.
        let left = (data.len() - r.pos) as u64;
        let need = n_kv.saturating_mul(MIN_KV_BYTES).saturating_add(n_tensors.saturating_mul(MIN_TENSOR_INFO_BYTES));
        if need > left {
            return Err(GgufError::Malformed {
                at: 16,
                what: format!("{n_kv} metadata entries and {n_tensors} tensors cannot fit in {left} bytes"),
            });
        }
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = r.string("metadata key")?;
            let ty = r.u32(&key)?;
            let value = r.value(ty, &key, 0)?;
            metadata.insert(key, value);
        }
        let alignment = alignment(&metadata)?;
        let mut infos = Vec::with_capacity(n_tensors as usize);
        for _ in 0..n_tensors {
            infos.push(r.tensor_info(alignment)?);
        }
        let data_offset = (r.pos as u64).div_ceil(alignment) * alignment;
        if !infos.is_empty() && data_offset > data.len() as u64 {
            return Err(GgufError::Malformed {
                at: r.pos as u64,
                what: format!("the data section would start at {data_offset}, past the end ({} bytes)", data.len()),
            });
        }
        let data_len = (data.len() as u64).saturating_sub(data_offset);
        for t in &infos {
            let end = t.offset.checked_add(t.n_bytes);
            if end.is_none_or(|e| e > data_len) {
                return Err(GgufError::Tensor {
                    name: t.name.clone(),
                    what: format!("data [{}, +{}) runs past the {data_len}-byte data section", t.offset, t.n_bytes),
                });
            }
        }
        Ok(Self { version, metadata, tensors: infos, alignment, data_offset, bytes: std::sync::Arc::new(bytes) })
    }

    /// The tensor named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The raw bytes of a tensor (ranges are checked against the file when parsed; a
    /// `TensorInfo` from elsewhere that does not fit gives an empty slice, never a panic).
    pub fn tensor_data(&self, info: &TensorInfo) -> &[u8] {
        let start = self.data_offset.saturating_add(info.offset);
        let end = start.saturating_add(info.n_bytes);
        usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(a, b)| (*self.bytes).as_ref().get(a..b))
            .unwrap_or(&[])
    }

    /// A tensor's bytes borrowed from the file's mapping (no copy: the weights stay in the
    /// file's pages, shared by every matrix made from them, and the mapping lives as long as
    /// the last of them). Empty for a `TensorInfo` that does not fit the file.
    pub fn tensor_block_bytes(&self, info: &TensorInfo) -> quant5::BlockBytes {
        let start = self.data_offset.saturating_add(info.offset);
        let end = start.saturating_add(info.n_bytes);
        let buffer: quant5::SharedBuffer = self.bytes.clone();
        usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(a, b)| quant5::BlockBytes::shared(buffer, a..b))
            .unwrap_or_else(|| Vec::new().into())
    }

    /// Lets the kernel take bytes `range` of a tensor (relative to its start) out of this
    /// process's resident memory, for bytes that were copied elsewhere (rows packed into
    /// panels): without it a model would be resident twice. The bytes stay readable — the
    /// mapping is a read-only view of the file, so a later read faults them back in from the
    /// page cache — and an owned (unmapped) buffer is left as it is. Pages the range shares
    /// with its neighbours are released too; they come back the same way when read.
    pub fn release_tensor_pages(&self, info: &TensorInfo, range: std::ops::Range<usize>) {
        #[cfg(unix)]
        if let Bytes::Mapped(map) = &*self.bytes {
            let Some(start) = usize::try_from(self.data_offset.saturating_add(info.offset)).ok() else { return };
            let (Some(from), Some(to)) = (start.checked_add(range.start), start.checked_add(range.end)) else { return };
            if from < to && to <= map.len() && range.end as u64 <= info.n_bytes {
                // SAFETY: the map is shared and read-only (`Mmap::map`), so dropping its pages
                // discards nothing: every address stays mapped and reads the file's bytes again
                // (MADV_DONTNEED on a shared file mapping). The range is inside the map
                // (checked above). An error only means the pages stay resident.
                let _ = unsafe { map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, to - from) };
            }
        }
        #[cfg(not(unix))]
        let _ = (info, range);
    }

    /// A metadata value.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.get(key)
    }

    /// A required unsigned integer.
    pub fn u64(&self, key: &str) -> Result<u64, GgufError> {
        let v = self.get(key).ok_or_else(|| GgufError::Metadata { key: key.into(), what: "missing".into() })?;
        v.as_u64()
            .ok_or_else(|| GgufError::Metadata { key: key.into(), what: format!("{v:?} is not an unsigned integer") })
    }

    /// A required string.
    pub fn str(&self, key: &str) -> Result<&str, GgufError> {
        let v = self.get(key).ok_or_else(|| GgufError::Metadata { key: key.into(), what: "missing".into() })?;
        v.as_str().ok_or_else(|| GgufError::Metadata { key: key.into(), what: format!("{v:?} is not a string") })
    }

    /// An optional float.
    pub fn f64_opt(&self, key: &str) -> Result<Option<f64>, GgufError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| GgufError::Metadata { key: key.into(), what: format!("{v:?} is not a number") }),
        }
    }

    /// A required array of strings.
    pub fn strings(&self, key: &str) -> Result<Vec<&str>, GgufError> {
        let v = self.get(key).ok_or_else(|| GgufError::Metadata { key: key.into(), what: "missing".into() })?;
        let a = v.as_array().ok_or_else(|| GgufError::Metadata { key: key.into(), what: "not an array".into() })?;
        a.iter()
            .enumerate()
            .map(|(i, s)| {
                s.as_str()
                    .ok_or_else(|| GgufError::Metadata { key: key.into(), what: format!("entry {i} is not a string") })
            })
            .collect()
    }
}

/// One tensor's entry in a GGUF header: name, ggml dims, type and data size.
#[derive(Debug, Clone)]
pub struct TensorEntry<'a> {
    /// Tensor name.
    pub name: &'a str,
    /// ggml order (`dims[0]` is the row length).
    pub dims: &'a [u64],
    /// Block type.
    pub ggml_type: GgmlType,
    /// Bytes of data.
    pub n_bytes: u64,
}

/// Writes a GGUF v3 header — metadata, then tensor infos with offsets aligned to `alignment` —
/// padded to the start of the data section. Returns each tensor's offset within that section;
/// the caller writes the data, padding each tensor with zeros to its offset.
pub fn write_gguf_header(
    out: &mut impl std::io::Write,
    metadata: &[(&str, GgufValue)],
    tensors: &[TensorEntry<'_>],
    alignment: u64,
) -> std::io::Result<Vec<u64>> {
    fn put_str(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }
    fn type_id(v: &GgufValue) -> u32 {
        match v {
            GgufValue::U8(_) => 0,
            GgufValue::I8(_) => 1,
            GgufValue::U16(_) => 2,
            GgufValue::I16(_) => 3,
            GgufValue::U32(_) => 4,
            GgufValue::I32(_) => 5,
            GgufValue::F32(_) => 6,
            GgufValue::Bool(_) => 7,
            GgufValue::String(_) => 8,
            GgufValue::Array(_) => 9,
            GgufValue::U64(_) => 10,
            GgufValue::I64(_) => 11,
            GgufValue::F64(_) => 12,
        }
    }
    fn put_value(out: &mut Vec<u8>, v: &GgufValue) {
        match v {
            GgufValue::U8(x) => out.push(*x),
            GgufValue::I8(x) => out.push(*x as u8),
            GgufValue::U16(x) => out.extend(x.to_le_bytes()),
            GgufValue::I16(x) => out.extend(x.to_le_bytes()),
            GgufValue::U32(x) => out.extend(x.to_le_bytes()),
            GgufValue::I32(x) => out.extend(x.to_le_bytes()),
            GgufValue::F32(x) => out.extend(x.to_le_bytes()),
            GgufValue::Bool(x) => out.push(*x as u8),
            GgufValue::String(s) => put_str(out, s),
            GgufValue::Array(items) => {
                out.extend(items.first().map_or(4, type_id).to_le_bytes());
                out.extend((items.len() as u64).to_le_bytes());
                items.iter().for_each(|i| put_value(out, i));
            }
            GgufValue::U64(x) => out.extend(x.to_le_bytes()),
            GgufValue::I64(x) => out.extend(x.to_le_bytes()),
            GgufValue::F64(x) => out.extend(x.to_le_bytes()),
        }
    }
    let alignment = alignment.max(1);
    let mut head = Vec::new();
    head.extend(MAGIC.to_le_bytes());
    head.extend(3u32.to_le_bytes());
    head.extend((tensors.len() as u64).to_le_bytes());
    head.extend((metadata.len() as u64).to_le_bytes());
    for (k, v) in metadata {
        put_str(&mut head, k);
        head.extend(type_id(v).to_le_bytes());
        put_value(&mut head, v);
    }
    let mut offset = 0u64;
    let mut offsets = Vec::with_capacity(tensors.len());
    for t in tensors {
        put_str(&mut head, t.name);
        head.extend((t.dims.len() as u32).to_le_bytes());
        t.dims.iter().for_each(|d| head.extend(d.to_le_bytes()));
        head.extend(t.ggml_type.id().to_le_bytes());
        head.extend(offset.to_le_bytes());
        offsets.push(offset);
        offset = (offset + t.n_bytes).div_ceil(alignment) * alignment;
    }
    head.resize((head.len() as u64).div_ceil(alignment) as usize * alignment as usize, 0);
    out.write_all(&head)?;
    Ok(offsets)
}

/// Writes a GGUF v3 image (for tests and small tools): metadata and tensors with their raw
/// block bytes, aligned to 32.
pub fn write_gguf(metadata: &[(&str, GgufValue)], tensors: &[(&str, Vec<u64>, GgmlType, &[u8])]) -> Vec<u8> {
    let entries: Vec<TensorEntry<'_>> = tensors
        .iter()
        .map(|(name, dims, ggml_type, data)| TensorEntry {
            name,
            dims,
            ggml_type: *ggml_type,
            n_bytes: data.len() as u64,
        })
        .collect();
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let offsets = write_gguf_header(&mut out, metadata, &entries, DEFAULT_ALIGNMENT).unwrap_or_default();
    let base = out.len();
    for ((_, _, _, data), off) in tensors.iter().zip(offsets) {
        out.resize(base + off as usize, 0);
        out.extend(*data);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Vec<u8> {
        let w: Vec<u8> = (0..8u32).flat_map(|i| (i as f32).to_le_bytes()).collect();
        write_gguf(
            &[
                ("general.architecture", GgufValue::String("llama".into())),
                ("x.list", GgufValue::Array(vec![GgufValue::I32(-1), GgufValue::I32(2)])),
                ("x.flag", GgufValue::Bool(true)),
                ("x.f64", GgufValue::F64(0.5)),
            ],
            &[("w", vec![4, 2], GgmlType::F32, &w), ("b", vec![4], GgmlType::F32, &w[..16])],
        )
    }

    #[test]
    fn round_trip_of_a_written_file() {
        let f = GgufFile::from_bytes(small()).unwrap();
        assert_eq!(f.version, 3);
        assert_eq!(f.str("general.architecture").unwrap(), "llama");
        assert_eq!(f.get("x.list").unwrap().as_array().unwrap()[0], GgufValue::I32(-1));
        assert_eq!(f.get("x.flag").unwrap().as_bool(), Some(true));
        let w = f.tensor("w").unwrap();
        assert_eq!(w.matrix_shape(), Some((2, 4)));
        assert_eq!(&f.tensor_data(w)[4..8], &1f32.to_le_bytes());
        assert_eq!(f.tensor_data(f.tensor("b").unwrap()).len(), 16);
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error_not_a_panic() {
        let bytes = small();
        for cut in 0..bytes.len() - 1 {
            // Cuts inside the data section are caught by the tensor range check.
            assert!(GgufFile::from_bytes(bytes[..cut].to_vec()).is_err(), "cut at {cut}");
        }
        for i in 0..bytes.len() {
            for v in [0u8, 0xff, 0x7f] {
                let mut b = bytes.clone();
                b[i] = v;
                let _ = GgufFile::from_bytes(b); // must not panic
            }
        }
        // Found by the `gguf` fuzz target: a zero-size tensor whose data section would begin
        // past the end of the file.
        let crash = include_bytes!("../../tests/fixtures/fuzz/gguf_zero_size_tensor_past_end.gguf");
        let e = GgufFile::from_bytes(crash.to_vec()).unwrap_err().to_string();
        assert!(e.contains("past the end"), "{e}");
        let mut huge = bytes.clone();
        huge[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(GgufFile::from_bytes(huge).unwrap_err().to_string().contains("cannot fit"));
    }
}
