"""Exports models as a new user would (TorchScript exporter, opset 17, batch 1, eval mode,
default settings) for oto's real-export tests.

usage: export_user_models.py OUT.onnx NAME
  swin_t             torchvision swin_t(num_classes=10) at 3x64x64
  shufflenet         torchvision shufflenet_v2_x0_5(num_classes=10) at 3x64x64 (channel split
                     and channel shuffle)
  token_transformer  nn.Embedding(100, 32) -> 2-layer nn.TransformerEncoder -> mean -> Linear(32, 5),
                     int64 token ids [1, 12]
"""
import sys, warnings
warnings.filterwarnings("ignore")
import torch, torch.nn as nn

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


if name == "swin_t":
    import torchvision
    model, x = torchvision.models.swin_t(num_classes=10), torch.randn(1, 3, 64, 64)
elif name == "shufflenet":
    import torchvision
    model, x = torchvision.models.shufflenet_v2_x0_5(num_classes=10), torch.randn(1, 3, 64, 64)
elif name == "token_transformer":
    model, x = TokenTransformer(), torch.randint(0, 100, (1, 12))
else:
    sys.exit(f"unknown model {name}")
torch.onnx.export(model.eval(), (x,), out, opset_version=17, dynamo=False)
