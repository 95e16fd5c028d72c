#!/usr/bin/env python3
"""Write the small synthetic datasets under ``fixtures/datasets/`` that ``tests/datasets.rs`` reads.

Each file follows an official layout, with made-up pixels (nothing here is real data):

* ``cifar100/cifar-100-binary.tar.gz``: CIFAR-100's binary release (``cifar-100-binary/`` with
  ``train.bin``, ``test.bin``, ``fine_label_names.txt``, ``coarse_label_names.txt``). Records are
  ``coarse label, fine label, R plane, G plane, B plane`` (32x32, row-major). The test split has 2
  images per fine class, the training split 1, in a seeded shuffled order; test record 0 is the
  known pattern of :func:`cifar_pattern`. The class names are CIFAR-100's published ones and each
  fine class carries its published superclass as coarse label.
* ``stl10/stl10_binary.tar.gz``: STL-10's binary release (``stl10_binary/`` with ``test_X.bin``,
  ``test_y.bin``, ``train_X.bin``, ``train_y.bin``, ``class_names.txt`` and a one-image
  ``unlabeled_X.bin``). Images are stored as the official reader expects: it reshapes to
  ``(N, 3, 96, 96)`` and transposes ``(0, 3, 2, 1)`` to get ``(N, 96, 96, 3)``; the bytes are
  written by the inverse of that and checked by running that very reader. Test record 0 is the
  asymmetric :func:`stl_pattern`. Labels are ``1..=10``. 2 test and 1 training image per class.
* ``folder-named/``: a ``folder:`` dataset whose class folders are WordNet ids, with a
  ``classnames.txt`` giving their display names (PNG images, 2 per class and split).
* ``jpeg/``: ``cmyk.jpg`` (Pillow's CMYK JPEG: Adobe marker, transform 0), ``cmyk-noadobe.jpg``
  (the same without its Adobe APP14 marker), ``ycck.jpg`` (a YCCK JPEG: Pillow cannot write one, so
  the script computes Y, Cb, Cr from the CMYK image, has Pillow store those four channels, and sets
  the Adobe marker's transform byte to 2), each with ``NAME.rgb``: the raw RGB bytes of
  ``Image.open(NAME).convert("RGB")``, the reference the Rust decoder must match exactly.
  ``jpeg/info.json`` records width, height, Pillow's mode and Adobe transform of each.

Deterministic (seeded numpy, fixed tar and gzip headers): rerunning writes identical bytes.

    /work/pyenv/bin/python tools/make_datasets.py     # from the repository root
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fixtures" / "datasets"

# CIFAR-100's superclasses and their fine classes, as published on the CIFAR page; the names
# are spelt as in the release's label-name files (fine labels are the sorted fine names).
SUPERCLASSES = {
    "aquatic_mammals": ["beaver", "dolphin", "otter", "seal", "whale"],
    "fish": ["aquarium_fish", "flatfish", "ray", "shark", "trout"],
    "flowers": ["orchid", "poppy", "rose", "sunflower", "tulip"],
    "food_containers": ["bottle", "bowl", "can", "cup", "plate"],
    "fruit_and_vegetables": ["apple", "mushroom", "orange", "pear", "sweet_pepper"],
    "household_electrical_devices": ["clock", "keyboard", "lamp", "telephone", "television"],
    "household_furniture": ["bed", "chair", "couch", "table", "wardrobe"],
    "insects": ["bee", "beetle", "butterfly", "caterpillar", "cockroach"],
    "large_carnivores": ["bear", "leopard", "lion", "tiger", "wolf"],
    "large_man-made_outdoor_things": ["bridge", "castle", "house", "road", "skyscraper"],
    "large_natural_outdoor_scenes": ["cloud", "forest", "mountain", "plain", "sea"],
    "large_omnivores_and_herbivores": ["camel", "cattle", "chimpanzee", "elephant", "kangaroo"],
    "medium_mammals": ["fox", "porcupine", "possum", "raccoon", "skunk"],
    "non-insect_invertebrates": ["crab", "lobster", "snail", "spider", "worm"],
    "people": ["baby", "boy", "girl", "man", "woman"],
    "reptiles": ["crocodile", "dinosaur", "lizard", "snake", "turtle"],
    "small_mammals": ["hamster", "mouse", "rabbit", "shrew", "squirrel"],
    "trees": ["maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"],
    "vehicles_1": ["bicycle", "bus", "motorcycle", "pickup_truck", "train"],
    "vehicles_2": ["lawn_mower", "rocket", "streetcar", "tank", "tractor"],
}
COARSE = sorted(SUPERCLASSES)
FINE = sorted(name for names in SUPERCLASSES.values() for name in names)
COARSE_OF = {fine: COARSE.index(c) for c, names in SUPERCLASSES.items() for fine in names}
STL10 = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]


def cifar_pattern() -> np.ndarray:
    """32x32 HWC: R = 7x, G = 7y + 3, B = 255 - 3x - 2y (x the column, y the row)."""
    y, x = np.mgrid[0:32, 0:32]
    return np.stack([7 * x, 7 * y + 3, 255 - 3 * x - 2 * y], axis=-1).astype(np.uint8)


def stl_pattern() -> np.ndarray:
    """96x96 HWC: R = 2x, G = 2y + 1, B = 255 where x > y else 0 (a transposition swaps R and G
    and mirrors B)."""
    y, x = np.mgrid[0:96, 0:96]
    return np.stack([2 * x, 2 * y + 1, np.where(x > y, 255, 0)], axis=-1).astype(np.uint8)


def smooth_image(rng: np.random.Generator, side: int, label: int) -> np.ndarray:
    """A low-entropy HWC image (so the archives stay small): a class-coloured gradient with one
    random 4x4 block that makes each image distinct."""
    y, x = np.mgrid[0:side, 0:side]
    base = np.array([(37 * label) % 256, (91 * label + 40) % 256, (53 * label + 90) % 256])
    img = (base[None, None, :] + (x + y)[..., None] * (64 // side + 1)) % 256
    by, bx = rng.integers(0, side - 4, size=2)
    img[by:by + 4, bx:bx + 4] = rng.integers(0, 256, size=(4, 4, 3))
    return img.astype(np.uint8)


def add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), 0, 0o644
    tar.addfile(info, io.BytesIO(data))


def add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mtime, info.mode = tarfile.DIRTYPE, 0, 0o755
    tar.addfile(info)


def write_tgz(path: Path, folder: str, files: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(
        filename="", fileobj=raw, mode="wb", compresslevel=9, mtime=0
    ) as gz, tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        add_dir(tar, folder)
        for name, data in files.items():
            add_file(tar, f"{folder}/{name}", data)


def cifar100(rng: np.random.Generator) -> None:
    assert len(FINE) == 100 and len(COARSE) == 20 and len(set(FINE)) == 100

    def split(per_class: int, pattern_first: bool) -> bytes:
        labels = rng.permutation(np.repeat(np.arange(100), per_class))
        out = bytearray()
        for i, fine in enumerate(labels):
            img = cifar_pattern() if (pattern_first and i == 0) else smooth_image(rng, 32, fine)
            out += bytes([COARSE_OF[FINE[fine]], fine])
            out += img.transpose(2, 0, 1).tobytes()  # R, G, B planes, each row-major
        return bytes(out)

    test, train = split(2, True), split(1, False)
    assert len(test) == 200 * 3074 and len(train) == 100 * 3074
    # The first record's bytes as the CIFAR page documents them.
    assert test[2 + 31] == 7 * 31 and test[2 + 1024 + 32] == 7 * 1 + 3
    write_tgz(
        OUT / "cifar100" / "cifar-100-binary.tar.gz",
        "cifar-100-binary",
        {
            "coarse_label_names.txt": ("\n".join(COARSE) + "\n").encode(),
            "fine_label_names.txt": ("\n".join(FINE) + "\n").encode(),
            "test.bin": test,
            "train.bin": train,
        },
    )
    meta = {
        "test_fine": list(test[1::3074]),
        "test_coarse": list(test[0::3074]),
        "train_fine": list(train[1::3074]),
    }
    (OUT / "cifar100" / "labels.json").write_text(json.dumps(meta) + "\n")


def stl_store(hwc: np.ndarray) -> bytes:
    """(N, 96, 96, 3) images as STL-10 stores them: the inverse of the official reader's
    ``reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1)`` (that transpose is its own inverse)."""
    stored = np.ascontiguousarray(hwc.transpose(0, 3, 2, 1))
    data = stored.tobytes()
    # The official reader, verbatim in effect, gets the images back.
    back = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1)
    assert (back == hwc).all()
    return data


def stl10(rng: np.random.Generator) -> None:
    def split(per_class: int, pattern_first: bool) -> tuple[bytes, bytes]:
        labels = rng.permutation(np.repeat(np.arange(10), per_class))
        imgs = np.stack([
            stl_pattern() if (pattern_first and i == 0) else smooth_image(rng, 96, label)
            for i, label in enumerate(labels)
        ])
        return stl_store(imgs), bytes((labels + 1).tolist())

    test_x, test_y = split(2, True)
    train_x, train_y = split(1, False)
    # Column-major planes: byte 1 of the red plane is row 1, column 0 (R = 2x = 0), byte 96 is
    # row 0, column 1 (R = 2).
    assert test_x[1] == 0 and test_x[96] == 2 and test_x[96 * 96 + 1] == 3
    unlabeled = stl_store(smooth_image(rng, 96, 0)[None])
    write_tgz(
        OUT / "stl10" / "stl10_binary.tar.gz",
        "stl10_binary",
        {
            "class_names.txt": ("\n".join(STL10) + "\n").encode(),
            "test_X.bin": test_x,
            "test_y.bin": test_y,
            "train_X.bin": train_x,
            "train_y.bin": train_y,
            "unlabeled_X.bin": unlabeled,
        },
    )
    (OUT / "stl10" / "labels.json").write_text(
        json.dumps({"test": list(test_y), "train": list(train_y)}) + "\n"
    )


def folder_named(rng: np.random.Generator) -> None:
    root = OUT / "folder-named"
    shutil.rmtree(root, ignore_errors=True)
    # Folder order (sorted WordNet ids) and display names, one a line.
    classes = [("n01440764", "tench"), ("n02102040", "English springer"),
               ("n02979186", "cassette player")]
    for split in ["train", "test"]:
        for label, (wnid, _) in enumerate(classes):
            (root / split / wnid).mkdir(parents=True)
            for i in range(2):
                img = smooth_image(rng, 8, label)
                Image.fromarray(img).save(root / split / wnid / f"{wnid}_{i}.png", optimize=False)
    (root / "classnames.txt").write_text("".join(f"{name}\n" for _, name in classes))


def adobe_marker(jpeg: bytes) -> int:
    """Offset of the Adobe APP14 marker: FF EE, a 2-byte length, then "Adobe"."""
    at = jpeg.index(b"Adobe") - 4
    assert jpeg[at:at + 2] == b"\xff\xee"
    return at


def adobe_transform_offset(jpeg: bytes) -> int:
    """Offset of the Adobe marker's transform byte (after "Adobe", version, flags0, flags1)."""
    return adobe_marker(jpeg) + 4 + 11


