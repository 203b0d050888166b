"""Exports models as a new user would (TorchScript exporter, opset 17, batch 1, eval mode,
default settings) for oto's real-export tests.

usage: export_user_models.py OUT.onnx NAME
  swin_t             torchvision swin_t(num_classes=10) at 3x64x64
  shufflenet         torchvision shufflenet_v2_x0_5(num_classes=10) at 3x64x64 (channel split
                     and channel shuffle)
  resnet_a           a CIFAR ResNet with option-A shortcuts (x[:, :, ::2, ::2] then F.pad on channels)
  seg_decoder        a decoder with F.interpolate(z, size=y.shape[-2:]) (Resize sizes computed from
                     a feature map's shape) added to a skip connection
  token_transformer  nn.Embedding(100, 32) -> 2-layer nn.TransformerEncoder -> mean -> Linear(32, 5),
                     int64 token ids [1, 12]
"""
import sys, warnings
warnings.filterwarnings("ignore")
import torch, torch.nn as nn, torch.nn.functional as F

out, name = sys.argv[1], sys.argv[2]
torch.manual_seed(0)


class TokenTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 32)
        layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, dropout=0.0)
        self.enc = nn.TransformerEncoder(layer, 2)
        self.fc = nn.Linear(32, 5)

    def forward(self, x):
        return self.fc(self.enc(self.emb(x)).mean(1))


class BlockA(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.pad, self.stride = cout - cin, stride

    def forward(self, x):
        y = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        sc = x if self.stride == 1 and not self.pad else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad // 2, self.pad // 2))
        return F.relu(y + sc)


class ResNetA(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
        self.blocks = nn.Sequential(BlockA(16, 16, 1), BlockA(16, 32, 2), BlockA(32, 32, 1), BlockA(32, 64, 2))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class SegDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 16, 3, 2, 1), nn.Conv2d(16, 16, 3, 2, 1)
        self.c, self.h = nn.Conv2d(16, 8, 1), nn.Conv2d(8, 2, 1)

    def forward(self, x):
        y = F.relu(self.a(x))
        z = F.interpolate(F.relu(self.b(y)), size=y.shape[-2:], mode="bilinear", align_corners=False)
        return self.h(F.relu(self.c(z + y)))


if name == "swin_t":
    import torchvision
    model, x = torchvision.models.swin_t(num_classes=10), torch.randn(1, 3, 64, 64)
elif name == "shufflenet":
    import torchvision
    model, x = torchvision.models.shufflenet_v2_x0_5(num_classes=10), torch.randn(1, 3, 64, 64)
elif name == "resnet_a":
    model, x = ResNetA(), torch.randn(1, 3, 32, 32)
elif name == "seg_decoder":
    model, x = SegDecoder(), torch.randn(1, 3, 32, 32)
elif name == "token_transformer":
    model, x = TokenTransformer(), torch.randint(0, 100, (1, 12))
else:
    sys.exit(f"unknown model {name}")
torch.onnx.export(model.eval(), (x,), out, opset_version=17, dynamo=False)
