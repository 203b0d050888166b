//! Reading and writing ModelProto. Writing is atomic: bytes go to a temporary file in the
//! target directory which is then renamed, so a failure never leaves a half-written model.
use crate::error::OnnxError;
use crate::pb::{tensor_proto::DataLocation, ModelProto, TensorProto};
use prost::bytes::Bytes;
use prost::Message;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Decodes a model from bytes. `what` names the source in errors; `base_dir` is where external
/// data files are looked up (None: external data is an error).
pub fn decode_model(bytes: &[u8], what: &str, base_dir: Option<&Path>) -> Result<ModelProto, OnnxError> {
    decode_model_shared(Bytes::copy_from_slice(bytes), what, base_dir)
}

/// [`decode_model`] from a shared buffer: tensors' `raw_data` point into `bytes` (no copy).
pub fn decode_model_shared(bytes: Bytes, what: &str, base_dir: Option<&Path>) -> Result<ModelProto, OnnxError> {
    if bytes.is_empty() {
        return Err(OnnxError::Empty { what: what.into() });
    }
    let mut model = ModelProto::decode(bytes)
        .map_err(|e| OnnxError::Decode { what: what.into(), reason: e.to_string() })?;
    let Some(graph) = model.graph.as_mut() else {
        return Err(OnnxError::NoGraph { what: what.into() });
    };
    if graph.node.is_empty() && graph.input.is_empty() && graph.output.is_empty() {
        return Err(OnnxError::NoGraph { what: what.into() });
    }
    for t in graph.initializer.iter_mut() {
        resolve_external(t, base_dir)?;
    }
    for node in graph.node.iter_mut() {
        for a in node.attribute.iter_mut() {
            if let Some(t) = a.t.as_mut() {
                resolve_external(t, base_dir)?;
            }
        }
    }
    Ok(model)
}

/// Loads a model file, resolving external data relative to the file's directory.
pub fn load_model(path: &Path) -> Result<ModelProto, OnnxError> {
    let bytes = read_shared(path).map_err(|source| OnnxError::Read { path: path.into(), source })?;
    decode_model_shared(bytes, &path.display().to_string(), path.parent())
}

/// Files at least this large are memory-mapped instead of read.
const MMAP_MIN_BYTES: u64 = 1 << 20;

/// The file's bytes as a shared buffer. Large files are memory-mapped: the weights are then
/// neither copied nor even paged in unless a command reads them (analysis reads almost none).
fn read_shared(path: &Path) -> std::io::Result<Bytes> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.len() >= MMAP_MIN_BYTES {
        // SAFETY: the map is read-only. oto itself never modifies a file in place (it writes a
        // temporary file and renames it over the old one, which leaves this mapping intact);
        // another process truncating the file while oto runs is outside what oto can guard.
        if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
            return Ok(Bytes::from_owner(map));
        }
    }
    let mut buf = Vec::new();
    (&file).read_to_end(&mut buf)?;
    Ok(Bytes::from(buf))
}

pub fn encode_model(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Saves a model atomically (all tensors inline).
pub fn save_model(model: &ModelProto, path: &Path) -> Result<(), OnnxError> {
    write_atomic(path, &encode_model(model))
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, with
/// the data flushed to disk (fsync) before the rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OnnxError> {
    write_atomic_with(path, true, |f| f.write_all(bytes))
}

/// [`write_atomic`] without the fsync: still never half-written when oto fails, but after a
/// power loss the file may be empty. For outputs that are cheap to regenerate (analysis reports,
/// pictures), where the fsync of a multi-MB report would cost more than the whole analysis.
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> Result<(), OnnxError> {
    write_atomic_with(path, false, |f| f.write_all(bytes))
}

/// Where an atomic write of `path` goes first: `.<name>.tmp<pid>` in the same folder.
pub fn temporary_path(path: &Path) -> std::path::PathBuf {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "out".into());
    dir.join(format!(".{name}.tmp{}", std::process::id()))
}