def without_adobe(jpeg: bytes) -> bytes:
    at = adobe_marker(jpeg)
    length = int.from_bytes(jpeg[at + 2:at + 4], "big")
    return jpeg[:at] + jpeg[at + 2 + length:]


def jpegs(rng: np.random.Generator) -> None:
    out = OUT / "jpeg"
    out.mkdir(parents=True, exist_ok=True)
    h, w = 16, 24  # not square, width not a multiple of 16: partial MCUs
    y, x = np.mgrid[0:h, 0:w]
    # Pillow's CMYK values (what Image.open gives back): smooth ramps, a K ramp, some noise.
    cmyk = np.stack([10 * x, 15 * y, 255 - 10 * x, 8 * (x + y)], axis=-1)
    cmyk = np.clip(cmyk + rng.integers(-20, 21, size=cmyk.shape), 0, 255).astype(np.uint8)

    buf = io.BytesIO()
    Image.fromarray(cmyk, "CMYK").save(buf, "JPEG", quality=90, subsampling=0)
    files = {"cmyk.jpg": buf.getvalue(), "cmyk-noadobe.jpg": without_adobe(buf.getvalue())}
    assert files["cmyk.jpg"][adobe_transform_offset(files["cmyk.jpg"])] == 0

    # YCCK: libjpeg's decoder turns stored (Y, Cb, Cr, K) into CMYK as C = 255 - R, M = 255 - G,
    # Y = 255 - B (R, G, B from JFIF's YCbCr), K as stored. Those raw values are Adobe-inverted:
    # Pillow's C is 255 - raw C = R. So Y, Cb, Cr are computed from Pillow's (C, M, Y) taken as
    # (R, G, B), and the stored K is 255 - Pillow's K.
    r, g, b = (cmyk[..., i].astype(np.float64) for i in range(3))
    ycc = np.stack([
        0.299 * r + 0.587 * g + 0.114 * b,
        128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
        128 + 0.5 * r - 0.418688 * g - 0.081312 * b,
    ], axis=-1)
    stored = np.concatenate([np.clip(np.rint(ycc), 0, 255), 255 - cmyk[..., 3:4]], axis=-1)
    # Pillow writes CMYK inverted (raw mode CMYK;I), so it is handed 255 - stored.
    buf = io.BytesIO()
    Image.fromarray((255 - stored).astype(np.uint8), "CMYK").save(
        buf, "JPEG", quality=90, subsampling=2
    )
    ycck = bytearray(buf.getvalue())
    ycck[adobe_transform_offset(bytes(ycck))] = 2
    files["ycck.jpg"] = bytes(ycck)

    info = {}
    for name, data in files.items():
        (out / name).write_bytes(data)
        im = Image.open(out / name)
        rgb = np.asarray(im.convert("RGB"))
        assert rgb.shape == (h, w, 3)
        (out / f"{name[:-4]}.rgb").write_bytes(rgb.tobytes())
        info[name] = {
            "width": w,
            "height": h,
            "mode": im.mode,
            "adobe_transform": im.info.get("adobe_transform"),
        }
        # Every variant shows, within JPEG loss, the CMYK image it was made from (a wrong
        # polarity or channel order would be off by about 100 levels; YCCK, 4:2:0 subsampled
        # over noise, is off by 5 to 10 per channel on average).
        err = np.abs(np.asarray(im).astype(int) - cmyk.astype(int)).mean(axis=(0, 1))
        assert (err < 12).all(), (name, err)
    assert info["ycck.jpg"]["adobe_transform"] == 2 and info["cmyk.jpg"]["adobe_transform"] == 0
    assert info["cmyk-noadobe.jpg"]["adobe_transform"] is None
    (out / "info.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")


def main() -> None:
    rng = np.random.default_rng(20240613)
    cifar100(rng)
    stl10(rng)
    folder_named(rng)
    jpegs(rng)
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT.relative_to(ROOT)}: {total} bytes")


if __name__ == "__main__":
    main()
