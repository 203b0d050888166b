"""The benchmark's architectures, defined once in PyTorch (the peers train these modules; oto
trains their ONNX export): CIFAR ResNets with 1x1-conv (option B) shortcuts, a CIFAR VGG16-BN and
a CIFAR MobileNetV2, with a width multiplier; and the MAC count every row of the table uses (Conv and Linear
multiply-accumulates per sample, as `oto analyze` counts them)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.short(x))


class ResNet(nn.Module):
    """He et al.'s CIFAR ResNet-(6n+2): three stages of n basic blocks, widths 16/32/64 × `width`."""

    def __init__(self, n, width=1.0, classes=10):
        super().__init__()
        w = [int(16 * width), int(32 * width), int(64 * width)]
        self.conv, self.bn = nn.Conv2d(3, w[0], 3, 1, 1, bias=False), nn.BatchNorm2d(w[0])
        layers, cin = [], w[0]
        for i, c in enumerate(w):
            for j in range(n):
                layers.append(Block(cin, c, 2 if i > 0 and j == 0 else 1))
                cin = c
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn(self.conv(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class VGG(nn.Module):
    """VGG16-BN for CIFAR (13 conv-BN-ReLU layers, 5 max-pools, one Linear), widths × `width`,
    or the 13 conv widths `widths` (a pruned architecture trained from scratch)."""

    CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]

    def __init__(self, width=1.0, classes=10, widths=None):
        super().__init__()
        layers, cin = [], 3
        convs = iter(widths or [int(v * width) for v in self.CFG if v != "M"])
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                c = next(convs)
                layers += [nn.Conv2d(cin, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
                cin = c
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expand, 3x3 depthwise, 1x1 project (linear), identity shortcut
    when the shape is kept."""

    def __init__(self, cin, cout, expand, stride):
        super().__init__()
        mid = cin * expand
        self.skip = stride == 1 and cin == cout
        layers = []
        if expand != 1:
            layers += [nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(inplace=True),
                   nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.body(x) if self.skip else self.body(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 for CIFAR: Sandler et al.'s table 2 (expansion, width, blocks, stride) with
    the first conv at stride 1 for 32x32 inputs; widths × `width`, the last conv's 1280 kept
    below width 1 as in the paper."""

    CFG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self, width=1.0, classes=10):
        super().__init__()
        w = lambda c: max(8, int(c * width))
        cin = w(32)
        layers = [nn.Conv2d(3, cin, 3, 1, 1, bias=False), nn.BatchNorm2d(cin), nn.ReLU6(inplace=True)]
        for t, c, n, s in self.CFG:
            for i in range(n):
                layers.append(InvertedResidual(cin, w(c), t, s if i == 0 else 1))
                cin = w(c)
        last = max(1280, w(1280))
        layers += [nn.Conv2d(cin, last, 1, bias=False), nn.BatchNorm2d(last), nn.ReLU6(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(last, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


def build(name, width=1.0):
    """`resnet20`, `resnet56`, `vgg16bn` or `mobilenetv2` at `width`."""
    if name.startswith("resnet"):
        return ResNet((int(name[6:]) - 2) // 6, width)
    if name == "vgg16bn":
        return VGG(width)
    if name == "mobilenetv2":
        return MobileNetV2(width)
    raise SystemExit(f"unknown model {name}")


def macs_params(model, shape=(1, 3, 32, 32)):
    """(MACs per sample of Conv2d and Linear layers, parameter count)."""
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            total[0] += out.numel() // out.shape[0] * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total[0] += out.numel() // out.shape[0] * m.in_features

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(shape))
    model.train(was)
    for h in hs:
        h.remove()
    return total[0], sum(p.numel() for p in model.parameters())
