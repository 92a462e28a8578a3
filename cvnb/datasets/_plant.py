"""Planting defects: how many of each kind, and the copies, near copies and damaged images
written with their truth rows."""

from __future__ import annotations

import colorsys
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageEnhance, ImageFilter

#: How many defects of each kind are planted in a set of about 1,800 images (smaller sets
#: get proportionally fewer, see :func:`dirty_copy`). Duplicate kinds count copies: each
#: copy and its source are both listed in the truth.
DEFAULT_COUNTS: dict[str, int] = {
    "unreadable": 12,
    "exact_duplicate": 10,
    "near_duplicate": 30,
    "leakage": 10,
    "dark": 10,
    "bright": 10,
    "blurry": 10,
    "low_information": 10,
    "odd_size": 10,
    "odd_aspect": 10,
    "grayscale": 10,
    "outlier": 12,
    "label_issue": 30,
}
TRUTH_FILE = "truth.csv"
TRUTH_COLUMNS = ["path", "issue", "source", "true_label", "detail"]

REPLACED = ("dark", "bright", "blurry", "low_information", "odd_size", "odd_aspect", "grayscale")
USES_ORIGINALS = ("exact_duplicate", "near_duplicate", "leakage", *REPLACED, "label_issue")
MAX_DEFECT_SHARE = 0.4  # default counts use at most this share of the originals
NEAR_KINDS = ("resize", "jpeg", "crop", "brightness")
#: Bump when planting changes what a seed produces (it enters dirty_copy's settings).
PLANT_VERSION = 4
#: What a user does to a photo, planted beside the synthetic defects (every second
#: ``bright`` and ``blurry`` defect, on images at least :data:`USER_BLUR_MIN_SIDE` px on
#: their shorter side; smaller ones, such as the 32 px digits, keep the synthetic kinds):
#: ``ImageEnhance.Brightness`` by this factor...
OVEREXPOSE = 3.5
#: ... and ``ImageFilter.GaussianBlur`` with this radius, on images at least
#: :data:`USER_BLUR_MIN_SIDE` px on their shorter side (on smaller ones it would erase them).
USER_BLUR_RADIUS = 6.0
USER_BLUR_MIN_SIDE = 100


def check_counts(counts: dict[str, int] | None) -> None:
    for key, value in (counts or {}).items():
        if key not in DEFAULT_COUNTS:
            raise ValueError(f"Unknown defect kind {key!r}; use keys of {list(DEFAULT_COUNTS)}.")
        if int(value) < 0:
            raise ValueError(f"counts[{key!r}] must be 0 or more, got {value}.")


def _resolve_counts(
    counts: dict[str, int] | None, n: int, n_splits: int, n_labels: int
) -> dict[str, int]:
    needed = sum(DEFAULT_COUNTS[k] for k in USES_ORIGINALS)
    scale = min(1.0, MAX_DEFECT_SHARE * n / needed)
    out = {k: max(2, round(v * scale)) for k, v in DEFAULT_COUNTS.items()}
    if n_splits < 2:
        out["leakage"] = 0  # nothing to leak into; asked for explicitly, it is an error below
    if n_labels < 2:
        out["label_issue"] = 0
    out.update({k: int(v) for k, v in (counts or {}).items()})
    if out["leakage"] and n_splits < 2:
        raise ValueError("leakage needs a second split to copy images into; this set has one.")
    if out["label_issue"] and n_labels < 2:
        raise ValueError("label_issue needs at least two classes; this set has one.")
    used = sum(out[k] for k in USES_ORIGINALS)
    if used > n:
        raise ValueError(
            f"The counts use {used} original images but the set has {n} readable ones; "
            "pass smaller counts."
        )
    return out


class _Planter:
    """Writes files into the build folder and records truth rows under the final root."""

    def __init__(self, out: Path, final: Path, rng: np.random.Generator) -> None:
        self.out, self.final, self.rng = out, final, rng
        self.used: set[str] = set()
        self.truth: list[tuple[str, str, str, Any, str]] = []

    def place(self, split: str, label: str, name: str) -> tuple[Path, str]:
        folder = Path(split) / (str(label).replace(os.sep, "_") or "_")
        stem, suffix = os.path.splitext(name)
        rel, k = folder / name, 1
        while str(rel) in self.used:
            rel, k = folder / f"{stem}_{k}{suffix}", k + 1
        self.used.add(str(rel))
        (self.out / rel).parent.mkdir(parents=True, exist_ok=True)
        return self.out / rel, str(self.final / rel)

    def new_name(self, suffix: str) -> str:
        return f"{int(self.rng.integers(16**8)):08x}{suffix}"

    def note(self, path: str, issues: tuple[str, ...], src: str, true: Any, detail: str) -> None:
        self.truth += [(path, issue, src, true, detail) for issue in issues]


