#!/usr/bin/env python3
"""scikit-learn's linear probe on the fine-tuning fixture: what ``tests/probe.rs`` checks
``softtext::probe`` against.

Reads ``fixtures/finetune/train-embeddings.safetensors`` (300 L2-normalised rows of 24 f32,
``labels`` i64), splits it deterministically (row index % 5 == 0 is validation: 60 rows, 6 per
class, since the rows are stored class by class), fits ``LogisticRegression`` (L2, lbfgs,
multinomial softmax, intercept unpenalised) on the 240 training rows for each C, and writes
``fixtures/finetune/probe-reference.json``:

* ``train_rows`` / ``val_rows``: the split as row indices, so the Rust test uses the very same
  rows instead of re-deriving the rule;
* per C: ``coef`` ([classes][dim]), ``intercept``, ``val_proba`` ([val rows][classes]),
  ``val_pred``, ``val_accuracy``, the objective ``C * sum(logloss) + 0.5 * |W|^2`` at the
  solution, sklearn's iteration count and its final gradient's largest entry;
* the versions of scikit-learn, NumPy and SciPy, and the command.

The features are fed as float64 (the f32 values widened exactly), as softtext does.

Usage (from the repository root, in a venv with ``pip install scikit-learn safetensors``):

    python tools/probe_reference.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import scipy
import sklearn
from safetensors import safe_open
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parent.parent
EMBEDDINGS = ROOT / "fixtures" / "finetune" / "train-embeddings.safetensors"
OUT = ROOT / "fixtures" / "finetune" / "probe-reference.json"
CS = [0.1, 1.0, 10.0]
# Far tighter than sklearn's default 1e-4 so that both sides sit at the optimum and the
# comparison measures the objective, not two solvers' stopping points.
TOL = 1e-12
MAX_ITER = 100_000


def softmax_grad_max(x: np.ndarray, y: np.ndarray, coef: np.ndarray, b: np.ndarray, c: float) -> float:
    """Largest entry of the gradient of C * sum(logloss) + 0.5 * |W|^2 (an optimality check
    that does not rely on sklearn's own report)."""
    h = x @ coef.T + b
    h -= h.max(axis=1, keepdims=True)
    p = np.exp(h)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    gw = c * (p.T @ x) + coef
    gb = c * p.sum(axis=0)
    return float(max(np.abs(gw).max(), np.abs(gb).max()))


def objective(x: np.ndarray, y: np.ndarray, coef: np.ndarray, b: np.ndarray, c: float) -> float:
    h = x @ coef.T + b
    m = h.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(h - m).sum(axis=1, keepdims=True)))[:, 0]
    logloss = lse - h[np.arange(len(y)), y]
    return float(c * logloss.sum() + 0.5 * (coef**2).sum())


def main() -> None:
    with safe_open(str(EMBEDDINGS), framework="numpy") as f:
        embeddings = f.get_tensor("embeddings").astype(np.float64)
        labels = f.get_tensor("labels").astype(np.int64)
        metadata = f.metadata()
    classes = json.loads(metadata["softtext.classes"])
    n = len(labels)
    rows = np.arange(n)
    val_rows = rows[rows % 5 == 0]
    train_rows = rows[rows % 5 != 0]
    x_train, y_train = embeddings[train_rows], labels[train_rows]
    x_val, y_val = embeddings[val_rows], labels[val_rows]
    assert sorted(set(y_train.tolist())) == list(range(len(classes))), "a class has no training rows"

    fits = []
    for c in CS:
        model = LogisticRegression(C=c, solver="lbfgs", tol=TOL, max_iter=MAX_ITER)
        model.fit(x_train, y_train)
        assert list(model.classes_) == list(range(len(classes)))
        proba = model.predict_proba(x_val)
        pred = proba.argmax(axis=1)
        fits.append(
            {
                "c": c,
                "coef": model.coef_.tolist(),
                "intercept": model.intercept_.tolist(),
                "val_proba": proba.tolist(),
                "val_pred": pred.tolist(),
                "val_accuracy": float((pred == y_val).mean()),
                "objective": objective(x_train, y_train, model.coef_, model.intercept_, c),
                "grad_max": softmax_grad_max(x_train, y_train, model.coef_, model.intercept_, c),
                "n_iter": int(model.n_iter_[0]),
                "intercept_sum": float(model.intercept_.sum()),
            }
        )
        print(
            f"C={c}: val accuracy {fits[-1]['val_accuracy']:.4f}, {fits[-1]['n_iter']} iterations, "
            f"max |grad| {fits[-1]['grad_max']:.2e}, sum(intercept) {fits[-1]['intercept_sum']:.2e}",
            file=sys.stderr,
        )

    reference = {
        "source": "fixtures/finetune/train-embeddings.safetensors",
        "command": "python tools/probe_reference.py",
        "model": f"sklearn.linear_model.LogisticRegression(C=c, solver='lbfgs', tol={TOL}, max_iter={MAX_ITER})",
        "split": "row index % 5 == 0 is validation",
        "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__, "scipy": scipy.__version__},
        "classes": classes,
        "dim": int(embeddings.shape[1]),
        "train_rows": train_rows.tolist(),
        "val_rows": val_rows.tolist(),
        "fits": fits,
    }
    OUT.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
