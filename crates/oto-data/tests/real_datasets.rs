//! Reads the real datasets from `../shared/datasets` (relative to the workspace root), or from
//! `$OTO_DATASETS`. Each test is skipped (with a message) when its folder is absent.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use oto_data::*;

fn dir(name: &str) -> Option<PathBuf> {
    let p = datasets_root().join(name);
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found (set OTO_DATASETS)", p.display());
        None
    }
}

#[test]
fn fashion_mnist_full() {
    let Some(d) = dir("fashion-mnist") else { return };
    let tr = load_mnist_dir(&d, true).unwrap();
    let te = load_mnist_dir(&d, false).unwrap();
    assert_eq!((tr.len(), te.len()), (60000, 10000));
    assert_eq!((tr.channels, tr.height, tr.width, tr.num_classes), (1, 28, 28, 10));
    assert_eq!(tr.class_counts(), vec![6000; 10]);
    assert_eq!(te.class_counts(), vec![1000; 10]);
    // The bundled mini set is the first 600 / 100 per class of these files, in file order.
    let mini = fashion_mnist_mini(true).unwrap();
    let mut seen = [0usize; 10];
    let idx: Vec<usize> = (0..tr.len())
        .filter(|&i| {
            let c = tr.labels[i] as usize;
            seen[c] += 1;
            seen[c] <= 600
        })
        .collect();
    assert_eq!(tr.subset(&idx).unwrap().pixels, mini.pixels);
}

#[test]
fn cifar10_real() {
    let Some(d) = dir("cifar-10") else { return };
    let t0 = Instant::now();
    let tr = load_cifar10_dir(&d, true).unwrap();
    let te = load_cifar10_dir(&d, false).unwrap();
    eprintln!("cifar-10 load: {:?}", t0.elapsed());
    assert_eq!((tr.len(), te.len()), (20000, 10000));
    let b1 = tr.subset(&(0..10000).collect::<Vec<_>>()).unwrap();
    assert_eq!(b1.class_counts(), vec![1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]);
    assert_eq!(te.class_counts(), vec![1000; 10]);
    assert_eq!(tr.class_names.as_ref().unwrap()[0], "airplane");
    assert_eq!(tr.class_names.as_ref().unwrap()[9], "truck");

    // One full augmented training epoch through the parallel loader.
    let dl = DataLoader::new(
        Arc::new(tr),
        LoaderConfig::train(128).with_augment(Augment::cifar()).with_normalize(Normalize::cifar10()),
    )
    .unwrap();
    let t0 = Instant::now();
    let mut n = 0;
    let mut sum = 0.0;
    for b in dl.epoch(0) {
        let b = b.unwrap();
        assert_eq!(b.images.size(), vec![128, 3, 32, 32]);
        n += b.labels.size()[0];
        sum += b.images.mean(tch::Kind::Float).double_value(&[]);
    }
    eprintln!("cifar-10 epoch of {n} augmented images: {:?}", t0.elapsed());
    assert_eq!(n, 20000 / 128 * 128);
    // Normalised pixels average ~0, but pad-4 random crops put on average ~13% zero-padded
    // pixels (normalised to about -1.9) into each image, so the expected mean is about -0.26.
    let m = sum / (20000 / 128) as f64;
    assert!((-0.35..-0.15).contains(&m), "mean {m}");
    // Without augmentation the normalised mean is ~0.
    let ev = DataLoader::new(Arc::new(te), LoaderConfig::eval(1000).with_normalize(Normalize::cifar10())).unwrap();
    let m: f64 = ev.epoch(0).map(|b| b.unwrap().images.mean(tch::Kind::Float).double_value(&[])).sum::<f64>() / 10.0;
    assert!(m.abs() < 0.05, "eval mean {m}");
}

