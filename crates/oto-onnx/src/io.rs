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
    write_atomic_with(path, true, bytes.len() as u64, |f| f.write_all(bytes))
}

/// [`write_atomic`] without the fsync: still never half-written when oto fails, but after a
/// power loss the file may be empty. For outputs that are cheap to regenerate (analysis reports,
/// pictures), where the fsync of a multi-MB report would cost more than the whole analysis.
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> Result<(), OnnxError> {
    write_atomic_with(path, false, bytes.len() as u64, |f| f.write_all(bytes))
}

/// Bytes an unprivileged writer may still use on the disk holding `dir` (`None` where unknown).
pub fn free_bytes(dir: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        let s = rustix::fs::statvfs(dir).ok()?;
        Some(s.f_bavail.saturating_mul(s.f_frsize))
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        None
    }
}

/// Refuses, before anything is written, to put `need` bytes at `path` when its disk has less
/// free (plus 1 MiB): the user hears so at once instead of from a failed write.
pub fn check_free_space(path: &Path, need: u64) -> Result<(), OnnxError> {
    // the nearest existing folder (an output folder may not exist yet)
    let mut dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    while !dir.is_dir() {
        match dir.parent() {
            Some(d) if !d.as_os_str().is_empty() => dir = d,
            _ => dir = Path::new("."),
        }
        if dir == Path::new(".") {
            break;
        }
    }
    match free_bytes(dir) {
        Some(free) if free < need.saturating_add(1 << 20) => Err(OnnxError::NoSpace { path: path.into(), need, free }),
        _ => Ok(()),
    }
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
    len: u64,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), OnnxError> {
    check_free_space(path, len)?;
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
    let path = confined(dir, &location).map_err(xerr)?;
    let mut f = std::fs::File::open(&path).map_err(|e| xerr(e.to_string()))?;
    // bounded by the file's real size, never by a declared length (nothing allocated up front)
    let size = f.metadata().map_err(|e| xerr(e.to_string()))?.len();
    let n = match length {
        Some(n) if offset.checked_add(n).is_none_or(|end| end > size) => {
            return Err(xerr(format!("declares {n} bytes at offset {offset}, but the file has {size} bytes (truncated or corrupt external data)")))
        }
        Some(n) => n,
        None if offset > size => return Err(xerr(format!("offset {offset} is past the end of the file ({size} bytes)"))),
        None => size - offset,
    };
    f.seek(SeekFrom::Start(offset)).map_err(|e| xerr(e.to_string()))?;
    let mut buf = Vec::with_capacity(n as usize);
    (&mut f).take(n).read_to_end(&mut buf).map_err(|e| xerr(e.to_string()))?;
    if (buf.len() as u64) < n {
        return Err(xerr(format!("cannot read {n} bytes at offset {offset}: the file ended after {} (it changed while being read?)", buf.len())));
    }
    t.raw_data = Some(buf.into());
    t.external_data.clear();
    t.data_location = None;
    Ok(())
}

