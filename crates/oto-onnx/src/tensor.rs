//! TensorProto <-> plain vectors. Supports the storage forms exporters use: `raw_data`
//! (little-endian) and the typed repeated fields.
use crate::error::OnnxError;
use crate::pb::{tensor_proto::DataType, TensorProto};

pub const FLOAT: i32 = DataType::Float as i32;
pub const INT64: i32 = DataType::Int64 as i32;
pub const INT32: i32 = DataType::Int32 as i32;
pub const DOUBLE: i32 = DataType::Double as i32;
pub const BOOL: i32 = DataType::Bool as i32;
pub const FLOAT16: i32 = DataType::Float16 as i32;

/// `Π dims` (negative dims count as 0; saturates instead of overflowing on a corrupt file).
pub fn numel(dims: &[i64]) -> usize {
    dims.iter().fold(1usize, |acc, &d| acc.saturating_mul(d.max(0) as usize))
}

fn terr(t: &TensorProto, reason: impl Into<String>) -> OnnxError {
    OnnxError::Tensor { tensor: t.name.clone().unwrap_or_default(), reason: reason.into() }
}

fn check_len(t: &TensorProto, got: usize) -> Result<(), OnnxError> {
    let want = numel(&t.dims);
    if got != want {
        return Err(terr(t, format!("holds {got} values but its shape {:?} needs {want}", t.dims)));
    }
    Ok(())
}

fn raw_chunks<const N: usize>(t: &TensorProto, raw: &[u8]) -> Result<Vec<[u8; N]>, OnnxError> {
    if raw.len() % N != 0 {
        return Err(terr(t, format!("raw_data has {} bytes, not a multiple of {N}", raw.len())));
    }
    Ok(raw.chunks_exact(N).map(|c| c.try_into().unwrap()).collect())
}

fn f16_to_f32(h: u16) -> f32 {
    let s = ((h >> 15) as u32) << 31;
    let e = ((h >> 10) & 0x1f) as i32;
    let m = (h & 0x3ff) as u32;
    let bits = if e == 0 {
        if m == 0 {
            s
        } else {
            // subnormal: value = m * 2^-24
            let v = m as f32 * (2f32).powi(-24);
            return if s != 0 { -v } else { v };
        }
    } else if e == 31 {
        s | 0x7f80_0000 | (m << 13)
    } else {
        s | (((e - 15 + 127) as u32) << 23) | (m << 13)
    };
    f32::from_bits(bits)
}

/// Reads a floating tensor (float, double or float16) as f32.
pub fn to_f32(t: &TensorProto) -> Result<Vec<f32>, OnnxError> {
    let dt = t.data_type.unwrap_or(0);
    let v: Vec<f32> = match (dt, t.raw_data.as_deref()) {
        (FLOAT, Some(raw)) => raw_chunks::<4>(t, raw)?.into_iter().map(f32::from_le_bytes).collect(),
        (FLOAT, None) => t.float_data.clone(),
        (DOUBLE, Some(raw)) => raw_chunks::<8>(t, raw)?.into_iter().map(|b| f64::from_le_bytes(b) as f32).collect(),
        (DOUBLE, None) => t.double_data.iter().map(|&x| x as f32).collect(),
        (FLOAT16, Some(raw)) => raw_chunks::<2>(t, raw)?.into_iter().map(|b| f16_to_f32(u16::from_le_bytes(b))).collect(),
        (FLOAT16, None) => t.int32_data.iter().map(|&x| f16_to_f32(x as u16)).collect(),
        _ => return Err(terr(t, format!("expected a float tensor, found data type {dt}"))),
    };
    check_len(t, v.len())?;
    Ok(v)
}

/// Reads an integer tensor (int64, int32 or bool) as i64.
pub fn to_i64(t: &TensorProto) -> Result<Vec<i64>, OnnxError> {
    let dt = t.data_type.unwrap_or(0);
    let v: Vec<i64> = match (dt, t.raw_data.as_deref()) {
        (INT64, Some(raw)) => raw_chunks::<8>(t, raw)?.into_iter().map(i64::from_le_bytes).collect(),
        (INT64, None) => t.int64_data.clone(),
        (INT32, Some(raw)) => raw_chunks::<4>(t, raw)?.into_iter().map(|b| i32::from_le_bytes(b) as i64).collect(),
        (INT32, None) | (BOOL, None) => t.int32_data.iter().map(|&x| x as i64).collect(),
        (BOOL, Some(raw)) => raw.iter().map(|&b| b as i64).collect(),
        _ => return Err(terr(t, format!("expected an integer tensor, found data type {dt}"))),
    };
    check_len(t, v.len())?;
    Ok(v)
}

pub fn is_float(t: &TensorProto) -> bool {
    matches!(t.data_type.unwrap_or(0), FLOAT | DOUBLE | FLOAT16)
}

/// A float32 tensor stored as raw little-endian bytes.
pub fn f32_tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    assert_eq!(numel(dims), data.len(), "f32_tensor '{name}': shape/data mismatch");
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(FLOAT),
        raw_data: Some(data.iter().flat_map(|x| x.to_le_bytes()).collect()),
        ..Default::default()
    }
}

/// An int64 tensor stored as raw little-endian bytes.
pub fn i64_tensor(name: &str, dims: &[i64], data: &[i64]) -> TensorProto {
    assert_eq!(numel(dims), data.len(), "i64_tensor '{name}': shape/data mismatch");
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(INT64),
        raw_data: Some(data.iter().flat_map(|x| x.to_le_bytes()).collect()),
        ..Default::default()
    }
}

/// Replaces a tensor's contents (keeps name), storing float32 raw data.
pub fn set_f32(t: &mut TensorProto, dims: &[i64], data: &[f32]) {
    let name = t.name.clone().unwrap_or_default();
    *t = f32_tensor(&name, dims, data);
}

/// Replaces a tensor's contents (keeps name), storing int64 raw data.
pub fn set_i64(t: &mut TensorProto, dims: &[i64], data: &[i64]) {
    let name = t.name.clone().unwrap_or_default();
    *t = i64_tensor(&name, dims, data);
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn f32_roundtrip_raw_and_typed() {
        let t = f32_tensor("w", &[2, 2], &[1.0, -2.0, 3.5, 0.0]);
        assert_eq!(to_f32(&t).unwrap(), vec![1.0, -2.0, 3.5, 0.0]);
        let typed = TensorProto { dims: vec![2], data_type: Some(FLOAT), float_data: vec![1.0, 2.0], ..Default::default() };
        assert_eq!(to_f32(&typed).unwrap(), vec![1.0, 2.0]);
    }
    #[test]
    fn length_mismatch_is_an_error() {
        let mut t = f32_tensor("w", &[2], &[1.0, 2.0]);
        t.dims = vec![3];
        assert!(to_f32(&t).unwrap_err().to_string().contains("needs 3"));
    }
    #[test]
    fn f16_decodes() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
    }
}

/// The ONNX name of an element type (`FLOAT`, `INT64`, ...), or `type N` for an unknown code.
pub fn type_name(t: i32) -> String {
    match DataType::try_from(t) {
        Ok(d) => d.as_str_name().to_string(),
        Err(_) => format!("type {t}"),
    }
}
