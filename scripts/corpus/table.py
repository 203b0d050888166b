"""Markdown table of the corpus results (docs/corpus/results.json): one row per model, one
column per exporter × batch (result, prunable channels, compressed/full file size at sparsity 0.5),
and the prunable groups of the TorchScript batch-1 export.

usage: table.py [docs/corpus/results.json]
"""
import json, sys
from collections import defaultdict

res = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "docs/corpus/results.json"))
cols = [("ts", "b1"), ("ts", "bdyn"), ("dynamo", "b1"), ("dynamo", "bdyn")]
models = defaultdict(dict)
for key, r in res.items():
    name, exp, b = key[:-5].split("__")
    models[name][(exp, b)] = r
short = {"exact": "exact", "same": "none prunable", "refused": "refused", "INVALID": "INVALID", "PANIC": "PANIC"}
print("| model | groups (prunable / all) | TorchScript, batch 1 | TorchScript, dynamic batch | dynamo, batch 1 | dynamo, dynamic batch |")
print("|---|---|---|---|---|---|")
tot = defaultdict(int)
for name in sorted(models):
    m = models[name]
    ref = m.get(("ts", "b1")) or next(iter(m.values()))
    cells = []
    for c in cols:
        r = m.get(c)
        if r is None:
            cells.append("export fails")
            continue
        tot[r["result"]] += 1
        s = short[r["result"]]
        if r["result"] == "exact":
            s += f" · {r['prunable_channels']} · {r['size_ratio']:.2f}"
        cells.append(s)
    print(f"| {name} | {ref.get('prunable_groups', '-')} / {ref.get('groups', '-')} | " + " | ".join(cells) + " |")
n = sum(tot.values())
print(f"\n**{n} exports of {len(models)} models: {tot['exact']} exact and smaller, {tot['same']} with nothing prunable "
      f"(written unchanged, valid), {tot['refused']} refused, {tot['INVALID']} invalid, {tot['PANIC']} panics.**")
