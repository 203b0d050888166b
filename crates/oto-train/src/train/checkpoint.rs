//! Checkpoints: one file `checkpoint.ot` (libtorch's named-tensor archive) holding the model's
//! parameters and buffers (`model/<name>`), the optimizer state (`optim/<name>`) and a JSON
//! header as a `u8` tensor (`meta`: epoch, step, seed, configuration fingerprint, metrics so far).
//! Written to a temporary file in the same folder and renamed, so a crash never leaves a
//! half-written checkpoint.
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{Device, Kind, Tensor};

use super::metrics::EpochRecord;
use crate::TrainError;

pub const FORMAT: &str = "oto-checkpoint-1";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    pub format: String,
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer steps done.
    pub step: usize,
    pub seed: u64,
    /// `TrainConfig::fingerprint` of the run that wrote it.
    pub fingerprint: String,
    pub history: Vec<EpochRecord>,
    /// Written within epoch `epoch + 1` (every `checkpoint_every` steps or minutes): how far
    /// it got. `None`: written at the end of epoch `epoch`.
    #[serde(default)]
    pub partial: Option<Partial>,
}

/// An epoch in progress: its batches done and the running sums of its record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    pub batches: usize,
    pub loss_sum: f64,
    pub correct: i64,
    pub seen: usize,
    pub seconds: f64,
    /// The learning rate of the last step done.
    pub lr: f64,
    /// Steps skipped for a non-finite loss or gradient (`skip_nonfinite`).
    #[serde(default)]
    pub skipped: usize,
}

pub struct Checkpoint {
    pub meta: Meta,
    pub model: Vec<(String, Tensor)>,
    pub optim: Vec<(String, Tensor)>,
}

fn ck_err(path: &Path, reason: impl Into<String>) -> TrainError {
    TrainError::Checkpoint { path: path.display().to_string(), reason: reason.into() }
}

/// Writes a checkpoint atomically.
pub fn save(
    path: &Path,
    meta: &Meta,
    model: &[(String, Tensor)],
    optim: &[(String, Tensor)],
) -> Result<(), TrainError> {
    let json = serde_json::to_vec(meta).map_err(|e| ck_err(path, e.to_string()))?;
    let mut named: Vec<(String, Tensor)> = Vec::with_capacity(model.len() + optim.len() + 1);
    named.push(("meta".into(), Tensor::from_slice(&json)));
    for (n, t) in model {
        named.push((format!("model/{n}"), t.detach().to_device(Device::Cpu)));
    }
    for (n, t) in optim {
        named.push((format!("optim/{n}"), t.detach().to_device(Device::Cpu)));
    }
    let bytes: u64 = named.iter().map(|(_, t)| (t.numel() * t.kind().elt_size_in_bytes()) as u64).sum();
    oto_onnx::check_free_space(path, bytes).map_err(|e| ck_err(path, e.to_string()))?;
    let tmp = oto_onnx::temporary_path(path);
    let written = Tensor::save_multi(&named, &tmp)
        .map_err(|e| format!("cannot write: {e}"))
        .and_then(|()| std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| format!("cannot flush to disk: {e}")));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(ck_err(&tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        ck_err(path, format!("cannot move the new checkpoint into place: {e}"))
    })
}

/// Reads a checkpoint; tensors are moved to `device`. Errors say what is wrong with the file.
pub fn load(path: &Path, device: Device) -> Result<Checkpoint, TrainError> {
    parse(&read(path)?, path, device)
}

/// A checkpoint file's bytes (what rank 0 sends to the other ranks on `--resume`).
pub fn read(path: &Path) -> Result<Vec<u8>, TrainError> {
    if !path.is_file() {
        return Err(ck_err(path, "no checkpoint there (train without --resume first, or check --out)"));
    }
    std::fs::read(path).map_err(|e| ck_err(path, format!("cannot read: {e}")))
}

/// A checkpoint from its bytes (read from `path`, named in the errors); tensors are moved to
/// `device`.
pub fn parse(bytes: &[u8], path: &Path, device: Device) -> Result<Checkpoint, TrainError> {
    let named = Tensor::load_multi_from_stream(std::io::Cursor::new(bytes)).map_err(|e| {
        ck_err(path, format!("not a readable checkpoint (truncated or corrupt; delete it to start over): {e}"))
    })?;
    let mut meta = None;
    let (mut model, mut optim) = (vec![], vec![]);
    for (n, t) in named {
        if n == "meta" {
            if t.kind() != Kind::Uint8 {
                return Err(ck_err(path, "the header has the wrong type"));
            }
            let bytes: Vec<u8> = Vec::<u8>::try_from(&t.flatten(0, -1)).map_err(|e| ck_err(path, e.to_string()))?;
            let m: Meta = serde_json::from_slice(&bytes)
                .map_err(|e| ck_err(path, format!("the header is not valid JSON ({e}); the file is corrupt")))?;
            meta = Some(m);
        } else if let Some(k) = n.strip_prefix("model/") {
            model.push((k.to_string(), t.to_device(device)));
        } else if let Some(k) = n.strip_prefix("optim/") {
            optim.push((k.to_string(), t.to_device(device)));
        } else {
            return Err(ck_err(path, format!("unexpected entry '{n}'; not an oto checkpoint")));
        }
    }
    let meta = meta.ok_or_else(|| ck_err(path, "no header; not an oto checkpoint"))?;
    if meta.format != FORMAT {
        return Err(ck_err(path, format!("format '{}' is not {FORMAT}", meta.format)));
    }
    Ok(Checkpoint { meta, model, optim })
}
