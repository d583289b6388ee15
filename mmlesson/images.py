"""One image loader for the whole course: any image a learner has, as an RGB PIL image.

Models, zero-shot, search and generation all call ``load_rgb`` (or ``read_image``, its form that
reports instead of raising), so a photo is seen the same way everywhere:

- EXIF orientation is applied, so a phone photo is upright;
- transparency (RGBA, LA, palette with transparency) is composited on white;
- grayscale, bilevel, palette, CMYK, 16-bit, 32-bit and float images become 8-bit RGB;
- a huge image shrinks to ``max_side`` on its long side (JPEGs are decoded at reduced scale),
  and ``max_pixels`` refuses one whose decoding alone could exhaust memory.

A file that cannot be used gives an ``ImageError`` (a ValueError) that names the file and the reason.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_SIDE = 4096  # images larger than this shrink on load; CLIP resizes to 224-336 px anyway
HIGH_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class ImageError(ValueError):
    """A file that is not a usable image; ``reason`` says why, without the path."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason


def load_rgb(image, max_side: int = MAX_SIDE, max_pixels: int | None = None) -> Image.Image:
    """A path, PIL image or array -> an RGB PIL image no larger than ``max_side`` on its long side.

    A missing file gives FileNotFoundError; an unreadable one, or one over ``max_pixels``, an ImageError.
    """
    if isinstance(image, (str, os.PathLike)):
        return _shrink(_open_rgb(Path(image), max_side, max_pixels), max_side)
    if isinstance(image, np.ndarray):
        image = _array_to_pil(image)
    if not isinstance(image, Image.Image):
        raise ValueError(f"cannot use a {type(image).__name__} as an image; pass a file path, a PIL image, "
                         "or a numpy array (H, W) or (H, W, 3|4).")
    return _shrink(to_rgb(image), max_side)


def read_image(path: str | Path, max_pixels: int | None = None, max_side: int = MAX_SIDE):
    """(RGB PIL image, None), or (None, why it cannot be used): ``load_rgb`` for a batch job that must not stop."""
    try:
        return load_rgb(path, max_side, max_pixels), None
    except ImageError as error:
        return None, error.reason
    except FileNotFoundError as error:
        return None, f"cannot read: {error}"


def _open_rgb(path: Path, max_side: int, max_pixels: int | None) -> Image.Image:
    if not path.is_file():
        raise FileNotFoundError(f"image file {path} does not exist.")
    if path.stat().st_size == 0:
        raise ImageError(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # palette/EXIF chatter; the pixel limit is checked below
            with Image.open(path) as image:
                _check_pixels(path, image, max_pixels)
                image.draft("RGB", (max_side, max_side))  # JPEG only: decode a huge photo at reduced scale
                return to_rgb(ImageOps.exif_transpose(image))
    except ImageError:
        raise
    except Exception as error:  # PIL raises many types for a bad file; each becomes one clear reason
        raise ImageError(path, _reason(error)) from None


def _check_pixels(path: Path, image: Image.Image, max_pixels: int | None) -> None:
    width, height = image.size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageError(path, f"too large: {width}x{height} = {width * height / 1e6:.0f} megapixels, above the "
                               f"limit of {max_pixels / 1e6:.0f} (raise max_pixels to keep it)")


def _reason(error: Exception) -> str:
    """Why PIL could not decode a file, in words."""
    if isinstance(error, UnidentifiedImageError):
        return "not an image that PIL can read (wrong extension, or not an image at all)"
    if isinstance(error, Image.DecompressionBombError):
        return f"too large: {error} Shrink the file first, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust it."
    if isinstance(error, OSError) and "truncated" in str(error).lower():
        return f"truncated or damaged image data ({error})"
    if isinstance(error, OSError):
        return f"unreadable: cannot read this file as an image; it may be corrupt, truncated or not an image ({error})"
    return f"cannot decode: {type(error).__name__}: {error}"


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode -> a new RGB image; transparency is composited on white."""
    if image.mode in HIGH_BIT_MODES:
        return _scale_to_uint8(np.asarray(image), image.mode)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ALPHA_MODES:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")  # also copies an RGB image, so a file can be closed


def _scale_to_uint8(values: np.ndarray, mode: str):
    """16-bit, 32-bit or float pixels -> 8-bit gray, keeping the brightness they were meant to have."""
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
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"the image array holds {int((~np.isfinite(array)).sum())} NaN or inf pixel values; "
                         "pixels must be finite (floats in [0, 1], or uint8).")
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
    if max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=2.0)
