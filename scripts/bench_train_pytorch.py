#!/usr/bin/env python3
"""PyTorch-eager side of scripts/bench_train.sh: the same CIFAR ResNet-20 as oto's zoo
`resnet20` (option-B shortcuts: 1x1 conv + BN; conv without bias + BN + ReLU; GAP; fc), the same
batch and optimizer (SGD momentum 0.9, wd 5e-4), random CIFAR-shaped data (or real CIFAR-10
with --cifar DIR). Prints one JSON line: median step time and peak RSS."""
import argparse, json, resource, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet20(nn.Module):
    def __init__(self, n=3, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for i, c in enumerate([16, 32, 64]):
            for j in range(n):
                layers.append(Block(cin, c, 2 if (i > 0 and j == 0) else 1))
                cin = c
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layers(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def load_cifar(d, n):
    raw = np.fromfile(f"{d}/data_batch_1.bin", dtype=np.uint8).reshape(-1, 3073)[:n]
    x = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0 - 0.5) / 0.25
    return x, torch.from_numpy(raw[:, 0].astype(np.int64))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--cifar")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = ResNet20().train().to(a.device)
    opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    if a.cifar:
        x, y = load_cifar(a.cifar, a.batch)
    else:
        x, y = torch.randn(a.batch, 3, 32, 32), torch.randint(0, 10, (a.batch,))
    x, y = x.to(a.device), y.to(a.device)
    times = []
    for i in range(a.warmup + a.steps):
        t = time.perf_counter()
        loss = F.cross_entropy(m(x), y)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()
        loss.item()
        if i >= a.warmup:
            times.append(time.perf_counter() - t)
    times.sort()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"impl": "pytorch", "model": "resnet20", "device": a.device, "batch": a.batch, "threads": torch.get_num_threads(),
                      "step_ms": round(times[len(times) // 2] * 1e3, 3), "peak_rss_mib": round(rss, 1)}))


if __name__ == "__main__":
    main()
