#!/usr/bin/env python3
"""Compare softtext's Rust UMAP with umap-learn on a features file.

A features file is softtext's embedding format: a safetensors file with an
`embeddings` tensor [N, D] f32 and optionally `labels` [N] i64.

For each dataset this runs
  * the Rust dev binary `dev_umap_features` (writes coords + its own fit wall time),
  * umap-learn in a fresh Python process, fitting twice: the first fit pays
    numba's JIT compilation ("cold"), the second does not ("warm"),
and prints trustworthiness (sklearn, k=15) of both layouts, wall times and,
when labels exist, the 2-D 1-NN label agreement.

Datasets: --features PATH (repeatable); with none given, a deterministic
synthetic 10-class 10,000 x 768 unit-sphere set (generated and saved to
--synthetic-out if missing) plus out/test-embeddings.safetensors
when that file exists.

Usage:
  cargo build --release --example dev_umap_features
  /work/venv/bin/python tools/umap_compare.py [--features F] [--seed 42]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from safetensors.numpy import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MAIN_TEST_EMBEDDINGS = os.path.join(ROOT, "out", "test-embeddings.safetensors")


def synthetic(n=10_000, dim=768, classes=10, sub=4, seed=0):
    """CLIP-like geometry: every row shares one dominant direction, classes are
    weaker directions (two pairs deliberately correlated, like cat/dog), each
    class has sub-modes, and per-class isotropic noise makes neighbouring
    classes overlap (15-NN label agreement ~0.93)."""
    rng = np.random.default_rng(seed)

    def unit(v):
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    mean_dir = unit(rng.standard_normal(dim))
    cls = unit(rng.standard_normal((classes, dim)))
    cls[5] = unit(0.6 * cls[3] + 0.8 * cls[5])
    cls[9] = unit(0.5 * cls[1] + 0.85 * cls[9])
    modes = unit(rng.standard_normal((classes, sub, dim)))
    labels = np.arange(n) % classes
    mode = rng.integers(0, sub, n)
    noise = 1.1 * (0.8 + 0.4 * rng.random(classes))[labels][:, None]
    x = mean_dir + 0.4 * cls[labels] + 0.3 * modes[labels, mode]
    x = x + noise * rng.standard_normal((n, dim)) / np.sqrt(dim)
    return unit(x).astype(np.float32), labels.astype(np.int64)


def run_rust(binary, features, seed, out_dir):
    out = os.path.join(out_dir, "rust_coords.safetensors")
    cmd = [binary, features, out, "--seed", str(seed), "--metric", "cosine", "--n-neighbors", "15"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"rust binary failed: {proc.stderr}")
    sys.stderr.write(proc.stderr)
    from safetensors import safe_open

    with safe_open(out, "np") as f:
        meta = f.metadata()
        coords = f.get_tensor("coords")
    return coords, float(meta["wall_s"]), total, meta


def umap_worker(features, seed, out):
    """Runs in a fresh interpreter so the first fit includes numba's JIT."""
    t0 = time.perf_counter()
    import umap

    t_import = time.perf_counter() - t0
    x = load_file(features)["embeddings"]
    times, coords = [], None
    for _ in range(2):
        model = umap.UMAP(n_neighbors=15, min_dist=0.1, metric="cosine", random_state=seed)
        t = time.perf_counter()
        coords = model.fit_transform(x)
        times.append(time.perf_counter() - t)
    np.save(out + ".npy", coords.astype(np.float32))
    with open(out + ".json", "w") as f:
        json.dump({"import_s": t_import, "cold_s": times[0], "warm_s": times[1]}, f)


def run_umap_learn(features, seed, out_dir):
    out = os.path.join(out_dir, "umap_learn")
    subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--_umap-worker", features, str(seed), out],
        check=True,
    )
    with open(out + ".json") as f:
        t = json.load(f)
    return np.load(out + ".npy"), t


def label_agreement(coords, labels):
    from sklearn.neighbors import NearestNeighbors

    idx = NearestNeighbors(n_neighbors=1).fit(coords).kneighbors(return_distance=False)[:, 0]
    return float((labels[idx] == labels).mean())


def compare(features, binary, seed, trust_metric):
    from sklearn.manifold import trustworthiness

    data = load_file(features)
    x = data["embeddings"]
    labels = data.get("labels")
    print(f"\n== {features}: {x.shape[0]} x {x.shape[1]}, seed {seed}, n_neighbors 15, min_dist 0.1, cosine")
    with tempfile.TemporaryDirectory() as tmp:
        rc, r_wall, r_proc, meta = run_rust(binary, features, seed, tmp)
        uc, ut = run_umap_learn(features, seed, tmp)
    rows = []
    for name, coords in (("softtext (Rust)", rc), ("umap-learn", uc)):
        t0 = time.perf_counter()
        tw = trustworthiness(x, coords, n_neighbors=15, metric=trust_metric)
        sys.stderr.write(f"  trustworthiness({name}) took {time.perf_counter() - t0:.1f} s\n")
        agree = label_agreement(coords, labels) if labels is not None else float("nan")
        rows.append((name, tw, agree))
    print(f"{'method':<18}{'trust@15':>10}{'1-NN label':>12}   wall time")
    print(
        f"{rows[0][0]:<18}{rows[0][1]:>10.4f}{rows[0][2]:>12.4f}   fit {r_wall:.2f} s "
        f"(process incl. file I/O {r_proc:.2f} s; init {meta['init_used']}, fallback {meta['init_fallback']})"
    )
    print(
        f"{rows[1][0]:<18}{rows[1][1]:>10.4f}{rows[1][2]:>12.4f}   fit cold (with JIT) {ut['cold_s']:.2f} s, "
        f"warm {ut['warm_s']:.2f} s (+ import {ut['import_s']:.2f} s)"
    )
    print(f"trust difference (Rust - umap-learn): {rows[0][1] - rows[1][1]:+.4f}; trustworthiness metric: {trust_metric}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--_umap-worker":
        umap_worker(sys.argv[2], int(sys.argv[3]), sys.argv[4])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", action="append", help="safetensors features file (repeatable)")
    ap.add_argument("--synthetic-out", default=os.path.join(ROOT, "out", "synthetic-10k.safetensors"))
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "examples", "dev_umap_features"))
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--trust-metric", default="cosine", choices=["cosine", "euclidean"])
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} missing: run `cargo build --release --example dev_umap_features`")
    files = args.features
    if not files:
        if not os.path.exists(args.synthetic_out):
            os.makedirs(os.path.dirname(args.synthetic_out), exist_ok=True)
            x, y = synthetic()
            save_file({"embeddings": x, "labels": y}, args.synthetic_out)
        files = [args.synthetic_out]
        if os.path.exists(MAIN_TEST_EMBEDDINGS):
            files.append(MAIN_TEST_EMBEDDINGS)
        else:
            print(f"(skipping {MAIN_TEST_EMBEDDINGS}: not present)")
    for f in files:
        compare(f, args.bin, args.seed, args.trust_metric)


if __name__ == "__main__":
    main()
