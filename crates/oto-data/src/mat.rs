//! Minimal MATLAB MAT-file v5 reader: top-level numeric arrays (real, full), uncompressed or
//! zlib-compressed (`miCOMPRESSED`), little- or big-endian. Enough for SVHN `*_32x32.mat`.
//! Cells, structs, sparse, char and complex arrays are skipped; v7.3 (HDF5) files are rejected
//! with an explanation.
use std::io::Read;
use std::path::Path;

use super::error::{DataError, Result};

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

/// MATLAB array class (`mxCLASS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatClass {
    Double,
    Single,
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
}

impl MatClass {
    fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            6 => MatClass::Double,
            7 => MatClass::Single,
            8 => MatClass::Int8,
            9 => MatClass::UInt8,
            10 => MatClass::Int16,
            11 => MatClass::UInt16,
            12 => MatClass::Int32,
            13 => MatClass::UInt32,
            14 => MatClass::Int64,
            15 => MatClass::UInt64,
            _ => return None,
        })
    }
}

/// Array values in MATLAB's column-major order. Stored `u8` data stays `U8` (SVHN images are
/// large); every other storage type is widened to `f64`.
#[derive(Debug, Clone, PartialEq)]
pub enum MatData {
    U8(Vec<u8>),
    F64(Vec<f64>),
}

