"""Exports models as a new user would (TorchScript exporter, opset 17, batch 1, eval mode,
default settings) for oto's real-export tests.

usage: export_user_models.py OUT.onnx NAME [--exporter ts|dynamo] [--batch 1|dyn] [--mode default|preserve|train]
  swin_t             torchvision swin_t(num_classes=10) at 3x64x64
  shufflenet         torchvision shufflenet_v2_x0_5(num_classes=10) at 3x64x64 (channel split
                     and channel shuffle)
  fmnist_cnn         a Fashion-MNIST CNN with x.view(x.size(0), -1) (batch 1: a constant [1, -1] target),
                     BatchNorm kept (training=PRESERVE); fmnist_cnn_folded: the default export,
                     BatchNorm folded into the convolutions; fmnist_cnn_drop: with Dropout(0.3)
  resnet_a           a CIFAR ResNet with option-A shortcuts (x[:, :, ::2, ::2] then F.pad on channels)
  resnet_a8          the same at width 8
  resnet_b           the same with option-B shortcuts (strided 1x1 conv + BatchNorm), width 8
  vgg_drop           a small CIFAR VGG with BatchNorm and a Dropout classifier
  densenet           a small DenseNet-BC (growth 6, 2 blocks of 3 layers)
  row_transformer    a 2-layer Transformer encoder on Fashion-MNIST rows as tokens
  tiny_vit           a ViT on Fashion-MNIST (7x7 patches, class token, position embeddings)
  fmnist_cnn_100    fmnist_cnn with a 100-class head (for --rehead)
  resnet18, mobilenet_v2   torchvision's, num_classes=10, at 3x64x64
  seg_decoder        a decoder with F.interpolate(z, size=y.shape[-2:]) (Resize sizes computed from
                     a feature map's shape) added to a skip connection
  token_transformer  nn.Embedding(100, 32) -> 2-layer nn.TransformerEncoder -> mean -> Linear(32, 5),
                     int64 token ids [1, 12]
  byte_transformer   the same on byte tokens (vocabulary 256, 64 learned positions, dropout 0.1,
                     4 classes): trained on text folders by `oto train --dataset text`
  gpt                a GPT-style decoder (causal mask, fused qkv split, int64 token ids [1, 8])
  mlp3               Linear layers on rank-3 features [1, 10, 16]
  transformer_nn     nn.Transformer(32, 4 heads, 2+2 layers) on two float inputs
`build(name)` gives (model, example input) to other scripts (scripts/corpus/export.py).
"""
import sys, warnings
warnings.filterwarnings("ignore")
import math
import torch, torch.nn as nn, torch.nn.functional as F



class TokenTransformer(nn.Module):
    """Token ids -> nn.Embedding -> (+ learned positions) -> 2 encoder layers -> mean -> Linear."""

    def __init__(self, vocab=100, classes=5, t=0, dropout=0.0):
        super().__init__()
        self.emb = nn.Embedding(vocab, 32)
        self.pos = nn.Parameter(torch.zeros(1, t, 32)) if t else None
        layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, dropout=dropout)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        x = self.emb(x)
        return self.fc(self.enc(x if self.pos is None else x + self.pos).mean(1))


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


