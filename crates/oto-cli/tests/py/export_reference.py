"""Exports the reference nets of issue 22's peer comparison (TorchScript exporter, opset 17,
batch 1, 64 px, random library init) for oto's peer-count test.

usage: export_reference.py OUT_DIR
Writes OUT_DIR/<name>.onnx for resnet18, resnet50, densenet121, mobilenet_v2, efficientnet_b0,
googlenet and vit_tiny (torchvision's VisionTransformer in ViT-Tiny's configuration: patch 16,
12 layers, 3 heads, width 192, MLP 768).
"""
import os, sys, warnings, logging
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
import torch, torchvision

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
tv = torchvision.models
nets = {
    "resnet18": lambda: tv.resnet18(num_classes=10),
    "resnet50": lambda: tv.resnet50(num_classes=10),
    "densenet121": lambda: tv.densenet121(num_classes=10),
    "mobilenet_v2": lambda: tv.mobilenet_v2(num_classes=10),
    "efficientnet_b0": lambda: tv.efficientnet_b0(num_classes=10),
    "googlenet": lambda: tv.googlenet(num_classes=10, aux_logits=False, init_weights=True),
    "vit_tiny": lambda: tv.VisionTransformer(image_size=64, patch_size=16, num_layers=12, num_heads=3,
                                             hidden_dim=192, mlp_dim=768, num_classes=10),
}
for name, build in nets.items():
    torch.manual_seed(0)
    m = build().eval()
    path = os.path.join(out, f"{name}.onnx")
    torch.onnx.export(m, (torch.randn(1, 3, 64, 64),), path, dynamo=False, opset_version=17)
    print(path)