/// Removes the temporary files a killed writer left in `dir` ([`temporary_path`]s whose process
/// is gone); returns how many.
pub fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let me = std::process::id();
    let mut n = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix('.').and_then(|r| r.rsplit_once(".tmp")).and_then(|(_, p)| p.parse::<u32>().ok()) else { continue };
        let alive = pid == me || Path::new(&format!("/proc/{pid}")).exists();
        if !alive && e.file_type().is_ok_and(|t| t.is_file()) && std::fs::remove_file(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

fn write_atomic_with(
    path: &Path,
    sync: bool,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), OnnxError> {
    let werr = |source| OnnxError::Write { path: path.into(), source };
    let tmp = temporary_path(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        write(&mut f)?;
        if sync {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(werr)
}

fn resolve_external(t: &mut TensorProto, base_dir: Option<&Path>) -> Result<(), OnnxError> {
    if t.data_location != Some(DataLocation::External as i32) {
        return Ok(());
    }
    let get = |k: &str| t.external_data.iter().find(|e| e.key.as_deref() == Some(k)).and_then(|e| e.value.clone());
    let name = t.name.clone().unwrap_or_default();
    let location = get("location").ok_or_else(|| OnnxError::ExternalData {
        tensor: name.clone(),
        file: "?".into(),
        reason: "no 'location' key".into(),
    })?;
    let xerr = |reason: String| OnnxError::ExternalData { tensor: name.clone(), file: location.clone(), reason };
    let parse = |k: &str| -> Result<Option<u64>, OnnxError> {
        get(k).map(|v| v.parse::<u64>().map_err(|e| xerr(format!("bad '{k}' value '{v}': {e}")))).transpose()
    };
    let offset = parse("offset")?.unwrap_or(0);
    let length = parse("length")?;
    let dir = base_dir.ok_or_else(|| xerr("model was not loaded from a file".into()))?;
    if Path::new(&location).is_absolute() || location.split(['/', '\\']).any(|c| c == "..") {
        return Err(xerr("location must be a relative path inside the model's directory".into()));
    }
    let mut f = std::fs::File::open(dir.join(&location)).map_err(|e| xerr(e.to_string()))?;
    f.seek(SeekFrom::Start(offset)).map_err(|e| xerr(e.to_string()))?;
    let mut buf = Vec::new();
    match length {
        Some(n) => {
            buf.resize(n as usize, 0);
            f.read_exact(&mut buf).map_err(|e| xerr(format!("cannot read {n} bytes at offset {offset}: {e}")))?;
        }
        None => {
            f.read_to_end(&mut buf).map_err(|e| xerr(e.to_string()))?;
        }
    }
    t.raw_data = Some(buf.into());
    t.external_data.clear();
    t.data_location = None;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::GraphProto;
    use crate::tensor::f32_tensor;

    fn model_with(numel: usize) -> ModelProto {
        let data: Vec<f32> = (0..numel).map(|i| i as f32 * 0.5).collect();
        ModelProto {
            ir_version: Some(8),
            graph: Some(GraphProto {
                name: Some("g".into()),
                initializer: vec![f32_tensor("w", &[numel as i64], &data), f32_tensor("b", &[2], &[1.0, 2.0])],
                output: vec![crate::pb::ValueInfoProto { name: Some("w".into()), ..Default::default() }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn mapped_and_read_files_load_the_same_model() {
        let d = tempfile::tempdir().unwrap();
        // 3 MiB of weights (memory-mapped) and a tiny model (read into memory)
        for numel in [3 << 18, 4] {
            let m = model_with(numel);
            let p = d.path().join(format!("m{numel}.onnx"));
            save_model(&m, &p).unwrap();
            assert_eq!((std::fs::metadata(&p).unwrap().len() >= MMAP_MIN_BYTES), numel > 4);
            let loaded = load_model(&p).unwrap();
            assert_eq!(loaded, m);
            // replacing the file (as oto does: temporary file + rename) leaves the loaded model intact
            save_model(&model_with(8), &p).unwrap();
            assert_eq!(loaded, m);
            assert_eq!(load_model(&p).unwrap(), model_with(8));
        }
    }

    #[test]
    fn unsynced_write_is_atomic() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.json");
        write_atomic_unsynced(&p, b"{}").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{}");
        // a failing writer leaves the old file and no temporary file behind
        let e = write_atomic_with(&p, false, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("boom"))
        });
        assert!(e.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"{}");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
