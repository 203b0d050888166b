//! The executor: an ONNX graph ([`oto_graph::Graph`]) compiled into a differentiable program on
//! tch (libtorch eager ops), so that a model can be trained directly from its ONNX form.
//!
//! Design (see docs/training-engine.md):
//! * [`Executor::new`] precompiles the graph once into a `Vec<Step>`: every node's typed op
//!   ([`oto_graph::Op`], attributes parsed at load) becomes a `kernel::Kernel` in `compile.rs`
//!   (unsupported ops and attribute variants fail here, before training; [`supports`] tells
//!   which ops have a kernel); the kernels live in one file per family (`elementwise.rs`,
//!   `conv.rs`, `norm.rs`, `pool.rs`, `resize.rs`, `shape.rs`) and `run.rs` dispatches to them;
//!   constant inputs (initializers, `Constant` nodes, integer shape computations the IR folded
//!   statically) are materialised once — float ones on the device, integer ones as small CPU
//!   tensors — and nodes whose outputs are all constant, or that no graph output depends on,
//!   are dropped.
//! * [`Executor::forward`] walks the steps over value slots (`Vec<Option<Tensor>>` indexed by
//!   `ValueId`), freeing each slot after its last consumer. Integer shape chains (`Shape → Gather
//!   → Concat → Reshape` with a symbolic batch) run eagerly on CPU int64 tensors, which read back
//!   without a device sync; all float work goes through libtorch's fused kernels.
//! * Trainable initializers are leaf tensors with `requires_grad`; everything else is a plain
//!   tensor (BatchNorm running statistics are updated in place in training mode).
use oto_graph::{Graph, ValueId};
use std::collections::{HashMap, HashSet};
use tch::{Device, Kind, Tensor};

mod compile;
mod conv;
mod elementwise;
pub mod error;
mod kernel;
pub use kernel::RankSum;
mod norm;
mod pool;
mod resize;
mod run;
mod shape;

pub use compile::{supports, unsupported_ops};
pub use error::ExecError;

/// A trainable tensor (an ONNX initializer) handed out by [`Executor::params`] to an optimizer.
#[derive(Debug)]
pub struct Param {
    /// Initializer name in the ONNX graph.
    pub name: String,
    /// Its value id in the `oto_graph::Graph`.
    pub value_id: usize,
    /// The live tensor (requires_grad), shared with the executor (shallow clone).
    pub tensor: Tensor,
}

/// One compiled node.
struct Step {
    name: String,
    op_type: String,
    kernel: kernel::Kernel,
    ins: Vec<Option<ValueId>>,
    outs: Vec<Option<ValueId>>,
    /// Slots to free after this step (values whose last consumer it is).
    free: Vec<ValueId>,
}

/// A graph input: its id, name and declared shape (`None` = symbolic dimension).
struct InputSpec {
    id: ValueId,
    name: String,
    dims: Option<Vec<Option<i64>>>,
    float: bool,
}

/// A compiled ONNX graph that runs (and differentiates) on tch.
pub struct Executor {
    device: Device,
    kind: Kind,
    /// Constant tensors by value id: initializers (params and buffers), Constant nodes, folded
    /// shape values.
    consts: Vec<Option<Tensor>>,
    steps: Vec<Step>,
    inputs: Vec<InputSpec>,
    outputs: Vec<ValueId>,
    /// Trainable initializers in initializer order (name, id).
    params: Named,
    /// All float initializers (params and buffers) in initializer order (name, id).
    state: Named,
}

fn onnx_float(dt: i32) -> bool {
    matches!(dt, 1 | 10 | 11 | 16)
}

impl Executor {
    /// Compiles `graph` for `device` in float32. `trainable`: value ids whose initializers become
    /// leaf tensors with `requires_grad` (normally `oto_graph::zig::analyze(&g).trainable`).
    /// Fails with [`ExecError::UnsupportedOp`] naming op and node for any op the engine lacks.
    pub fn new(graph: &Graph, trainable: &[ValueId], device: Device) -> Result<Executor, ExecError> {
        Self::with_kind(graph, trainable, device, Kind::Float)
    }

