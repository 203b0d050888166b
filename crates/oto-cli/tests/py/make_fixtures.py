"""Writes the committed PyTorch-export fixtures of the training tests
(crates/oto-cli/tests/fixtures/pytorch/, read by tests/pytorch_fixtures.rs), so those tests need
no importable Python torch. Each small model of export_user_models.py is exported in every form
a user may produce: TorchScript (opset 17) and dynamo (opset 18, external-data file) exporters,
a batch-1 example or a dynamic batch, eval mode (BatchNorm kept) or training mode; "default" is
the exporter's defaults (dynamo's optimiser folds shapes into constants). Re-run after
changing a model (torch 2.11.0; after the slim set-up, `bash scripts/need_torch.sh` first):

    .venv/bin/python crates/oto-cli/tests/py/make_fixtures.py [OUT_DIR]
"""
import os, sys, json
try:
    import torch
except ImportError:
    sys.exit("Python torch is not importable in this venv (the slim set-up installs libtorch only): run `bash scripts/need_torch.sh` first")
from export_user_models import build, export

MODELS = ["resnet_a8", "resnet_b", "vgg_drop", "densenet", "row_transformer", "tiny_vit", "byte_transformer", "fmnist_cnn_100", "seg_decoder"]
FORMS = [(e, b, m) for e in ("ts", "dynamo") for b in ("1", "dyn") for m in ("preserve", "train")]
# a 100-class head (for --rehead), and a decoder whose Resize sizes the exporters fold at batch 1
ONLY = {"fmnist_cnn_100": [("ts", "1", "preserve")], "seg_decoder": [("ts", "1", "preserve"), ("dynamo", "1", "default")]}

if __name__ == "__main__":
    # make_fixtures.py [OUT_DIR [MODEL,MODEL,...]]: other models of export_user_models.py (e.g.
    # torchvision's resnet18, too large to commit) in every form, for the tests that export live
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "fixtures", "pytorch")
    models = sys.argv[2].split(",") if len(sys.argv) > 2 else MODELS
    os.makedirs(out, exist_ok=True)
    made = []
    for name in models:
        forms = ONLY.get(name, FORMS)
        for exporter, batch, mode in forms:
            torch.manual_seed(0)
            model, x = build(name)
            f = f"{name}__{exporter}__b{batch}__{ {'preserve': 'eval', 'train': 'train', 'default': 'default'}[mode] }.onnx"
            export(model, x, os.path.join(out, f), exporter, batch, mode)
            made.append(f)
            print(f, flush=True)
    if len(sys.argv) > 2:
        sys.exit(0)
    # the ends of the supported opset range: TorchScript at 13, dynamo at 21
    for exporter, opset, batch, mode in [("ts", 13, "1", "preserve"), ("dynamo", 21, "dyn", "train")]:
        torch.manual_seed(0)
        model, x = build("resnet_a8")
        f = f"opset{opset}_resnet_a8__{exporter}__b{batch}__{'eval' if mode == 'preserve' else 'train'}.onnx"
        export(model, x, os.path.join(out, f), exporter, batch, mode, opset)
        made.append(f)
        print(f, flush=True)
    with open(os.path.join(out, "SOURCE.json"), "w") as fh:
        json.dump({"made_by": "crates/oto-cli/tests/py/make_fixtures.py", "torch": torch.__version__,
                   "files": made}, fh, indent=1)
