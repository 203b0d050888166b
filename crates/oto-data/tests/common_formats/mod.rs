//! Writers of the real on-disk dataset formats, for tests: IDX (MNIST), CIFAR-10/100 binary
//! batches, MAT v5 (SVHN), PNG image folders (ImageNet / Tiny-ImageNet layouts) and
//! super-resolution `<set>/HR` folders. Used by `formats.rs` (the loaders on hand-made files) with
//! `mod common_formats;`, and by oto-train's `tests/train_datasets.rs` (whole training runs on tiny
//! datasets) through `#[path]`.
#![allow(dead_code)] // each test crate uses its own part

use std::io::Write;
use std::path::Path;

// ---- generic ----------------------------------------------------------------------------------

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A deterministic `c × h × w` (CHW) image whose mean brightness depends on `label`, so that the
/// classes are learnable; `i` varies the texture between samples.
pub fn class_image(label: usize, i: usize, c: usize, h: usize, w: usize) -> Vec<u8> {
    let base = 20 + (label * 47) % 200;
    (0..c * h * w)
        .map(|k| {
            let (ch, y, x) = (k / (h * w), (k / w) % h, k % w);
            (base + (x * (3 + ch) + y * 5 + i * 13) % 40) as u8
        })
        .collect()
}

// ---- IDX (MNIST / Fashion-MNIST) ------------------------------------------------------------

pub fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

/// An MNIST folder: `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`, `h × w` gray images,
/// labels `i % 10`.
pub fn write_mnist_dir(dir: &Path, n_train: usize, n_test: usize, h: usize, w: usize, gzip: bool) {
    std::fs::create_dir_all(dir).unwrap();
    for (prefix, n) in [("train", n_train), ("t10k", n_test)] {
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        let px: Vec<u8> = (0..n).flat_map(|i| class_image(i % 10, i, 1, h, w)).collect();
        let (im, la) = (idx_bytes(&[n as u32, h as u32, w as u32], &px), idx_bytes(&[n as u32], &labels));
        let (ext, im, la) = if gzip { (".gz", gz(&im), gz(&la)) } else { ("", im, la) };
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte{ext}")), im).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")), la).unwrap();
    }
}

// ---- CIFAR binary batches -------------------------------------------------------------------

/// One record: the label byte(s), then 3072 pixel bytes `k · seed` (mod 256).
pub fn cifar_record(label: &[u8], seed: u8) -> Vec<u8> {
    let mut r = label.to_vec();
    r.extend((0..3072).map(|k| (k as u8).wrapping_mul(seed)));
    r
}

/// One record with a learnable 3×32×32 image of class `label` (the last label byte).
pub fn cifar_class_record(label: &[u8], i: usize) -> Vec<u8> {
    let mut r = label.to_vec();
    r.extend(class_image(*label.last().unwrap() as usize, i, 3, 32, 32));
    r
}

/// A `cifar-10-batches-bin` folder: `data_batch_<k>.bin` with `train_batches[k-1]` records each,
/// `test_batch.bin` with `n_test`, `batches.meta.txt`; labels `i % 10`.
pub fn write_cifar10_dir(dir: &Path, train_batches: &[usize], n_test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut i = 0;
    for (k, &n) in train_batches.iter().enumerate() {
        let mut b = Vec::new();
        for _ in 0..n {
            b.extend(cifar_class_record(&[(i % 10) as u8], i));
            i += 1;
        }
        std::fs::write(dir.join(format!("data_batch_{}.bin", k + 1)), b).unwrap();
    }
    let t: Vec<u8> = (0..n_test).flat_map(|j| cifar_class_record(&[(j % 10) as u8], 1000 + j)).collect();
    std::fs::write(dir.join("test_batch.bin"), t).unwrap();
    let names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
    std::fs::write(dir.join("batches.meta.txt"), names.join("\n") + "\n").unwrap();
}

