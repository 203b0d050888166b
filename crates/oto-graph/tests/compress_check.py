"""Independent check of compressed models: the ONNX checker (full) on the compressed model, then
onnxruntime on the zeroed full model and the compressed one with the same seeded random input
(batch 2), asserting equal output shapes and max|dy| <= tol * max|y_full|.

Usage: compress_check.py MANIFEST TOL   (lines: "<full.onnx> <compressed.onnx>")
Prints one line per pair ("ok"/"FAIL"), exits 1 if any failed. Pairs are checked by a pool of
worker processes (one per core, each onnxruntime session single-threaded).
"""
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import onnx
import onnxruntime as ort


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def check(full, small, tol):
    onnx.checker.check_model(small, full_check=True)
    a, b = session(full), session(small)
    rng = np.random.default_rng(0)
    feeds = {}
    for i in a.get_inputs():
        dims = [2 if not isinstance(d, int) else d for d in i.shape]
        feeds[i.name] = rng.standard_normal(dims).astype(np.float32)
    ya, yb = a.run(None, feeds), b.run(None, feeds)
    worst = 0.0
    for x, y in zip(ya, yb):
        assert x.shape == y.shape, f"output shape {y.shape} != {x.shape}"
        ref = float(np.abs(x).max()) or 1.0
        worst = max(worst, float(np.abs(x - y).max()) / ref)
    assert worst <= tol, f"relative difference {worst:.3e} > {tol:g}"
    return worst


def one(args):
    full, small, tol = args
    t = time.time()
    try:
        rel = check(full, small, tol)
        return True, f"ok   {small} rel {rel:.2e} ({time.time() - t:.2f}s)"
    except Exception as e:  # report every pair, then fail
        return False, f"FAIL {small}: {type(e).__name__}: {e}"


def main():
    tol = float(sys.argv[2])
    jobs = [(*line.split(), tol) for line in open(sys.argv[1]) if line.strip()]
    failures = 0
    with ProcessPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        for ok, msg in pool.map(one, jobs, chunksize=4):
            failures += not ok
            print(msg)
    print(f"{len(jobs) - failures} of {len(jobs)} pairs ok")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
