//! Every format on small files written by the test itself, plus the loader and bad input.
//! The format writers are shared with `train_datasets.rs` (`common_formats/`).
mod common_formats;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common_formats::*;
use oto_data::*;
use tch::Kind;

/// 10 images 4x3, pixel value = 10*i + position%7, label = i % 3.
fn tiny_idx(dir: &Path, prefix: &str, gzip: bool) {
    let n = 10u32;
    let px: Vec<u8> = (0..n as usize * 12).map(|k| (10 * (k / 12) + (k % 12) % 7) as u8).collect();
    let lb: Vec<u8> = (0..n as u8).map(|i| i % 3).collect();
    let (im, la) = (idx_bytes(&[n, 4, 3], &px), idx_bytes(&[n], &lb));
    let (ext, im, la) = if gzip { (".gz", gz(&im), gz(&la)) } else { ("", im, la) };
    std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte{ext}")), im).unwrap();
    std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte{ext}")), la).unwrap();
}

#[test]
fn idx_raw_and_gz_agree() {
    let t = tempfile::tempdir().unwrap();
    let (a, b) = (t.path().join("raw"), t.path().join("gz"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    tiny_idx(&a, "train", false);
    tiny_idx(&b, "train", true);
    let ra = load_mnist_dir(&a, true).unwrap();
    let rb = load_mnist_dir(&b, true).unwrap();
    assert_eq!(ra, rb);
    assert_eq!((ra.len(), ra.channels, ra.height, ra.width, ra.num_classes), (10, 1, 4, 3, 3));
    assert_eq!(ra.image(2)[..8], [20, 21, 22, 23, 24, 25, 26, 20]);
    assert_eq!(ra.labels[..4], [0, 1, 2, 0]);
    let arr = read_idx(&b.join("train-labels-idx1-ubyte.gz")).unwrap();
    assert_eq!(arr.dims, vec![10]);
}

#[test]
fn idx_bad_inputs() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("x.idx");
    // wrong magic
    std::fs::write(&p, [1u8, 2, 3, 4, 0, 0, 0, 1, 0]).unwrap();
    let e = read_idx(&p).unwrap_err();
    assert!(matches!(e, DataError::Format { .. }), "{e}");
    assert!(e.to_string().contains("x.idx") && e.to_string().contains("magic"), "{e}");
    // truncated data
    std::fs::write(&p, idx_bytes(&[10, 28, 28], &[0; 100])).unwrap();
    let e = read_idx(&p).unwrap_err();
    assert!(matches!(e, DataError::Truncated { expected: 7856, found: 116, .. }), "{e}");
    // truncated header
    std::fs::write(&p, [0u8, 0, 8, 3, 0, 0]).unwrap();
    assert!(matches!(read_idx(&p).unwrap_err(), DataError::Truncated { .. }));
    // corrupt gzip
    let mut g = gz(&idx_bytes(&[4], &[1, 2, 3, 4]));
    g.truncate(g.len() - 6);
    std::fs::write(&p, &g).unwrap();
    let e = read_idx(&p).unwrap_err();
    assert!(e.to_string().contains("gzip"), "{e}");
    // unsupported element type
    std::fs::write(&p, [0u8, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap();
    assert!(matches!(read_idx(&p).unwrap_err(), DataError::Unsupported { .. }));
    // missing file / folder
    let e = read_idx(&t.path().join("nope")).unwrap_err();
    assert!(matches!(e, DataError::NotFound { .. }) && e.to_string().contains("nope"), "{e}");
    let e = load_mnist_dir(t.path(), true).unwrap_err();
    assert!(e.to_string().contains("train-images-idx3-ubyte"), "{e}");
    // count mismatch
    std::fs::write(t.path().join("i"), idx_bytes(&[2, 1, 1], &[1, 2])).unwrap();
    std::fs::write(t.path().join("l"), idx_bytes(&[3], &[1, 2, 0])).unwrap();
    assert!(load_idx(&t.path().join("i"), &t.path().join("l")).is_err());
}

#[test]
fn cifar10_and_100() {
    let t = tempfile::tempdir().unwrap();
    let mut b1 = Vec::new();
    for i in 0..5u8 {
        b1.extend(cifar_record(&[i], i + 1));
    }
    std::fs::write(t.path().join("data_batch_1.bin"), &b1).unwrap();
    std::fs::write(t.path().join("data_batch_2.bin"), cifar_record(&[9], 7)).unwrap();
    std::fs::write(t.path().join("test_batch.bin"), cifar_record(&[3], 2)).unwrap();
    std::fs::write(t.path().join("batches.meta.txt"), "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n").unwrap();
    let d = load_cifar10_dir(t.path(), true).unwrap();
    assert_eq!(d.labels, vec![0, 1, 2, 3, 4, 9]);
    assert_eq!((d.channels, d.height, d.width, d.num_classes), (3, 32, 32, 10));
    assert_eq!(d.image(2)[1], 3); // byte k=1 times seed 3
    assert_eq!(d.image(5)[1024], (1024u32 * 7 % 256) as u8); // first G byte
    assert_eq!(d.class_names.as_ref().unwrap()[9], "j");
    assert_eq!(load_cifar10_dir(t.path(), false).unwrap().labels, vec![3]);

    let mut c = Vec::new();
    c.extend(cifar_record(&[19, 99], 1));
    c.extend(cifar_record(&[0, 42], 2));
    std::fs::write(t.path().join("train.bin"), &c).unwrap();
    let fine = load_cifar100_dir(t.path(), true, CifarLabel::Fine).unwrap();
    let coarse = load_cifar100_dir(t.path(), true, CifarLabel::Coarse).unwrap();
    assert_eq!((fine.labels.clone(), fine.num_classes), (vec![99, 42], 100));
    assert_eq!((coarse.labels.clone(), coarse.num_classes), (vec![19, 0], 20));
    assert_eq!(fine.pixels, coarse.pixels);
    assert_eq!(fine.image(1)[5], 10);
}

#[test]
fn cifar_bad_inputs() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("data_batch_1.bin");
    let mut b = cifar_record(&[1], 1);
    b.extend_from_slice(&[0; 100]); // partial record
    std::fs::write(&p, &b).unwrap();
    let e = load_cifar10(&[&p]).unwrap_err();
    assert!(matches!(e, DataError::Truncated { .. }) && e.to_string().contains("data_batch_1.bin"), "{e}");
    std::fs::write(&p, cifar_record(&[200], 1)).unwrap();
    let e = load_cifar10(&[&p]).unwrap_err();
    assert!(e.to_string().contains("label 200"), "{e}");
    std::fs::write(&p, []).unwrap();
    assert!(load_cifar10(&[&p]).is_err());
    assert!(matches!(load_cifar10(&[t.path().join("missing.bin")]).unwrap_err(), DataError::NotFound { .. }));
    let e = load_cifar10_dir(&t.path().join("nodir"), true).unwrap_err();
    assert!(e.to_string().contains("nodir"), "{e}");
}

// ---- MAT v5 -------------------------------------------------------------------------------

/// SVHN-like: X uint8 [H=2, W=3, 3, N=2] column-major; y double [2,1] = [10, 4].
fn svhn_like(compress: bool) -> Vec<u8> {
    let (h, w, n) = (2usize, 3usize, 2usize);
    let mut x = vec![0u8; h * w * 3 * n];
    for i in 0..n {
        for c in 0..3 {
            for col in 0..w {
                for r in 0..h {
                    x[r + h * (col + w * (c + 3 * i))] = (100 * i + 10 * c + 3 * r + col) as u8;
                }
            }
        }
    }
    let y: Vec<u8> = [10.0f64, 4.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let mx = matrix(9, &[h as i32, w as i32, 3, n as i32], "X", 2, &x);
    // y: class double but stored compactly as uint8, as MATLAB does
    let my = matrix(6, &[2, 1], "y", 2, &[10, 4]);
    let my_d = matrix(6, &[2, 1], "yd", 9, &y);
    if compress {
        mat_file(&[compressed(&mx), compressed(&my), compressed(&my_d)])
    } else {
        mat_file(&[mx, my, my_d])
    }
}

#[test]
fn mat_v5_and_svhn() {
    let t = tempfile::tempdir().unwrap();
    for compress in [false, true] {
        let p = t.path().join(format!("train_32x32_{compress}.mat"));
        std::fs::write(&p, svhn_like(compress)).unwrap();
        let arrays = read_mat(&p).unwrap();
        assert_eq!(arrays.len(), 3);
        assert_eq!(arrays[0].name, "X");
        assert_eq!(arrays[0].class, MatClass::UInt8);
        assert_eq!(arrays[2].data, MatData::F64(vec![10.0, 4.0]));
        assert_eq!(arrays[1].class, MatClass::Double);
        let d = load_svhn_mat(&p).unwrap();
        assert_eq!((d.len(), d.channels, d.height, d.width), (2, 3, 2, 3));
        assert_eq!(d.labels, vec![0, 4]); // 10 -> 0
        // image 1, channel 2, row 1, col 2: 100 + 20 + 3 + 2
        assert_eq!(d.image(1)[2 * 6 + 3 + 2], 125);
        assert_eq!(d.image(0)[..6], [0, 1, 2, 3, 4, 5]);
    }
}

#[test]
fn mat_fixture_written_by_scipy() {
    // tests/data/svhn_scipy.mat: written by scipy.io.savemat (do_compression=True), see
    // tests/data/make_mat_fixture.py: X uint8 (32,32,3,3) = (r + 2c + 5ch + 7i) % 256, y = [[10],[1],[5]].
    for f in ["svhn_scipy.mat", "svhn_scipy_raw.mat"] {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(f);
    let d = load_svhn_mat(&p).unwrap();
    assert_eq!((d.len(), d.channels, d.height, d.width), (3, 3, 32, 32));
    assert_eq!(d.labels, vec![0, 1, 5]);
    for i in 0..3 {
        for ch in 0..3 {
            for r in 0..32 {
                for c in 0..32 {
                    let v = d.image(i)[ch * 1024 + r * 32 + c];
                    assert_eq!(v as usize, (r + 2 * c + 5 * ch + 7 * i) % 256);
                }
            }
        }
    }
    }
}

#[test]
fn mat_bad_inputs() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("bad.mat");
    std::fs::write(&p, b"short").unwrap();
    assert!(matches!(read_mat(&p).unwrap_err(), DataError::Truncated { .. }));
    let mut v73 = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: ... HDF5 schema 1.00 .".to_vec();
    v73.resize(200, 0);
    std::fs::write(&p, &v73).unwrap();
    let e = read_mat(&p).unwrap_err();
    assert!(matches!(e, DataError::Unsupported { .. }) && e.to_string().contains("v7.3"), "{e}");
    std::fs::write(&p, vec![b'x'; 200]).unwrap();
    assert!(matches!(read_mat(&p).unwrap_err(), DataError::Format { .. }));
    let mut f = svhn_like(false);
    f.truncate(f.len() - 20);
    std::fs::write(&p, &f).unwrap();
    assert!(matches!(read_mat(&p).unwrap_err(), DataError::Truncated { .. }));
    let mut f = svhn_like(true);
    let n = f.len();
    for b in &mut f[140..n - 10] {
        *b ^= 0x5a;
    }
    std::fs::write(&p, &f).unwrap();
    assert!(read_mat(&p).is_err());
    // valid file without X
    std::fs::write(&p, mat_file(&[matrix(6, &[1, 1], "z", 9, &1.0f64.to_le_bytes())])).unwrap();
    let e = load_svhn_mat(&p).unwrap_err();
    assert!(e.to_string().contains("'X'"), "{e}");
}

// ---- image folders ------------------------------------------------------------------------

#[test]
fn image_folder_classes_transform_and_annotations() {
    let t = tempfile::tempdir().unwrap();
    let r = t.path().join("train");
    write_png(&r.join("zebra/a.png"), 8, 6, 1, false);
    write_png(&r.join("zebra/b.PNG"), 8, 6, 2, true);
    write_png(&r.join("ant/c.png"), 8, 6, 3, false);
    std::fs::write(r.join("ant/readme.txt"), "not an image").unwrap();
    let f = ImageFolder::open(&r, FolderTransform::none()).unwrap();
    assert_eq!(f.classes(), ["ant", "zebra"]);
    assert_eq!(f.len(), 3);
    let s = f.get(0).unwrap();
    assert_eq!((s.label, s.channels, s.height, s.width), (0, 3, 6, 8));
    assert_eq!(s.pixels[0], 3); // R
    assert_eq!(s.pixels[48 + 5], 5); // G = x at (0,5)
    let g = f.get(2).unwrap(); // grayscale -> RGB
    assert_eq!(g.label, 1);
    assert_eq!(g.pixels[..48], g.pixels[48..96]);

    let f2 = ImageFolder::open(&r, FolderTransform { resize: Some(3), crop: Some((2, 2)) }).unwrap();
    let s = f2.get(0).unwrap();
    assert_eq!((s.height, s.width), (2, 2)); // 8x6 -> 4x3 -> centre 2x2

    // Tiny-ImageNet val layout: images/ + annotations
    let v = t.path().join("val");
    write_png(&v.join("images/val_0.png"), 8, 6, 9, false);
    write_png(&v.join("zebra/val_1.png"), 8, 6, 8, false); // already sorted into class folders
    std::fs::write(v.join("ann.txt"), "val_0.png\tant\t0\t0\t5\t5\nval_1.png\tzebra\t1\t1\t2\t2\n").unwrap();
    let va = ImageFolder::from_annotations(&v.join("images"), &v.join("ann.txt"), f.classes(), FolderTransform::none());
    // val_1 is not in images/, only in images/../zebra: lookup is relative to images_dir
    assert!(va.is_err());
    let va = ImageFolder::from_annotations(&v, &v.join("ann.txt"), f.classes(), FolderTransform::none());
    assert!(va.is_err()); // val_0 is in v/images, not v/ or v/ant
    std::fs::rename(v.join("images/val_0.png"), v.join("val_0.png")).unwrap();
    let va = ImageFolder::from_annotations(&v, &v.join("ann.txt"), f.classes(), FolderTransform::none()).unwrap();
    assert_eq!(va.items().iter().map(|i| i.1).collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(va.get(1).unwrap().pixels[0], 8);
}

#[test]
fn image_folder_bad_inputs() {
    let t = tempfile::tempdir().unwrap();
    assert!(matches!(ImageFolder::open(&t.path().join("none"), FolderTransform::none()).unwrap_err(), DataError::NotFound { .. }));
    assert!(ImageFolder::open(t.path(), FolderTransform::none()).is_err()); // no classes
    // an empty class folder beside one with an image
    write_png(&t.path().join("d/x.png"), 4, 4, 0, false);
    std::fs::create_dir_all(t.path().join("c")).unwrap();
    let e = ImageFolder::open(t.path(), FolderTransform::none()).unwrap_err();
    assert!(e.to_string().contains("class folder 'c' is empty"), "{e}");
    // a file that is no image is named when the folder is opened
    std::fs::write(t.path().join("c/broken.jpg"), b"\xff\xd8\xff\xe0 not really a jpeg").unwrap();
    let e = ImageFolder::open(t.path(), FolderTransform::none()).unwrap_err();
    assert!(matches!(e, DataError::Image { .. }) && e.to_string().contains("broken.jpg"), "{e}");
    // one cut short after its header when it is decoded
    write_png(&t.path().join("c/broken.png"), 16, 16, 0, false);
    std::fs::remove_file(t.path().join("c/broken.jpg")).unwrap();
    let png = std::fs::read(t.path().join("c/broken.png")).unwrap();
    std::fs::write(t.path().join("c/broken.png"), &png[..png.len() / 2]).unwrap();
    let f = ImageFolder::open(t.path(), FolderTransform::none()).unwrap();
    let e = f.get(0).unwrap_err();
    assert!(matches!(e, DataError::Image { .. }) && e.to_string().contains("broken.png"), "{e}");
    // the loader reports it as an error item, not a panic
    let dl = DataLoader::new(Arc::new(f), LoaderConfig::eval(4)).unwrap();
    let items: Vec<_> = dl.epoch(0).collect();
    assert_eq!(items.len(), 1);
    assert!(items[0].is_err());
    // unknown class in annotations
    std::fs::write(t.path().join("a.txt"), "broken.jpg\tnope\n").unwrap();
    let e = ImageFolder::from_annotations(t.path(), &t.path().join("a.txt"), &["c".into()], FolderTransform::none()).unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    // crop larger than the image
    write_png(&t.path().join("d/x.png"), 4, 4, 0, false);
    let f = ImageFolder::open_with_classes(&t.path().join("."), &["c".into(), "d".into()], FolderTransform { resize: None, crop: Some((8, 8)) }).unwrap();
    assert!(f.get(1).is_err());
}

// ---- loader ---------------------------------------------------------------------------------

fn ramp_set(n: usize, c: usize, h: usize, w: usize) -> InMemory {
    InMemory {
        pixels: (0..n * c * h * w).map(|k| (k % 251) as u8).collect(),
        labels: (0..n as i64).collect(),
        channels: c,
        height: h,
        width: w,
        num_classes: n,
        class_names: None,
    }
}

fn to_vec_f(t: &tch::Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()
}
fn to_vec_i(t: &tch::Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(t.flatten(0, -1)).unwrap()
}

#[test]
fn loader_eval_order_shapes_normalisation() {
    let ds = Arc::new(ramp_set(10, 3, 4, 5));
    let cfg = LoaderConfig::eval(4).with_normalize(Normalize::new(&[0.5, 0.0, 0.0], &[0.5, 1.0, 2.0]));
    let dl = DataLoader::new(ds.clone(), cfg).unwrap();
    assert_eq!(dl.batches_per_epoch(), 3);
    let batches: Vec<Batch> = dl.epoch(0).map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[0].images.size(), vec![4, 3, 4, 5]);
    assert_eq!(batches[2].images.size(), vec![2, 3, 4, 5]);
    assert_eq!(batches[0].images.kind(), Kind::Float);
    assert_eq!(batches[0].labels.kind(), Kind::Int64);
    assert_eq!(to_vec_i(&batches[1].labels), vec![4, 5, 6, 7]);
    let v = to_vec_f(&batches[0].images);
    let img = ds.image(0);
    assert!((v[0] - (img[0] as f32 / 255.0 - 0.5) / 0.5).abs() < 1e-6);
    assert!((v[20] - img[20] as f32 / 255.0).abs() < 1e-6);
    assert!((v[40] - img[40] as f32 / 255.0 / 2.0).abs() < 1e-6);
}

#[test]
fn loader_shuffle_augment_deterministic() {
    let ds = Arc::new(ramp_set(37, 1, 6, 6));
    let cfg = |threads| LoaderConfig::train(8).with_augment(Augment::cifar()).with_seed(7).with_threads(threads);
    let a = DataLoader::new(ds.clone(), cfg(1)).unwrap();
    let b = DataLoader::new(ds.clone(), cfg(3)).unwrap();
    assert_eq!(a.batches_per_epoch(), 4); // drop_last
    let ea: Vec<Batch> = a.epoch(3).map(Result::unwrap).collect();
    let eb: Vec<Batch> = b.epoch(3).map(Result::unwrap).collect();
    for (x, y) in ea.iter().zip(&eb) {
        assert_eq!(to_vec_f(&x.images), to_vec_f(&y.images));
        assert_eq!(to_vec_i(&x.labels), to_vec_i(&y.labels));
    }
    let mut labels: Vec<i64> = ea.iter().flat_map(|b| to_vec_i(&b.labels)).collect();
    assert_ne!(labels, (0..32).collect::<Vec<_>>(), "shuffled");
    labels.sort();
    labels.dedup();
    assert_eq!(labels.len(), 32);
    // data-parallel shards: rank r of 2 reads the r-th half of every batch, each sample exactly
    // as in the whole batch (order and augmentation), and an epoch can start at any batch
    let shard = |r| {
        let mut l = DataLoader::new(ds.clone(), cfg(1)).unwrap();
        l.set_shard(r, 2);
        l.epoch_from(3, 1).map(Result::unwrap).collect::<Vec<Batch>>()
    };
    let (s0, s1) = (shard(0), shard(1));
    assert_eq!(s0.len(), 3);
    for ((x, y), whole) in s0.iter().zip(&s1).zip(&ea[1..]) {
        assert_eq!(x.labels.size(), [4]);
        assert_eq!([to_vec_i(&x.labels), to_vec_i(&y.labels)].concat(), to_vec_i(&whole.labels));
        assert_eq!([to_vec_f(&x.images), to_vec_f(&y.images)].concat(), to_vec_f(&whole.images));
    }
    let other: Vec<i64> = a.epoch(4).flat_map(|b| to_vec_i(&b.unwrap().labels)).collect();
    assert_ne!(other, ea.iter().flat_map(|b| to_vec_i(&b.labels)).collect::<Vec<_>>());
    // Pad+crop+flip: every output is a shifted (maybe flipped) copy with zero borders.
    let mut zeros = 0;
    for b in &ea {
        zeros += to_vec_f(&b.images).iter().filter(|&&v| v == 0.0).count();
    }
    assert!(zeros > 0);
}

#[test]
fn augment_semantics() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    use rand::SeedableRng;
    let base = Sample { pixels: (1..=9).collect(), channels: 1, height: 3, width: 3, label: 0 };
    let mut s = base.clone();
    Augment { pad: 0, crop: None, random_crop: false, hflip: false }.apply(&mut s, &mut rng).unwrap();
    assert_eq!(s, base);
    let mut s = base.clone();
    Augment { pad: 1, crop: Some((5, 5)), random_crop: false, hflip: false }.apply(&mut s, &mut rng).unwrap();
    assert_eq!(s.pixels, vec![0, 0, 0, 0, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0, 0, 7, 8, 9, 0, 0, 0, 0, 0, 0]);
    let mut s = base.clone();
    Augment { pad: 0, crop: Some((2, 3)), random_crop: false, hflip: false }.apply(&mut s, &mut rng).unwrap();
    assert_eq!(s.pixels, vec![1, 2, 3, 4, 5, 6]);
    // flips: over many draws, both the original and the mirror image appear, nothing else
    let (mut plain, mut flipped) = (0, 0);
    for _ in 0..64 {
        let mut s = base.clone();
        Augment { pad: 0, crop: None, random_crop: true, hflip: true }.apply(&mut s, &mut rng).unwrap();
        if s.pixels == base.pixels {
            plain += 1;
        } else {
            assert_eq!(s.pixels, vec![3, 2, 1, 6, 5, 4, 9, 8, 7]);
            flipped += 1;
        }
    }
    assert!(plain > 10 && flipped > 10);
    let mut s = base.clone();
    assert!(Augment { pad: 0, crop: Some((4, 4)), random_crop: true, hflip: false }.apply(&mut s, &mut rng).is_err());
}

#[test]
fn loader_config_errors() {
    let ds = Arc::new(ramp_set(4, 3, 2, 2));
    assert!(DataLoader::new(ds.clone(), LoaderConfig::eval(0)).is_err());
    let dl = DataLoader::new(ds, LoaderConfig::eval(2).with_normalize(Normalize::new(&[0.1, 0.2], &[1.0, 1.0]))).unwrap();
    let first = dl.epoch(0).next().unwrap();
    assert!(matches!(first, Err(DataError::Config(_))));
    // dropping a half-consumed epoch does not hang
    let ds = Arc::new(ramp_set(1000, 1, 8, 8));
    let dl = DataLoader::new(ds, LoaderConfig::train(10)).unwrap();
    let mut it = dl.epoch(0);
    it.next().unwrap().unwrap();
    drop(it);
}

#[test]
fn in_memory_helpers() {
    let d = ramp_set(6, 1, 2, 2);
    let s = d.subset(&[5, 0]).unwrap();
    assert_eq!(s.labels, vec![5, 0]);
    assert_eq!(s.image(0), d.image(5));
    assert!(d.subset(&[6]).is_err());
    let (x, y) = d.to_tensors();
    assert_eq!(x.size(), vec![6, 1, 2, 2]);
    assert_eq!(x.kind(), Kind::Uint8);
    assert_eq!(y.size(), vec![6]);
}

// ---- super-resolution -----------------------------------------------------------------------

fn sr_tree(root: &Path) -> (PathBuf, PathBuf) {
    let hr = root.join("HR");
    let lr = root.join("LR_bicubic/X2");
    for (name, w, h) in [("a", 16u32, 12u32), ("b", 13, 10)] {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 15) as u8, (y * 20) as u8, ((x * y) % 256) as u8]));
        std::fs::create_dir_all(&hr).unwrap();
        img.save(hr.join(format!("{name}.png"))).unwrap();
    }
    (hr, lr)
}

