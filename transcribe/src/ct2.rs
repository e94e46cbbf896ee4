//! Reading a CTranslate2 `model.bin` (binary versions 4–6): variables with
//! their shapes and types, and the alias table. See
//! `shared/specs/ct2-to-ggml.md` §1.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::TranscribeError;

/// Element type of a stored variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// 8-bit int (quantized, scaled per row).
    I8,
    /// 16-bit int (quantized, one scale).
    I16,
    /// 32-bit int.
    I32,
    /// IEEE half.
    F16,
    /// bfloat16.
    Bf16,
}

impl DType {
    fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::Bf16,
            _ => return None,
        })
    }

    /// The code stored in `model.bin`.
    pub fn code(self) -> u8 {
        match self {
            Self::F32 => 0,
            Self::I8 => 1,
            Self::I16 => 2,
            Self::I32 => 3,
            Self::F16 => 4,
            Self::Bf16 => 5,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::Bf16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

/// One stored tensor (or scalar, rank 0).
#[derive(Clone, Debug)]
pub struct Variable {
    /// Shape, outermost first (PyTorch order).
    pub dims: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Raw little-endian bytes.
    pub data: Vec<u8>,
}

impl Variable {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    /// True for an empty tensor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values as f32 (ints as their value, no scaling).
    pub fn to_f32(&self) -> Vec<f32> {
        let d = &self.data;
        match self.dtype {
            DType::F32 => d.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            DType::F16 => d.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            DType::Bf16 => d.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            DType::I8 => d.iter().map(|b| f32::from(*b as i8)).collect(),
            DType::I16 => d.chunks_exact(2).map(|b| f32::from(i16::from_le_bytes([b[0], b[1]]))).collect(),
            DType::I32 => d.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32).collect(),
        }
    }

    /// A scalar's value as an integer.
    pub fn scalar_i64(&self) -> Option<i64> {
        if self.len() != 1 {
            return None;
        }
        self.to_f32().first().map(|v| *v as i64)
    }
}

/// A whole `model.bin`.
#[derive(Debug)]
pub struct Ct2Model {
    /// Binary format version (4–6).
    pub version: u32,
    /// Spec revision.
    pub revision: u32,
    /// Variables by name.
    pub variables: BTreeMap<String, Variable>,
    /// Alias → target.
    pub aliases: HashMap<String, String>,
    /// Where it was read from.
    pub path: PathBuf,
}

struct Reader<'a, R> {
    inner: R,
    path: &'a Path,
    offset: u64,
}

