"""One cell of the side-by-side benchmark (run by bench.py in its own process, which measures
its wall time and peak memory): one tool trains one model at one seed for `--steps` SGD steps
(batch 128, lr 0.1 cosine to 0 per step, momentum 0.9, weight decay 5e-4, CIFAR-10 with oto's
augmentation) to a MACs target, and prints one JSON line:
{tool, model, seed, steps, top1, macs, params, macs_full, params_full, exact, note}.

tools:
  dense     PyTorch eager, no pruning (the reference)
  tp        Torch-Pruning 1.6.1: dense for the first half of the steps, prune to the MACs target
            with group-L2 magnitude (its recommended GroupMagnitudeImportance), fine-tune the rest
            (one cosine schedule over all steps)
  otov3     only-train-once 3.0.1 HESSO (its tutorial's recipe: pruning from 10 % of the steps over
            10 % in 10 periods), target group sparsity calibrated to the MACs target, its own
            construct_subnet
  oto       oto train --target-flops (DHSPG, the default pruner) on the model's ONNX export
  oto-hesso oto train --pruner hesso --target-flops
  oto-dense oto train with no pruning: oto's training pipeline alone (data, augmentation, loss,
            optimizer), the control that separates a pipeline gap from a pruner gap
  oto-arch  PyTorch eager, no pruning, on the architecture oto's DHSPG cell of the same model,
            width, seed, steps and target ended with (its per-layer widths; VGG only), trained
            from scratch: the control that separates what the smaller architecture can reach in
            the budget from what DHSPG's training gives it
"""
import argparse, copy, json, math, os, subprocess, sys, tempfile
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import cifar, nets

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def sgd(params, lr=0.1):
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=5e-4)


def cosine(step, steps):
    return 0.1 * 0.5 * (1 + math.cos(math.pi * step / steps))


def train(model, opt, data, first, last, steps):
    """SGD steps first..last of a cosine schedule over `steps`."""
    model.train()
    for step in range(first, last):
        for g in opt.param_groups:
            g["lr"] = cosine(step, steps)
        x, y = next(data)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def dense(a, model, d):
    train(model, sgd(model.parameters()), d["batches"], 0, a.steps, a.steps)
    return model, True, ""


def torch_pruning(a, model, d):
    import torch_pruning as tp
    half = a.steps // 2
    opt = sgd(model.parameters())
    train(model, opt, d["batches"], 0, half, a.steps)
    x = torch.randn(1, 3, 32, 32)
    full, _ = nets.macs_params(model)
    pruner = tp.pruner.MetaPruner(model, x, importance=tp.importance.GroupMagnitudeImportance(p=2), pruning_ratio=0.95,
                                  iterative_steps=200, ignored_layers=[model.fc])
    while nets.macs_params(model)[0] > a.flops * full:
        pruner.step()
    opt2 = sgd(model.parameters())  # the pruned tensors are new parameters
    train(model, opt2, d["batches"], half, a.steps, a.steps)
    return model, True, ""


def import_otov3():
    """only-train-once 3.0.1 imports TorchScript-exporter internals that torch 2.11 moved under
    torch.onnx._internal.torchscript_exporter: aliased back; nothing else of it changes."""
    import importlib
    ts = "torch.onnx._internal.torchscript_exporter"
    for old, new in [("torch.onnx._globals", "_globals"), ("torch.onnx.symbolic_helper", "symbolic_helper"), ("torch.onnx.utils", "utils")]:
        try:
            importlib.import_module(old)
        except ImportError:
            sys.modules[old] = importlib.import_module(f"{ts}.{new}")
            setattr(torch.onnx, old.rsplit(".", 1)[1], sys.modules[old])
    u = sys.modules.get("torch.onnx.utils") or importlib.import_module(f"{ts}.utils")
    for name in ["_optimize_trace", "_optimize_graph"]:
        if not hasattr(torch.onnx, name) and hasattr(u, name.replace("_optimize_trace", "_optimize_graph")):
            setattr(torch.onnx, name, getattr(u, "_optimize_graph"))
    if not torch.cuda.is_available():
        # its HESSO moves a mask with an unconditional .cuda(): on a CPU machine that is a no-op
        torch.Tensor.cuda = lambda self, *args, **kwargs: self
    from only_train_once import OTO
    return OTO


