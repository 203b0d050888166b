"""Exports the real-export corpus (issue 22): real PyTorch models, as users export them.

usage: export.py OUT_DIR [--only NAME,...] [--exporters ts,dynamo] [--batch 1|dyn]
Writes OUT_DIR/<name>__<exporter>__b<batch>.onnx and skips files that exist (a cache). Random
library init, eval mode, TorchScript exporter at opset 17 (`ts`) and/or the dynamo exporter at
opset 18 (`dynamo`); batch 1 (the default example input) or a dynamic batch (`dyn`). Prints one
line per model: the file, or `FAILED name: error` when PyTorch cannot export it.
"""
import argparse, os, sys, warnings, logging, traceback
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
import torch, torchvision

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "crates", "oto-cli", "tests", "py"))
import export_user_models  # noqa: E402  (the user models and the one export function)

# (name, constructor, example input) — the small member of every torchvision family, its
# segmentation models, and PyTorch nn models users build themselves
# (alexnet and vgg need 224 px for their adaptive pool, which makes 0.2–0.5 GB files: the zoo's
# VGG16-BN stands for them in the tests)
TV = [
    "resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "densenet121",
    "squeezenet1_1", "googlenet", "inception_v3", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
    "mnasnet0_5", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "efficientnet_b0", "efficientnet_v2_s",
    "regnet_x_400mf", "regnet_y_400mf", "convnext_tiny", "swin_t", "swin_v2_t", "vit_b_16", "vit_b_32", "maxvit_t",
]
SEG = ["fcn_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"]
USER = ["resnet_a", "seg_decoder", "token_transformer", "gpt", "mlp3", "transformer_nn"]
# timm (random init, 64 px where the model takes an img_size): convolutional, ViT/DeiT,
# hierarchical transformers, MLP-mixers, mobile hybrids
TIMM = [
    "resnet26d", "mobilenetv3_small_100", "ghostnet_100", "convnext_atto", "regnetz_005", "dla34", "rexnet_100",
    "repvgg_a0", "lcnet_050", "tinynet_e", "edgenext_xx_small", "efficientvit_b0", "hrnet_w18_small",
    "vit_tiny_patch16_224", "deit_tiny_distilled_patch16_224", "cait_xxs24_224", "xcit_nano_12_p16_224",
    "swin_tiny_patch4_window7_224", "pvt_v2_b0", "coat_lite_tiny",
    "mixer_s16_224", "resmlp_12_224", "gmlp_ti16_224",
    "mobilevit_xxs", "levit_128s", "fastvit_t8", "poolformerv2_s12",
]
# Hugging Face transformers text models built from a small config (token ids in, hidden states out)
HF = ["hf_bert", "hf_gpt2"]


def tv_model(name):
    kw = {"num_classes": 10}
    size = 64
    if name.startswith("vit"):
        kw["image_size"], size = 64, 64
    if name == "inception_v3":
        kw.update(aux_logits=False, init_weights=True); size = 96
    if name == "googlenet":
        kw.update(aux_logits=False, init_weights=True)
    if name == "maxvit_t":
        size = 224
    return getattr(torchvision.models, name)(**kw), torch.randn(1, 3, size, size)


def seg_model(name):
    m = getattr(torchvision.models.segmentation, name)(num_classes=4, weights=None, weights_backbone=None)

    class Out(torch.nn.Module):  # the dict output as a tensor
        def __init__(self, m):
            super().__init__(); self.m = m
        def forward(self, x):
            return self.m(x)["out"]
    return Out(m), torch.randn(1, 3, 64, 64)


def timm_model(name):
    import timm
    try:
        m = timm.create_model(name, pretrained=False, num_classes=10, img_size=64)
    except TypeError:  # the family has no img_size: its own default resolution
        m = timm.create_model(name, pretrained=False, num_classes=10)
    return m, torch.randn(1, 3, 64, 64)


def hf_model(name):
    import transformers as tf

    class Out(torch.nn.Module):  # the tuple/dict output as one tensor
        def __init__(self, m):
            super().__init__(); self.m = m
        def forward(self, ids):
            return self.m(input_ids=ids, return_dict=False)[0]
    if name == "hf_bert":
        cfg = tf.BertConfig(vocab_size=512, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=128, max_position_embeddings=64)
        m = tf.BertForSequenceClassification(cfg)
    else:
        cfg = tf.GPT2Config(vocab_size=512, n_embd=64, n_layer=2, n_head=4, n_positions=64)
        m = tf.GPT2LMHeadModel(cfg)
    m.config.use_cache = False
    return Out(m), torch.randint(0, 512, (1, 16))


def user_model(name):
    return export_user_models.build(name)


def build(name):
    if name in TV:
        return tv_model(name)
    if name in SEG:
        return seg_model(name)
    if name in TIMM:
        return timm_model(name)
    if name in HF:
        return hf_model(name)
    return user_model(name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--only", default="")
    ap.add_argument("--exporters", default="ts")
    ap.add_argument("--batch", default="1")
    a = ap.parse_args()
    names = a.only.split(",") if a.only else TV + SEG + USER + TIMM + HF
    os.makedirs(a.out, exist_ok=True)
    for name in names:
        for exp in a.exporters.split(","):
            for b in a.batch.split(","):
                path = os.path.join(a.out, f"{name}__{exp}__b{b}.onnx")
                if os.path.exists(path):
                    print(path); continue
                try:
                    torch.manual_seed(0)
                    model, x = build(name)
                    export_user_models.export(model, x, path, exp, b)
                    print(path)
                except Exception as e:  # noqa: BLE001 - report and go on
                    if os.path.exists(path):
                        os.remove(path)
                    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                    print(f"FAILED {name} ({exp}, batch {b}): {msg[:200]}")


if __name__ == "__main__":
    main()