#[test]
fn sr_pairs_bicubic_folder_patches() {
    let t = tempfile::tempdir().unwrap();
    let (hr, lr) = sr_tree(t.path());
    let bic = SrDataset::open(&hr, LrSource::Bicubic, 2).unwrap();
    assert_eq!(bic.len(), 2);
    let b = &bic.images()[1];
    assert_eq!((b.name.as_str(), b.h, b.w), ("b", 5, 6)); // 13x10 cropped to 12x10
    assert_eq!(b.hr.len(), 3 * 10 * 12);
    // write the generated LR as a folder (DIV2K naming) and read it back as LrSource::Folder
    std::fs::create_dir_all(&lr).unwrap();
    for im in bic.images() {
        let mut buf = image::RgbImage::new(im.w as u32, im.h as u32);
        for (x, y, p) in buf.enumerate_pixels_mut() {
            let i = y as usize * im.w + x as usize;
            let n = im.h * im.w;
            *p = image::Rgb([im.lr[i], im.lr[n + i], im.lr[2 * n + i]]);
        }
        buf.save(lr.join(format!("{}x2.png", im.name))).unwrap();
    }
    let fol = SrDataset::open_set(t.path(), "", 2).unwrap();
    assert_eq!(fol.images(), bic.images());
    // constant image stays constant under bicubic
    let flat = vec![77u8; 3 * 8 * 8];
    assert!(bicubic_down(&flat, 3, 8, 8, 4).iter().all(|&v| v == 77));

    let test: Vec<SrBatch> = fol.test_batches().collect();
    assert_eq!(test[0].lr.size(), vec![1, 3, 6, 8]);
    assert_eq!(test[0].hr.size(), vec![1, 3, 12, 16]);

    let ds = Arc::new(fol);
    let cfg = SrTrainConfig { seed: 3, ..SrTrainConfig::new(4, 5, 3) };
    let batches: Vec<SrBatch> = ds.train_batches(&cfg, 0).unwrap().map(Result::unwrap).collect();
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[0].lr.size(), vec![5, 3, 4, 4]);
    assert_eq!(batches[0].hr.size(), vec![5, 3, 8, 8]);
    // alignment: bicubic of each HR patch is close to its LR patch (interior, up to border effects)
    // simpler invariant: with augment off, LR patch == stored LR crop, HR patch == stored HR crop
    let again: Vec<SrBatch> = ds.train_batches(&cfg, 0).unwrap().map(Result::unwrap).collect();
    assert_eq!(to_vec_f(&batches[2].hr), to_vec_f(&again[2].hr));
    let big = SrTrainConfig::new(7, 2, 1);
    assert!(ds.train_batches(&big, 0).is_err()); // no LR image is 7x7
}