def otov3_run(OTO, a, init, d, s):
    """HESSO from the initial weights `init` to group sparsity `s`: (trained full, compressed)."""
    model = copy.deepcopy(init)
    x = torch.randn(1, 3, 32, 32)
    oto = OTO(model, x)
    tenth = max(10, a.steps // 10)
    opt = oto.hesso(variant="sgd", lr=0.1, weight_decay=5e-4, first_momentum=0.9, target_group_sparsity=s,
                    start_pruning_step=tenth, pruning_steps=tenth, pruning_periods=10)
    train(model, opt, cifar.batches(d["xtr"], d["ytr"], 128, a.seed), 0, a.steps, a.steps)
    with tempfile.TemporaryDirectory() as tmp:
        oto.construct_subnet(out_dir=tmp)
        small = torch.load(oto.compressed_model_path, weights_only=False)
    return model, small


def otov3(a, model, d):
    """only-train-once takes a group-sparsity target, not a MACs one: the sparsity is first set
    from random zero groups (bisection), then corrected from the MACs each full run keeps (a
    bracket kept around the target, regula falsi inside it; at most 5 runs from the same initial
    weights and data order, until one is within 2 points); the run closest to the target is
    reported."""
    OTO = import_otov3()
    x = torch.randn(1, 3, 32, 32)
    full, _ = nets.macs_params(model)
    lo, hi = 0.0, 1.0
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(10):
            s = (lo + hi) / 2
            o = OTO(copy.deepcopy(model), x)
            o.random_set_zero_groups(target_group_sparsity=s)
            o.construct_subnet(out_dir=tmp)
            kept = nets.macs_params(torch.load(o.compressed_model_path, weights_only=False))[0] / full
            lo, hi = (s, hi) if kept > a.flops else (lo, s)
    tried, runs = [], []
    s = (lo + hi) / 2
    below, above = (0.0, 1.0), (1.0, 0.0)  # (sparsity, MACs kept) bracketing the target
    for _ in range(5):
        trained, small = otov3_run(OTO, a, model, d, s)
        kept = nets.macs_params(small)[0] / full
        tried.append((round(s, 3), round(kept, 3)))
        runs.append((abs(kept - a.flops), trained, small))
        if abs(kept - a.flops) <= 0.02:
            break
        if kept > a.flops:
            below = (s, kept)
        else:
            above = (s, kept)
        if len(tried) == 1:
            s = s + (kept - a.flops)  # first correction: one point, unit slope
        else:  # regula falsi between the bracket's ends
            (s1, k1), (s2, k2) = below, above
            s = s1 + (k1 - a.flops) * (s2 - s1) / (k1 - k2)
        # stay strictly inside the bracket (MACs kept falls as the sparsity grows)
        s = min(max(s, below[0] + 0.1 * (above[0] - below[0])), above[0] - 0.1 * (above[0] - below[0]))
        s = min(max(s, 0.01), 0.99)
    _, trained, small = min(runs, key=lambda r: r[0])  # the run closest to the target
    trained.eval(), small.eval()
    xt = cifar.normalise(d["xte"][:256])
    with torch.no_grad():
        diff = (trained(xt) - small(xt)).abs().max().item() / trained(xt).abs().max().item()
    return small, diff < 1e-4, f"(sparsity, MACs kept) per run {tried}; compressed vs full rel diff {diff:.1e}"


def oto(a, model, d, pruner):
    with tempfile.TemporaryDirectory() as tmp:
        f = os.path.join(tmp, "model.onnx")
        torch.onnx.export(model.eval(), (torch.randn(1, 3, 32, 32),), f, dynamo=False, opset_version=17,
                          training=torch.onnx.TrainingMode.PRESERVE, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
        spe = len(d["ytr"]) // 128
        epochs = max(1, round(a.steps / spe))
        out = os.path.join(tmp, "run")
        cmd = [a.oto, "train", f, "--init", "keep", "--dataset", "cifar10", "--data", a.data, "--epochs", str(epochs),
               "--batch-size", "128", "--lr", "0.1", "--schedule", "cosine", "--momentum", "0.9", "--weight-decay", "5e-4",
               "--pruner", pruner, "--target-flops", str(a.flops), "--seed", str(a.seed),
               "--threads", str(torch.get_num_threads()), "--progress", "plain", "--out", out] + a.oto_args.split()
        if "--pruner" in a.oto_args.split() or pruner is None:  # a variant's own pruner, or none
            i = cmd.index("--pruner")
            del cmd[i:i + 2]
        if pruner is None:  # oto-dense: no target, no pruning
            i = cmd.index("--target-flops")
            del cmd[i:i + 2]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(r.stderr[-2000:])
        s = json.load(open(os.path.join(out, "summary.json")))
        if s["compressed"] is None:  # oto-dense: nothing pruned, the full model is the result
            s.update(compressed=s["full"], macs_after=s["macs_before"], params_after=s["params_before"])
        import onnx
        g = onnx.load(os.path.join(out, "compressed.onnx" if pruner else "full.onnx")).graph
        inits = {t.name: list(t.dims) for t in g.initializer}
        s["widths"] = [inits[n.input[1]][0] for n in g.node if n.op_type == "Conv" and n.input[1] in inits]
    return s, s["verify_max_rel_diff"] is not None and s["verify_max_rel_diff"] <= 1e-4, f"{s['steps']} steps"


def oto_arch(a):
    """The VGG of oto's DHSPG cell's widths (that cell must have run), fresh weights of this seed."""
    if a.model != "vgg16bn":
        raise SystemExit("oto-arch: per-layer widths are supported for vgg16bn only")
    from bench import cell_path  # the cache's one naming rule
    path = cell_path(a.model, a.width, a.flops, a.steps, "oto", a.seed)
    if not os.path.exists(path):
        raise SystemExit(f"oto-arch: run the oto cell first ({os.path.basename(path)} is missing)")
    torch.manual_seed(a.seed)
    return nets.VGG(widths=json.load(open(path))["widths"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tool")
    ap.add_argument("model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=1248)
    ap.add_argument("--flops", type=float, default=0.5)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "cifar-10"))
    ap.add_argument("--oto", default=os.path.join(ROOT, "target", "release", "oto"))
    ap.add_argument("--oto-args", default="", help="extra `oto train` flags (a variant of bench.py)")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    model = nets.build(a.model, a.width)  # the same initial weights for every tool
    macs_full, params_full = nets.macs_params(model)
    xtr, ytr, xte, yte = cifar.load(a.data)
    d = {"batches": cifar.batches(xtr, ytr, 128, a.seed), "xtr": xtr, "ytr": ytr, "xte": xte}
    row = {"tool": a.tool, "model": a.model, "width": a.width, "seed": a.seed, "steps": a.steps, "flops_target": a.flops,
           "macs_full": macs_full, "params_full": params_full}
    if a.tool in ("oto", "oto-hesso", "oto-dense"):
        s, exact, note = oto(a, model, d, {"oto-hesso": "hesso", "oto-dense": None}.get(a.tool, "dhspg"))
        row.update(top1=s["compressed"]["top1"], top1_full=s["full"]["top1"], macs=s["macs_after"], params=s["params_after"],
                   exact=exact, note=note, steps=s["steps"], widths=s["widths"])
        row["macs_full"], row["params_full"] = s["macs_before"], s["params_before"]
    else:
        if a.tool == "oto-arch":
            model = oto_arch(a)
        fn = {"dense": dense, "oto-arch": dense, "tp": torch_pruning, "otov3": otov3}[a.tool]
        small, exact, note = fn(a, model, d)
        macs, params = nets.macs_params(small)
        row.update(top1=cifar.accuracy(small, xte, yte), macs=macs, params=params, exact=exact, note=note,
                   widths=[m.out_channels for m in small.modules() if isinstance(m, torch.nn.Conv2d)])
    print(json.dumps(row))


if __name__ == "__main__":
    main()
