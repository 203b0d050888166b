"""Writes the committed weight-less PyTorch exports ("skeletons") of the tests that used to export
torchvision and user models live (crates/oto-cli/tests/fixtures/skeletons/), so the tests need no
importable Python torch. Each export is made by the same script as before (export_torchvision.py,
make_fixtures.py, export_reference.py, export_user_models.py), then every float initializer that
holds random weights (more than 64 values, all finite, more than 256 distinct) is emptied and its
value range [min, max] written in the tensor's doc_string; everything else (graph, shapes,
attributes, constants, BatchNorm statistics of few distinct values) is kept byte for byte. The
file is gzipped. Tests refill the weights with seeded uniform values in [min, max]
(tests/common/skeleton.rs), so a refilled model is the export with other random weights of the same
ranges. Re-run after changing a model or the exporters (torch 2.11.0; after the slim set-up,
`bash scripts/need_torch.sh` first):

    .venv/bin/python crates/oto-cli/tests/py/make_skeletons.py [OUT_DIR]
"""
import gzip, json, os, subprocess, sys, tempfile
import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable
# (folder, exporting command, files it writes that the tests read)
USER = [("fmnist_cnn", []), ("fmnist_cnn_folded", []), ("swin_t", []), ("shufflenet", []), ("resnet_a", []),
        ("seg_decoder", []), ("token_transformer", [])]
DROP_FORMS = [("ts", "1", "preserve"), ("ts", "dyn", "train"), ("dynamo", "1", "preserve"), ("dynamo", "dyn", "train")]


def export_all(tmp):
    """Runs the export scripts into tmp/<set>/ and returns {set: [paths]}."""
    sets = {k: os.path.join(tmp, k) for k in ("torchvision", "forms", "reference", "user")}
    for d in sets.values():
        os.makedirs(d, exist_ok=True)
    run = lambda *a: subprocess.run([PY, *a], check=True, cwd=HERE)
    run("export_torchvision.py", sets["torchvision"])
    run("make_fixtures.py", sets["forms"], "resnet18,mobilenet_v2")
    run("export_reference.py", sets["reference"])
    for name, extra in USER:
        run("export_user_models.py", os.path.join(sets["user"], f"{name}.onnx"), name, *extra)
    for e, b, m in DROP_FORMS:
        f = f"fmnist_cnn_drop__{e}__b{b}__{'eval' if m == 'preserve' else 'train'}.onnx"
        run("export_user_models.py", os.path.join(sets["user"], f), "fmnist_cnn_drop", "--exporter", e, "--batch", b, "--mode", m)
    return {k: sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".onnx")) for k, d in sets.items()}


def is_weights(a):
    return a.dtype == np.float32 and a.size > 64 and np.isfinite(a).all() and len(np.unique(a)) > 256


def skeleton(path):
    """The model at `path` (external data read in) with its random weights emptied: bytes, and
    (tensors emptied, values emptied, whether the export used an external-data file)."""
    external = any(t.data_location == onnx.TensorProto.EXTERNAL for t in onnx.load(path, load_external_data=False).graph.initializer)
    m = onnx.load(path)
    n = vals = 0
    for t in m.graph.initializer:
        a = numpy_helper.to_array(t)
        if not is_weights(a):
            continue
        dims, name = list(t.dims), t.name
        t.Clear()
        t.name, t.data_type = name, onnx.TensorProto.FLOAT
        t.dims.extend(dims)
        t.doc_string = f"oto-skeleton uniform {float(a.min())!r} {float(a.max())!r}"
        n, vals = n + 1, vals + a.size
    if external:
        m.metadata_props.add(key="oto-skeleton-external-data", value="1")
    return m.SerializeToString(), (n, vals, external)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "fixtures", "skeletons")
    try:
        import torch
    except ImportError:
        sys.exit("Python torch is not importable in this venv (the slim set-up installs libtorch only): run `bash scripts/need_torch.sh` first")
    made = {}
    with tempfile.TemporaryDirectory() as tmp:
        for group, paths in export_all(tmp).items():
            os.makedirs(os.path.join(out, group), exist_ok=True)
            for p in paths:
                data, (n, vals, ext) = skeleton(p)
                name = f"{group}/{os.path.basename(p)}.gz"
                with open(os.path.join(out, name), "wb") as fh:
                    fh.write(gzip.compress(data, mtime=0))
                made[name] = {"weights_emptied": n, "values": vals, "external_data": ext}
                print(f"{name}: {n} tensors / {vals} values emptied, {os.path.getsize(os.path.join(out, name))} bytes", flush=True)
    with open(os.path.join(out, "SOURCE.json"), "w") as fh:
        json.dump({"made_by": "crates/oto-cli/tests/py/make_skeletons.py", "torch": torch.__version__,
                   "onnx": onnx.__version__, "files": made}, fh, indent=1)


if __name__ == "__main__":
    main()
