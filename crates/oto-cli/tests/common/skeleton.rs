//! The committed weight-less PyTorch exports (`tests/fixtures/skeletons/`, made by
//! `tests/py/make_skeletons.py` with torch 2.11.0): the exporters' graphs byte for byte with the
//! random weights emptied. [`export`] refills them with seeded uniform values in each tensor's
//! recorded [min, max], so the tests run real torchvision and user exports without Python torch.
use oto_onnx::pb::{tensor_proto::DataLocation, StringStringEntryProto};
use oto_onnx::{Bytes, ModelProto, TensorProto};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MARK: &str = "oto-skeleton uniform ";

/// Writes the export `set/name` (e.g. `torchvision/resnet18_ts`) with weights filled in, as
/// `dir/name.onnx` (plus `name.onnx.data` when the export used an external-data file), and
/// returns its path.
pub fn export(set_name: &str, dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/skeletons/{set_name}.onnx.gz"));
    let mut bytes = vec![];
    flate2::read::GzDecoder::new(std::fs::File::open(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display())))
        .read_to_end(&mut bytes)
        .unwrap();
    let mut model = oto_onnx::decode_model(&bytes, set_name, None).unwrap();
    let name = set_name.rsplit('/').next().unwrap();
    let path = dir.join(format!("{name}.onnx"));
    let external = take_flag(&mut model);
    let mut data = external.then(|| (format!("{name}.onnx.data"), Vec::<u8>::new()));
    for t in &mut model.graph.as_mut().unwrap().initializer {
        if let Some((lo, hi)) = t.doc_string.as_deref().and_then(|d| d.strip_prefix(MARK)).map(range) {
            t.doc_string = None;
            let values = uniform(t.name(), t.dims.iter().product::<i64>() as usize, lo, hi);
            let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            match data.as_mut() {
                Some((file, buf)) => put_external(t, file, buf, raw),
                None => t.raw_data = Some(Bytes::from(raw)),
            }
        }
    }
    if let Some((file, buf)) = data {
        std::fs::File::create(dir.join(file)).unwrap().write_all(&buf).unwrap();
    }
    oto_onnx::save_model(&model, &path).unwrap();
    path
}

/// Removes the "exported with external data" mark from the metadata, returning whether it was set.
fn take_flag(model: &mut ModelProto) -> bool {
    let before = model.metadata_props.len();
    model.metadata_props.retain(|p| p.key() != "oto-skeleton-external-data");
    model.metadata_props.len() != before
}

fn range(s: &str) -> (f32, f32) {
    let mut it = s.split(' ').map(|v| v.parse::<f32>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

fn put_external(t: &mut TensorProto, file: &str, buf: &mut Vec<u8>, raw: Vec<u8>) {
    let entry = |k: &str, v: String| StringStringEntryProto { key: Some(k.into()), value: Some(v) };
    t.data_location = Some(DataLocation::External as i32);
    t.external_data = vec![entry("location", file.into()), entry("offset", buf.len().to_string()), entry("length", raw.len().to_string())];
    buf.extend_from_slice(&raw);
}

/// `n` values uniform in [lo, hi], seeded by the tensor's name (FNV-1a, then splitmix64).
fn uniform(name: &str, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut s = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            let u = ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
            lo + (hi - lo) * u
        })
        .collect()
}
