#!/usr/bin/env python3
"""PyTorch + ``transformers`` reference for ``softtext finetune`` (docs/finetune.md).

It reimplements the algorithm of docs/finetune.md independently of softtext: the text encoder
of a Hugging Face ``CLIPModel`` is trained on cached, L2-normalised image embeddings of the
train split (the image tower is frozen and never run), and what it records is what
``cargo test`` requires softtext to reproduce:

* ``fixtures/finetune/reference.safetensors``: for every case, the trained tensors before the
  run (``{case}/init/{name}``) and after a run of T optimiser steps (``{case}/steps{T}/{name}``),
  T = 1 and 3, both runs from the same init. Names are the checkpoint's own (last-k),
  ``text_model.encoder.layers.{i}.self_attn.{q,v}_proj.lora_{A,B}`` (lora) and
  ``prompt_learner.ctx`` (coop).
* ``fixtures/finetune/reference.json``: each case's settings, and per T the loss of every step
  (the forward before that step's update) and the learning rate that step used, plus the texts
  of image 0, the lora/last-k text features after each run, and provenance.

The setting is fixed: ``fixtures/clip-tiny`` in float32, ``fixtures/finetune/train-*``, no
validation hold-out, no shuffle, batches of 64 consecutive images in file order, all images
train. The cases cover coop (ctx-init "a photo of a"), lora (r=4, alpha=8 on q_proj and v_proj
of every text layer) and last-k (k=1), each with the hard prompt and the look-like relation,
with SGD (momentum 0.9, weight decay 5e-4) or AdamW (0.9/0.999, eps 1e-8, weight decay 0.01)
under PyTorch's ``CosineAnnealingLR(T_max=T)``.

Usage (from the repository root, in a venv with ``pip install torch transformers safetensors``):

    python tools/finetune_reference.py              # writes fixtures/finetune/reference.*

``--check-clip DIR --texts TEXT...`` instead loads DIR (a Hugging Face CLIP folder, e.g. the
``clip/`` softtext writes after lora or last-k) with ``CLIPModel.from_pretrained``, fails unless
the load had no missing, unexpected or mismatched keys, and prints the texts' projected text
features (``get_text_features``) and their L2-normalised form as JSON:

    python tools/finetune_reference.py --check-clip fixtures/clip-tiny --texts "a photo of a cat."
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.numpy import save_file

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
FINETUNE = FIXTURES / "finetune"

HARD_TEMPLATE = "a photo of a {}."  # src/prompts/hard.rs PAPER_HARD_TEMPLATE, used verbatim
RELATIONS = {  # src/prompts/relation.rs, the paper's three
    "like": "{x} like {a} {y}",
    "look-like": "{x} look like {a} {y}",
    "resemble": "{x} resemble {a} {y}",
}
CTX_INIT = "a photo of a"
BATCH_SIZE = 64
RUN_STEPS = (1, 3)
LORA_RANK, LORA_ALPHA = 4, 8
LAST_K = 1
SGD = dict(momentum=0.9, weight_decay=5e-4)
ADAMW = dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
CASES = [
    dict(name="coop-hard-sgd", method="coop", prompt="hard", optimizer="sgd", lr=0.01),
    dict(name="coop-look-like-adamw", method="coop", prompt="look-like", optimizer="adamw", lr=1e-3),
    dict(name="lora-hard-adamw", method="lora", prompt="hard", optimizer="adamw", lr=1e-3),
    dict(name="lora-look-like-sgd", method="lora", prompt="look-like", optimizer="sgd", lr=0.05),
    dict(name="lastk-hard-sgd", method="last-k", prompt="hard", optimizer="sgd", lr=0.01),
    dict(name="lastk-look-like-adamw", method="last-k", prompt="look-like", optimizer="adamw",
         lr=1e-3),
]
# Texts whose features the lora / last-k runs record, for checking softtext's merged clip/.
PROBE_TEXTS = ["a photo of a cat.", "dog look like a cat", "a photo of a airplane look like a bird"]


# --- prompts -------------------------------------------------------------------------------

VOWEL_LETTERS = "aeiouàáâãäåæèéêëìíîïòóôõöøœùúûü"
# src/prompts/article.rs ARTICLE_EXCEPTIONS: (stem, whole word?, article).
ARTICLE_EXCEPTIONS = [
    ("hour", False, "an"), ("honest", False, "an"), ("honor", False, "an"),
    ("honour", False, "an"), ("heir", False, "an"),
    ("ubiquit", False, "a"), ("ukulele", False, "a"), ("unicorn", False, "a"),
    ("unicycl", False, "a"), ("uniform", False, "a"), ("unilateral", False, "a"),
    ("union", False, "a"), ("unique", False, "a"), ("unison", False, "a"), ("unit", False, "a"),
    ("univers", False, "a"), ("uran", False, "a"), ("urin", False, "a"), ("use", False, "a"),
    ("usual", False, "a"), ("utensil", False, "a"), ("uter", False, "a"), ("util", False, "a"),
    ("ufo", True, "a"), ("eu", False, "a"), ("ewe", True, "a"), ("one", True, "a"),
    ("once", True, "a"), ("ouija", False, "a"),
]


def indefinite_article(name: str) -> str:
    """softtext's article rule (src/prompts/article.rs), judged on the name's first word."""
    start = next((i for i, ch in enumerate(name) if ch.isalnum()), None)
    if start is None:
        return "a"
    word = name[start:]
    end = next((i for i, ch in enumerate(word) if not ch.isalnum()), len(word))
    word = word[:end]
    lower = word.lower()
    for stem, whole, article in ARTICLE_EXCEPTIONS:
        if (lower == stem) if whole else lower.startswith(stem):
            return article
    if len(word) <= 4 and all("A" <= ch <= "Z" for ch in word):
        return "an" if word[0] in "AEFHILMNORSX" else "a"
    if "0" <= word[0] <= "9":
        digits = word[: next((i for i, ch in enumerate(word) if not "0" <= ch <= "9"), len(word))]
        if digits.startswith("8"):
            return "an"
        if len(digits) % 3 == 2 and (digits.startswith("11") or digits.startswith("18")):
            return "an"
        return "a"
    return "an" if lower[0] in VOWEL_LETTERS else "a"


def soft_text(relation: str, x: str, y: str) -> str:
    return RELATIONS[relation].format(x=x, a=indefinite_article(y), y=y)


def texts_for_image(prompt: str, classes: list[str], top2: tuple[int, int]) -> list[str]:
    """The text of every class c for one image: the hard prompt, or "c REL p" with partner
    p = b if c == a else a (the `all` protocol)."""
    if prompt == "hard":
        return [HARD_TEMPLATE.format(name) for name in classes]
    a, b = top2
    return [soft_text(prompt, name, classes[b if c == a else a]) for c, name in enumerate(classes)]


def coop_text(prompt: str, text_of_class: str, class_name: str) -> str:
    """CoOp's text: the ctx words, then `{c}.` (hard: the template is replaced) or the soft text."""
    if prompt == "hard":
        return f"{CTX_INIT} {class_name}."
    return f"{CTX_INIT} {text_of_class}"


