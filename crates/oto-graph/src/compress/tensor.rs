//! Dtype-preserving operations on `TensorProto`s: slicing one axis with a kept-index list, zeroing
//! slices along an axis, and per-index zero tests / squared norms.
use crate::error::{GraphError, Result};
use oto_onnx::pb::TensorProto;

/// Bytes per element of a raw-stored tensor of ONNX data type `dt`.
fn elem_size(dt: i32) -> Option<usize> {
    Some(match dt {
        1 | 6 | 12 => 4,          // float, int32, uint32
        2 | 3 | 9 => 1,           // uint8, int8, bool
        4 | 5 | 10 | 16 => 2,     // uint16, int16, float16, bfloat16
        7 | 11 | 13 => 8,         // int64, double, uint64
        _ => return None,
    })
}

/// (outer, axis size, inner) of `dims` around `axis`.
fn split_dims(dims: &[i64], axis: usize) -> (usize, usize, usize) {
    let d: Vec<usize> = dims.iter().map(|&x| x.max(0) as usize).collect();
    (d[..axis].iter().product(), d[axis], d[axis + 1..].iter().product())
}

fn slice_vec<T: Clone>(v: &[T], outer: usize, n: usize, inner: usize, keep: &[usize], unit: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(outer * keep.len() * inner * unit);
    for o in 0..outer {
        for &k in keep {
            let s = ((o * n + k) * inner) * unit;
            out.extend_from_slice(&v[s..s + inner * unit]);
        }
    }
    out
}

fn terr(t: &TensorProto, reason: String) -> GraphError {
    GraphError::Other(format!("tensor '{}': {reason}", t.name.clone().unwrap_or_default()))
}

/// A copy of `t` without its data (the data fields are filled by the caller).
fn header(t: &TensorProto) -> TensorProto {
    TensorProto {
        dims: t.dims.clone(),
        data_type: t.data_type,
        segment: t.segment.clone(),
        float_data: vec![],
        int32_data: vec![],
        string_data: vec![],
        int64_data: vec![],
        name: t.name.clone(),
        doc_string: t.doc_string.clone(),
        raw_data: None,
        external_data: t.external_data.clone(),
        data_location: t.data_location,
        double_data: vec![],
        uint64_data: vec![],
        metadata_props: t.metadata_props.clone(),
    }
}

/// Keeps indices `keep` (ascending) along `axis`; dtype and storage form are preserved.
pub fn slice_axis(t: &TensorProto, axis: usize, keep: &[usize]) -> Result<TensorProto> {
    if axis >= t.dims.len() {
        return Err(terr(t, format!("has rank {} but axis {axis} must be sliced", t.dims.len())));
    }
    let (outer, n, inner) = split_dims(&t.dims, axis);
    if let Some(&bad) = keep.iter().find(|&&k| k >= n) {
        return Err(terr(t, format!("index {bad} out of range for axis {axis} of size {n}")));
    }
    let numel = outer * n * inner;
    let mut out = header(t);
    out.dims[axis] = keep.len() as i64;
    let dt = t.data_type.unwrap_or(0);
    if let Some(raw) = &t.raw_data {
        let es = elem_size(dt).ok_or_else(|| terr(t, format!("unsupported data type {dt}")))?;
        if raw.len() != numel * es {
            return Err(terr(t, format!("raw_data has {} bytes, expected {}", raw.len(), numel * es)));
        }
        out.raw_data = Some(slice_vec(raw, outer, n, inner, keep, es).into());
        return Ok(out);
    }
    macro_rules! typed {
        ($f:ident) => {
            if !t.$f.is_empty() {
                if t.$f.len() != numel {
                    return Err(terr(t, format!("holds {} values, expected {numel}", t.$f.len())));
                }
                out.$f = slice_vec(&t.$f, outer, n, inner, keep, 1);
            }
        };
    }
    typed!(float_data);
    typed!(int32_data);
    typed!(int64_data);
    typed!(double_data);
    typed!(uint64_data);
    if !t.string_data.is_empty() {
        return Err(terr(t, "string tensors cannot be sliced".into()));
    }
    Ok(out)
}