impl MatData {
    pub fn len(&self) -> usize {
        match self {
            MatData::U8(v) => v.len(),
            MatData::F64(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Value `i` as f64.
    pub fn get_f64(&self, i: usize) -> f64 {
        match self {
            MatData::U8(v) => v[i] as f64,
            MatData::F64(v) => v[i],
        }
    }
}

/// One named numeric array; `dims` as MATLAB reports them (column-major storage).
#[derive(Debug, Clone, PartialEq)]
pub struct MatArray {
    pub name: String,
    pub dims: Vec<usize>,
    pub class: MatClass,
    pub data: MatData,
}

struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
    be: bool,
}

impl<'a> Cur<'a> {
    fn u32_at(&self, at: usize) -> u32 {
        let a: [u8; 4] = self.b[at..at + 4].try_into().unwrap();
        if self.be {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        }
    }
    /// Reads one element tag; returns (type, data slice), advancing past data + padding.
    fn element(&mut self, path: &Path) -> Result<Option<(u32, &'a [u8])>> {
        if self.pos >= self.b.len() {
            return Ok(None);
        }
        if self.b.len() - self.pos < 8 {
            return Err(DataError::Truncated {
                path: path.into(),
                expected: (self.pos + 8) as u64,
                found: self.b.len() as u64,
            });
        }
        let w0 = self.u32_at(self.pos);
        if w0 >> 16 != 0 {
            // Small data element: 2-byte size, 2-byte type, then up to 4 bytes of data.
            let n = (w0 >> 16) as usize;
            let ty = w0 & 0xffff;
            if n > 4 {
                return Err(DataError::format(path, format!("small data element of {n} bytes (> 4)")));
            }
            let d = &self.b[self.pos + 4..self.pos + 4 + n];
            self.pos += 8;
            return Ok(Some((ty, d)));
        }
        let ty = w0;
        let n = self.u32_at(self.pos + 4) as usize;
        let start = self.pos + 8;
        let end = start.checked_add(n).filter(|&e| e <= self.b.len()).ok_or(
            DataError::Truncated {
                path: path.into(),
                expected: (start + n) as u64,
                found: self.b.len() as u64,
            },
        )?;
        let d = &self.b[start..end];
        // Compressed elements are not padded; all others are padded to 8 bytes.
        self.pos = if ty == MI_COMPRESSED { end } else { (end + 7) & !7 };
        Ok(Some((ty, d)))
    }
}

fn numeric(path: &Path, ty: u32, d: &[u8], be: bool) -> Result<MatData> {
    macro_rules! conv {
        ($t:ty, $n:expr) => {{
            if d.len() % $n != 0 {
                return Err(DataError::format(path, "numeric data length is not a multiple of its element size"));
            }
            MatData::F64(
                d.chunks_exact($n)
                    .map(|c| {
                        let a: [u8; $n] = c.try_into().unwrap();
                        (if be { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) }) as f64
                    })
                    .collect(),
            )
        }};
    }
    Ok(match ty {
        MI_UINT8 => MatData::U8(d.to_vec()),
        MI_INT8 => MatData::F64(d.iter().map(|&x| x as i8 as f64).collect()),
        MI_INT16 => conv!(i16, 2),
        MI_UINT16 => conv!(u16, 2),
        MI_INT32 => conv!(i32, 4),
        MI_UINT32 => conv!(u32, 4),
        MI_SINGLE => conv!(f32, 4),
        MI_DOUBLE => conv!(f64, 8),
        MI_INT64 => conv!(i64, 8),
        MI_UINT64 => conv!(u64, 8),
        t => {
            return Err(DataError::Unsupported {
                path: path.into(),
                msg: format!("numeric storage type {t}"),
            })
        }
    })
}

/// Parses the body of a miMATRIX element. Returns None for arrays we skip (non-numeric,
/// complex, sparse).
fn parse_matrix(path: &Path, body: &[u8], be: bool) -> Result<Option<MatArray>> {
    let mut c = Cur { b: body, pos: 0, be };
    let bad = |m: &str| DataError::format(path, format!("malformed miMATRIX element: {m}"));
    let (ty, flags) = c.element(path)?.ok_or_else(|| bad("missing array flags"))?;
    if ty != MI_UINT32 || flags.len() < 8 {
        return Err(bad("array flags are not 8 bytes of miUINT32"));
    }
    let fw: [u8; 4] = flags[..4].try_into().unwrap();
    let f0 = if be { u32::from_be_bytes(fw) } else { u32::from_le_bytes(fw) };
    let class_code = (f0 & 0xff) as u8;
    let complex = f0 & 0x0800 != 0;
    let (ty, dd) = c.element(path)?.ok_or_else(|| bad("missing dimensions"))?;
    if ty != MI_INT32 || dd.len() % 4 != 0 {
        return Err(bad("dimensions are not miINT32"));
    }
    let dims: Vec<usize> = dd
        .chunks_exact(4)
        .map(|x| {
            let a: [u8; 4] = x.try_into().unwrap();
            (if be { i32::from_be_bytes(a) } else { i32::from_le_bytes(a) }).max(0) as usize
        })
        .collect();
    let (_, name) = c.element(path)?.ok_or_else(|| bad("missing array name"))?;
    let name = String::from_utf8_lossy(name).into_owned();
    let Some(class) = MatClass::from_code(class_code) else {
        return Ok(None); // cell, struct, char, sparse, object: not needed here
    };
    if complex {
        return Ok(None);
    }
    let (ty, real) = c.element(path)?.ok_or_else(|| bad("missing real part"))?;
    let data = numeric(path, ty, real, be)?;
    let n: usize = dims.iter().product();
    if data.len() != n {
        return Err(DataError::format(
            path,
            format!("array '{name}' has dims {dims:?} ({n} values) but {} stored values", data.len()),
        ));
    }
    Ok(Some(MatArray { name, dims, class, data }))
}

/// Reads all top-level real numeric arrays of a MAT v5 file.
pub fn read_mat(path: &Path) -> Result<Vec<MatArray>> {
    let b = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    parse_mat(path, &b)
}

pub(crate) fn parse_mat(path: &Path, b: &[u8]) -> Result<Vec<MatArray>> {
    if b.len() < 128 {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: 128,
            found: b.len() as u64,
        });
    }
    if b.starts_with(b"\x89HDF") || b[..116].windows(10).any(|w| w == b"MATLAB 7.3") {
        return Err(DataError::Unsupported {
            path: path.into(),
            msg: "MAT v7.3 (HDF5) file; re-save it in v5/v7 format (MATLAB: save(..., '-v7'); \
                  scipy: savemat) or use the official SVHN files, which are v5"
                .into(),
        });
    }
    if !b.starts_with(b"MATLAB 5.0 MAT-file") {
        return Err(DataError::format(
            path,
            "not a MAT v5 file (header does not start with 'MATLAB 5.0 MAT-file')",
        ));
    }
    let be = match &b[126..128] {
        b"IM" => false,
        b"MI" => true,
        x => {
            return Err(DataError::format(
                path,
                format!("bad endian indicator {x:?} at offset 126 (expected 'IM' or 'MI')"),
            ))
        }
    };
    let mut c = Cur { b, pos: 128, be };
    let mut out = Vec::new();
    while let Some((ty, d)) = c.element(path)? {
        match ty {
            MI_MATRIX => {
                if let Some(a) = parse_matrix(path, d, be)? {
                    out.push(a);
                }
            }
            MI_COMPRESSED => {
                let mut inner = Vec::new();
                flate2::read::ZlibDecoder::new(d)
                    .read_to_end(&mut inner)
                    .map_err(|e| {
                        DataError::format(
                            path,
                            format!("corrupt zlib-compressed element ({e}); the file is damaged, re-download it"),
                        )
                    })?;
                let mut ic = Cur { b: &inner, pos: 0, be };
                while let Some((ity, id)) = ic.element(path)? {
                    if ity == MI_MATRIX {
                        if let Some(a) = parse_matrix(path, id, be)? {
                            out.push(a);
                        }
                    }
                }
            }
            _ => {} // other top-level elements: skip
        }
    }
    Ok(out)
}
