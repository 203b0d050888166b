"""Side by side at an equal budget (issue 24): dense PyTorch, Torch-Pruning 1.6.1,
only-train-once 3.0.1 (HESSO), oto DHSPG and oto HESSO train the same PyTorch module (same
initial weights per seed) on the same CIFAR-10 data for the same SGD steps to the same MACs
target. Each finished cell is cached as JSON in docs/peers/cells/, so a rerun only runs the
missing ones; the table goes to docs/peers/table.md (and stdout).

    bash scripts/peers.sh [--models resnet20] [--tools dense,tp,otov3,oto,oto-hesso,oto+VARIANT]
                          [--seeds 0,1] [--steps 1248] [--flops 0.5] [--width 1.0] [--table-only]

Each cell runs as its own process (`cell.py`); its wall time and peak resident memory (the
oto rows: of the `oto train` child) are measured here.
"""
import argparse, glob, json, os, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CELLS = os.path.join(ROOT, "docs", "peers", "cells")
TOOLS = ["dense", "tp", "otov3", "oto", "oto-hesso", "oto-dense"]
# controls asked for by name only (`--tools oto-arch`): rows after the tools'
CONTROLS = ["oto-arch"]
# oto variants tried for issue 24 (`--tools oto+NAME`): the extra `oto train` flags of each;
# their rows follow the tools' in the table
# HESSO's order before session 24: the original's global importance order, no group floor
HESSO_GLOBAL = ["--group-rank", "0", "--upper-group-sparsity", "1"]
VARIANTS = {
    # the defaults before session 18 (8 epochs of 156 steps): DHSPG from step 156 to 468; HESSO's
    # periods from step 124 to 248 (the OTOv3 tutorial's tenth, ran as that default: ≈ these flags)
    "w17": ["--start-pruning-epoch", "1", "--pruning-deadline-epoch", "3"],
    "hesso-w17": ["--pruner", "hesso", "--start-pruning-epoch", "0.8", "--pruning-deadline-epoch", "1.6"] + HESSO_GLOBAL,
    "sflops": ["--saliency-flops", "--start-pruning-epoch", "1", "--pruning-deadline-epoch", "3"],  # run with w17
    "sflops-w18": ["--saliency-flops"],  # with the session-18 default window
    # TP's timing: the pruning window in the middle of the budget (epochs 3–4 of 8)
    "late": ["--start-pruning-epoch", "3", "--pruning-deadline-epoch", "4"],  # the default since session 18
    "mid": ["--start-pruning-epoch", "2", "--pruning-deadline-epoch", "4"],
    "later": ["--start-pruning-epoch", "4", "--pruning-deadline-epoch", "5"],
    "hesso-late": ["--pruner", "hesso", "--start-pruning-epoch", "3", "--pruning-deadline-epoch", "4"] + HESSO_GLOBAL,
    # session 19: the partition ranks rows within their layer group (1 = uniform per-layer share);
    # `--group-rank 1` became the default at a FLOPs target, so its cells are the `oto` cells and
    # the session-18 default is the variant grank0
    "grank0": ["--group-rank", "0"],
    "grank05": ["--group-rank", "0.5"],
    "grank1-later": ["--group-rank", "1", "--start-pruning-epoch", "4", "--pruning-deadline-epoch", "5"],
    "grank1-abrupt": ["--group-rank", "1", "--pruning-ramp", "false"],
    "grank1-l0": ["--group-rank", "1", "--lmbda", "0"],
    # session 24: HESSO at a FLOPs target takes DHSPG's group floor and within-group order by
    # default, so its cells are the `oto-hesso` cells; this is the earlier default
    "hesso-grank0": ["--pruner", "hesso"] + HESSO_GLOBAL,
}
NAMES = {"dense": "dense PyTorch", "tp": "Torch-Pruning 1.6.1 (½ dense, group-L2 prune, ½ fine-tune)",
         "otov3": "only-train-once 3.0.1 HESSO", "oto": "**oto DHSPG (default)**", "oto-hesso": "oto HESSO",
         "oto-dense": "oto, no pruning (control: oto's training pipeline alone)",
         "oto-arch": "dense PyTorch on oto's compressed architecture, from scratch (control: its capacity)"}