    /// Like [`Executor::new`] with another floating kind for all float tensors (`Kind::Double`
    /// for finite-difference gradient checks).
    pub fn with_kind(graph: &Graph, trainable: &[ValueId], device: Device, kind: Kind) -> Result<Executor, ExecError> {
        let (mut consts, params, state) = load_initializers(graph, trainable, device, kind)?;
        load_constants(graph, &mut consts, device, kind)?;
        let keep = live_nodes(graph, &consts);
        let mut steps = compile_steps(graph, &keep, &consts, kind)?;
        set_free_lists(&mut steps, &consts, &graph.outputs);
        let inputs = graph
            .inputs
            .iter()
            .map(|&id| {
                let v = graph.value(id);
                InputSpec {
                    id,
                    name: v.name.clone(),
                    dims: v.shape.as_ref().map(|s| s.iter().map(|d| d.known()).collect()),
                    float: v.dtype == 0 || onnx_float(v.dtype),
                }
            })
            .collect();
        Ok(Executor { device, kind, consts, steps, inputs, outputs: graph.outputs.clone(), params, state })
    }

    /// Runs the graph; `inputs` in graph-input order; returns outputs in graph-output order.
    /// `train = true`: BatchNorm uses batch statistics and updates its running statistics in
    /// place (running = momentum·running + (1−momentum)·batch, unbiased batch variance), Dropout
    /// is active. `train = false`: inference semantics.
    pub fn forward(&self, inputs: &[Tensor], train: bool) -> Result<Vec<Tensor>, ExecError> {
        self.forward_in(inputs, train, None)
    }

    /// [`Executor::forward`] on one rank of data-parallel training with synchronised BatchNorm:
    /// in training, BatchNorm's batch statistics are summed over the ranks by `rank_sum`.
    pub fn forward_in(&self, inputs: &[Tensor], train: bool, rank_sum: Option<&RankSum>) -> Result<Vec<Tensor>, ExecError> {
        if inputs.len() != self.inputs.len() {
            let names: Vec<&str> = self.inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(ExecError::Config(format!(
                "the graph takes {} input(s) {names:?}, got {}",
                self.inputs.len(),
                inputs.len()
            )));
        }
        let mut slots: Vec<Option<Tensor>> = (0..self.consts.len()).map(|_| None).collect();
        for (spec, t) in self.inputs.iter().zip(inputs) {
            slots[spec.id] = Some(self.check_input(spec, t)?);
        }
        let ctx = kernel::Ctx { device: self.device, kind: self.kind, train, rank_sum };
        for s in &self.steps {
            let outs = {
                let xs: Vec<Option<&Tensor>> = s
                    .ins
                    .iter()
                    .map(|i| i.and_then(|i| slots[i].as_ref().or(self.consts[i].as_ref())))
                    .collect();
                run::run(&s.kernel, &xs, s.outs.len(), &ctx).map_err(|e| ExecError::Op {
                    node: s.name.clone(),
                    op: s.op_type.clone(),
                    reason: e.0,
                })?
            };
            for (o, t) in s.outs.iter().zip(outs) {
                if let Some(o) = o {
                    slots[*o] = Some(t);
                }
            }
            for &v in &s.free {
                slots[v] = None;
            }
        }
        self.outputs
            .iter()
            .map(|&o| {
                slots[o]
                    .take()
                    .or_else(|| self.consts[o].as_ref().map(|t| t.shallow_clone()))
                    .ok_or_else(|| ExecError::Config(format!("graph output {o} was not computed")))
            })
            .collect()
    }

    fn check_input(&self, spec: &InputSpec, t: &Tensor) -> Result<Tensor, ExecError> {
        let got = t.size();
        if let Some(dims) = &spec.dims {
            let ok = dims.len() == got.len() && dims.iter().zip(&got).all(|(d, g)| d.is_none_or(|d| d == *g));
            if !ok {
                let want: Vec<String> = dims.iter().map(|d| d.map_or("?".into(), |d| d.to_string())).collect();
                return Err(ExecError::Op {
                    node: format!("graph input '{}'", spec.name),
                    op: "Input".into(),
                    reason: format!("expected shape [{}], got {got:?}", want.join(", ")),
                });
            }
        }
        let mut t = t.shallow_clone();
        if t.device() != self.device {
            t = t.to_device(self.device);
        }
        if spec.float && t.kind() != self.kind && t.is_floating_point() {
            t = t.to_kind(self.kind);
        }
        Ok(t)
    }

    /// The trainable tensors (shallow clones sharing storage), in initializer order.
    pub fn params(&self) -> Vec<Param> {
        self.params
            .iter()
            .map(|(name, id)| Param {
                name: name.clone(),
                value_id: *id,
                tensor: self.consts[*id].as_ref().expect("param tensor").shallow_clone(),
            })
            .collect()
    }