/// Sets the slices at `idx` along `axis` to zero (float tensors only).
pub fn zero_slices(t: &mut TensorProto, axis: usize, idx: &[usize]) -> Result<()> {
    if !oto_onnx::tensor::is_float(t) {
        return Err(terr(t, "only float tensors can be zeroed".into()));
    }
    let (outer, n, inner) = split_dims(&t.dims, axis);
    let dt = t.data_type.unwrap_or(0);
    if let Some(shared) = t.raw_data.as_ref() {
        let mut raw = shared.to_vec(); // raw_data may share the model file's buffer: copy on write
        let es = elem_size(dt).unwrap_or(4);
        for o in 0..outer {
            for &k in idx {
                let s = (o * n + k) * inner * es;
                raw[s..s + inner * es].iter_mut().for_each(|b| *b = 0);
            }
        }
        t.raw_data = Some(raw.into());
        return Ok(());
    }
    for o in 0..outer {
        for &k in idx {
            let s = (o * n + k) * inner;
            if !t.float_data.is_empty() {
                t.float_data[s..s + inner].iter_mut().for_each(|x| *x = 0.0);
            }
            if !t.double_data.is_empty() {
                t.double_data[s..s + inner].iter_mut().for_each(|x| *x = 0.0);
            }
            if !t.int32_data.is_empty() {
                t.int32_data[s..s + inner].iter_mut().for_each(|x| *x = 0);
            }
        }
    }
    Ok(())
}

/// Sum of squares of every slice along `axis` (f64 accumulation).
pub fn slice_sumsq(t: &TensorProto, axis: usize) -> Result<Vec<f64>> {
    let data = oto_onnx::tensor::to_f32(t).map_err(GraphError::from)?;
    let (outer, n, inner) = split_dims(&t.dims, axis);
    let mut out = vec![0.0f64; n];
    for o in 0..outer {
        for (k, acc) in out.iter_mut().enumerate() {
            let s = (o * n + k) * inner;
            *acc += data[s..s + inner].iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>();
        }
    }
    Ok(out)
}

/// Whether every slice along `axis` is exactly zero (NaN counts as non-zero).
pub fn slice_is_zero(t: &TensorProto, axis: usize) -> Result<Vec<bool>> {
    let (outer, n, inner) = split_dims(&t.dims, axis);
    // float32 stored raw (what exporters write): test the bytes in place, no conversion copy
    if let (Some(raw), Some(oto_onnx::tensor::FLOAT)) = (&t.raw_data, t.data_type) {
        if raw.len() == outer * n * inner * 4 {
            let mut out = vec![true; n];
            for o in 0..outer {
                for (k, z) in out.iter_mut().enumerate() {
                    if *z {
                        let s = (o * n + k) * inner * 4;
                        // +0.0 and -0.0 are zero; anything else (NaN included) is not
                        *z = raw[s..s + inner * 4].chunks_exact(4).all(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff == 0);
                    }
                }
            }
            return Ok(out);
        }
    }
    let data = oto_onnx::tensor::to_f32(t).map_err(GraphError::from)?;
    let mut out = vec![true; n];
    for o in 0..outer {
        for (k, z) in out.iter_mut().enumerate() {
            if *z {
                let s = (o * n + k) * inner;
                *z = data[s..s + inner].iter().all(|&x| x == 0.0);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oto_onnx::tensor::{f32_tensor, to_f32};
    #[test]
    fn slice_middle_axis() {
        let t = f32_tensor("w", &[2, 3, 2], &(0..12).map(|x| x as f32).collect::<Vec<_>>());
        let s = slice_axis(&t, 1, &[0, 2]).unwrap();
        assert_eq!(s.dims, vec![2, 2, 2]);
        assert_eq!(to_f32(&s).unwrap(), vec![0., 1., 4., 5., 6., 7., 10., 11.]);
        let typed = TensorProto { dims: vec![3], data_type: Some(1), float_data: vec![1., 2., 3.], ..Default::default() };
        assert_eq!(slice_axis(&typed, 0, &[1]).unwrap().float_data, vec![2.]);
    }
    #[test]
    fn zero_and_test() {
        let mut t = f32_tensor("w", &[3, 2], &[1., 2., 3., 4., 5., 6.]);
        zero_slices(&mut t, 0, &[1]).unwrap();
        assert_eq!(slice_is_zero(&t, 0).unwrap(), vec![false, true, false]);
        let mut m = f32_tensor("m", &[2, 2], &[-0.0, 0.0, 1.0, f32::NAN]);
        assert_eq!(slice_is_zero(&m, 0).unwrap(), vec![true, false]);
        m.raw_data = None;
        m.float_data = vec![-0.0, 0.0, 0.0, f32::NAN];
        assert_eq!(slice_is_zero(&m, 0).unwrap(), vec![true, false]);
        assert_eq!(slice_sumsq(&t, 0).unwrap(), vec![5.0, 0.0, 61.0]);
    }
}
