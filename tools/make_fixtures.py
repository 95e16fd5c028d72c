#!/usr/bin/env python3
"""Generate softtext's reference-parity fixtures with the reference implementations.

Everything softtext's parity tests compare against comes from this script:

* ``fixtures/tokenizer/``: the public CLIP BPE vocabulary (``bpe_simple_vocab_16e6.txt.gz``,
  MIT licence, shipped inside ``open_clip_torch``) converted to ``vocab.json`` + ``merges.txt``
  exactly as OpenAI's ``SimpleTokenizer`` builds its tables, then to ``tokenizer.json`` with
  ``transformers.CLIPTokenizerFast``.
* ``fixtures/clip-tiny/``: a random-weight ``transformers.CLIPModel`` saved in exact Hugging Face
  format (``config.json``, ``model.safetensors``, ``tokenizer.json``, ``preprocessor_config.json``).
* ``fixtures/reference/``: what the reference produces for the committed inputs: token ids
  (OpenAI's tokenizer and Hugging Face's, checked to agree), decoded and preprocessed pixels
  (PIL, the OpenAI/torchvision transform and ``CLIPImageProcessor``), and image and text
  embeddings from ``CLIPModel``.

Usage (from the repository root, in a venv with ``pip install torch transformers open_clip_torch``):

    python tools/make_fixtures.py                       # the committed fixtures
    python tools/make_fixtures.py --size vit-l-14 --out /tmp/parity-l14
                                                        # full-size ViT-L/14 random checkpoint
                                                        # plus reference outputs (not committed)

``--checkpoint-only`` writes just the random checkpoint, with the committed
``fixtures/tokenizer/tokenizer.json`` and no reference outputs. ``tools/run-gpu.sh`` uses it on the
GPU machine (which has torch and transformers but not open_clip) to get ViT-L/14 shapes there:

    python tools/make_fixtures.py --size vit-l-14 --checkpoint-only --out /tmp/l14

The second form is what ``SOFTTEXT_PARITY_DIR=/tmp/parity-l14 cargo test --release --test parity
-- --ignored`` checks. ``--size vit-b-32`` makes a ViT-B/32-sized random checkpoint the same way
(used for CPU throughput figures).
"""

from __future__ import annotations

import argparse
import gzip
import html
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file

try:
    from PIL import Image
except ImportError:  # --checkpoint-only (the GPU machine) needs no images
    Image = None

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SAMPLE = FIXTURES / "cifar10-sample"
CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)

# Texts whose token ids must match OpenAI's tokenizer exactly. They cover the prompts the
# study uses plus the tokenizer's corner cases (case, whitespace, punctuation, digits,
# contractions, accents, non-Latin scripts, emoji, HTML entities).
TEXTS = [
    "a photo of a airplane.",
    "a photo of a automobile.",
    "a photo of a cat.",
    "automobile look like a truck",
    "dog look like a cat",
    "cat like a dog",
    "airplane resemble a bird",
    "a photo of a deer that looks like a horse.",
    "A Photo OF   a\tCAT.\n",
    "  leading and trailing spaces  ",
    "it's what they're doing, isn't it? we'll see; I'd've.",
    "numbers 1234 and 3.14159 and 1,000,000",
    "café naïve résumé Ångström",
    "日本語のテキスト and 中文",
    "emoji 🐱🚗 and symbols ©®™ ->> <=",
    "tom &amp; jerry &lt;3 &#39;quoted&#39;",
    "&eacute;t&eacute; &#233;t&#xE9; AT&T &notanentity; &amp;amp; &copy 5 &lt",
    "hyphen-ated words and snake_case and CamelCase",
    "",
]
LONG_TEXT = " ".join(["a photo of a big red truck next to a small cat"] * 12)