/// A `cifar-100-binary` folder: `train.bin`, `test.bin` (records `<coarse> <fine> <pixels>`),
/// `fine_label_names.txt`; fine labels `(7 i) % 100`, coarse = fine / 5.
pub fn write_cifar100_dir(dir: &Path, n_train: usize, n_test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let rec = |i: usize| {
        let fine = (7 * i) % 100;
        cifar_class_record(&[(fine / 5) as u8, fine as u8], i)
    };
    std::fs::write(dir.join("train.bin"), (0..n_train).flat_map(rec).collect::<Vec<u8>>()).unwrap();
    std::fs::write(dir.join("test.bin"), (0..n_test).map(|j| rec(3 * j + 1)).collect::<Vec<_>>().concat()).unwrap();
    let names: Vec<String> = (0..100).map(|k| format!("class{k}")).collect();
    std::fs::write(dir.join("fine_label_names.txt"), names.join("\n") + "\n").unwrap();
}

// ---- MAT v5 (SVHN) ----------------------------------------------------------------------------

#[allow(clippy::manual_is_multiple_of)] // rust-version 1.85 predates is_multiple_of
pub fn pad8(v: &mut Vec<u8>) {
    while v.len() % 8 != 0 {
        v.push(0);
    }
}

/// A data element (tag + data, padded to 8 bytes; the small-element form for ≤ 4 bytes).
pub fn element(ty: u32, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    if data.len() <= 4 && ty != 14 {
        v.extend_from_slice(&(((data.len() as u32) << 16) | ty).to_le_bytes());
        v.extend_from_slice(data);
        pad8(&mut v);
        return v;
    }
    v.extend_from_slice(&ty.to_le_bytes());
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    pad8(&mut v);
    v
}

/// A miMATRIX element: class code, dims, name, real data stored as type `ty`.
pub fn matrix(class: u8, dims: &[i32], name: &str, ty: u32, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(element(6, &[class, 0, 0, 0, 0, 0, 0, 0]));
    body.extend(element(5, &dims.iter().flat_map(|d| d.to_le_bytes()).collect::<Vec<_>>()));
    body.extend(element(1, name.as_bytes()));
    body.extend(element(ty, data));
    element(14, &body)
}

/// The 128-byte header (little-endian, version 0x0100) followed by `elements`.
pub fn mat_file(elements: &[Vec<u8>]) -> Vec<u8> {
    let mut h = b"MATLAB 5.0 MAT-file, written by the oto-train test".to_vec();
    h.resize(116, b' ');
    h.extend_from_slice(&[0; 8]);
    h.extend_from_slice(&0x0100u16.to_le_bytes());
    h.extend_from_slice(b"IM");
    for e in elements {
        h.extend_from_slice(e);
    }
    h
}

/// `el` wrapped in a miCOMPRESSED (zlib) element, as `savemat(do_compression=True)` writes.
pub fn compressed(el: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(el).unwrap();
    let d = z.finish().unwrap();
    let mut v = 15u32.to_le_bytes().to_vec();
    v.extend_from_slice(&(d.len() as u32).to_le_bytes());
    v.extend_from_slice(&d);
    v
}

/// An SVHN `*_32x32.mat` file: `X` uint8 `[H, W, 3, N]` (column-major) from CHW `images`, and
/// `y` `[N, 1]` of class double stored as uint8 (as MATLAB does), values 1..10 (10 = digit 0).
pub fn svhn_mat(h: usize, w: usize, images: &[Vec<u8>], y: &[u8], compress: bool) -> Vec<u8> {
    let n = images.len();
    assert_eq!(n, y.len());
    let mut x = vec![0u8; h * w * 3 * n];
    for (i, img) in images.iter().enumerate() {
        for c in 0..3 {
            for col in 0..w {
                for r in 0..h {
                    x[r + h * (col + w * (c + 3 * i))] = img[c * h * w + r * w + col];
                }
            }
        }
    }
    let mx = matrix(9, &[h as i32, w as i32, 3, n as i32], "X", 2, &x);
    let my = matrix(6, &[n as i32, 1], "y", 2, y);
    if compress {
        mat_file(&[compressed(&mx), compressed(&my)])
    } else {
        mat_file(&[mx, my])
    }
}