def plant(
    table: pd.DataFrame,
    out: Path,
    final: Path,
    *,
    seed: int,
    counts: dict[str, int] | None,
    progress: bool,
) -> None:
    from tqdm.auto import tqdm

    from cvnb.data import read_image

    rng = np.random.default_rng(seed)
    p = _Planter(out, final, rng)
    broken = table[table["error"].notna()]
    good = table[table["error"].isna()].reset_index(drop=True)
    splits = sorted(good["split"].unique())
    labels = sorted(good["label"].astype(str).unique())
    n = _resolve_counts(counts, len(good), len(splits), len(labels))
    sources = good["source_final"] if "source_final" in good else good["path"]
    order = iter(rng.permutation(len(good)).tolist())
    role = {i: "keep" for i in range(len(good))}
    for kind in USES_ORIGINALS:
        for _ in range(n[kind]):
            role[next(order)] = kind
    size = good[["width", "height"]].astype(float).to_numpy()
    shape = _odd_shapes(size)
    size = np.median(size, axis=0)
    total = len(table) + n["outlier"] + n["unreadable"]
    bar = tqdm(total=total, desc="Planting defects", disable=not progress)

    n_leaked = 0
    made: dict[str, int] = {}
    for i, row in good.iterrows():
        name, split, label = os.path.basename(row["path"]), row["split"], str(row["label"])
        kind, src = role[int(i)], str(sources.iat[int(i)])  # type: ignore[call-overload]
        if kind in REPLACED:
            dest, final_path = p.place(split, label, name)
            img = read_image(row["path"])
            # Variants count the photos large enough for the user-style kinds, so the first
            # such photo of a kind gets one even where most images are small (coco-crops).
            variant = 1
            if min(img.size) >= USER_BLUR_MIN_SIDE:
                variant = made[kind] = made.get(kind, -1) + 1
            img, detail = _defect(kind, img, rng, shape, variant)
            _save(img, dest)
            upscaled = kind == "odd_size" and max(img.size) > shape["median"]
            p.note(final_path, (kind, "blurry") if upscaled else (kind,), src, label, detail)
        elif kind == "label_issue":
            wrong = str(rng.choice([lab for lab in labels if lab != label]))
            dest, final_path = p.place(split, wrong, name)
            shutil.copyfile(row["path"], dest)
            p.note(final_path, ("label_issue",), src, label, f"filed under {wrong}")
        else:
            dest, original = p.place(split, label, name)
            shutil.copyfile(row["path"], dest)
            if kind != "keep":
                if kind == "leakage":
                    n_leaked += 1
                near = kind == "near_duplicate" or (kind == "leakage" and n_leaked % 2 == 0)
                others = [s for s in splits if s != split]
                to = str(rng.choice(others)) if kind == "leakage" else split
                issues = ("near_duplicate",) if near else ("exact_duplicate", "near_duplicate")
                issues = ("leakage", *issues) if kind == "leakage" else issues
                copy_final, detail = _copy(p, row["path"], to, label, near, rng)
                p.note(original, issues, "", label, "original")
                p.note(copy_final, issues, original, label, detail)
        bar.update()

    for _, row in broken.iterrows():  # already unreadable in the source: copied, listed
        dest, final_path = p.place(row["split"], str(row["label"]), os.path.basename(row["path"]))
        shutil.copyfile(row["path"], dest)
        p.note(final_path, ("unreadable",), "", row["label"], f"in the source: {row['error']}")
        bar.update()
    for k in range(n["unreadable"]):
        how, split = ("zero-byte", "truncated", "text file")[k % 3], str(rng.choice(splits))
        label, suffix, src, true = str(rng.choice(labels)), (".png", ".jpg")[k % 2], "", ""
        data = b"" if how == "zero-byte" else f"not an image {rng.random()}\n".encode()
        if how == "truncated":  # the first 30-70 % of a real image's bytes
            j = int(rng.integers(len(good)))
            label = true = str(good.at[j, "label"])
            suffix, src = os.path.splitext(good.at[j, "path"])[1], str(sources.iat[j])
            whole, cut = Path(good.at[j, "path"]).read_bytes(), float(rng.uniform(0.3, 0.7))
            data, how = whole[: int(len(whole) * cut)], f"truncated to {cut:.0%}"
        dest, final_path = p.place(split, label, p.new_name(suffix))
        dest.write_bytes(data)
        p.note(final_path, ("unreadable",), src, true, how)
        bar.update()
    suffix = good["path"].map(lambda s: os.path.splitext(s)[1].lower()).mode()[0]
    for crop, src, detail in _outlier_crops(n["outlier"], size, rng):
        dest, final_path = p.place(
            str(rng.choice(splits)), str(rng.choice(labels)), p.new_name(suffix)
        )
        _save(crop, dest)
        p.note(final_path, ("outlier", "label_issue"), src, "", detail)
        bar.update()
    bar.close()
    truth = pd.DataFrame(p.truth, columns=TRUTH_COLUMNS).sort_values(["issue", "path"])
    truth.to_csv(out / TRUTH_FILE, index=False)