def bytes_to_unicode() -> dict[int, str]:
    """OpenAI CLIP's reversible byte -> printable-character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1)
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def find_bpe_vocab() -> Path:
    import open_clip

    path = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    if not path.exists():
        sys.exit(f"error: {path} not found; install open_clip_torch")
    return path


def write_tokenizer(out: Path) -> Path:
    """vocab.json + merges.txt built the way OpenAI's SimpleTokenizer builds its tables."""
    from transformers import CLIPTokenizer

    out.mkdir(parents=True, exist_ok=True)
    bpe_path = find_bpe_vocab()
    merges = gzip.open(bpe_path).read().decode("utf-8").split("\n")
    merges = merges[1 : 49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in merges]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    for merge in merges:
        vocab.append("".join(merge))
    vocab.extend(["<|startoftext|>", "<|endoftext|>"])
    encoder = {v: i for i, v in enumerate(vocab)}
    (out / "vocab.json").write_text(json.dumps(encoder, ensure_ascii=False))
    with open(out / "merges.txt", "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    # transformers 5's CLIPTokenizer is the Rust-backed one and takes the tables directly.
    tok = CLIPTokenizer(
        vocab=encoder,
        merges=list(merges),
        unk_token="<|endoftext|>",
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        model_max_length=77,
    )
    tok.save_pretrained(str(out))
    for extra in ("special_tokens_map.json", "tokenizer_config.json", "vocab.json", "merges.txt"):
        (out / extra).unlink(missing_ok=True)
    return out / "tokenizer.json"


def openai_tokenize(texts: list[str], truncate: bool = False) -> np.ndarray:
    from open_clip.tokenizer import SimpleTokenizer

    tok = SimpleTokenizer()
    # open_clip's copy of OpenAI's SimpleTokenizer renames the special markers
    # (<start_of_text>); their ids, 49406 and 49407, are OpenAI's.
    sot, eot = tok.sot_token_id, tok.eot_token_id
    rows = []
    for text in texts:
        ids = [sot] + tok.encode(text) + [eot]
        if len(ids) > 77:
            if not truncate:
                raise ValueError(f"too long: {text!r}")
            ids = ids[:77]
            ids[-1] = eot
        rows.append(ids + [0] * (77 - len(ids)))
    return np.array(rows, dtype=np.int64)


def hf_tokenize(tokenizer_json: Path, texts: list[str]) -> list[list[int]]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    return [enc.ids for enc in tok.encode_batch(texts)]


def check_tokenizers_agree(tokenizer_json: Path, texts: list[str]) -> None:
    """The committed tokenizer.json must reproduce OpenAI's ids on every plain-text prompt.

    OpenAI's tokenizer also runs ftfy and html.unescape; softtext applies html unescaping
    itself, so texts are compared after that step.
    """
    openai = openai_tokenize(texts)
    hf = hf_tokenize(tokenizer_json, [html.unescape(html.unescape(t)).strip() for t in texts])
    for text, a, b in zip(texts, openai, hf):
        a = [int(x) for x in a if x != 0]
        if a != b:
            print(f"  note: tokenizers differ on {text!r}:\n    openai {a}\n    hf     {b}")


def tiny_config() -> "CLIPConfig":
    from transformers import CLIPConfig

    return CLIPConfig(
        text_config=dict(
            vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu",
            projection_dim=24, bos_token_id=0, eos_token_id=2, pad_token_id=1,
        ),
        vision_config=dict(
            hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            image_size=224, patch_size=32, hidden_act="quick_gelu", projection_dim=24,
        ),
        projection_dim=24,
    )


def vit_l_14_config() -> "CLIPConfig":
    """The architecture of openai/clip-vit-large-patch14 (its config.json's values)."""
    from transformers import CLIPConfig

    return CLIPConfig(
        text_config=dict(
            vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
            num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
            projection_dim=768, bos_token_id=0, eos_token_id=2, pad_token_id=1,
        ),
        vision_config=dict(
            hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
            num_attention_heads=16, image_size=224, patch_size=14, hidden_act="quick_gelu",
            projection_dim=768,
        ),
        projection_dim=768,
    )


def vit_b_32_config() -> "CLIPConfig":
    """The architecture of openai/clip-vit-base-patch32."""
    from transformers import CLIPConfig

    return CLIPConfig(
        text_config=dict(
            vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
            num_attention_heads=8, max_position_embeddings=77, hidden_act="quick_gelu",
            projection_dim=512, bos_token_id=0, eos_token_id=2, pad_token_id=1,
        ),
        vision_config=dict(
            hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
            num_attention_heads=12, image_size=224, patch_size=32, hidden_act="quick_gelu",
            projection_dim=512,
        ),
        projection_dim=512,
    )


def randomise(model: torch.nn.Module, seed: int) -> None:
    """Random weights that keep activations in a realistic range (unlike HF's init, whose
    tiny layer-norm-free scales would let a bug hide in near-constant outputs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("logit_scale"):
                p.fill_(float(np.log(1 / 0.07)))
            elif "layer_norm" in name or "layrnorm" in name or "layernorm" in name:
                base = 1.0 if name.endswith("weight") else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p.shape[-1] if p.dim() > 1 else p.shape[0]
                p.copy_(torch.randn(p.shape, generator=g) / np.sqrt(fan_in))


def write_model(out: Path, config, tokenizer_json: Path, seed: int):
    from transformers import CLIPImageProcessor, CLIPModel

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    randomise(model, seed)
    model.save_pretrained(str(out), safe_serialization=True)
    shutil.copy(tokenizer_json, out / "tokenizer.json")
    size = config.vision_config.image_size
    processor = CLIPImageProcessor(
        size={"shortest_edge": size}, crop_size={"height": size, "width": size},
        image_mean=list(MEAN), image_std=list(STD), resample=3, do_convert_rgb=True,
    )
    processor.save_pretrained(str(out))
    return model


def sample_images() -> list[Path]:
    """Two images per class from the committed CIFAR-10 sample, in class order."""
    return [p for c in CLASSES for p in sorted((SAMPLE / "test" / c).glob("*.jpg"))[:2]]


def odd_shape_images(out: Path) -> list[Path]:
    """Lossless test images of awkward sizes: exercise resize of both sides, downscaling,
    and centre crops with odd margins, independently of any JPEG decoder."""
    rng = np.random.default_rng(7)
    paths = []
    for (w, h) in [(37, 53), (261, 240), (225, 227), (17, 90), (320, 251)]:
        yy, xx = np.mgrid[0:h, 0:w]
        smooth = np.stack(
            [128 + 100 * np.sin(xx / 7.0), 128 + 100 * np.cos(yy / 5.0), (xx * 3 + yy * 2) % 256],
            axis=-1,
        )
        noise = rng.integers(-40, 41, size=(h, w, 3))
        arr = np.clip(smooth + noise, 0, 255).astype(np.uint8)
        path = out / f"odd_{w}x{h}.png"
        Image.fromarray(arr, "RGB").save(path)
        paths.append(path)
    return paths


def pil_resize_crop(img: Image.Image, size: int) -> np.ndarray:
    """OpenAI CLIP's transform up to ToTensor: torchvision Resize(size, BICUBIC) on a PIL image
    (which is PIL's resize) and CenterCrop(size)."""
    from torchvision.transforms import CenterCrop, InterpolationMode, Resize

    img = Resize(size, interpolation=InterpolationMode.BICUBIC)(img.convert("RGB"))
    img = CenterCrop(size)(img)
    return np.asarray(img, dtype=np.uint8)


def openai_pixels(img: Image.Image, size: int) -> np.ndarray:
    from torchvision.transforms import (CenterCrop, Compose, InterpolationMode, Normalize,
                                        Resize, ToTensor)

    t = Compose([
        Resize(size, interpolation=InterpolationMode.BICUBIC), CenterCrop(size),
        lambda im: im.convert("RGB"), ToTensor(), Normalize(MEAN, STD),
    ])
    return t(img).numpy()


def features(output) -> np.ndarray:
    """transformers 5 returns a model output whose pooler_output is the projection; 4.x a tensor."""
    tensor = output if isinstance(output, torch.Tensor) else output.pooler_output
    return tensor.float().numpy()


def write_reference(out: Path, model, model_dir: Path, tokenizer_json: Path, images_out: Path):
    from transformers import CLIPImageProcessor

    out.mkdir(parents=True, exist_ok=True)
    size = model.config.vision_config.image_size
    texts = TEXTS
    ids = openai_tokenize(texts)
    truncated = openai_tokenize([LONG_TEXT], truncate=True)
    hf_ids = hf_tokenize(tokenizer_json, texts)

    jpgs = sample_images()
    pngs = odd_shape_images(images_out)
    processor = CLIPImageProcessor.from_pretrained(str(model_dir))

    tensors = {
        "text_ids": ids,
        "long_text_truncated_ids": truncated,
    }
    manifest = {
        "texts": texts,
        "long_text": LONG_TEXT,
        "hf_ids_agree": [
            [int(x) for x in row if x != 0] == hf for row, hf in zip(ids, hf_ids)
        ],
        "jpeg_images": [str(p.relative_to(ROOT)) for p in jpgs],
        "png_images": [str(p.relative_to(ROOT)) for p in pngs],
        "image_size": size,
        "generator": {
            "torch": torch.__version__,
            "transformers": __import__("transformers").__version__,
            "pillow": Image.__version__ if hasattr(Image, "__version__") else __import__("PIL").__version__,
            "open_clip": __import__("open_clip").__version__,
            "numpy": np.__version__,
        },
    }
    all_images = jpgs + pngs
    decoded, resized, openai_px, hf_px = [], [], [], []
    for p in all_images:
        img = Image.open(p)
        img.load()
        rgb = img.convert("RGB")
        decoded.append(np.asarray(rgb, dtype=np.uint8))
        resized.append(pil_resize_crop(rgb, size))
        openai_px.append(openai_pixels(rgb, size))
        hf_px.append(processor(images=rgb, return_tensors="np")["pixel_values"][0])
    for i, p in enumerate(all_images):
        tensors[f"decoded/{i}"] = decoded[i]
    tensors["resized_cropped_u8"] = np.stack(resized)
    # Full float pixels for a few images only (they are large); the uint8 crops above cover
    # every image, and the embeddings below are computed from every image's full pixels.
    subset = [0, 1, len(jpgs), len(jpgs) + 1, len(all_images) - 1]
    manifest["pixel_subset"] = subset
    tensors["pixel_values_openai"] = np.stack([openai_px[i] for i in subset]).astype(np.float32)
    tensors["pixel_values_hf"] = np.stack([hf_px[i] for i in subset]).astype(np.float32)

    with torch.no_grad():
        pv = torch.from_numpy(np.stack(openai_px).astype(np.float32))
        tensors["image_embeds"] = features(model.get_image_features(pixel_values=pv))
        tid = torch.from_numpy(ids)
        tensors["text_embeds"] = features(model.get_text_features(input_ids=tid))
        tensors["logit_scale"] = model.logit_scale.exp().reshape(1).numpy()

    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    save_file(tensors, str(out / "reference.safetensors"))
    (out / "reference.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    mismatches = [t for t, ok in zip(texts, manifest["hf_ids_agree"]) if not ok]
    print(f"wrote {out}: {len(texts)} texts ({len(mismatches)} where HF != OpenAI), "
          f"{len(all_images)} images")
    check_tokenizers_agree(tokenizer_json, texts)


def write_aux_fixture(out: Path, seed: int = 11) -> None:
    """A committed auxiliary-prediction file for the CIFAR-10 test sample, in softtext's JSON
    format. Its predictions come from a seeded synthetic classifier (right 80% of the time,
    otherwise a random wrong class; second choice random), so the golden-snapshot test has a
    fixed, realistic input without a trained network."""
    rng = np.random.default_rng(seed)
    rows = []
    for label, cls in enumerate(CLASSES):
        for path in sorted((SAMPLE / "test" / cls).glob("*.jpg")):
            others = [c for c in range(len(CLASSES)) if c != label]
            top1 = label if rng.random() < 0.8 else int(rng.choice(others))
            rest = [c for c in range(len(CLASSES)) if c != top1]
            top2 = int(rng.choice(rest))
            p1 = float(np.round(rng.uniform(0.5, 0.95), 4))
            p2 = float(np.round(rng.uniform(0.01, 1 - p1), 4))
            rows.append({"id": str(path.relative_to(SAMPLE)), "topk": [top1, top2], "scores": [p1, p2]})
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"format": "aux-predictions-v1", "classes": CLASSES, "predictions": rows}
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}: {len(rows)} rows")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=["tiny", "vit-b-32", "vit-l-14"], default="tiny")
    ap.add_argument("--out", type=Path, help="output folder (default: fixtures/)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--checkpoint-only", action="store_true",
                    help="only the random checkpoint, with the committed tokenizer; no reference outputs")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))

    if args.checkpoint_only:
        if not args.out or args.size == "tiny":
            sys.exit("error: --checkpoint-only needs --size vit-b-32|vit-l-14 and --out")
        config = vit_l_14_config() if args.size == "vit-l-14" else vit_b_32_config()
        model_dir = args.out / f"clip-{args.size}-random"
        write_model(model_dir, config, FIXTURES / "tokenizer" / "tokenizer.json", args.seed)
        print(model_dir)
        return

    tokenizer_json = write_tokenizer(FIXTURES / "tokenizer")
    if args.size == "tiny":
        base = args.out or FIXTURES
        model_dir, ref_dir = base / "clip-tiny", base / "reference"
        config = tiny_config()
    else:
        if not args.out:
            sys.exit(f"error: --size {args.size} needs --out (the checkpoint is large)")
        model_dir = args.out / f"clip-{args.size}-random"
        ref_dir = args.out / "reference"
        config = vit_l_14_config() if args.size == "vit-l-14" else vit_b_32_config()
    model = write_model(model_dir, config, tokenizer_json, args.seed)
    images_out = FIXTURES / "images"  # shared by every size: the same inputs at every scale
    images_out.mkdir(parents=True, exist_ok=True)
    write_reference(ref_dir, model, model_dir, tokenizer_json, images_out)
    if args.size == "tiny":
        write_aux_fixture(FIXTURES / "aux" / "cifar10-sample-test-aux.json")


if __name__ == "__main__":
    main()