/// An SVHN folder: `train_32x32.mat` (uncompressed) and `test_32x32.mat` (compressed) with
/// digits `i % 10` (stored as 1..10).
pub fn write_svhn_dir(dir: &Path, n_train: usize, n_test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for (file, n, off, compress) in [("train_32x32.mat", n_train, 0, false), ("test_32x32.mat", n_test, 500, true)] {
        let images: Vec<Vec<u8>> = (0..n).map(|i| class_image(i % 10, off + i, 3, 32, 32)).collect();
        let y: Vec<u8> = (0..n).map(|i| if i % 10 == 0 { 10 } else { (i % 10) as u8 }).collect();
        std::fs::write(dir.join(file), svhn_mat(32, 32, &images, &y, compress)).unwrap();
    }
}

// ---- PNG image folders ------------------------------------------------------------------------

/// An 8-bit PNG: RGB `[val, x, y]`, or gray `val + x + y`.
pub fn write_png(p: &Path, w: u32, h: u32, val: u8, gray: bool) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    if gray {
        image::GrayImage::from_fn(w, h, |x, y| image::Luma([val.wrapping_add((x + y) as u8)])).save(p).unwrap();
    } else {
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([val, x as u8, y as u8])).save(p).unwrap();
    }
}

/// An image-folder dataset in the Tiny-ImageNet layout (as `../shared/datasets/tiny-imagenet-10`):
/// `train/<class>/<class>_<i>.png`, and the validation images together in `val/images/val_<j>.png`
/// labelled by `val/val_annotations.txt` (`<file>\t<class>\t<box>`). Images are `w × h` (one
/// training image in four grayscale); class `k` has red level `40 k`.
pub fn write_tiny_imagenet(root: &Path, classes: &[&str], train_per_class: usize, val_per_class: usize, w: u32, h: u32) {
    let mut ann = String::new();
    let mut j = 0;
    for (k, c) in classes.iter().enumerate() {
        let val = (40 * k) as u8;
        for i in 0..train_per_class {
            write_png(&root.join("train").join(c).join(format!("{c}_{i}.png")), w, h, val.wrapping_add(i as u8), i % 4 == 3);
        }
        for i in 0..val_per_class {
            let name = format!("val_{j}.png");
            write_png(&root.join("val/images").join(&name), w, h, val.wrapping_add(i as u8), false);
            ann += &format!("{name}\t{c}\t0\t0\t{w}\t{h}\n");
            j += 1;
        }
    }
    std::fs::write(root.join("val/val_annotations.txt"), ann).unwrap();
}

// ---- super-resolution -------------------------------------------------------------------------

/// `<root>/<set>/HR/<name>.png`: smooth RGB images of the given sizes (LR is then generated by
/// bicubic downsampling, as for sets without `LR_bicubic/X<s>`).
pub fn write_sr_set(root: &Path, set: &str, images: &[(&str, u32, u32)]) {
    let hr = root.join(set).join("HR");
    std::fs::create_dir_all(&hr).unwrap();
    for (k, &(name, w, h)) in images.iter().enumerate() {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            let (xf, yf) = (x as f32, y as f32);
            let r = 128.0 + 100.0 * ((xf * 0.21 + k as f32).sin() * (yf * 0.13).cos());
            let g = 128.0 + 90.0 * ((xf + yf) * 0.09).sin();
            let b = ((x * 7 + y * 3 + 40 * k as u32) % 256) as f32;
            image::Rgb([r as u8, g as u8, b as u8])
        });
        img.save(hr.join(format!("{name}.png"))).unwrap();
    }
}
