//! CIFAR-10 / CIFAR-100 binary version: records of label byte(s) + 1024 R + 1024 G + 1024 B.
//! CIFAR-10: 1 label byte (3073-byte records). CIFAR-100: 2 label bytes, coarse then fine
//! (3074-byte records).
use std::path::{Path, PathBuf};

use super::error::{DataError, Result};
use super::InMemory;

const IMG: usize = 3 * 32 * 32;

/// Which CIFAR-100 label to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CifarLabel {
    /// 20 superclasses (first label byte).
    Coarse,
    /// 100 classes (second label byte).
    Fine,
}

fn read_records(
    files: &[PathBuf],
    label_bytes: usize,
    label_pick: usize,
    num_classes: usize,
) -> Result<InMemory> {
    let rec = label_bytes + IMG;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    if files.is_empty() {
        return Err(DataError::Config("no CIFAR batch files given".into()));
    }
    for f in files {
        let b = std::fs::read(f).map_err(|e| DataError::io(f, e))?;
        if b.is_empty() || b.len() % rec != 0 {
            let n = b.len() / rec + 1;
            return Err(DataError::Truncated {
                path: f.clone(),
                expected: (n * rec) as u64,
                found: b.len() as u64,
            });
        }
        pixels.reserve(b.len() / rec * IMG);
        for (i, r) in b.chunks_exact(rec).enumerate() {
            let l = r[label_pick] as usize;
            if l >= num_classes {
                return Err(DataError::format(
                    f,
                    format!(
                        "record {i} has label {l} >= {num_classes}: not a CIFAR-{} binary batch \
                         (CIFAR-10 records have 1 label byte, CIFAR-100 records 2)",
                        if label_bytes == 1 { 10 } else { 100 }
                    ),
                ));
            }
            labels.push(l as i64);
            pixels.extend_from_slice(&r[label_bytes..]);
        }
    }
    Ok(InMemory {
        pixels,
        labels,
        channels: 3,
        height: 32,
        width: 32,
        num_classes,
        class_names: None,
    })
}

/// Loads CIFAR-10 binary batch files (e.g. `data_batch_1.bin` …), concatenated in order.
pub fn load_cifar10<P: AsRef<Path>>(files: &[P]) -> Result<InMemory> {
    let files: Vec<PathBuf> = files.iter().map(|p| p.as_ref().to_path_buf()).collect();
    read_records(&files, 1, 0, 10)
}

/// Loads CIFAR-100 binary files (`train.bin`, `test.bin`) with the chosen label.
pub fn load_cifar100<P: AsRef<Path>>(files: &[P], label: CifarLabel) -> Result<InMemory> {
    let files: Vec<PathBuf> = files.iter().map(|p| p.as_ref().to_path_buf()).collect();
    match label {
        CifarLabel::Coarse => read_records(&files, 2, 0, 20),
        CifarLabel::Fine => read_records(&files, 2, 1, 100),
    }
}

fn read_names(path: &Path) -> Option<Vec<String>> {
    let s = std::fs::read_to_string(path).ok()?;
    let v: Vec<String> = s
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    (!v.is_empty()).then_some(v)
}

/// Loads a `cifar-10-batches-bin` folder: all `data_batch_*.bin` (sorted) for train, or
/// `test_batch.bin`; class names from `batches.meta.txt` when present.
pub fn load_cifar10_dir(dir: &Path, train: bool) -> Result<InMemory> {
    let files: Vec<PathBuf> = if train {
        super::sorted_entries(dir)?
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("data_batch_") && n.ends_with(".bin"))
            })
            .collect()
    } else {
        vec![dir.join("test_batch.bin")]
    };
    if files.is_empty() {
        return Err(DataError::NotFound {
            path: dir.into(),
            what: "no data_batch_*.bin files (expected the CIFAR-10 binary version)".into(),
        });
    }
    let mut d = load_cifar10(&files)?;
    d.class_names = read_names(&dir.join("batches.meta.txt")).filter(|v| v.len() == 10);
    Ok(d)
}

/// Loads a `cifar-100-binary` folder: `train.bin` or `test.bin`; names from
/// `fine_label_names.txt` / `coarse_label_names.txt` when present.
pub fn load_cifar100_dir(dir: &Path, train: bool, label: CifarLabel) -> Result<InMemory> {
    let f = dir.join(if train { "train.bin" } else { "test.bin" });
    let mut d = load_cifar100(&[f], label)?;
    let names = match label {
        CifarLabel::Coarse => "coarse_label_names.txt",
        CifarLabel::Fine => "fine_label_names.txt",
    };
    d.class_names = read_names(&dir.join(names)).filter(|v| v.len() == d.num_classes);
    Ok(d)
}
