//! SVHN cropped digits (`train_32x32.mat`, `test_32x32.mat`, `extra_32x32.mat`): MAT v5 with
//! `X` uint8 [32,32,3,N] (row, col, channel, image; column-major) and `y` [N,1] with labels
//! 1..10, where 10 stands for digit 0.
use std::path::Path;

use super::error::{DataError, Result};
use super::mat::{read_mat, MatData};
use super::InMemory;

/// Loads an SVHN `*_32x32.mat` file as 3×32×32 images with labels 0..9.
pub fn load_svhn_mat(path: &Path) -> Result<InMemory> {
    let arrays = read_mat(path)?;
    let find = |n: &str| {
        arrays.iter().find(|a| a.name == n).ok_or_else(|| {
            DataError::format(
                path,
                format!("no numeric array named '{n}' (an SVHN *_32x32.mat file has X and y)"),
            )
        })
    };
    let x = find("X")?;
    let y = find("y")?;
    let [h, w, c, n] = x.dims[..] else {
        return Err(DataError::format(path, format!("X has dims {:?}; expected [32,32,3,N]", x.dims)));
    };
    if c != 3 || h == 0 || w == 0 {
        return Err(DataError::format(path, format!("X has dims {:?}; expected [H,W,3,N]", x.dims)));
    }
    if y.data.len() != n {
        return Err(DataError::format(path, format!("y has {} labels but X has {n} images", y.data.len())));
    }
    let src: std::borrow::Cow<[u8]> = match &x.data {
        MatData::U8(v) => v.into(),
        MatData::F64(v) => v.iter().map(|&f| f.clamp(0.0, 255.0).round() as u8).collect::<Vec<_>>().into(),
    };
    let img = c * h * w;
    let mut pixels = vec![0u8; n * img];
    // Column-major X[r, col, ch, i] sits at r + h*(col + w*(ch + c*i)); we want CHW row-major.
    for i in 0..n {
        let s = &src[i * img..(i + 1) * img];
        let d = &mut pixels[i * img..(i + 1) * img];
        for ch in 0..c {
            for col in 0..w {
                let sc = &s[h * (col + w * ch)..h * (col + w * ch) + h];
                for (r, &v) in sc.iter().enumerate() {
                    d[ch * h * w + r * w + col] = v;
                }
            }
        }
    }
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let v = y.data.get_f64(i);
        if !(1.0..=10.0).contains(&v) || v.fract() != 0.0 {
            return Err(DataError::format(path, format!("label y[{i}] = {v}; SVHN labels are 1..10")));
        }
        labels.push(if v == 10.0 { 0 } else { v as i64 });
    }
    Ok(InMemory {
        pixels,
        labels,
        channels: c,
        height: h,
        width: w,
        num_classes: 10,
        class_names: Some((0..10).map(|d| d.to_string()).collect()),
    })
}
