"""Loading any image a learner has as RGB: files, PIL images of any mode, and arrays.

Grayscale, bilevel, palette, RGBA/LA (composited on white), CMYK, 16-bit and float images are
converted, EXIF rotation is applied, and huge images shrink. A file that is not a readable image
gives a ValueError that names the file. Every model, the classifier and the search index use this.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

MAX_SIDE = 4096  # images larger than this shrink on load; CLIP resizes to 224-336 px anyway


def load_rgb(image, max_side: int = MAX_SIDE):
    """A path, PIL image or array -> an RGB PIL image no larger than ``max_side`` on its long side.

    Grayscale, bilevel, palette, RGBA/LA (composited on white), CMYK, 16-bit and float images are
    converted; EXIF rotation is applied to files. A file that is not a readable image gives a
    ValueError naming the file.
    """
    from PIL import Image

    if isinstance(image, (str, os.PathLike)):
        return _shrink(_open_rgb(Path(image), max_side), max_side)
    if isinstance(image, np.ndarray):
        image = _array_to_pil(image)
    if not isinstance(image, Image.Image):
        raise ValueError(f"cannot use a {type(image).__name__} as an image; pass a file path, a PIL image, "
                         "or a numpy array (H, W) or (H, W, 3|4).")
    return _shrink(to_rgb(image), max_side)


def _open_rgb(path: Path, max_side: int):
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not path.is_file():
        raise FileNotFoundError(f"image file {path} does not exist.")
    try:
        with Image.open(path) as image:
            image.draft("RGB", (max_side, max_side))  # JPEG only: decode a huge photo at reduced scale
            return to_rgb(ImageOps.exif_transpose(image))
    except Image.DecompressionBombError as error:
        raise ValueError(f"{path}: {error} Shrink the file first, or raise PIL.Image.MAX_IMAGE_PIXELS "
                         "if you trust it.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"{path}: cannot read this file as an image; it may be corrupt, truncated or "
                         f"not an image ({type(error).__name__}: {error}).") from None


def to_rgb(image):
    """Any PIL mode -> a new RGB image."""
    from PIL import Image

    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return _scale_to_uint8(np.asarray(image), image.mode)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")  # also copies an RGB image, so a file can be closed


def _scale_to_uint8(values: np.ndarray, mode: str):
    """16-bit, 32-bit or float pixels -> 8-bit gray, keeping the brightness they were meant to have."""
    from PIL import Image

    values = values.astype(np.float64)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if mode.startswith("I;16") or (mode == "I" and 0 <= low and 255 < high <= 65535):
        values = values / 257  # 65535 -> 255
    elif mode == "F" and 0 <= low and high <= 1:
        values = values * 255
    elif low < 0 or high > 255:  # unknown range: stretch to 0..255
        values = (values - low) / max(high - low, 1e-12) * 255
    gray = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def _array_to_pil(array: np.ndarray):
    from PIL import Image

    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype.kind == "f" and array.size and 0 <= array.min() and array.max() <= 1:
        array = np.rint(array * 255).astype(np.uint8)
    if array.ndim == 2 and array.dtype in (np.uint8, np.uint16):
        return Image.fromarray(array)
    if array.ndim == 3 and array.shape[-1] in (3, 4) and array.dtype == np.uint8:
        return Image.fromarray(array)
    raise ValueError(f"cannot use an array of shape {array.shape} and dtype {array.dtype} as an image; "
                     "use uint8 (H, W), (H, W, 3) or (H, W, 4), uint16 (H, W), bool, or floats in [0, 1].")


def _shrink(image, max_side: int):
    from PIL import Image

    if max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
