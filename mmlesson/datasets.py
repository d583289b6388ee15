"""Where the lessons' images come from: procedural Shapes, sample photos offline, Oxford-IIIT Pet online.

- **Shapes** (shapes.py, re-exported here): drawn from a seed, with captions; no download ever.
- **Sample photos**: real photos that scikit-image ships inside its wheel (no download).
- **Oxford-IIIT Pet**: 37 cat and dog breeds, downloaded once into the cache (md5-checked by
  torchvision); offline, only the cache is used, and a DataUnavailable error says so.

Photos we did not make are never committed to the repository (DESIGN.md).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from . import config
from .checks import one_of
from .images import load_rgb
from .shapes import ShapesBatch, ShapesDataset, make_shapes  # noqa: F401  (the Shapes source, listed with the others)

# Real photos that scikit-image ships inside its wheel (no download): data function -> what it shows.
SAMPLE_PHOTOS = {"astronaut": "astronaut", "chelsea": "cat", "coffee": "cup of coffee", "rocket": "rocket",
                 "camera": "man with a camera", "coins": "pile of coins", "moon": "surface of the moon",
                 "horse": "horse"}
PET_SPLITS = ("trainval", "test")
PET_TARGETS = ("category", "binary-category")


def sample_photos() -> list[tuple[str, object]]:
    """[(what it shows, RGB PIL image)] for scikit-image's bundled sample photos (no download).

    Photos that this scikit-image would have to download are skipped.
    """
    import skimage.data

    photos = []
    for function, label in SAMPLE_PHOTOS.items():
        try:
            array = getattr(skimage.data, function)()
        except Exception:  # not bundled in this version (would need pooch and the network)
            continue
        photos.append((label, load_rgb(array)))
    return photos


class DataUnavailable(RuntimeError):
    """A dataset is neither in the cache nor allowed to be downloaded (offline mode)."""


def oxford_pets(split: str = "test", root: str | Path | None = None, target: str = "category",
                transform=None):
    """The Oxford-IIIT Pet data (37 breeds) as a torchvision dataset of (PIL image, label).

    Downloaded once into ``config.cache_dir("oxford-pets")`` (md5-checked by torchvision) and
    reused afterwards. With MMLESSON_OFFLINE=1 only the cache is used; if it is empty a
    DataUnavailable error says so.
    """
    from torchvision.datasets import OxfordIIITPet  # on use: only this online source needs it

    one_of(split, PET_SPLITS, "Oxford-IIIT Pet split")
    one_of(target, PET_TARGETS, "target")
    root = Path(root) if root is not None else config.cache_dir("oxford-pets")
    base = root / "oxford-iiit-pet"
    missing = _pets_missing(base, split)
    if missing and config.OFFLINE:
        raise DataUnavailable(f"Oxford-IIIT Pet is not in the cache at {base} ({missing}), and MMLESSON_OFFLINE=1 "
                              "forbids downloading it (~800 MB). Run once online, or use the Shapes data.")
    if missing:
        _remove_partial_extraction(base)  # the md5-checked archives stay, so nothing is fetched twice
        try:
            OxfordIIITPet(str(root), split=split, target_types=target, download=True)
        except Exception as error:
            raise DataUnavailable(f"could not download Oxford-IIIT Pet into {base}: {error}") from error
        if _pets_missing(base, split):
            raise DataUnavailable(f"Oxford-IIIT Pet in {base} is still incomplete after downloading "
                                  f"({_pets_missing(base, split)}); delete that folder and try again.")
    return OxfordIIITPet(str(root), split=split, target_types=target, transform=transform, download=False)


def _pets_missing(base: Path, split: str) -> str:
    """'' if every image of ``split`` is on disk, else what is missing."""
    split_file = base / "annotations" / f"{split}.txt"
    if not split_file.is_file():
        return f"no {split_file.relative_to(base.parent)}"
    image_ids = [line.split()[0] for line in split_file.read_text().splitlines() if line.strip()]
    absent = [image_id for image_id in image_ids if not (base / "images" / f"{image_id}.jpg").is_file()]
    return f"{len(absent)} of {len(image_ids)} images missing" if absent else ""


def _remove_partial_extraction(base: Path) -> None:
    for folder in ("images", "annotations"):
        shutil.rmtree(base / folder, ignore_errors=True)


def sample_dataset(dataset, n: int, seed: int = 0) -> tuple[list, np.ndarray]:
    """``n`` random (image, label) items of a torch-style dataset, as (list of images, label array)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}.")
    rng = np.random.default_rng(seed)
    indices = rng.choice(len(dataset), size=min(n, len(dataset)), replace=False)
    items = [dataset[int(i)] for i in indices]
    return [image for image, _ in items], np.array([label for _, label in items], dtype=np.int64)
