"""Loads a model oto compressed back into your own PyTorch class (docs/pytorch.md).

The compressed ONNX file keeps the exporter's parameter names (`f.0.weight`,
`f.1.running_mean`, `fc.bias`, ...) with fewer rows. Build your module at the smaller widths
(`widths()` reads them from the file), then `load_into(module, path)` copies every tensor by
name, checking shapes, and onnxruntime agrees with the module.

usage (the demo on tests' Fashion-MNIST CNN):
    python scripts/pytorch/load_compressed.py compressed.onnx
"""
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper


def tensors(path):
    """{name: numpy array} of the initializers of an ONNX file (external data resolved)."""
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}


def widths(path, *names):
    """Output channels (dim 0) of the named weights in the compressed file."""
    t = tensors(path)
    return [int(t[n].shape[0]) for n in names]


def load_into(module, path):
    """Copies the compressed file's tensors into `module` by parameter/buffer name."""
    t = tensors(path)
    state = module.state_dict()
    missing = [k for k in state if k not in t and not k.endswith("num_batches_tracked")]
    if missing:
        raise SystemExit(f"not in {path}: {missing} (was the model exported with training=PRESERVE?)")
    for k, v in state.items():
        if k in t:
            if tuple(v.shape) != t[k].shape:
                raise SystemExit(f"{k}: module has {tuple(v.shape)}, {path} has {t[k].shape}; build the module at the compressed widths")
            v.copy_(torch.from_numpy(np.ascontiguousarray(t[k])))
    return module


if __name__ == "__main__":
    import os
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "crates", "oto-cli", "tests", "py"))
    import onnxruntime as ort
    from export_user_models import FmnistCNN
    import torch.nn as nn

    path = sys.argv[1]
    c1, c2 = widths(path, "f.0.weight", "f.4.weight")
    m = FmnistCNN()
    # the same architecture at the compressed widths
    m.f[0], m.f[1] = nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1)
    m.f[4], m.f[5] = nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2)
    m.fc = nn.Linear(c2 * 7 * 7, 10)
    load_into(m, path).eval()
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    b = s.get_inputs()[0].shape[0]
    xin = x[:b] if isinstance(b, int) else x  # a fixed batch (oto prune of a batch-1 export) or any
    y_ort = s.run(None, {s.get_inputs()[0].name: xin})[0]
    with torch.no_grad():
        y_pt = m(torch.from_numpy(xin)).numpy()
    rel = float(np.abs(y_ort - y_pt).max() / max(np.abs(y_ort).max(), 1e-12))
    print(f"widths {c1}, {c2}: PyTorch module vs onnxruntime, max rel. diff {rel:.2e}")
    sys.exit(0 if rel < 1e-4 else 1)