/// The regular file `location` names inside `dir`, symlinks resolved: refused when it resolves
/// outside `dir` (a `..`, an absolute path, or a symlink to elsewhere) or is not a regular file
/// (a folder, `/dev/zero`, a FIFO).
fn confined(dir: &Path, location: &str) -> Result<std::path::PathBuf, String> {
    if location.is_empty() {
        return Err("the location is empty".into());
    }
    if Path::new(location).is_absolute() || location.split(['/', '\\']).any(|c| c == "..") {
        return Err("location must be a relative path inside the model's directory".into());
    }
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir }; // "m.onnx" lives in "."
    let root = std::fs::canonicalize(dir).map_err(|e| format!("the model's directory {}: {e}", dir.display()))?;
    let real = std::fs::canonicalize(root.join(location)).map_err(|e| e.to_string())?;
    if !real.starts_with(&root) {
        return Err(format!("location resolves to {} (through a symlink), outside the model's directory {}; copy the data next to the model", real.display(), root.display()));
    }
    if !std::fs::metadata(&real).map_err(|e| e.to_string())?.is_file() {
        return Err(format!("location resolves to {}, which is not a regular file", real.display()));
    }
    Ok(real)
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
        let e = write_atomic_with(&p, false, 4, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("boom"))
        });
        assert!(e.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"{}");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_write_larger_than_the_free_space_is_refused_up_front() {
        let d = tempfile::tempdir().unwrap();
        let free = free_bytes(d.path()).expect("statvfs works on Linux");
        assert!(free > 0);
        let p = d.path().join("no/such/folder/m.onnx"); // judged by the nearest existing folder
        let e = check_free_space(&p, free + (1 << 30)).unwrap_err();
        assert!(matches!(e, OnnxError::NoSpace { .. }) && e.to_string().contains("MB free"), "{e}");
        check_free_space(&p, 1 << 10).unwrap();
    }

    /// A model whose initializer 'w' (4 floats) lives in external file `location` with `keys`.
    fn external(dir: &Path, location: &str, keys: &[(&str, &str)]) -> std::path::PathBuf {
        let mut m = model_with(4);
        let t = &mut m.graph.as_mut().unwrap().initializer[0];
        t.raw_data = None;
        t.float_data.clear();
        t.data_location = Some(DataLocation::External as i32);
        t.external_data = std::iter::once(("location", location))
            .chain(keys.iter().copied())
            .map(|(k, v)| crate::pb::StringStringEntryProto { key: Some(k.into()), value: Some(v.into()) })
            .collect();
        let p = dir.join("m.onnx");
        save_model(&m, &p).unwrap();
        p
    }

    #[test]
    fn external_data_is_confined_and_bounded_by_the_real_file() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let bytes: Vec<u8> = [0.0f32, 0.5, 1.0, 1.5].iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(d.path().join("w.bin"), &bytes).unwrap();
        std::fs::write(outside.path().join("secret.bin"), &bytes).unwrap();
        let err = |loc: &str, keys: &[(&str, &str)]| load_model(&external(d.path(), loc, keys)).unwrap_err().to_string();
        // inside the folder: loads, with or without a length
        assert_eq!(load_model(&external(d.path(), "w.bin", &[("length", "16")])).unwrap(), model_with(4));
        assert_eq!(load_model(&external(d.path(), "w.bin", &[])).unwrap(), model_with(4));
        // a declared length the file does not hold (2^62: nothing allocated), an offset past the end
        assert!(err("w.bin", &[("length", "4611686018427387904")]).contains("the file has 16 bytes"), "{}", err("w.bin", &[("length", "4611686018427387904")]));
        assert!(err("w.bin", &[("offset", "8"), ("length", "16")]).contains("the file has 16 bytes"));
        assert!(err("w.bin", &[("offset", "17")]).contains("past the end"));
        assert!(err("w.bin", &[("offset", "18446744073709551615"), ("length", "2")]).contains("declares"));
        // outside the folder: '..', absolute, and symlinks to a file, to a folder, to /dev/zero
        assert!(err("../secret.bin", &[]).contains("inside the model's directory"));
        assert!(err(outside.path().join("secret.bin").to_str().unwrap(), &[]).contains("inside the model's directory"));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(outside.path().join("secret.bin"), d.path().join("link.bin")).unwrap();
            std::os::unix::fs::symlink(outside.path(), d.path().join("sub")).unwrap();
            std::os::unix::fs::symlink("/dev/zero", d.path().join("zero.bin")).unwrap();
            std::fs::create_dir(d.path().join("dir.bin")).unwrap();
            assert!(err("link.bin", &[]).contains("outside the model's directory"), "{}", err("link.bin", &[]));
            assert!(err("sub/secret.bin", &[]).contains("outside the model's directory"));
            assert!(err("zero.bin", &[("length", "16")]).contains("outside the model's directory"));
            assert!(err("dir.bin", &[]).contains("not a regular file"));
            // a symlink that stays inside the folder is fine
            std::os::unix::fs::symlink("w.bin", d.path().join("alias.bin")).unwrap();
            assert_eq!(load_model(&external(d.path(), "alias.bin", &[])).unwrap(), model_with(4));
        }
    }
}