def cell_path(model, width, flops, steps, tool, seed):
    return os.path.join(CELLS, f"{model}_w{width:g}_f{flops:g}_s{steps}__{tool}__seed{seed}.json")


def run_cell(a, model, tool, seed):
    cmd = [sys.executable, os.path.join(HERE, "cell.py"), tool.split("+")[0], model, "--seed", str(seed), "--steps", str(a.steps),
           "--flops", str(a.flops), "--width", str(a.width)]
    if "+" in tool:
        cmd.append("--oto-args=" + " ".join(VARIANTS[tool.split("+", 1)[1]]))
    t = time.time()
    with tempfile.TemporaryFile("w+") as fo, tempfile.TemporaryFile("w+") as fe:
        p = subprocess.Popen(cmd, stdout=fo, stderr=fe, text=True)
        _, status, ru = os.wait4(p.pid, 0)  # ru_maxrss: the cell and the children it waited for
        p.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0), fe.seek(0)
        out, err = fo.read(), fe.read()
    wall = time.time() - t
    peak_mb = ru.ru_maxrss / 1024
    if p.returncode != 0:
        return {"tool": tool, "model": model, "seed": seed, "error": err.strip().splitlines()[-1][:300] if err.strip() else "failed"}
    row = json.loads(out.strip().splitlines()[-1])
    row.update(tool=tool, wall_s=round(wall, 1), peak_mb=round(peak_mb))
    return row


LABELS = {"grank0": "oto DHSPG, session-18 default (global saliency order, `--group-rank 0`)",
          "w17": "oto DHSPG, session-17 default window (steps 156 → 468)",
          "hesso-w17": "oto HESSO, session-17 default window (steps 124 → 248)",
          "hesso-grank0": "oto HESSO, session-23 default (global importance order, no group floor)"}


def setting(r):
    """A cell's setting: (model, width, MACs target, step budget)."""
    return r["model"], r.get("width", 1.0), r.get("flops_target", 0.5), r.get("steps_budget", r.get("steps"))


def variant_name(tool):
    """`oto DHSPG `flags`` (or HESSO, when the variant names that pruner)."""
    v = tool.split("+", 1)[1]
    if v in LABELS:
        return LABELS[v]
    flags = VARIANTS[v]
    pruner = "HESSO" if "hesso" in flags else "DHSPG"
    return f"oto {pruner} `{' '.join(f for f in flags if f not in ('--pruner', 'hesso'))}`"


def table(rows):
    """Markdown rows: one per (setting, tool), seeds aggregated."""
    out = []
    settings = sorted({setting(r) for r in rows})
    for s in settings:
        model, width, flops, steps = s
        out.append(f"\n**{model} ×{width:g} / CIFAR-10 training subset (20k), {steps} SGD steps of 128, MACs target {flops * 100:g}%**\n")
        out.append("| tool | top-1 % (mean ± std) | seeds | MACs kept | params kept | wall time | peak memory | compressed = full |")
        out.append("|---|---|---|---|---|---|---|---|")
        for tool in TOOLS + CONTROLS + ["oto+" + v for v in VARIANTS]:
            rs = [r for r in rows if setting(r) == s and r["tool"] == tool]
            if not rs:
                continue
            errs = [r for r in rs if "error" in r]
            ok = [r for r in rs if "error" not in r]
            name = NAMES.get(tool) or variant_name(tool)
            if not ok:
                out.append(f"| {name} | failed: {errs[0]['error']} | | | | | | |")
                continue
            acc = [r["top1"] for r in ok]
            sd = f" ± {statistics.stdev(acc):.2f}" if len(acc) > 1 else ""
            m = statistics.mean(r["macs"] / r["macs_full"] for r in ok)
            p = statistics.mean(r["params"] / r["params_full"] for r in ok)
            w = statistics.mean(r["wall_s"] for r in ok)
            mem = max(r["peak_mb"] for r in ok)
            # only the OTO-family rows construct a compressed model from a trained full one
            exact = "—" if tool in ("dense", "tp", "oto-dense", "oto-arch") else "yes" if all(r["exact"] for r in ok) else "no"
            out.append(f"| {name} | {statistics.mean(acc):.2f}{sd} | {len(ok)} | {m:.1%} | {p:.1%} | {w / 60:.1f} min | {mem} MB | {exact} |")
    return "\n".join(out)