def _copy(
    p: _Planter, path: str, split: str, label: str, near: bool, rng: np.random.Generator
) -> tuple[str, str]:
    """A byte copy of ``path``, or a near copy (one of :data:`NEAR_KINDS`), in ``split``."""
    from cvnb.data import read_image

    suffix = os.path.splitext(path)[1]
    if not near:
        dest, final_path = p.place(split, label, p.new_name(suffix))
        shutil.copyfile(path, dest)
        return final_path, f"byte copy in {split}"
    how = NEAR_KINDS[int(rng.integers(len(NEAR_KINDS)))]
    img = read_image(path)
    w, h = img.size
    quality = None
    if how == "resize":
        f = rng.uniform(0.5, 0.7)
        small = img.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.BICUBIC)
        img, detail = small.resize((w, h), Image.Resampling.BICUBIC), f"resized x{f:.2f} and back"
    elif how == "jpeg":
        suffix, quality = ".jpg", int(rng.integers(10, 26))
        detail = f"JPEG quality {quality}"
    elif how == "crop":
        f = rng.uniform(0.05, 0.10)
        cw, ch = round(w * f), round(h * f)
        x, y = int(rng.integers(cw + 1)), int(rng.integers(ch + 1))
        box = (x, y, x + w - cw, y + h - ch)
        img, detail = img.crop(box).resize((w, h), Image.Resampling.BICUBIC), f"cropped {f:.0%}"
    else:
        f = rng.choice([-1, 1]) * rng.uniform(0.1, 0.2)
        img = _image(np.asarray(img, dtype=np.float32) * (1 + f))
        detail = f"brightness {1 + f:.2f}x"
    dest, final_path = p.place(split, label, p.new_name(suffix))
    _save(img, dest, quality=quality)
    return final_path, f"{detail} in {split}"


def _image(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8))


def _save(img: Image.Image, dest: Path, *, quality: int | None = None) -> None:
    if dest.suffix.lower() in {".jpg", ".jpeg"}:
        img.convert("RGB").save(dest, format="JPEG", quality=quality or 95)
    else:
        img.save(dest)


def _odd_shapes(sizes: np.ndarray) -> dict[str, float]:
    """Sizes and an aspect ratio outside the set's own range, so odd ones are truly odd."""
    longer = sizes.max(axis=1)
    elongation = longer / sizes.min(axis=1)
    median = float(np.median(longer))
    return {
        "median": median,
        "tiny": max(4, round(min(0.35 * median, 0.5 * float(longer.min())))),
        "large": min(2048, round(max(4 * median, 2 * float(np.quantile(longer, 0.99))))),
        "ratio": max(4.0, 2 * float(np.quantile(elongation, 0.99))),
    }