# --- data ----------------------------------------------------------------------------------

def load_train(images: Path, aux: Path):
    with safe_open(str(images), "pt") as f:
        meta = f.metadata()
        emb = f.get_tensor("embeddings")
        labels = f.get_tensor("labels")
    ids = json.loads(meta["softtext.ids"])
    classes = json.loads(meta["softtext.classes"])
    assert emb.dtype == torch.float32 and emb.shape[0] == len(ids) == labels.shape[0]
    doc = json.loads(aux.read_text())
    assert doc["classes"] == classes, "aux classes differ from the embedding file's"
    by_id = {row["id"]: row["topk"] for row in doc["predictions"]}
    top2 = [tuple(by_id[i][:2]) for i in ids]
    assert all(a != b for a, b in top2)
    return emb, labels, ids, classes, top2


# --- model ---------------------------------------------------------------------------------

class Tokenize:
    """The checkpoint's tokenizer.json; rows padded to the longest text with <|endoftext|>
    (as CLIPTokenizer pads). The text tower's attention is causal and pooling takes the first
    end-of-text token (argmax of the ids, eos_token_id == 2), so padding changes nothing."""

    def __init__(self, clip_dir: Path):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_file(str(clip_dir / "tokenizer.json"))
        self.pad = self.tok.token_to_id("<|endoftext|>")

    def __call__(self, texts: list[str]) -> torch.Tensor:
        rows = [enc.ids for enc in self.tok.encode_batch(texts)]
        assert all(len(r) <= 77 for r in rows)
        width = max(len(r) for r in rows)
        return torch.tensor([r + [self.pad] * (width - len(r)) for r in rows], dtype=torch.long)


