//! Errors of the datasets module. Every variant names the file involved and what to do.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source} (check that the path exists and is readable; \
             real datasets live in ../shared/datasets or $OTO_DATASETS)")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not found ({what}); check the path, or run the download/preparation step for this dataset")]
    NotFound { path: PathBuf, what: String },
    #[error("{path}: bad format: {msg}")]
    Format { path: PathBuf, msg: String },
    #[error("{path}: truncated: expected {expected} bytes, found {found} (the file is incomplete or corrupt; re-download it)")]
    Truncated {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("{path}: cannot decode image: {msg} (the file is corrupt or not a supported JPEG/PNG)")]
    Image { path: PathBuf, msg: String },
    #[error("{path}: unsupported: {msg}")]
    Unsupported { path: PathBuf, msg: String },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("data loader worker stopped unexpectedly: {0}")]
    Worker(String),
}

pub type Result<T> = std::result::Result<T, DataError>;

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::NotFound {
                path,
                what: "no such file or directory".into(),
            }
        } else {
            DataError::Io { path, source }
        }
    }
    pub(crate) fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        DataError::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }
}

/// Reads a whole file; transparently gunzips when the content starts with the gzip magic
/// (`1f 8b`), whatever the file name says.
pub(crate) fn read_maybe_gz(path: &std::path::Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if raw.len() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
        use std::io::Read;
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| {
                DataError::format(
                    path,
                    format!("corrupt or truncated gzip stream ({e}); re-download the file"),
                )
            })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}