def plot(rows, this, path):
    """A horizontal bar chart (SVG, no plotting library) of the setting's top-1 per tool: mean
    bar, ± std whisker, the dense run as a dashed line; params kept in the label."""
    import html
    bars = []
    for tool in TOOLS + CONTROLS + ["oto+" + v for v in VARIANTS]:
        ok = [r for r in rows if setting(r) == this and r["tool"] == tool and "error" not in r]
        if ok:
            acc = [r["top1"] for r in ok]
            sd = statistics.stdev(acc) if len(acc) > 1 else 0.0
            p = statistics.mean(r["params"] / r["params_full"] for r in ok)
            bars.append((NAMES.get(tool) or variant_name(tool), statistics.mean(acc), sd, p, len(ok)))
    if not bars:
        return
    lo = 5 * int(min(m - s for _, m, s, _, _ in bars) // 5) - 5
    hi = 5 * int(max(m + s for _, m, s, _, _ in bars) // 5) + 5
    W, L, bh = 980, 560, 22
    H = 40 + len(bars) * (bh + 8) + 30
    x = lambda v: L + (v - lo) / (hi - lo) * (W - L - 20)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<text x="{L}" y="18" font-size="13">top-1 % on the CIFAR-10 test set ({this[0]} ×{this[1]:g}, {this[3]} steps, MACs target {this[2] * 100:g}%)</text>']
    for t in range(lo, hi + 1, 5):
        out.append(f'<line x1="{x(t):.1f}" y1="28" x2="{x(t):.1f}" y2="{H - 26}" stroke="#ddd"/><text x="{x(t):.1f}" y="{H - 10}" text-anchor="middle">{t}</text>')
    for i, (name, m, sd, p, n) in enumerate(bars):
        y = 36 + i * (bh + 8)
        color = "#888" if name.startswith("dense") else "#c44" if name.startswith("Torch") or name.startswith("only") else "#37c"
        label = html.escape(name.replace("**", "").replace("`", "")) + f" — {p:.0%} params, {n} seed{'s' if n > 1 else ''}"
        out.append(f'<text x="{L - 6}" y="{y + 15}" text-anchor="end">{label[:80]}</text>')
        out.append(f'<rect x="{x(lo):.1f}" y="{y}" width="{x(m) - x(lo):.1f}" height="{bh}" fill="{color}"/>')
        if sd:
            out.append(f'<line x1="{x(m - sd):.1f}" y1="{y + bh / 2}" x2="{x(m + sd):.1f}" y2="{y + bh / 2}" stroke="#000"/>')
        out.append(f'<text x="{x(m + sd) + 4:.1f}" y="{y + 15}">{m:.2f}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet20")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--steps", type=int, default=1248)
    ap.add_argument("--flops", type=float, default=0.5)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--table-only", action="store_true")
    a = ap.parse_args()
    os.makedirs(CELLS, exist_ok=True)
    if not a.table_only:
        for model in a.models.split(","):
            for seed in [int(s) for s in a.seeds.split(",")]:
                for tool in a.tools.split(","):
                    path = cell_path(model, a.width, a.flops, a.steps, tool, seed)
                    if os.path.exists(path):
                        continue
                    print(f"[peers] {model} ×{a.width:g} {tool} seed {seed} ...", flush=True)
                    row = run_cell(a, model, tool, seed)
                    row.update(steps_budget=a.steps, flops_target=a.flops, width=a.width)
                    tmp = path + ".tmp"
                    with open(tmp, "w") as f:
                        json.dump(row, f, indent=1)
                    os.replace(tmp, path)
                    print(f"[peers]   {json.dumps(row)}", flush=True)
    rows = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(CELLS, "*.json")))]
    for s in sorted({setting(r) for r in rows}):
        plot(rows, s, os.path.join(ROOT, "docs", "peers", f"{s[0]}_w{s[1]:g}_f{s[2]:g}_s{s[3]}.svg"))
    md = "# Side by side at an equal budget (generated by scripts/peers.sh)\n" + table(rows) + "\n"
    with open(os.path.join(ROOT, "docs", "peers", "table.md"), "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
