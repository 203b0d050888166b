"""CIFAR-10 from the official binary batches, with oto's augmentation and normalisation
(4-pixel zero pad + random 32x32 crop + horizontal flip; mean/std of `Normalize::cifar10`), so
the PyTorch-side rows see the same data as `oto train --dataset cifar10`."""
import glob
import os
import numpy as np
import torch

MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.2470, 0.2435, 0.2616], np.float32).reshape(1, 3, 1, 1)


def _read(files):
    raw = np.concatenate([np.fromfile(f, np.uint8).reshape(-1, 3073) for f in files])
    return raw[:, 1:].reshape(-1, 3, 32, 32), raw[:, 0].astype(np.int64)


def load(root):
    """(train images u8 [N,3,32,32], labels, test images, labels)."""
    train = sorted(glob.glob(os.path.join(root, "data_batch_*.bin")))
    if not train:
        raise SystemExit(f"{root}: no data_batch_*.bin (CIFAR-10 binary version)")
    xtr, ytr = _read(train)
    xte, yte = _read([os.path.join(root, "test_batch.bin")])
    return xtr, ytr, xte, yte


def normalise(x):
    return torch.from_numpy((x.astype(np.float32) / 255.0 - MEAN) / STD)


def batches(x, y, batch, seed):
    """Endless shuffled, augmented training batches (drop last), epoch after epoch."""
    rng = np.random.default_rng(seed)
    n = len(y)
    while True:
        order = rng.permutation(n)
        for i in range(0, n - batch + 1, batch):
            idx = order[i:i + batch]
            xb = np.pad(x[idx], ((0, 0), (0, 0), (4, 4), (4, 4)))
            dx, dy = rng.integers(0, 9, len(idx)), rng.integers(0, 9, len(idx))
            crop = np.stack([xb[k, :, dy[k]:dy[k] + 32, dx[k]:dx[k] + 32] for k in range(len(idx))])
            flip = rng.random(len(idx)) < 0.5
            crop[flip] = crop[flip][..., ::-1]
            yield normalise(crop), torch.from_numpy(y[idx])


def accuracy(model, x, y, batch=500):
    """Top-1 (%) on all of (x, y)."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += (model(normalise(x[i:i + batch])).argmax(1).numpy() == y[i:i + batch]).sum()
    return 100.0 * correct / len(y)
