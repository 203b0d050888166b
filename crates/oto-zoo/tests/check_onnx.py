"""Independent check of oto-zoo models: the ONNX checker with full shape inference, then
onnxruntime inference on a random batch of 2, asserting the output shape.

Usage: check_onnx.py MANIFEST   (lines: "<file.onnx> <expected output dims...>")
"""
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort


def check(path, want):
    onnx.checker.check_model(path, full_check=True)
    model = onnx.load(path)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    assert [o.name for o in inferred.graph.output] == [o.name for o in model.graph.output]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dims = [2] + [int(d) for d in inp.shape[1:]]
    x = np.random.default_rng(0).standard_normal(dims).astype(np.float32)
    (y,) = sess.run(None, {inp.name: x})
    assert list(y.shape) == want, f"output shape {list(y.shape)} != expected {want}"
    assert np.isfinite(y).all(), "non-finite outputs"


def main():
    failures = 0
    for line in open(sys.argv[1]):
        path, *want = line.split()
        t = time.time()
        try:
            check(path, [int(d) for d in want])
            print(f"ok   {path} ({time.time() - t:.1f}s)")
        except Exception as e:  # report every model, then fail
            failures += 1
            print(f"FAIL {path}: {type(e).__name__}: {e}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
