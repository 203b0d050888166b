//! Text classification in class folders: `root/<class>/<doc>.txt` (the layout of aclImdb and
//! 20 Newsgroups); class index = position of the folder name in sorted order. Documents are
//! byte-level token sequences: byte `b` is token `b` (a vocabulary of 256, as in ByT5 / CANINE),
//! cut to the first `seq_len` bytes or padded with token 0 (NUL) at the end. Each document is
//! read lazily (in loader threads), at most `seq_len` bytes of it.
//!
//! A [`Sample`] of a document holds its tokens as a `1 × 1 × seq_len` "image"; a loader made with
//! [`crate::LoaderConfig::tokens`] turns a batch of them into int64 `[N, seq_len]` token ids.
use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::{DataError, Result};
use super::folder::{class_folders, labelled_files};
use super::{Dataset, Sample};

/// The token vocabulary of byte-level text: one token per byte value.
pub const BYTE_VOCAB: usize = 256;

/// A labelled list of text files.
#[derive(Debug, Clone)]
pub struct TextFolder {
    items: Vec<(PathBuf, i64)>,
    classes: Vec<String>,
    seq_len: usize,
}

fn is_text(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("txt"))
}

impl TextFolder {
    /// Class folders under `root`; classes = sorted subfolder names.
    pub fn open(root: &Path, seq_len: usize) -> Result<Self> {
        let classes = class_folders(root, "root/<class>/<document>.txt")?;
        Self::open_with_classes(root, &classes, seq_len)
    }

    /// Class folders under `root`, with class indices taken from `classes` (the training set's
    /// list, so a test folder uses the same indices). Every subfolder must be listed.
    pub fn open_with_classes(root: &Path, classes: &[String], seq_len: usize) -> Result<Self> {
        if seq_len == 0 {
            return Err(DataError::Config("text documents need a sequence length of at least 1 token".into()));
        }
        let items = labelled_files(root, classes, is_text)?;
        if items.is_empty() {
            return Err(DataError::NotFound { path: root.into(), what: "no .txt documents in the class folders".into() });
        }
        let mut counts = vec![0usize; classes.len()];
        items.iter().for_each(|(_, l)| counts[*l as usize] += 1);
        if let Some(c) = counts.iter().position(|&n| n == 0) {
            return Err(DataError::format(root, format!("class '{}' has no .txt documents", classes[c])));
        }
        Ok(TextFolder { items, classes: classes.to_vec(), seq_len })
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }
}

/// The first `n` bytes of `path` as tokens, padded with 0 to `n`.
pub fn read_tokens(path: &Path, n: usize) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let mut tokens = Vec::with_capacity(n);
    f.take(n as u64).read_to_end(&mut tokens).map_err(|e| DataError::io(path, e))?;
    tokens.resize(n, 0);
    Ok(tokens)
}

impl Dataset for TextFolder {
    fn len(&self) -> usize {
        self.items.len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        let (path, label) = self.items.get(index).ok_or_else(|| {
            DataError::Config(format!("sample index {index} out of range ({} documents)", self.items.len()))
        })?;
        let pixels = read_tokens(path, self.seq_len)?;
        Ok(Sample { pixels, channels: 1, height: 1, width: self.seq_len, label: *label })
    }
    fn num_classes(&self) -> usize {
        self.classes.len()
    }
    fn class_names(&self) -> Option<&[String]> {
        Some(&self.classes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, class: &str, name: &str, text: &[u8]) {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        std::fs::write(dir.join(class).join(name), text).unwrap();
    }

    #[test]
    fn documents_are_cut_or_padded_byte_tokens() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "neg", "a.txt", b"bad film");
        write(d.path(), "pos", "b.txt", b"a good, long film indeed");
        write(d.path(), "pos", "notes.md", b"ignored");
        let t = TextFolder::open(d.path(), 10).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t.classes(), ["neg", "pos"]);
        let a = t.get(0).unwrap();
        assert_eq!((a.label, a.width, a.pixels.as_slice()), (0, 10, &b"bad film\0\0"[..]));
        let b = t.get(1).unwrap();
        assert_eq!((b.label, b.pixels.as_slice()), (1, &b"a good, lo"[..]));
    }

    #[test]
    fn a_token_loader_gives_int64_ids() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a", "0.txt", b"AB");
        write(d.path(), "b", "1.txt", b"xyz!");
        let t = std::sync::Arc::new(TextFolder::open(d.path(), 3).unwrap());
        let cfg = crate::LoaderConfig::eval(2).with_normalize(crate::Normalize::cifar10()).with_tokens();
        let b = crate::DataLoader::new(t, cfg).unwrap().epoch(0).next().unwrap().unwrap();
        assert_eq!((b.images.kind(), b.images.size()), (tch::Kind::Int64, vec![2, 3]));
        assert_eq!(Vec::<i64>::try_from(b.images.flatten(0, 1)).unwrap(), [65, 66, 0, 120, 121, 122]);
        assert_eq!(Vec::<i64>::try_from(b.labels).unwrap(), [0, 1]);
    }

    #[test]
    fn an_empty_class_or_folder_is_named() {
        let d = tempfile::tempdir().unwrap();
        assert!(TextFolder::open(d.path(), 8).unwrap_err().to_string().contains("no class subfolders"));
        write(d.path(), "neg", "a.txt", b"x");
        std::fs::create_dir_all(d.path().join("pos")).unwrap();
        let e = TextFolder::open(d.path(), 8).unwrap_err().to_string();
        assert!(e.contains("class 'pos' has no .txt documents"), "{e}");
        write(d.path(), "pos", "b.txt", b"y");
        let e = TextFolder::open_with_classes(d.path(), &["neg".into()], 8).unwrap_err().to_string();
        assert!(e.contains("'pos' is not one of the 1 known classes"), "{e}");
    }
}