    /// All state for checkpoints: every float initializer (params and buffers such as BN
    /// running statistics), by initializer name, in initializer order (shallow clones).
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        self.state
            .iter()
            .map(|(name, id)| (name.clone(), self.consts[*id].as_ref().expect("state tensor").shallow_clone()))
            .collect()
    }

    /// Loads tensors saved by [`Executor::named_tensors`] (copied in place, so parameters handed
    /// out by [`Executor::params`] see the new values). Every state tensor must be present with
    /// its shape; unknown names are an error.
    pub fn load_named_tensors(&mut self, t: &[(String, Tensor)]) -> Result<(), ExecError> {
        let by_name: HashMap<&str, ValueId> = self.state.iter().map(|(n, id)| (n.as_str(), *id)).collect();
        let mut seen = HashSet::new();
        let bad = |reason: String| ExecError::Checkpoint { path: "<named tensors>".into(), reason };
        for (name, src) in t {
            let Some(&id) = by_name.get(name.as_str()) else {
                return Err(bad(format!("tensor '{name}' is not a float initializer of this graph")));
            };
            let dst = self.consts[id].as_mut().expect("state tensor");
            if dst.size() != src.size() {
                return Err(bad(format!("tensor '{name}' has shape {:?}, the graph needs {:?}", src.size(), dst.size())));
            }
            let src = src.to_device(self.device).to_kind(self.kind);
            tch::no_grad(|| dst.f_copy_(&src))?;
            seen.insert(id);
        }
        let missing: Vec<&str> = self.state.iter().filter(|(_, id)| !seen.contains(id)).map(|(n, _)| n.as_str()).collect();
        if !missing.is_empty() {
            return Err(bad(format!("missing tensors: {}", missing.join(", "))));
        }
        Ok(())
    }

    /// Copies current params and buffers back into the graph's initializers (f32), so the
    /// trained model can be saved as ONNX (eval-mode BatchNorm with the learned running stats).
    pub fn write_back(&self, graph: &mut Graph) -> Result<(), ExecError> {
        for (name, id) in &self.state {
            let t = self.consts[*id].as_ref().expect("state tensor");
            let gid = graph
                .id(name)
                .filter(|&g| graph.value(g).init.is_some())
                .ok_or_else(|| ExecError::Config(format!("write_back: the graph has no initializer '{name}'")))?;
            let dims = t.size();
            let v = graph.value_mut(gid);
            let init = v.init.as_mut().expect("checked");
            if init.dims != dims {
                return Err(ExecError::Config(format!(
                    "write_back: initializer '{name}' has shape {:?} in the graph, {dims:?} in the executor",
                    init.dims
                )));
            }
            let flat = t.detach().to_device(Device::Cpu).to_kind(Kind::Float).contiguous().view([-1]);
            let data = Vec::<f32>::try_from(&flat)?;
            oto_onnx::tensor::set_f32(init, &dims, &data);
            v.dtype = oto_onnx::tensor::FLOAT;
        }
        Ok(())
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// The floating kind of all float tensors (Float unless built with [`Executor::with_kind`]).
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Number of compiled steps (nodes left after constant folding and dead-code removal).
    pub fn num_steps(&self) -> usize {
        self.steps.len()
    }
}

/// Initializers as (name, id), in initializer order.
type Named = Vec<(String, ValueId)>;

/// Tensors by value id for the initializers, with the trainable ones (params) and all float
/// ones (state) listed in initializer order.
fn load_initializers(
    graph: &Graph,
    trainable: &[ValueId],
    device: Device,
    kind: Kind,
) -> Result<(Vec<Option<Tensor>>, Named, Named), ExecError> {
    let trainable: HashSet<ValueId> = trainable.iter().copied().collect();
    let mut consts: Vec<Option<Tensor>> = (0..graph.values.len()).map(|_| None).collect();
    let mut params = vec![];
    let mut state = vec![];
    for id in graph.initializer_ids() {
        let v = graph.value(id);
        let Some(t) = v.init.as_ref() else { continue };
        let tensor = const_tensor(t, device, kind).map_err(|reason| ExecError::Op {
            node: format!("initializer '{}'", v.name),
            op: "Initializer".into(),
            reason,
        })?;
        let is_float = oto_onnx::tensor::is_float(t);
        if is_float {
            state.push((v.name.clone(), id));
        }
        let tensor = if trainable.contains(&id) && is_float {
            params.push((v.name.clone(), id));
            tensor.set_requires_grad(true)
        } else {
            tensor
        };
        consts[id] = Some(tensor);
    }
    Ok((consts, params, state))
}

