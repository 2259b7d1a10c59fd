//! CTranslate2's `model.bin`: a binary header, a table of named tensors and aliases.
//!
//! Layout (versions 1 to 6, little-endian, no padding): `u32 version`, then from version 2 a
//! spec name and revision, `u32` variable count, and per variable its name, `u8` rank, `u32`
//! dims, the dtype (`u8` id from version 4, else `u8` item size + `u32` count) and the payload;
//! from version 3 an alias table. Strings are `u16` length (NUL included) + bytes + NUL.
//!
//! The reader works on a byte slice (a memory map of the file in [`ModelBin::open`]) and checks
//! every count and size against the bytes left before anything is sized by it, so a file that
//! lies about its contents is an error, never an allocation or a panic.

use crate::AsrError;
use std::collections::BTreeMap;
use std::path::Path;

/// Newest `model.bin` layout version this reader knows.
pub const MAX_BINARY_VERSION: u32 = 6;
/// Highest rank accepted for a variable (CTranslate2 writes at most 4).
const MAX_RANK: usize = 8;
/// Smallest encoded size of one variable entry: a 1-byte name + NUL (2-byte length), rank 0,
/// a dtype byte and a 4-byte size (an empty payload).
const MIN_VARIABLE_BYTES: usize = 2 + 2 + 1 + 1 + 4;
/// Smallest encoded alias: two 1-character names.
const MIN_ALIAS_BYTES: usize = 2 * (2 + 2);

/// Element type of a stored variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 8-bit integer (CTranslate2's int8 weights).
    I8,
    /// 16-bit integer.
    I16,
    /// 32-bit integer.
    I32,
    /// IEEE half float.
    F16,
    /// bfloat16.
    BF16,
}

impl DType {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => DType::F32,
            1 => DType::I8,
            2 => DType::I16,
            3 => DType::I32,
            4 => DType::F16,
            5 => DType::BF16,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::I32 => 4,
        }
    }

    /// The dtype of an old (version < 4) entry, which records only the item size; floats are
    /// assumed as CTranslate2's old writer did (4 → f32, 2 → f16 is not knowable, so i16).
    fn from_item_size(size: u8, name: &str) -> Result<Self, AsrError> {
        match size {
            1 => Ok(DType::I8),
            2 => Ok(DType::I16),
            4 => Ok(DType::F32),
            _ => Err(AsrError::Model(format!("variable {name}: item size {size} is not 1, 2 or 4"))),
        }
    }
}

/// One stored tensor: its shape, type and where its bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Byte offset of the payload in the file.
    pub offset: usize,
    /// Payload length in bytes (`shape.product() · dtype.size()`).
    pub len: usize,
}

impl Variable {
    /// Number of elements.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

enum Bytes {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// A parsed `model.bin`: header, variable table and aliases; payloads stay in the file bytes.
pub struct ModelBin {
    bytes: Bytes,
    /// The file format's version.
    pub binary_version: u32,
    /// The model spec, e.g. `WhisperSpec` (empty before version 2).
    pub spec_name: String,
    /// The spec's revision.
    pub spec_revision: u32,
    /// Every stored tensor, by name.
    pub variables: BTreeMap<String, Variable>,
    /// Alias name → target variable name.
    pub aliases: BTreeMap<String, String>,
}

impl std::fmt::Debug for ModelBin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelBin")
            .field("binary_version", &self.binary_version)
            .field("spec_name", &self.spec_name)
            .field("spec_revision", &self.spec_revision)
            .field("variables", &self.variables.len())
            .field("aliases", &self.aliases)
            .finish()
    }
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn left(&self) -> usize {
        self.data.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], AsrError> {
        if n > self.left() {
            return Err(AsrError::Model(format!(
                "truncated at byte {}: {what} needs {n} bytes, {} left",
                self.pos,
                self.left()
            )));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self, what: &str) -> Result<u8, AsrError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, AsrError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, AsrError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self, what: &str) -> Result<String, AsrError> {
        let at = self.pos;
        let len = self.u16(what)? as usize;
        let raw = self.take(len, what)?;
        let Some((&0, text)) = raw.split_last() else {
            return Err(AsrError::Model(format!("{what} at byte {at} is not NUL-terminated")));
        };
        String::from_utf8(text.to_vec()).map_err(|_| AsrError::Model(format!("{what} at byte {at} is not UTF-8")))
    }
}

