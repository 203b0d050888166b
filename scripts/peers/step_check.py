"""Is oto's training step PyTorch's? (issue 24) The same module (same initial weights), the same
128 CIFAR-10 training images as one fixed batch (no augmentation, so the batch is the whole
dataset and its order does not matter), SGD lr 0.1, momentum 0.9, weight decay 5e-4, N steps:
PyTorch eager (with 1 and with 2 threads, whose float sums differ in order) against
`oto train --init keep` on the export. Prints the three loss sequences and, after step 1 and
step N, the largest relative weight difference. Where PyTorch's two thread counts drift apart
as fast as oto drifts from them, the remaining difference is float rounding amplified by the
training dynamics, not a different computation.

    .venv/bin/python scripts/peers/step_check.py [--model vgg16bn] [--width 0.25] [--steps 10]
"""
import argparse, json, os, subprocess, sys, tempfile
import numpy as np
import torch
import torch.nn.functional as F
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import nets, cifar  # noqa: E402


def pytorch_run(a, x, y, steps, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(a.seed)
    m = nets.build(a.model, a.width).train()
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(m(x), y)
        losses.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return losses, {k: v.detach().numpy() for k, v in m.state_dict().items()}


def oto_run(a, tmp, steps):
    torch.manual_seed(a.seed)
    m = nets.build(a.model, a.width)
    f = os.path.join(tmp, "model.onnx")
    torch.onnx.export(m.eval(), (torch.randn(1, 3, 32, 32),), f, dynamo=False, opset_version=17,
                      training=torch.onnx.TrainingMode.PRESERVE, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    out = os.path.join(tmp, f"run{steps}")
    cmd = [a.oto, "train", f, "--init", "keep", "--dataset", "cifar10", "--data", os.path.join(tmp, "c10"),
           "--epochs", str(steps), "--batch-size", "128", "--lr", "0.1", "--schedule", "constant", "--momentum", "0.9",
           "--weight-decay", "5e-4", "--no-augment", "--threads", "1", "--progress", "quiet", "--out", out]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(r.stderr[-2000:])
    losses = [json.loads(l)["train_loss"] for l in open(os.path.join(out, "metrics.jsonl")) if '"train_loss"' in l]
    g = onnx.load(os.path.join(out, "full.onnx")).graph
    return losses, {t.name: numpy_helper.to_array(t) for t in g.initializer}


def max_rel(a, b):
    ds = [np.abs(a[k] - b[k]).max() / max(np.abs(a[k]).max(), 1e-6) for k in a if k in b and a[k].shape == b[k].shape]
    return max(ds), len(ds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="vgg16bn")
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "datasets", "cifar-10"))
    ap.add_argument("--oto", default=os.path.join(ROOT, "target", "release", "oto"))
    a = ap.parse_args()
    raw = np.fromfile(os.path.join(a.data, "data_batch_1.bin"), np.uint8).reshape(-1, 3073)[:128]
    x = cifar.normalise(raw[:, 1:].reshape(-1, 3, 32, 32))
    y = torch.from_numpy(raw[:, 0].astype(np.int64))
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "c10"))
        raw.tofile(os.path.join(tmp, "c10", "data_batch_1.bin"))
        test = np.fromfile(os.path.join(a.data, "test_batch.bin"), np.uint8).reshape(-1, 3073)[:256]
        test.tofile(os.path.join(tmp, "c10", "test_batch.bin"))
        for steps in (1, a.steps):
            p1, w1 = pytorch_run(a, x, y, steps, 1)
            p2, w2 = pytorch_run(a, x, y, steps, 2)
            o, wo = oto_run(a, tmp, steps)
            print(f"after {steps} step(s):")
            print("  loss PyTorch 1 thread : " + " ".join(f"{v:.6f}" for v in p1))
            print("  loss PyTorch 2 threads: " + " ".join(f"{v:.6f}" for v in p2))
            print("  loss oto              : " + " ".join(f"{v:.6f}" for v in o))
            (d12, n), (do, _) = max_rel(w1, w2), max_rel(w1, wo)
            print(f"  max relative weight difference over {n} tensors: PyTorch 1 vs 2 threads {d12:.2e}, PyTorch vs oto {do:.2e}")


if __name__ == "__main__":
    main()