#[test]
fn sr_shards_make_up_the_whole_batch() {
    let t = tempfile::tempdir().unwrap();
    let hr = t.path().join("HR");
    std::fs::create_dir_all(&hr).unwrap();
    for (i, name) in ["a.png", "b.png"].iter().enumerate() {
        image::RgbImage::from_fn(24, 20, |x, y| image::Rgb([(x * 7 + y * 3 + i as u32 * 50) as u8, (x * y) as u8, (y * 11) as u8]))
            .save(hr.join(name))
            .unwrap();
    }
    let ds = Arc::new(SrDataset::open(&hr, LrSource::Bicubic, 2).unwrap());
    let whole = SrTrainConfig { seed: 5, ..SrTrainConfig::new(4, 6, 2) };
    let one: Vec<SrBatch> = ds.train_batches(&whole, 1).unwrap().map(Result::unwrap).collect();
    let ranks: Vec<Vec<SrBatch>> = (0..3)
        .map(|r| ds.train_batches(&SrTrainConfig { shard: (r, 3), ..whole.clone() }, 1).unwrap().map(Result::unwrap).collect())
        .collect();
    for (b, whole) in one.iter().enumerate() {
        let parts: Vec<tch::Tensor> = ranks.iter().map(|r| r[b].hr.shallow_clone()).collect();
        assert_eq!(parts[0].size(), vec![2, 3, 8, 8]);
        assert_eq!(to_vec_f(&tch::Tensor::cat(&parts, 0)), to_vec_f(&whole.hr), "batch {b}");
        let parts: Vec<tch::Tensor> = ranks.iter().map(|r| r[b].lr.shallow_clone()).collect();
        assert_eq!(to_vec_f(&tch::Tensor::cat(&parts, 0)), to_vec_f(&whole.lr), "batch {b}");
    }
    // a batch that does not divide among the ranks is refused
    assert!(ds.train_batches(&SrTrainConfig { shard: (0, 4), ..whole.clone() }, 0).is_err());
}

