//! Load-time checks of a model's header, declarations and weights, run before anything is
//! folded or built, so that a broken or hostile file is refused with a message naming the
//! problem instead of reaching arithmetic that trusts it (issue 25's malformed-model corpus).
//! Each check is linear in the file's size.
use crate::error::{GraphError, Result};
use oto_onnx::pb::{tensor_proto::DataType, GraphProto, ModelProto, TensorProto};
use std::collections::{HashMap, HashSet};

/// The opsets of the default domain oto reads (the op rules follow the ONNX definitions up to
/// opset 23; ONNX 1.23 defines up to 28, mostly new element types: not read yet; the op rules cover
/// opset 2 on — e.g. Pad-2's attribute form — while opset 1's ops carried the legacy
/// `consumed_inputs`; PyTorch exports 7 and later; opset 99 or 0 is a broken file).
pub const MIN_OPSET: i64 = 2;
pub const MAX_OPSET: i64 = 23;
/// The IR versions oto reads (3 = the first with opset imports; 14 = what `onnx.helper.make_model`
/// of ONNX 1.23, the wheel the set-up installs, writes by default).
pub const IR_VERSIONS: std::ops::RangeInclusive<i64> = 3..=14;
/// No real tensor holds more than 2^40 elements (4 TiB of floats): a larger declared size is a
/// corrupt file, and refusing it keeps every later size computation far from overflow.
pub const MAX_ELEMENTS: u64 = 1 << 40;

fn other(m: impl Into<String>) -> GraphError {
    GraphError::Other(m.into())
}

/// Everything about `model` that must hold before the IR is built (see the module docs).
pub(crate) fn check_model(model: &ModelProto) -> Result<()> {
    let gp = model.graph.as_ref().ok_or_else(|| other("the model has no graph"))?;
    match model.ir_version {
        Some(v) if IR_VERSIONS.contains(&v) => {}
        v => {
            return Err(other(format!(
                "the model's IR version is {}; oto reads IR versions {} to {} (re-export the model with a current exporter)",
                v.map_or("missing".into(), |v| v.to_string()),
                IR_VERSIONS.start(),
                IR_VERSIONS.end()
            )))
        }
    }
    let opset = model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .ok_or_else(|| other("the model imports no opset of the default ONNX domain (opset_import is empty); re-export it with opset_version=17"))?
        .version
        .ok_or_else(|| other("the model's opset import of the default ONNX domain has no version; re-export it with opset_version=17"))?;
    if !(MIN_OPSET..=MAX_OPSET).contains(&opset) {
        return Err(other(format!(
            "the model imports opset {opset} of the default ONNX domain; oto reads opsets {MIN_OPSET} to {MAX_OPSET} (re-export with opset_version=17)"
        )));
    }
    check_outputs(gp)?;
    let mut inits = HashMap::new();
    for t in &gp.initializer {
        check_tensor(t)?;
        inits.insert(t.name.as_deref().unwrap_or(""), t);
    }
    check_inputs(gp, &inits)?;
    check_nodes(gp)
}

fn check_outputs(gp: &GraphProto) -> Result<()> {
    if gp.output.is_empty() {
        return Err(other("the graph declares no outputs: there is nothing to compute or compare; re-export the model"));
    }
    let mut seen = HashSet::new();
    for o in &gp.output {
        let name = o.name.as_deref().unwrap_or("");
        if name.is_empty() {
            return Err(other("a graph output has no name; re-export the model"));
        }
        if !seen.insert(name) {
            return Err(other(format!("the graph lists output '{name}' twice; re-export the model")));
        }
    }
    Ok(())
}

/// Declared graph inputs: no negative or absurd dims, and an input that names an initializer
/// (a default value, or an old exporter's listing) declares that initializer's shape.
fn check_inputs(gp: &GraphProto, inits: &HashMap<&str, &TensorProto>) -> Result<()> {
    for vi in &gp.input {
        let name = vi.name.as_deref().unwrap_or("");
        let (_, Some(shape)) = crate::load::declared(vi) else { continue };
        let dims: Vec<Option<i64>> = shape.iter().map(|d| d.known()).collect();
        if let Some(d) = dims.iter().flatten().find(|&&d| d < 0) {
            return Err(other(format!("graph input '{name}' declares a negative dimension {d}; a symbolic dimension is written as a name (dim_param), not as -1")));
        }
        let known: Vec<i64> = dims.iter().flatten().copied().collect();
        if numel(&known).is_none_or(|n| n > MAX_ELEMENTS) {
            return Err(other(format!("graph input '{name}' declares {known:?}: more than 2^40 elements per sample, no real model's input; the file is corrupt")));
        }
        if let Some(t) = inits.get(name) {
            if dims.len() != t.dims.len() || dims.iter().zip(&t.dims).any(|(d, &td)| d.is_some_and(|d| d != td)) {
                return Err(other(format!(
                    "graph input '{name}' declares shape {:?} but its initializer has {:?}; re-export the model",
                    dims.iter().map(|d| d.map_or("?".into(), |d| d.to_string())).collect::<Vec<_>>(),
                    t.dims
                )));
            }
        }
    }
    Ok(())
}

