"""Exports torchvision models with both PyTorch ONNX exporters for oto's tests.

usage: export_torchvision.py OUT_DIR [model,...]
Writes OUT_DIR/<model>_ts.onnx (TorchScript-based exporter, BatchNorm preserved, no constant
folding: Identity-deduplicated and pre-transposed weights) and OUT_DIR/<model>_dynamo.onnx
(dynamo exporter, opset 18, external data, BatchNorm folded by its optimiser) at 3x64x64 with a
symbolic batch.
"""
import sys, os, warnings, logging
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
import torch, torchvision

out = sys.argv[1]
names = (sys.argv[2] if len(sys.argv) > 2 else "resnet18,densenet121,mobilenet_v2,convnext_tiny").split(",")
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
for name in names:
    m = getattr(torchvision.models, name)(num_classes=10).eval()
    # non-trivial BatchNorm statistics and affine parameters, so pruning bugs cannot hide
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5); mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.5, 1.5); mod.bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 3, 64, 64)
    ts = os.path.join(out, f"{name}_ts.onnx")
    torch.onnx.export(m, (x,), ts, dynamo=False, opset_version=17, input_names=["input"], output_names=["logits"],
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False,
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    dy = os.path.join(out, f"{name}_dynamo.onnx")
    torch.onnx.export(m, (x,), dy, dynamo=True, opset_version=18, input_names=["input"], output_names=["logits"],
                      dynamic_shapes={"x": {0: torch.export.Dim("N")}}, verbose=False)
    print(ts); print(dy)
