# Median onnxruntime latency (batch 1) of a full and a compressed model, for `oto compress` /
# `oto prune` reports: python ort_latency.py FULL.onnx SMALL.onnx RUNS -> {"full": ms, "compressed": ms}
import sys, time, json
import numpy as np, onnxruntime as ort
res = {}
for key, path in (("full", sys.argv[1]), ("compressed", sys.argv[2])):
    o = ort.SessionOptions(); o.intra_op_num_threads = 1
    s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
    feeds = {i.name: np.random.default_rng(0).standard_normal([1 if not isinstance(d, int) else d for d in i.shape]).astype(np.float32) for i in s.get_inputs()}
    s.run(None, feeds)
    ts = []
    for _ in range(int(sys.argv[3])):
        t = time.perf_counter(); s.run(None, feeds); ts.append(time.perf_counter() - t)
    res[key] = sorted(ts)[len(ts) // 2] * 1e3
print(json.dumps(res))