/// Constant-node outputs and statically folded integer values.
fn load_constants(graph: &Graph, consts: &mut [Option<Tensor>], device: Device, kind: Kind) -> Result<(), ExecError> {
    for (id, v) in graph.values.iter().enumerate() {
        if consts[id].is_some() || graph.inputs.contains(&id) {
            continue;
        }
        if let Some(t) = v.init.as_ref() {
            let tensor = const_tensor(t, device, kind).map_err(|reason| ExecError::Op {
                node: format!("constant '{}'", v.name),
                op: "Constant".into(),
                reason,
            })?;
            consts[id] = Some(tensor);
        } else if let Some(vals) = graph.const_i64(id) {
            if v.producer.is_none() {
                continue;
            }
            let shape = graph.static_shape(id).filter(|s| s.iter().product::<i64>() == vals.len() as i64);
            let shape = shape.unwrap_or_else(|| vec![vals.len() as i64]);
            let t = Tensor::from_slice(&vals).reshape(&shape);
            // folded comparisons (Equal on a shape) are boolean
            const BOOL: i32 = 9;
            consts[id] = Some(match v.dtype {
                d if onnx_float(d) => t.to_kind(kind).to_device(device),
                BOOL => t.to_kind(Kind::Bool).to_device(device),
                _ => t,
            });
        }
    }
    Ok(())
}

/// Liveness: the nodes a graph output depends on (through values that are not constant).
fn live_nodes(graph: &Graph, consts: &[Option<Tensor>]) -> Vec<bool> {
    let mut needed = vec![false; graph.values.len()];
    for &o in &graph.outputs {
        needed[o] = true;
    }
    let mut keep = vec![false; graph.nodes.len()];
    for (nid, n) in graph.nodes.iter().enumerate().rev() {
        let outs_needed = n.outputs.iter().flatten().any(|&o| needed[o] && consts[o].is_none());
        if !outs_needed {
            continue;
        }
        keep[nid] = true;
        for i in n.inputs.iter().flatten() {
            needed[*i] = true;
        }
    }
    keep
}

/// Compiles the kept nodes in order, checking that every input is computed before its use.
fn compile_steps(graph: &Graph, keep: &[bool], consts: &[Option<Tensor>], kind: Kind) -> Result<Vec<Step>, ExecError> {
    let mut steps = vec![];
    let mut available: Vec<bool> = consts.iter().map(|c| c.is_some()).collect();
    for &i in &graph.inputs {
        available[i] = true;
    }
    for (n, _) in graph.nodes.iter().zip(keep).filter(|(_, k)| **k) {
        let kernel = compile::compile(graph, n, kind)?;
        for (slot, i) in n.inputs.iter().enumerate() {
            if let Some(i) = i {
                if !available[*i] {
                    return Err(ExecError::Op {
                        node: n.name.clone(),
                        op: n.op_type.clone(),
                        reason: format!("input {slot} ('{}') is not computed before this node", graph.value(*i).name),
                    });
                }
            }
        }
        for o in n.outputs.iter().flatten() {
            available[*o] = true;
        }
        steps.push(Step {
            name: n.name.clone(),
            op_type: n.op_type.clone(),
            kernel,
            ins: n.inputs.clone(),
            outs: n.outputs.clone(),
            free: vec![],
        });
    }
    for &o in &graph.outputs {
        if !available[o] {
            return Err(ExecError::Config(format!("graph output '{}' is never computed", graph.value(o).name)));
        }
    }
    Ok(steps)
}

/// Last uses → free lists (graph outputs and constants are never freed).
fn set_free_lists(steps: &mut [Step], consts: &[Option<Tensor>], outputs: &[ValueId]) {
    let mut last: HashMap<ValueId, usize> = HashMap::new();
    for (k, s) in steps.iter().enumerate() {
        for i in s.ins.iter().flatten() {
            if consts[*i].is_none() {
                last.insert(*i, k);
            }
        }
        for o in s.outs.iter().flatten() {
            last.entry(*o).or_insert(k); // unused outputs die right away
        }
    }
    for (v, k) in last {
        if !outputs.contains(&v) {
            steps[k].free.push(v);
        }
    }
}

/// An initializer / constant as a tensor: floats in `kind` on `device`; integers and bools as
/// int64 / bool on the CPU (shape arithmetic reads them back without a device sync).
fn const_tensor(t: &oto_onnx::TensorProto, device: Device, kind: Kind) -> Result<Tensor, String> {
    let dims = t.dims.clone();
    if oto_onnx::tensor::is_float(t) {
        let v = oto_onnx::tensor::to_f32(t).map_err(|e| e.to_string())?;
        let x = Tensor::from_slice(&v).reshape(&dims);
        Ok(x.to_kind(kind).to_device(device))
    } else {
        let v = oto_onnx::tensor::to_i64(t).map_err(|e| e.to_string())?;
        let x = Tensor::from_slice(&v).reshape(&dims);
        Ok(if t.data_type == Some(oto_onnx::tensor::BOOL) { x.to_kind(Kind::Bool) } else { x })
    }
}
