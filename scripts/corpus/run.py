"""Runs oto over the real-export corpus (issue 22) and prints one line per model and a total.

usage: run.py CORPUS_DIR [--oto target/release/oto] [--cache docs/corpus/results.json] [--force]
For every CORPUS_DIR/*.onnx (from scripts/corpus/export.py): `oto analyze` (groups, prunable
channels), then `oto prune --sparsity 0.5 --criterion random --masked` with tract's proof, then the
ONNX checker and onnxruntime on the masked full and the compressed model. A result is one of
  exact     compressed, smaller, rel. diff <= 1e-4 in onnxruntime
  same      nothing prunable: nothing removed, the written model equals the input (valid)
  refused   oto stopped with an error naming the problem (nothing written); then the same with
            --no-verify must write a valid model that matches, or it counts as INVALID
  INVALID   a written file that onnxruntime or the checker refuses, or differs
  PANIC     oto crashed
Each finished cell is cached in the JSON file (keyed by file name and the oto binary's mtime), so
a rerun only runs what is missing; --force reruns everything.
"""
import argparse, glob, json, os, re, subprocess, sys, tempfile, time
import numpy as np, onnx, onnxruntime as ort


def sh(cmd, timeout=900):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout + p.stderr
    except subprocess.TimeoutExpired:
        return -9, "timeout"


def feeds(sess, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else 2 for d in i.shape]  # a symbolic (batch) dim: 2
        if "int" in i.type:
            out[i.name] = rng.integers(0, 2, shape).astype(np.int64 if "64" in i.type else np.int32)
        elif "bool" in i.type:
            out[i.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            out[i.name] = rng.standard_normal(shape).astype(np.float32)
    return out


def ort_rel(full, small):
    sf = ort.InferenceSession(full, providers=["CPUExecutionProvider"])
    ss = ort.InferenceSession(small, providers=["CPUExecutionProvider"])
    f = feeds(sf)
    rel = 0.0
    for a, b in zip(sf.run(None, f), ss.run(None, f)):
        if a.shape != b.shape:
            return float("inf")
        rel = max(rel, float(np.abs(a.astype(np.float64) - b).max() / max(np.abs(a).max(), 1e-12)))
    return rel


def first_error(out):
    """The line that says what went wrong (`error: …`), else the last line."""
    lines = [l for l in out.strip().splitlines() if l.strip()]
    err = [l for l in lines if l.startswith("error") or "panicked" in l]
    return (err[0] if err else lines[-1] if lines else "no output")[:240]


def cell(oto, path):
    name = os.path.basename(path)[:-5]
    r = {"model": name}
    code, out = sh([oto, "analyze", path])
    if code not in (0, 1) or "panicked" in out:
        r.update(result="PANIC" if "panicked" in out else "refused", error=first_error(out))
        return r
    m = re.search(r"groups\s+(\d+) \((\d+) prunable\)", out)
    c = re.search(r"channels\s+(\d+) \((\d+) prunable\)", out)
    if not (m and c):
        r.update(result="refused", error=first_error(out))
        return r
    r.update(groups=int(m[1]), prunable_groups=int(m[2]), channels=int(c[1]), prunable_channels=int(c[2]))
    with tempfile.TemporaryDirectory() as d:
        small, full = os.path.join(d, "small.onnx"), os.path.join(d, "full.onnx")
        t0 = time.time()
        code, out = sh([oto, "prune", path, "--sparsity", "0.5", "--criterion", "random", "--latency-runs", "0",
                        "-o", small, "--masked", full])
        r["prune_s"] = round(time.time() - t0, 2)
        if "panicked" in out:
            r.update(result="PANIC", error=first_error(out))
            return r
        if code != 0:
            r.update(result="refused", error=first_error(out))
            # what --no-verify writes must still be a valid model (the structural check)
            code2, _ = sh([oto, "prune", path, "--sparsity", "0.5", "--criterion", "random", "--latency-runs", "0",
                           "--no-verify", "-o", small, "--masked", full])
            if code2 == 0:
                try:
                    onnx.checker.check_model(small, full_check=True)
                    r["no_verify_ort_rel"] = ort_rel(full, small)
                    if r["no_verify_ort_rel"] > 1e-4:
                        r.update(result="INVALID", error="--no-verify wrote a model that differs: " + r["error"])
                except Exception as e:  # noqa: BLE001
                    r.update(result="INVALID", error="--no-verify wrote an invalid model: " + str(e).splitlines()[0][:160])
            return r
        rm = re.search(r"rows removed (\d+) of (\d+)", out)
        r["rows_removed"] = int(rm[1]) if rm else 0
        try:
            onnx.checker.check_model(small, full_check=True)
            r["ort_rel"] = ort_rel(full, small)
        except Exception as e:  # noqa: BLE001
            r.update(result="INVALID", error=str(e).splitlines()[0][:200])
            return r
        r["size_ratio"] = round(os.path.getsize(small) / max(os.path.getsize(full), 1), 4)
        ok = r["ort_rel"] <= 1e-4
        r["result"] = ("exact" if r["rows_removed"] > 0 else "same") if ok else "INVALID"
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--oto", default="target/release/oto")
    ap.add_argument("--cache", default="docs/corpus/results.json")
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    stamp = str(int(os.path.getmtime(a.oto)))
    cache = json.load(open(a.cache)) if os.path.exists(a.cache) and not a.force else {}
    rows = []
    for path in sorted(glob.glob(os.path.join(a.corpus, "*.onnx"))):
        key = os.path.basename(path)
        hit = cache.get(key)
        r = hit if hit and hit.get("oto") == stamp else dict(cell(a.oto, path), oto=stamp)
        cache[key] = r
        rows.append(r)
        print(f"{r['model'][:44]:44} {r['result']:8} groups {r.get('prunable_groups', '-')}/{r.get('groups', '-')} "
              f"channels {r.get('prunable_channels', '-')} removed {r.get('rows_removed', '-')} "
              f"ort {r.get('ort_rel', float('nan')):.1e} size {r.get('size_ratio', '-')} {r.get('error', '')}", flush=True)
        os.makedirs(os.path.dirname(a.cache) or ".", exist_ok=True)
        json.dump(cache, open(a.cache + ".tmp", "w"), indent=1, sort_keys=True)
        os.replace(a.cache + ".tmp", a.cache)
    n = len(rows)
    count = lambda k: sum(r["result"] == k for r in rows)
    print(f"total: {n} models, {count('exact')} exact and smaller, {count('same')} nothing prunable (valid), "
          f"{count('refused')} refused, {count('INVALID')} invalid, {count('PANIC')} panics")
    sys.exit(1 if count("INVALID") or count("PANIC") else 0)


if __name__ == "__main__":
    main()