#[test]
fn tiny_imagenet_10() {
    let Some(d) = dir("tiny-imagenet-10") else { return };
    let train = ImageFolder::open(&d.join("train"), FolderTransform::none()).unwrap();
    assert_eq!(train.len(), 5000);
    assert_eq!(train.classes().to_vec(), ImageFolder::read_class_list(&d.join("wnids.txt")).unwrap());
    // val: both the annotation file and the class folders give the same labels
    let val_a =
        ImageFolder::from_annotations(&d.join("val"), &d.join("val_annotations.txt"), train.classes(), FolderTransform::none())
            .unwrap();
    let val_f = ImageFolder::open_with_classes(&d.join("val"), train.classes(), FolderTransform::none()).unwrap();
    assert_eq!(val_a.len(), 500);
    let mut a: Vec<_> = val_a.items().to_vec();
    a.sort();
    assert_eq!(a, val_f.items().to_vec());

    // decode everything in parallel (72 grayscale JPEGs become RGB)
    let t0 = Instant::now();
    let dl = DataLoader::new(Arc::new(train), LoaderConfig::train(100).with_augment(Augment::cifar()).with_normalize(Normalize::imagenet())).unwrap();
    let mut n = 0;
    for b in dl.epoch(0) {
        let b = b.unwrap();
        assert_eq!(b.images.size(), vec![100, 3, 64, 64]);
        n += 100;
    }
    eprintln!("tiny-imagenet-10: decoded + augmented {n} JPEGs in {:?}", t0.elapsed());
    assert_eq!(n, 5000);
    let dl = DataLoader::new(Arc::new(val_a), LoaderConfig::eval(64).with_normalize(Normalize::imagenet())).unwrap();
    let labels: Vec<i64> = dl.epoch(0).flat_map(|b| Vec::<i64>::try_from(b.unwrap().labels).unwrap()).collect();
    assert_eq!(labels.len(), 500);
    let mut counts = [0; 10];
    labels.iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(counts, [50; 10]);
    // resize + crop
    let f = ImageFolder::open(&d.join("val"), FolderTransform::fixed(48, 40)).unwrap();
    let s = f.get(0).unwrap();
    assert_eq!((s.channels, s.height, s.width), (3, 48, 40));
}

#[test]
fn super_resolution_sets() {
    let Some(d) = dir("super-resolution") else { return };
    for (set, n) in [("Set5", 5), ("Set14", 14)] {
        for s in [2, 4] {
            let t0 = Instant::now();
            let folder = SrDataset::open_set(&d, set, s).unwrap();
            let bic = SrDataset::open(&d.join(set).join("HR"), LrSource::Bicubic, s).unwrap();
            eprintln!("{set} x{s}: loaded twice in {:?}", t0.elapsed());
            assert_eq!((folder.len(), bic.len()), (n, n));
            // Our MATLAB-style bicubic equals the shipped LR (made by the same algorithm in numpy)
            let (mut diff, mut total, mut maxd) = (0usize, 0usize, 0u8);
            for (a, b) in folder.images().iter().zip(bic.images()) {
                assert_eq!((a.name.as_str(), a.h, a.w), (b.name.as_str(), b.h, b.w));
                assert_eq!(a.hr, b.hr);
                for (x, y) in a.lr.iter().zip(&b.lr) {
                    let dd = x.abs_diff(*y);
                    maxd = maxd.max(dd);
                    diff += (dd != 0) as usize;
                }
                total += a.lr.len();
            }
            eprintln!("{set} x{s}: bicubic vs shipped LR: {diff}/{total} values differ, max {maxd}");
            assert!(maxd <= 1 && diff * 10000 <= total, "{diff}/{total} differ, max {maxd}");
            let t = folder.test_batches().next().unwrap();
            assert_eq!(t.hr.size()[2], t.lr.size()[2] * s as i64);
        }
    }
    // T91 training patches
    let t91 = Arc::new(SrDataset::open_set(&d, "T91", 2).unwrap());
    assert_eq!(t91.len(), 91);
    let cfg = SrTrainConfig::new(24, 16, 10);
    let t0 = Instant::now();
    let mut k = 0;
    for b in t91.train_batches(&cfg, 0).unwrap() {
        let b = b.unwrap();
        assert_eq!(b.lr.size(), vec![16, 3, 24, 24]);
        assert_eq!(b.hr.size(), vec![16, 3, 48, 48]);
        // HR downscaled by 2 (box) is close to LR: alignment sanity check
        let down = b.hr.avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None::<i64>);
        let err = (down - &b.lr).abs().mean(tch::Kind::Float).double_value(&[]);
        assert!(err < 0.03, "patch misaligned? mean |box(HR) - LR| = {err}");
        k += 1;
    }
    eprintln!("T91 x2: {k} batches of 16 patches in {:?}", t0.elapsed());
    assert_eq!(k, 10);
}