#[test]
fn sr_patches_are_aligned() {
    let t = tempfile::tempdir().unwrap();
    let hr = t.path().join("HR");
    std::fs::create_dir_all(&hr).unwrap();
    // HR made of 2x2 constant blocks -> the x2 box structure lets us check alignment exactly:
    // every HR patch pixel (2y+i, 2x+j) must equal the HR block value whose LR counterpart is (y, x).
    let img = image::RgbImage::from_fn(20, 20, |x, y| {
        let v = ((x / 2) * 10 + (y / 2)) as u8;
        image::Rgb([v, v, v])
    });
    img.save(hr.join("blocks.png")).unwrap();
    // LR folder = exact block values
    let lr = t.path().join("LR");
    std::fs::create_dir_all(&lr).unwrap();
    image::RgbImage::from_fn(10, 10, |x, y| {
        let v = (x * 10 + y) as u8;
        image::Rgb([v, v, v])
    })
    .save(lr.join("blocks.png"))
    .unwrap();
    let ds = Arc::new(SrDataset::open(&hr, LrSource::Folder(lr), 2).unwrap());
    let cfg = SrTrainConfig { augment: true, ..SrTrainConfig::new(3, 16, 2) };
    for b in ds.train_batches(&cfg, 1).unwrap() {
        let b = b.unwrap();
        let l = to_vec_f(&b.lr);
        let h = to_vec_f(&b.hr);
        for n in 0..16 {
            for y in 0..6 {
                for x in 0..6 {
                    let hv = h[n * 3 * 36 + y * 6 + x];
                    let lv = l[n * 3 * 9 + (y / 2) * 3 + x / 2];
                    assert_eq!(hv, lv, "sample {n} at ({y},{x})");
                }
            }
        }
    }
}

