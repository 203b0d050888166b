"""Runs every `<case>.onnx` in a directory with onnxruntime (CPU) and writes the outputs.

Used by the executor tests (crates/oto-exec/tests/exec_*.rs): one Python process per test.
Inputs are `<case>.in<i>.npy` (graph-input order), outputs `<case>.out<j>.npy` (graph-output
order). A case that onnxruntime rejects gets `<case>.err` with the message instead.
"""
import glob
import os
import sys

import numpy as np
import onnxruntime as ort


def main(d):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    for path in sorted(glob.glob(os.path.join(d, "*.onnx"))):
        case = path[: -len(".onnx")]
        try:
            sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            feeds = {}
            for i, inp in enumerate(sess.get_inputs()):
                feeds[inp.name] = np.load(f"{case}.in{i}.npy")
            outs = sess.run(None, feeds)
            for j, o in enumerate(outs):
                np.save(f"{case}.out{j}.npy", np.ascontiguousarray(o))
        except Exception as e:  # reported per case by the Rust side
            with open(f"{case}.err", "w") as f:
                f.write(str(e))


if __name__ == "__main__":
    main(sys.argv[1])