impl<R: Read> Reader<'_, R> {
    fn bytes(&mut self, n: usize, what: &str) -> Result<Vec<u8>, TranscribeError> {
        // Grown as the bytes arrive, not allocated from the length the file
        // claims: a damaged length past the end is an error, not a 4 GB
        // allocation (found by the ct2_model fuzz target).
        let mut buf = Vec::with_capacity(n.min(64 << 20));
        let got = (&mut self.inner).take(n as u64).read_to_end(&mut buf).map_err(|e| TranscribeError::io("read", self.path, e))?;
        if got < n {
            return Err(TranscribeError::model(format!("truncated model file: ends inside {what} (at byte {})", self.offset), self.path));
        }
        self.offset += n as u64;
        Ok(buf)
    }

    fn u8(&mut self, what: &str) -> Result<u8, TranscribeError> {
        Ok(self.bytes(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, TranscribeError> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, TranscribeError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self, what: &str) -> Result<String, TranscribeError> {
        let len = usize::from(self.u16(what)?);
        let b = self.bytes(len, what)?;
        let text = b.strip_suffix(&[0]).unwrap_or(&b);
        String::from_utf8(text.to_vec()).map_err(|_| TranscribeError::model(format!("{what} is not UTF-8"), self.path))
    }
}

impl Ct2Model {
    /// Reads a model from a byte stream (one file, or split parts chained).
    pub fn read(input: impl Read, path: &Path) -> Result<Self, TranscribeError> {
        let mut r = Reader { inner: input, path, offset: 0 };
        let version = r.u32("the header")?;
        if !(4..=6).contains(&version) {
            return Err(TranscribeError::model(
                format!("unsupported CTranslate2 binary version {version} (this importer reads 4 to 6)"),
                path,
            ));
        }
        let spec = r.string("the spec name")?;
        if spec != "WhisperSpec" {
            return Err(TranscribeError::model(format!("not a Whisper model: spec is {spec:?}, expected \"WhisperSpec\""), path));
        }
        let revision = r.u32("the spec revision")?;
        let count = r.u32("the variable count")?;
        let mut variables = BTreeMap::new();
        for i in 0..count {
            let name = r.string(&format!("the name of variable {i}"))?;
            let rank = r.u8(&format!("variable {name}"))?;
            let mut dims = Vec::with_capacity(usize::from(rank));
            for _ in 0..rank {
                dims.push(r.u32(&format!("variable {name}"))? as usize);
            }
            let code = r.u8(&format!("variable {name}"))?;
            let dtype = DType::from_code(code)
                .ok_or_else(|| TranscribeError::model(format!("variable {name}: unknown data type code {code}"), path))?;
            let num_bytes = r.u32(&format!("variable {name}"))? as usize;
            // A checked product: a damaged shape must not overflow (found
            // by the ct2_model fuzz target).
            let Some(expected) = dims.iter().try_fold(dtype.size(), |n, &d| n.checked_mul(d)) else {
                return Err(TranscribeError::model(format!("variable {name}: shape {dims:?} is too large"), path));
            };
            if num_bytes != expected {
                return Err(TranscribeError::model(
                    format!("variable {name}: {num_bytes} bytes stored, but shape {dims:?} of {dtype:?} needs {expected}"),
                    path,
                ));
            }
            let data = r.bytes(num_bytes, &format!("the data of variable {name}"))?;
            variables.insert(name, Variable { dims, dtype, data });
        }
        let mut aliases = HashMap::new();
        let n_aliases = r.u32("the alias count")?;
        for _ in 0..n_aliases {
            let alias = r.string("an alias")?;
            let target = r.string("an alias target")?;
            aliases.insert(alias, target);
        }
        Ok(Self { version, revision, variables, aliases, path: path.to_path_buf() })
    }

    /// Serializes back to the CTranslate2 `model.bin` layout (version and
    /// revision as read). Tests use it to build edited and quantized models.
    pub fn to_bytes(&self) -> Vec<u8> {
        fn put_str(out: &mut Vec<u8>, s: &str) {
            out.extend(((s.len() + 1) as u16).to_le_bytes());
            out.extend(s.as_bytes());
            out.push(0);
        }
        let mut out = Vec::new();
        out.extend(self.version.to_le_bytes());
        put_str(&mut out, "WhisperSpec");
        out.extend(self.revision.to_le_bytes());
        out.extend((self.variables.len() as u32).to_le_bytes());
        for (name, v) in &self.variables {
            put_str(&mut out, name);
            out.push(v.dims.len() as u8);
            for d in &v.dims {
                out.extend((*d as u32).to_le_bytes());
            }
            out.push(v.dtype.code());
            out.extend((v.data.len() as u32).to_le_bytes());
            out.extend(&v.data);
        }
        let mut aliases: Vec<_> = self.aliases.iter().collect();
        aliases.sort();
        out.extend((aliases.len() as u32).to_le_bytes());
        for (a, t) in aliases {
            put_str(&mut out, a);
            put_str(&mut out, t);
        }
        out
    }

    /// A variable by name, through the alias table.
    pub fn get(&self, name: &str) -> Option<&Variable> {
        let mut name = name;
        for _ in 0..8 {
            if let Some(v) = self.variables.get(name) {
                return Some(v);
            }
            name = self.aliases.get(name)?;
        }
        None
    }

    /// A variable that must exist.
    pub fn need(&self, name: &str) -> Result<&Variable, TranscribeError> {
        self.get(name).ok_or_else(|| TranscribeError::model(format!("missing tensor {name}"), &self.path))
    }

    /// True if `name` is an alias of (or the very same bytes as) `target`.
    pub fn tied(&self, name: &str, target: &str) -> bool {
        if self.aliases.get(name).map(String::as_str) == Some(target) {
            return true;
        }
        match (self.variables.get(name), self.variables.get(target)) {
            (Some(a), Some(b)) => a.dims == b.dims && a.data == b.data,
            _ => false,
        }
    }

    /// Weights as f32, dequantizing i8 (per-row `<name>_scale`) and i16
    /// (one scale) as `q / scale`. Returns whether it was lossy.
    pub fn weights_f32(&self, name: &str) -> Result<(Vec<f32>, bool), TranscribeError> {
        let v = self.need(name)?;
        match v.dtype {
            DType::I8 | DType::I16 => {
                let scale_name = format!("{name}_scale");
                let scale = self.need(&scale_name)?.to_f32();
                let q = v.to_f32();
                let rows = v.dims.first().copied().unwrap_or(1).max(1);
                let per_row = q.len() / rows;
                let out = if scale.len() == rows {
                    q.iter().enumerate().map(|(i, x)| x / scale[i / per_row.max(1)]).collect()
                } else if scale.len() == 1 {
                    q.iter().map(|x| x / scale[0]).collect()
                } else {
                    return Err(TranscribeError::model(format!("{scale_name} has {} values for {rows} rows", scale.len()), &self.path));
                };
                Ok((out, true))
            }
            _ => Ok((v.to_f32(), false)),
        }
    }
}
