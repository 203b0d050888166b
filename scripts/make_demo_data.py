#!/usr/bin/env python3
"""Builds data/fashion-mnist-mini/: a small, class-balanced Fashion-MNIST subset (IDX, gzip).

Deterministic: from the full Fashion-MNIST IDX files (default ../shared/datasets/fashion-mnist,
relative to the workspace root), it keeps, in file order, the first TRAIN_PER_CLASS images of
each class of the train split and the first TEST_PER_CLASS images of each class of the test
split. Order within the output is the order of the source files (already class-interleaved).
gzip is written with mtime=0, so the output is byte-reproducible.

Usage: .venv/bin/python scripts/make_demo_data.py [SRC_DIR] [OUT_DIR]     (needs numpy only)
"""
import gzip
import hashlib
import os
import struct
import sys

import numpy as np

TRAIN_PER_CLASS = 600  # 6,000 train images
TEST_PER_CLASS = 100   # 1,000 test images
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, ty, nd = struct.unpack(">HBB", data[:4])
    assert zero == 0 and ty == 0x08, f"{path}: not a u8 IDX file"
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(dims)


def write_idx(path, arr):
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with open(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
            f.write(header + np.ascontiguousarray(arr).tobytes())


def pick(labels, per_class):
    keep = np.zeros(len(labels), bool)
    for c in range(10):
        keep[np.flatnonzero(labels == c)[:per_class]] = True
    return np.flatnonzero(keep)  # sorted = source file order


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "datasets", "fashion-mnist")
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "data", "fashion-mnist-mini")
    os.makedirs(out, exist_ok=True)
    for split, per in (("train", TRAIN_PER_CLASS), ("t10k", TEST_PER_CLASS)):
        x = read_idx(os.path.join(src, f"{split}-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(src, f"{split}-labels-idx1-ubyte.gz"))
        idx = pick(y, per)
        assert len(idx) == 10 * per, "source has too few images of some class"
        write_idx(os.path.join(out, f"{split}-images-idx3-ubyte.gz"), x[idx])
        write_idx(os.path.join(out, f"{split}-labels-idx1-ubyte.gz"), y[idx])
        print(f"{split}: {len(idx)} images, per class {np.bincount(y[idx], minlength=10).tolist()}")
    for name in sorted(os.listdir(out)):
        if name.endswith(".gz"):
            p = os.path.join(out, name)
            print(f"{hashlib.sha256(open(p, 'rb').read()).hexdigest()}  {name}  ({os.path.getsize(p)} bytes)")


if __name__ == "__main__":
    main()
