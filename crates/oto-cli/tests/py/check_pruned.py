"""For each (masked full, compressed) pair: ONNX checker on the compressed model and the same
outputs in onnxruntime within 1e-4 relative (random normal floats; integer inputs are token ids,
random below the smallest vocabulary of the tests' models, 50). usage: check_pruned.py FULL SMALL [FULL SMALL ...]"""
import sys
import numpy as np, onnx, onnxruntime as ort

args = sys.argv[1:]
bad = 0
for full, small in zip(args[::2], args[1::2]):
    onnx.checker.check_model(small, full_check=True)
    rng = np.random.default_rng(0)
    sf = ort.InferenceSession(full, providers=["CPUExecutionProvider"])
    ss = ort.InferenceSession(small, providers=["CPUExecutionProvider"])
    feeds = {}
    for i in sf.get_inputs():
        shape = [d if isinstance(d, int) else 2 for d in i.shape]
        if i.type == "tensor(int64)":
            feeds[i.name] = rng.integers(0, 50, shape, dtype=np.int64)
        else:
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    for a, b in zip(sf.run(None, feeds), ss.run(None, feeds)):
        rel = float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12))
        ok = a.shape == b.shape and rel <= 1e-4
        print(f"{small}: shape {b.shape} rel diff {rel:.2e} {'ok' if ok else 'FAIL'}")
        bad += not ok
sys.exit(1 if bad else 0)