/// Node headers: an op type, named attributes, no NaN float attribute.
fn check_nodes(gp: &GraphProto) -> Result<()> {
    for (i, n) in gp.node.iter().enumerate() {
        let name = n.name.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| format!("#{i}"));
        let op = n.op_type.as_deref().unwrap_or("");
        if op.is_empty() {
            return Err(other(format!("node '{name}' has no op type; the file is corrupt")));
        }
        for a in &n.attribute {
            let aname = a.name.as_deref().unwrap_or("");
            if aname.is_empty() {
                return Err(other(format!("node '{name}' ({op}) has an attribute without a name; the file is corrupt")));
            }
            if a.f.is_some_and(f32::is_nan) || a.floats.iter().any(|f| f.is_nan()) {
                return Err(other(format!("node '{name}' ({op}): attribute '{aname}' is NaN; the file is corrupt")));
            }
        }
    }
    Ok(())
}

/// `Π dims`, `None` on a negative dim or overflow.
fn numel(dims: &[i64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| u64::try_from(d).ok().and_then(|d| acc.checked_mul(d)))
}

/// Bytes per element in `raw_data` (`None`: strings, sub-byte or unknown types, not checked).
fn elem_bytes(dt: i32) -> Option<u64> {
    use DataType as D;
    Some(match DataType::try_from(dt).ok()? {
        D::Float | D::Int32 | D::Uint32 => 4,
        D::Double | D::Int64 | D::Uint64 | D::Complex64 => 8,
        D::Complex128 => 16,
        D::Float16 | D::Bfloat16 | D::Int16 | D::Uint16 => 2,
        D::Uint8 | D::Int8 | D::Bool => 1,
        _ => return None,
    })
}

/// An initializer: a defined type, non-negative dims of a sane size, data of the declared
/// length, and no NaN in float data (±Inf is kept: attention masks hold -inf).
fn check_tensor(t: &TensorProto) -> Result<()> {
    let name = t.name.as_deref().unwrap_or("");
    let bad = |reason: String| Err(GraphError::Other(format!("initializer '{name}': {reason}; the file is corrupt or was cut short")));
    if name.is_empty() {
        return Err(other("an initializer has no name; the file is corrupt"));
    }
    let dt = t.data_type.unwrap_or(0);
    if dt == 0 || DataType::try_from(dt).is_err() {
        return bad(format!("undefined element type {dt}"));
    }
    let Some(n) = numel(&t.dims).filter(|&n| n <= MAX_ELEMENTS) else {
        return bad(format!("dims {:?} are negative or declare more than 2^40 elements", t.dims));
    };
    let typed = [t.float_data.len(), t.int32_data.len(), t.int64_data.len(), t.double_data.len(), t.uint64_data.len(), t.string_data.len()]
        .into_iter()
        .max()
        .unwrap_or(0) as u64;
    match (&t.raw_data, elem_bytes(dt)) {
        (Some(raw), Some(b)) if raw.len() as u64 != n * b => {
            return bad(format!("dims {:?} need {} bytes of {} but the data has {}", t.dims, n * b, oto_onnx::tensor::type_name(dt), raw.len()))
        }
        (None, _) if typed != n && !(dt == DataType::Complex64 as i32 && typed == 2 * n) && t.external_data.is_empty() => {
            return bad(format!("dims {:?} need {n} values but the data has {typed}", t.dims))
        }
        _ => {}
    }
    let first_nan = match (&t.raw_data, dt == DataType::Float as i32) {
        (Some(raw), true) => raw.chunks_exact(4).position(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_nan()),
        _ if oto_onnx::tensor::is_float(t) => oto_onnx::tensor::to_f32(t).ok().and_then(|v| v.iter().position(|x| x.is_nan())),
        _ => None,
    };
    match first_nan {
        Some(i) => Err(other(format!("initializer '{name}' holds NaN (first at flat index {i}): the weights are corrupt (a diverged training run?); fix them before pruning"))),
        None => Ok(()),
    }
}