#[test]
fn sr_bad_inputs() {
    let t = tempfile::tempdir().unwrap();
    let (hr, _) = sr_tree(t.path());
    let e = SrDataset::open(&hr, LrSource::Folder(t.path().join("nolr")), 2).unwrap_err();
    assert!(matches!(e, DataError::NotFound { .. }), "{e}");
    assert!(SrDataset::open(&hr, LrSource::Bicubic, 0).is_err());
    assert!(SrDataset::open(&t.path().join("missing"), LrSource::Bicubic, 2).is_err());
    // LR too small
    let lr = t.path().join("lr");
    std::fs::create_dir_all(&lr).unwrap();
    for n in ["a", "b"] {
        image::RgbImage::new(2, 2).save(lr.join(format!("{n}.png"))).unwrap();
    }
    let e = SrDataset::open(&hr, LrSource::Folder(lr), 2).unwrap_err();
    assert!(e.to_string().contains("LR image is 2x2"), "{e}");
    // corrupt HR
    std::fs::write(hr.join("c.png"), b"\x89PNG\r\n\x1a\n garbage").unwrap();
    let e = SrDataset::open(&hr, LrSource::Bicubic, 2).unwrap_err();
    assert!(matches!(e, DataError::Image { .. }) && e.to_string().contains("c.png"), "{e}");
}

#[test]
fn demo_dataset_is_bundled() {
    let tr = fashion_mnist_mini(true).unwrap();
    let te = fashion_mnist_mini(false).unwrap();
    assert_eq!((tr.len(), te.len()), (6000, 1000));
    assert_eq!(tr.class_counts(), vec![600; 10]);
    assert_eq!(te.class_counts(), vec![100; 10]);
    assert_eq!((tr.channels, tr.height, tr.width), (1, 28, 28));
    assert_eq!(tr.class_names.as_ref().unwrap()[9], "Ankle boot");
}