impl ModelBin {
    /// Memory-maps and parses `path`.
    pub fn open(path: &Path) -> Result<Self, AsrError> {
        let file = std::fs::File::open(path).map_err(|e| AsrError::io(path, e))?;
        // SAFETY: the map is read-only; a file changed underneath us can only give wrong
        // numbers, which every reader of these bytes bounds-checks.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| AsrError::io(path, e))?;
        Self::parse(Bytes::Map(map)).map_err(|e| e.in_file(path))
    }

    /// Parses a `model.bin` held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, AsrError> {
        Self::parse(Bytes::Owned(bytes))
    }

    fn parse(bytes: Bytes) -> Result<Self, AsrError> {
        let mut c = Cursor { data: &bytes, pos: 0 };
        let binary_version = c.u32("binary version")?;
        if binary_version == 0 || binary_version > MAX_BINARY_VERSION {
            return Err(AsrError::Model(format!(
                "binary version {binary_version} is not supported (1 to {MAX_BINARY_VERSION})"
            )));
        }
        let (spec_name, spec_revision) =
            if binary_version >= 2 { (c.string("spec name")?, c.u32("spec revision")?) } else { (String::new(), 1) };
        let count = c.u32("variable count")? as usize;
        if count > c.left() / MIN_VARIABLE_BYTES {
            return Err(AsrError::Model(format!(
                "{count} variables cannot fit in the {} bytes left after the header",
                c.left()
            )));
        }
        let mut variables = BTreeMap::new();
        for _ in 0..count {
            let name = c.string("variable name")?;
            let rank = c.u8("rank")? as usize;
            if rank > MAX_RANK {
                return Err(AsrError::Model(format!("variable {name}: rank {rank} is over {MAX_RANK}")));
            }
            let mut shape = Vec::with_capacity(rank);
            for _ in 0..rank {
                shape.push(c.u32("dimension")? as usize);
            }
            let elements = shape
                .iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| AsrError::Model(format!("variable {name}: shape {shape:?} overflows")))?;
            let (dtype, len) = if binary_version >= 4 {
                let id = c.u8("dtype")?;
                let dtype = DType::from_id(id)
                    .ok_or_else(|| AsrError::Model(format!("variable {name}: unknown dtype id {id}")))?;
                (dtype, c.u32("byte count")? as usize)
            } else {
                let size = c.u8("item size")?;
                let dtype = DType::from_item_size(size, &name)?;
                let n = c.u32("element count")? as usize;
                (dtype, n.saturating_mul(dtype.size()))
            };
            if elements.checked_mul(dtype.size()) != Some(len) {
                return Err(AsrError::Model(format!(
                    "variable {name}: {len} bytes do not hold shape {shape:?} of {dtype:?}"
                )));
            }
            let offset = c.pos;
            c.take(len, &format!("payload of {name}"))?;
            if variables.insert(name.clone(), Variable { shape, dtype, offset, len }).is_some() {
                return Err(AsrError::Model(format!("variable {name} appears twice")));
            }
        }
        let mut aliases = BTreeMap::new();
        if binary_version >= 3 {
            let n = c.u32("alias count")? as usize;
            if n > c.left() / MIN_ALIAS_BYTES {
                return Err(AsrError::Model(format!("{n} aliases cannot fit in the {} bytes left", c.left())));
            }
            for _ in 0..n {
                let alias = c.string("alias name")?;
                let target = c.string("alias target")?;
                if !variables.contains_key(&target) {
                    return Err(AsrError::Model(format!("alias {alias} names a missing variable {target}")));
                }
                aliases.insert(alias, target);
            }
        }
        if c.left() != 0 {
            return Err(AsrError::Model(format!("{} unexpected bytes after the alias table", c.left())));
        }
        Ok(Self { bytes, binary_version, spec_name, spec_revision, variables, aliases })
    }

    /// A variable by name, following an alias.
    pub fn get(&self, name: &str) -> Option<&Variable> {
        self.variables.get(name).or_else(|| self.aliases.get(name).and_then(|t| self.variables.get(t)))
    }

    fn require(&self, name: &str) -> Result<&Variable, AsrError> {
        self.get(name).ok_or_else(|| AsrError::Model(format!("missing variable {name}")))
    }

    /// Raw payload bytes of a variable.
    pub fn payload(&self, name: &str) -> Result<&[u8], AsrError> {
        let v = self.require(name)?;
        Ok(&self.bytes[v.offset..v.offset + v.len])
    }

    /// A float tensor (f32, f16 or bf16 as stored) converted to f32, checked against `shape`.
    pub fn tensor_f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, AsrError> {
        let v = self.require(name)?;
        if v.shape != shape {
            return Err(AsrError::Model(format!("variable {name} has shape {:?}, expected {shape:?}", v.shape)));
        }
        let bytes = &self.bytes[v.offset..v.offset + v.len];
        let out = match v.dtype {
            DType::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            // Payloads are unaligned (the first starts at an odd offset): convert per element.
            DType::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            DType::BF16 => bytes.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            other => {
                return Err(AsrError::Model(format!(
                    "variable {name} is {other:?}; quantized model files are not supported (use a float16 or float32 conversion)"
                )));
            }
        };
        Ok(out)
    }

    /// An integer scalar (a configuration flag such as `encoder/num_heads`).
    pub fn scalar_i64(&self, name: &str) -> Result<i64, AsrError> {
        let v = self.require(name)?;
        let b = &self.bytes[v.offset..v.offset + v.len];
        if v.elements() != 1 {
            return Err(AsrError::Model(format!("variable {name} is not a scalar (shape {:?})", v.shape)));
        }
        Ok(match v.dtype {
            DType::I8 => i64::from(b[0] as i8),
            DType::I16 => i64::from(i16::from_le_bytes([b[0], b[1]])),
            DType::I32 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            other => return Err(AsrError::Model(format!("scalar {name} is {other:?}, expected an integer"))),
        })
    }
}