class BlockB(BlockA):
    """Option B: a strided 1x1 convolution + BatchNorm on the shortcut when the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__(cin, cout, stride)
        self.short = nn.Sequential() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return F.relu(self.b2(self.c2(F.relu(self.b1(self.c1(x))))) + self.short(x))


class ResNetA(nn.Module):
    def __init__(self, block=BlockA, w=16):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(3, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w)
        self.blocks = nn.Sequential(block(w, w, 1), block(w, 2 * w, 2), block(2 * w, 2 * w, 1), block(2 * w, 4 * w, 2))
        self.fc = nn.Linear(4 * w, 10)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class VGGDrop(nn.Module):
    """A small CIFAR VGG: conv-BN-ReLU stages and max-pooling, then a classifier with Dropout."""

    def __init__(self, widths=(8, "M", 16, "M", 32, 32, "M")):
        super().__init__()
        layers, c = [], 3
        for w in widths:
            if w == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
                c = w
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(c * 16, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class DenseLayer(nn.Module):
    def __init__(self, c, g):
        super().__init__()
        self.f = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, 4 * g, 1, bias=False),
                               nn.BatchNorm2d(4 * g), nn.ReLU(), nn.Conv2d(4 * g, g, 3, padding=1, bias=False))

    def forward(self, x):
        return torch.cat([x, self.f(x)], 1)


class DenseNet(nn.Module):
    """A small DenseNet-BC (growth 6, two dense blocks of three layers, a compressing transition)."""

    def __init__(self, g=6, n=3):
        super().__init__()
        c, layers = 2 * g, [nn.Conv2d(3, 2 * g, 3, padding=1, bias=False)]
        for b in range(2):
            for _ in range(n):
                layers.append(DenseLayer(c, g))
                c += g
            if b == 0:
                layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1, bias=False), nn.AvgPool2d(2)]
                c //= 2
        self.features = nn.Sequential(*layers, nn.BatchNorm2d(c), nn.ReLU())
        self.fc = nn.Linear(c, 10)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class RowTransformer(nn.Module):
    """A small Transformer classifier on Fashion-MNIST: each image row is a token (28 tokens of
    28 pixels), embedded by a Linear, 2 encoder layers (4 heads), mean over tokens, Linear."""

    def __init__(self, d=32):
        super().__init__()
        self.emb, self.pos = nn.Linear(28, d), nn.Parameter(torch.zeros(1, 28, d))
        layer = nn.TransformerEncoderLayer(d, 4, 2 * d, batch_first=True, dropout=0.1)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.fc = nn.Linear(d, 10)

    def forward(self, x):
        return self.fc(self.enc(self.emb(x.flatten(1, 2)) + self.pos).mean(1))


class TinyViT(nn.Module):
    """A ViT on Fashion-MNIST: 7x7 patches (a stride-7 Conv) as 16 tokens, a class token
    (`cls.expand(x.shape[0], -1, -1)` concatenated), position embeddings, 2 pre-norm encoder
    layers, LayerNorm, the class token into a Linear."""

    def __init__(self, d=32):
        super().__init__()
        self.patch = nn.Conv2d(1, d, 7, 7)
        self.cls, self.pos = nn.Parameter(torch.zeros(1, 1, d)), nn.Parameter(torch.zeros(1, 17, d))
        layer = nn.TransformerEncoderLayer(d, 4, 2 * d, batch_first=True, dropout=0.1, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm, self.fc = nn.LayerNorm(d), nn.Linear(d, 10)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        return self.fc(self.norm(self.enc(x))[:, 0])


class SegDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 16, 3, 2, 1), nn.Conv2d(16, 16, 3, 2, 1)
        self.c, self.h = nn.Conv2d(16, 8, 1), nn.Conv2d(8, 2, 1)

    def forward(self, x):
        y = F.relu(self.a(x))
        z = F.interpolate(F.relu(self.b(y)), size=y.shape[-2:], mode="bilinear", align_corners=False)
        return self.h(F.relu(self.c(z + y)))


class MLP3(nn.Module):
    """Linear layers on rank-3 features (MatMul with a transposed weight, then a bias Add)."""

    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.fc = nn.Linear(16, 64), nn.Linear(64, 16), nn.Linear(16, 3)

    def forward(self, x):
        return self.fc(self.l2(torch.relu(self.l1(x))).mean(1))


class GPTBlock(nn.Module):
    def __init__(self, d, h, t):
        super().__init__()
        self.ln1, self.qkv, self.proj, self.h = nn.LayerNorm(d), nn.Linear(d, 3 * d), nn.Linear(d, d), h
        self.ln2, self.fc1, self.fc2 = nn.LayerNorm(d), nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.register_buffer("mask", torch.tril(torch.ones(t, t)).view(1, 1, t, t))

    def forward(self, x):
        b, t, c = x.size()
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.h, c // self.h).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(c // self.h)
        att = att.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf")).softmax(-1)
        x = x + self.proj((att @ v).transpose(1, 2).contiguous().view(b, t, c))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class GPT(nn.Module):
    """A GPT-style decoder: token + position embeddings, causal self-attention blocks, LM head."""

    def __init__(self, vocab=50, d=32, t=8):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(t, d)
        self.blocks = nn.Sequential(GPTBlock(d, 4, t), GPTBlock(d, 4, t))
        self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.size(1)))
        return self.head(self.ln(self.blocks(x)))


class FmnistCNN(nn.Module):
    """A small Fashion-MNIST CNN as users write it: conv-BN-ReLU blocks, then
    `x.view(x.size(0), -1)` into a Linear (folded by the exporter into a constant target
    [1, -1] when exported with a batch of 1)."""

    def __init__(self, dropout=0.0):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2))
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = self.f(x)
        return self.fc(self.drop(x.view(x.size(0), -1)))


def build(name):
    """(model, example input) of a named model."""
    if name in ("fmnist_cnn", "fmnist_cnn_folded"):
        return FmnistCNN(), torch.randn(1, 1, 28, 28)
    if name == "fmnist_cnn_drop":
        return FmnistCNN(dropout=0.3), torch.randn(1, 1, 28, 28)
    if name == "swin_t":
        import torchvision
        return torchvision.models.swin_t(num_classes=10), torch.randn(1, 3, 64, 64)
    if name == "shufflenet":
        import torchvision
        return torchvision.models.shufflenet_v2_x0_5(num_classes=10), torch.randn(1, 3, 64, 64)
    if name == "resnet_a":
        return ResNetA(), torch.randn(1, 3, 32, 32)
    if name == "resnet_a8":
        return ResNetA(BlockA, 8), torch.randn(1, 3, 32, 32)
    if name == "resnet_b":
        return ResNetA(BlockB, 8), torch.randn(1, 3, 32, 32)
    if name == "vgg_drop":
        return VGGDrop(), torch.randn(1, 3, 32, 32)
    if name == "densenet":
        return DenseNet(), torch.randn(1, 3, 32, 32)
    if name == "tiny_vit":
        return TinyViT(), torch.randn(1, 1, 28, 28)
    if name == "row_transformer":
        return RowTransformer(), torch.randn(1, 1, 28, 28)
    if name == "fmnist_cnn_100":
        m = FmnistCNN()
        m.fc = nn.Linear(16 * 7 * 7, 100)
        return m, torch.randn(1, 1, 28, 28)
    if name in ("resnet18", "mobilenet_v2"):
        import torchvision
        return getattr(torchvision.models, name)(num_classes=10), torch.randn(1, 3, 64, 64)

    if name == "seg_decoder":
        return SegDecoder(), torch.randn(1, 3, 32, 32)
    if name == "token_transformer":
        return TokenTransformer(), torch.randint(0, 100, (1, 12))
    if name == "byte_transformer":
        return TokenTransformer(256, 4, 64, 0.1), torch.randint(0, 256, (1, 64))
    if name == "gpt":
        return GPT(), torch.randint(0, 50, (1, 8))
    if name == "mlp3":
        return MLP3(), torch.randn(1, 10, 16)
    if name == "transformer_nn":
        return nn.Transformer(32, 4, 2, 2, 64, dropout=0.0, batch_first=True), (torch.randn(1, 6, 32), torch.randn(1, 5, 32))
    raise SystemExit(f"unknown model {name}")


def export(model, x, out, exporter="ts", batch="1", mode="default", opset=None):
    """Exports `model` on example input `x` (a tensor or a tuple) to `out`, as a user would:
    `exporter` ts (TorchScript, opset 17) or dynamo (opset 18); `batch` "1" (the example as is)
    or "dyn" (an example batch of 2 and a symbolic batch on a single input); `mode` default
    (model.eval(), the exporter's folding), preserve (BatchNorm kept) or train (training-mode
    BatchNorm and Dropout); `opset` another opset than 17 / 18."""
    args = x if isinstance(x, tuple) else (x,)
    dyn = batch == "dyn" and len(args) == 1
    if batch == "dyn":  # an example batch of 2, so neither exporter specialises it to 1
        args = tuple(t.repeat(2, *[1] * (t.dim() - 1)) for t in args)
    model = model.train() if mode == "train" else model.eval()
    if exporter == "ts":
        kw = {"opset_version": opset or 17, "dynamo": False}
        if mode != "default":
            kw["training"] = torch.onnx.TrainingMode.PRESERVE if mode == "preserve" else torch.onnx.TrainingMode.TRAINING
        if mode == "train":
            kw["do_constant_folding"] = False
        if dyn:
            kw.update(input_names=["input"], output_names=["output"], dynamic_axes={"input": {0: "N"}, "output": {0: "N"}})
    else:
        kw = {"opset_version": opset or 18, "dynamo": True, "verbose": False}
        if dyn:
            kw["dynamic_shapes"] = ({0: torch.export.Dim("N")},)
        if mode != "default":
            kw["optimize"] = False  # the dynamo exporter's optimiser folds BatchNorm into the convolutions
    torch.onnx.export(model, args, out, **kw)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("name")
    ap.add_argument("--exporter", choices=["ts", "dynamo"], default="ts")
    ap.add_argument("--batch", choices=["1", "dyn"], default="1")
    ap.add_argument("--mode", choices=["default", "preserve", "train"], default=None,
                    help="BatchNorm/Dropout in the graph: the exporter's default for model.eval() (folded), "
                         "PRESERVE, or TRAINING (training-mode BatchNorm); default: preserve for fmnist_cnn*")
    a = ap.parse_args()
    torch.manual_seed(0)
    model, x = build(a.name)
    mode = a.mode or ("preserve" if a.name in ("fmnist_cnn", "fmnist_cnn_drop") else "default")
    export(model, x, a.out, a.exporter, a.batch, mode)