def load_clip(clip_dir: Path):
    from transformers import CLIPModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model, info = CLIPModel.from_pretrained(
        str(clip_dir), dtype=torch.float32, output_loading_info=True)
    bad = {k: v for k, v in info.items() if k in
           ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
    if bad:
        sys.exit(f"error: loading {clip_dir}: {bad}")
    model.eval()
    for p in model.parameters():
        assert p.dtype == torch.float32
    return model


def text_features(model, ids: torch.Tensor) -> torch.Tensor:
    out = model.get_text_features(input_ids=ids)
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class LoRALinear(torch.nn.Module):
    """base(x) + (alpha / r) * (x A^T) B^T; A [r, in], B [out, r]; no dropout."""

    def __init__(self, base: torch.nn.Linear, rank: int, alpha: float, gen: torch.Generator):
        super().__init__()
        self.base = base
        self.scaling = alpha / rank
        bound = 1.0 / math.sqrt(base.in_features)
        a = torch.empty(rank, base.in_features).uniform_(-bound, bound, generator=gen)
        self.lora_A = torch.nn.Parameter(a)
        self.lora_B = torch.nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.scaling * ((x @ self.lora_A.T) @ self.lora_B.T)


class CoOp:
    """A learnable ctx substituted at token positions 1..=n_ctx by a forward hook on the token
    embedding; the rest of transformers' text forward is untouched."""

    def __init__(self, model, tokenize: Tokenize):
        ids = tokenize([CTX_INIT])[0]
        self.ctx_ids = ids[1:-1]  # without start and end of text
        self.n_ctx = int(self.ctx_ids.numel())
        emb = model.text_model.embeddings.token_embedding
        self.ctx = torch.nn.Parameter(emb.weight[self.ctx_ids].detach().clone())
        self.handle = emb.register_forward_hook(self.hook)

    def hook(self, module, inputs, output):
        ids = inputs[0]
        n = self.n_ctx
        assert torch.equal(ids[:, 1 : 1 + n], self.ctx_ids.expand(ids.shape[0], -1)), \
            "every coop text must start with the ctx words"
        ctx = self.ctx.unsqueeze(0).expand(output.shape[0], -1, -1)
        return torch.cat([output[:, :1], ctx, output[:, 1 + n :]], dim=1)

    def remove(self):
        self.handle.remove()


def freeze(model) -> None:
    for p in model.parameters():
        p.requires_grad_(False)


def setup_method(model, method: str, tokenize: Tokenize, seed: int):
    """Freezes the model, applies the method, returns (name -> trained parameter, coop or None)."""
    freeze(model)
    if method == "coop":
        coop = CoOp(model, tokenize)
        return {"prompt_learner.ctx": coop.ctx}, coop
    if method == "lora":
        gen = torch.Generator().manual_seed(seed)
        trained = {}
        for i, layer in enumerate(model.text_model.encoder.layers):
            for proj in ("q_proj", "v_proj"):
                wrapped = LoRALinear(getattr(layer.self_attn, proj), LORA_RANK, LORA_ALPHA, gen)
                setattr(layer.self_attn, proj, wrapped)
                prefix = f"text_model.encoder.layers.{i}.self_attn.{proj}"
                trained[f"{prefix}.lora_A"] = wrapped.lora_A
                trained[f"{prefix}.lora_B"] = wrapped.lora_B
        named = dict(model.named_parameters())
        assert all(named[k] is v for k, v in trained.items())
        return trained, None
    if method == "last-k":
        layers = len(model.text_model.encoder.layers)
        keep = [f"text_model.encoder.layers.{i}." for i in range(layers - LAST_K, layers)]
        keep += ["text_model.final_layer_norm.", "text_projection.weight"]
        trained = {n: p for n, p in model.named_parameters() if any(n.startswith(k) for k in keep)}
        assert "text_projection.weight" in trained and "text_model.final_layer_norm.bias" in trained
        for p in trained.values():
            p.requires_grad_(True)
        return trained, None
    raise ValueError(method)


# --- training ------------------------------------------------------------------------------

def batch_loss(model, tokenize, emb, labels, top2, classes, prompt, coop: bool):
    """Cross-entropy of exp(logit_scale) * <v_i, t_ic>, each unique text encoded once."""
    rows = []
    for i in range(emb.shape[0]):
        texts = texts_for_image(prompt, classes, top2[i])
        if coop:
            texts = [coop_text(prompt, t, name) for t, name in zip(texts, classes)]
        rows.append(texts)
    unique = list(dict.fromkeys(t for row in rows for t in row))
    where = {t: k for k, t in enumerate(unique)}
    index = torch.tensor([[where[t] for t in row] for row in rows], dtype=torch.long)
    feats = text_features(model, tokenize(unique))
    feats = feats / feats.norm(dim=-1, keepdim=True)
    scale = model.logit_scale.exp()
    logits = scale * torch.einsum("nd,ncd->nc", emb, feats[index])
    return F.cross_entropy(logits, labels)


def make_optimizer(case, params):
    if case["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=case["lr"], momentum=SGD["momentum"], dampening=0,
                               nesterov=False, weight_decay=SGD["weight_decay"], foreach=False)
    return torch.optim.AdamW(params, lr=case["lr"], betas=ADAMW["betas"], eps=ADAMW["eps"],
                             weight_decay=ADAMW["weight_decay"], amsgrad=False, foreach=False)


def to_numpy(tensors: dict) -> dict:
    return {k: np.ascontiguousarray(v.detach().cpu().numpy().astype(np.float32))
            for k, v in tensors.items()}


def run(case, steps, clip_dir, tokenize, data, seed):
    """One run of `steps` optimiser steps from a fresh model; returns init, final, log."""
    emb, labels, _ids, classes, top2 = data
    model = load_clip(clip_dir)
    trained, coop = setup_method(model, case["method"], tokenize, seed)
    assert {id(p) for p in model.parameters() if p.requires_grad} <= {id(p) for p in trained.values()}
    init = to_numpy(trained)
    opt = make_optimizer(case, list(trained.values()))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    losses, lrs = [], []
    grad_min = {k: [] for k in trained}
    grad_max = {k: [] for k in trained}
    for t in range(steps):
        lo, hi = t * BATCH_SIZE, min((t + 1) * BATCH_SIZE, emb.shape[0])
        assert hi > lo, "not enough images for the steps"
        loss = batch_loss(model, tokenize, emb[lo:hi], labels[lo:hi], top2[lo:hi], classes,
                          case["prompt"], coop is not None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for k, p in trained.items():
            g = p.grad.abs()
            grad_min[k].append(float(g.min()))
            grad_max[k].append(float(g.max()))
        lrs.append(float(opt.param_groups[0]["lr"]))
        losses.append(float(loss.item()))
        opt.step()
        sched.step()
    final = to_numpy(trained)
    probe = None
    if coop is None:
        with torch.no_grad():
            probe = text_features(model, tokenize(PROBE_TEXTS)).tolist()
    else:
        coop.remove()
    log = dict(losses=losses, lrs=lrs, grad_abs_min=grad_min, grad_abs_max=grad_max)
    return init, final, log, probe, model


def hard_loss_without_hook(clip_dir, tokenize, data) -> float:
    emb, labels, _ids, classes, top2 = data
    model = load_clip(clip_dir)
    freeze(model)
    with torch.no_grad():
        return float(batch_loss(model, tokenize, emb[:BATCH_SIZE], labels[:BATCH_SIZE],
                                top2[:BATCH_SIZE], classes, "hard", False).item())


def case_settings(case) -> dict:
    out = dict(method=case["method"], prompt=case["prompt"], optimizer=case["optimizer"],
               lr=case["lr"], batch_size=BATCH_SIZE, schedule="cosine",
               val_fraction=0.0, shuffle=False, shots=None)
    if case["optimizer"] == "sgd":
        out.update(momentum=SGD["momentum"], weight_decay=SGD["weight_decay"], dampening=0.0,
                   nesterov=False)
    else:
        out.update(betas=list(ADAMW["betas"]), eps=ADAMW["eps"],
                   weight_decay=ADAMW["weight_decay"])
    if case["method"] == "coop":
        out.update(n_ctx=len(CTX_INIT.split()), ctx_init=CTX_INIT, csc=False)
    elif case["method"] == "lora":
        out.update(rank=LORA_RANK, alpha=LORA_ALPHA, dropout=0.0)
    else:
        out.update(k=LAST_K)
    return out


def generate(args) -> None:
    import transformers

    tokenize = Tokenize(args.clip)
    data = load_train(args.images, args.aux)
    emb, labels, ids, classes, top2 = data
    for name, expected in [("airplane", "an"), ("automobile", "an"), ("bird", "a"), ("cat", "a"),
                           ("deer", "a"), ("dog", "a"), ("frog", "a"), ("horse", "a"),
                           ("ship", "a"), ("truck", "a")]:
        assert indefinite_article(name) == expected, name

    tensors: dict[str, np.ndarray] = {}
    cases_out: dict[str, dict] = {}
    for case in CASES:
        settings = case_settings(case)
        print(f"== {case['name']}")
        init_ref = None
        for steps in RUN_STEPS:
            init, final, log, probe, _ = run(case, steps, args.clip, tokenize, data, args.seed)
            if init_ref is None:
                init_ref = init
                for k, v in init.items():
                    tensors[f"{case['name']}/init/{k}"] = v
            assert init.keys() == init_ref.keys()
            assert all(np.array_equal(init[k], init_ref[k]) for k in init), "init not reproducible"
            for k, v in final.items():
                tensors[f"{case['name']}/steps{steps}/{k}"] = v
            entry = dict(log)
            entry["images"] = [0, min(steps * BATCH_SIZE, emb.shape[0])]
            entry["max_abs_update"] = {k: float(np.abs(final[k] - init[k]).max()) for k in final}
            if probe is not None:
                entry["probe_text_features"] = probe
            settings[f"steps{steps}"] = entry
            print(f"  T={steps}: losses {log['losses']}  lrs {log['lrs']}")
            noisy = [k for k, g in log["grad_abs_max"].items() if max(g) < 1e-6]
            if noisy:
                print(f"    gradient ~0 at every step (max |g| < 1e-6): {noisy}")
            for k in final:
                d = entry["max_abs_update"][k]
                rel = d / max(float(np.abs(init[k]).max()), 1e-30)
                print(f"    max|update| {d:.3e} (rel {rel:.2e})  {k}")
            assert max(entry["max_abs_update"].values()) > 0, "nothing moved"
        if case["method"] == "coop" and case["prompt"] == "hard":
            plain = hard_loss_without_hook(args.clip, tokenize, data)
            hooked = settings["steps1"]["losses"][0]
            print(f"  step-0 loss: coop {hooked!r}, plain hard prompt (no hook) {plain!r}")
            assert abs(plain - hooked) <= 1e-6 * max(1.0, abs(plain)), (plain, hooked)
            settings["step0_loss_hard_prompt_no_hook"] = plain
        settings["trained_tensors"] = sorted(init_ref)
        cases_out[case["name"]] = settings

    def example(i: int) -> dict:
        texts = {}
        for prompt in ["hard", "look-like"]:
            base = texts_for_image(prompt, classes, top2[i])
            texts[prompt] = base
            texts[f"coop-{prompt}"] = [coop_text(prompt, t, n) for t, n in zip(base, classes)]
        return {"id": ids[i], "label": int(labels[i]), "aux_top2": list(top2[i]), "texts": texts}

    with torch.no_grad():
        scale = float(load_clip(args.clip).logit_scale.exp().item())
    date = datetime.datetime.fromtimestamp(
        int(os.environ.get("SOURCE_DATE_EPOCH", datetime.datetime.now().timestamp())),
        tz=datetime.timezone.utc).date().isoformat()
    doc = {
        "format": "finetune-reference-v1",
        "clip": str(args.clip.resolve().relative_to(ROOT)) if args.clip.resolve().is_relative_to(ROOT) else str(args.clip),
        "images": str(args.images.resolve().relative_to(ROOT)) if args.images.resolve().is_relative_to(ROOT) else str(args.images),
        "aux": str(args.aux.resolve().relative_to(ROOT)) if args.aux.resolve().is_relative_to(ROOT) else str(args.aux),
        "classes": classes,
        "n_images": int(emb.shape[0]),
        "logit_scale_exp": scale,
        "seed": args.seed,
        "run_steps": list(RUN_STEPS),
        "hard_template": HARD_TEMPLATE,
        "relations": RELATIONS,
        "image0": example(0),
        "image1": example(1),  # its partners include "an airplane"
        "probe_texts": PROBE_TEXTS,
        "notes": [
            "losses[t] is the loss of step t's forward, before that step's update; lrs[t] the lr "
            "it used (PyTorch's CosineAnnealingLR values, recursive form).",
            "probe_text_features: get_text_features (projected, not normalised) of probe_texts "
            "after the run (lora, last-k), for checking a merged clip/ folder.",
            "grad_abs_min / grad_abs_max: per tensor, per step, the min and max |gradient|.",
            "text_model.encoder.layers.*.self_attn.k_proj.bias has an analytically zero gradient "
            "(a key bias shifts every score of a query equally; softmax ignores it): what "
            "PyTorch computes for it is float noise (~1e-8). Under SGD it moves by weight decay "
            "alone; under AdamW its step lr_t * m_hat / (sqrt(v_hat) + eps) amplifies that noise "
            "to up to ~lr_t per element, so its AdamW values are not reproducible across "
            "implementations. Likewise any AdamW element whose |gradient| is near eps "
            "(see grad_abs_min).",
        ],
        "cases": cases_out,
        "generator": {
            "command": "python tools/finetune_reference.py" + "".join(f" {a}" for a in sys.argv[1:]),
            "date": date,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "numpy": np.__version__,
            "python": sys.version.split()[0],
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(dict(sorted(tensors.items())), str(args.out / "reference.safetensors"))
    (args.out / "reference.json").write_text(json.dumps(doc, indent=1) + "\n")
    size = (args.out / "reference.safetensors").stat().st_size
    print(f"wrote {args.out}/reference.json and reference.safetensors ({len(tensors)} tensors, "
          f"{size} bytes)")


def check_clip(clip_dir: Path, texts: list[str]) -> None:
    model = load_clip(clip_dir)
    tokenize = Tokenize(clip_dir)
    with torch.no_grad():
        feats = text_features(model, tokenize(texts))
        normed = feats / feats.norm(dim=-1, keepdim=True)
    print(json.dumps({"clip": str(clip_dir), "texts": texts, "features": feats.tolist(),
                      "normalized": normed.tolist()}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, default=FIXTURES / "clip-tiny")
    ap.add_argument("--images", type=Path, default=FINETUNE / "train-embeddings.safetensors")
    ap.add_argument("--aux", type=Path, default=FINETUNE / "train-aux.json")
    ap.add_argument("--out", type=Path, default=FINETUNE, help="output folder (default: fixtures/finetune/)")
    ap.add_argument("--seed", type=int, default=0, help="seeds the LoRA A init")
    ap.add_argument("--check-clip", type=Path, metavar="DIR",
                    help="print the text features of --texts under the CLIP folder DIR and exit")
    ap.add_argument("--texts", nargs="+", default=["a photo of a cat."])
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(args.seed)
    if args.check_clip:
        check_clip(args.check_clip, args.texts)
    else:
        generate(args)


if __name__ == "__main__":
    main()