/// One variable to write: name, shape, dtype and its little-endian payload.
pub type VariableBytes<'a> = (&'a str, &'a [usize], DType, &'a [u8]);

/// Writes a version-6 `model.bin` image (for tests, fuzzing and small synthetic models).
/// Variables are written sorted by name, as CTranslate2 does.
pub fn write_model_bin(spec: &str, revision: u32, variables: &[VariableBytes], aliases: &[(&str, &str)]) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&MAX_BINARY_VERSION.to_le_bytes());
    string(&mut out, spec);
    out.extend_from_slice(&revision.to_le_bytes());
    let mut sorted: Vec<&VariableBytes> = variables.iter().collect();
    sorted.sort_by_key(|v| v.0);
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for (name, shape, dtype, payload) in sorted {
        string(&mut out, name);
        out.push(shape.len() as u8);
        for &d in *shape {
            out.extend_from_slice(&(d as u32).to_le_bytes());
        }
        let id = match dtype {
            DType::F32 => 0u8,
            DType::I8 => 1,
            DType::I16 => 2,
            DType::I32 => 3,
            DType::F16 => 4,
            DType::BF16 => 5,
        };
        out.push(id);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(payload);
    }
    out.extend_from_slice(&(aliases.len() as u32).to_le_bytes());
    for (alias, target) in aliases {
        string(&mut out, alias);
        string(&mut out, target);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Vec<u8> {
        let w: Vec<u8> = [1.0f32, -2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let h: Vec<u8> = [half::f16::from_f32(0.5)].iter().flat_map(|v| v.to_le_bytes()).collect();
        write_model_bin(
            "WhisperSpec",
            3,
            &[
                ("b/weight", &[2], DType::F32, &w),
                ("a/half", &[1], DType::F16, &h),
                ("heads", &[], DType::I16, &6i16.to_le_bytes()),
            ],
            &[("c/weight", "b/weight")],
        )
    }

    #[test]
    fn written_files_read_back() {
        let bin = ModelBin::from_bytes(tiny()).unwrap();
        assert_eq!(bin.spec_name, "WhisperSpec");
        assert_eq!(bin.tensor_f32("c/weight", &[2]).unwrap(), vec![1.0, -2.0]);
        assert_eq!(bin.tensor_f32("a/half", &[1]).unwrap(), vec![0.5]);
        assert_eq!(bin.scalar_i64("heads").unwrap(), 6);
        assert!(bin.tensor_f32("b/weight", &[3]).is_err(), "shape checked");
        assert!(bin.tensor_f32("heads", &[]).is_err(), "integers are not floats");
    }

    #[test]
    fn every_truncation_and_lie_is_an_error() {
        let good = tiny();
        for cut in 0..good.len() {
            assert!(ModelBin::from_bytes(good[..cut].to_vec()).is_err(), "cut at {cut}");
        }
        let mut extra = good.clone();
        extra.push(0);
        assert!(ModelBin::from_bytes(extra).is_err(), "trailing bytes");
        // A variable count of 2^32 − 1 in a tiny file: rejected before anything is reserved.
        let mut lying = good.clone();
        let count_at = 4 + 2 + "WhisperSpec".len() + 1 + 4;
        lying[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = ModelBin::from_bytes(lying).unwrap_err().to_string();
        assert!(e.contains("cannot fit"), "{e}");
        let mut future = good;
        future[0] = 7;
        assert!(ModelBin::from_bytes(future).unwrap_err().to_string().contains("binary version 7"));
    }
}