def _defect(
    kind: str,
    img: Image.Image,
    rng: np.random.Generator,
    shape: dict[str, float],
    variant: int = 1,
) -> tuple[Image.Image, str]:
    """``img`` with the defect ``kind`` (one of :data:`REPLACED`), and what was done.

    ``variant`` counts the defects of this kind planted so far on images at least
    :data:`USER_BLUR_MIN_SIDE` px on their shorter side (1 for smaller ones): even ones of
    ``bright`` and ``blurry`` are what a user does with PIL (overexposure, a fixed blur
    radius), odd ones the synthetic kind (washed out towards white, a blur radius relative to
    the size).
    """
    pixels, (w, h) = np.asarray(img, dtype=np.float32), img.size
    if kind in ("dark", "bright"):
        f = rng.uniform(0.08, 0.15)
        if kind == "dark":
            return _image(pixels * f), f"darkened to {f:.0%}"
        if variant % 2 == 0 and min(w, h) >= USER_BLUR_MIN_SIDE:
            # A photo already dark is not blown out by 3.5x: raise the factor until its
            # median would reach 85 % grey, as a user would keep turning the slider.
            median = float(np.median(pixels @ np.array([0.299, 0.587, 0.114]))) / 255.0
            factor = min(12.0, max(OVEREXPOSE, 0.85 / max(median, 1e-3)))
            over = ImageEnhance.Brightness(img).enhance(factor)
            return over, f"overexposed: ImageEnhance.Brightness({factor:.2g})"
        return _image(255 - (255 - pixels) * f), f"{f:.0%} of the distance to white left"
    if kind == "blurry":
        radius = rng.uniform(0.08, 0.11) * min(w, h)
        if variant % 2 == 0 and min(w, h) >= USER_BLUR_MIN_SIDE:
            radius = USER_BLUR_RADIUS
        return img.filter(ImageFilter.GaussianBlur(radius)), f"Gaussian blur, radius {radius:.1f}"
    if kind == "low_information":
        # A saturated, mid-bright colour: near-constant, but neither dark, bright nor grey.
        colour = np.array(colorsys.hsv_to_rgb(rng.random(), 0.55, 0.6), dtype=np.float32) * 255
        return _image(colour + 0.015 * (pixels - pixels.mean(axis=(0, 1)))), "1.5% contrast"
    if kind == "grayscale":
        return img.convert("L").convert("RGB"), "grey pixels in an RGB file"
    if kind == "odd_size" and rng.random() < 0.5:
        f, resample = shape["tiny"] / max(w, h), Image.Resampling.LANCZOS
    elif kind == "odd_size":
        f, resample = shape["large"] / max(w, h), Image.Resampling.LANCZOS
    else:  # odd_aspect: more elongated than any in the set, at the same area (not odd_size)
        ratio = shape["ratio"] * rng.uniform(1.0, 1.2)
        ratio = ratio if rng.random() < 0.5 else 1 / ratio
        f, resample = 1.0, Image.Resampling.LANCZOS
        w, h = np.sqrt(w * h * ratio), np.sqrt(w * h / ratio)
    new = (max(1, round(w * f)), max(1, round(h * f)))
    return img.resize(new, resample), f"resized from {img.width}x{img.height} to {new[0]}x{new[1]}"


def _outlier_crops(
    count: int, size: np.ndarray, rng: np.random.Generator
) -> list[tuple[Image.Image, str, str]]:
    """Off-domain images: crops of scikit-learn's two sample photos, each from its own tile of
    a grid, so no two overlap; flat tiles (sky, dark background) are skipped, as they would
    be low-information, dark or bright, and alike."""
    if count <= 0:
        return []
    from sklearn.datasets import load_sample_images

    photos = load_sample_images()
    per_photo = -(-count // 2)
    target = (max(1, round(float(size[0]))), max(1, round(float(size[1]))))
    crops = []
    for photo, filename in zip(photos.images, photos.filenames, strict=True):
        grey, grid = photo.mean(axis=2), int(np.ceil(np.sqrt(per_photo * 1.5)))
        while True:
            th, tw = photo.shape[0] // grid, photo.shape[1] // grid
            tiles = [
                (r, c)
                for r in range(grid)
                for c in range(grid)
                if grey[r * th : (r + 1) * th, c * tw : (c + 1) * tw].std() >= 25
                and 40 <= grey[r * th : (r + 1) * th, c * tw : (c + 1) * tw].mean() <= 215
            ]
            if len(tiles) >= per_photo or th < 16:
                break
            grid += 1
        for k in rng.choice(len(tiles), size=min(per_photo, len(tiles)), replace=False):
            (r, c), f = tiles[int(k)], rng.uniform(0.8, 1.0)
            x0 = c * tw + int(rng.integers(int(tw * (1 - f)) + 1))
            y0 = r * th + int(rng.integers(int(th * (1 - f)) + 1))
            box = (x0, y0, x0 + int(tw * f), y0 + int(th * f))
            img = Image.fromarray(photo).crop(box).resize(target, Image.Resampling.LANCZOS)
            crops.append((img, str(filename), f"crop {box} of {os.path.basename(filename)}"))
    order = rng.permutation(len(crops))[:count]
    return [crops[i] for i in order]
