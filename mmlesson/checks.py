"""Checks of what a user passes, shared by every public entry point: a clear ValueError that names the
problem and the valid choices, instead of a traceback from deep inside torch or PIL.

Each module checks its own domain (contrastive.py its embeddings, search the index options, ...); the
checks here are the ones several modules need: counts, choices, texts and pixel batches. torch is imported
only by the pixel check, so that the command line can check its numbers where torch is broken (doctor).
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence


def positive_int(value, name: str) -> int:
    """``value`` as an int >= 1 (steps, batch sizes, image counts), or a ValueError naming ``name``."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be a whole number, 1 or more; got {value!r}.")
    if int(value) < 1:
        raise ValueError(f"{name} must be 1 or more; got {value}.")
    return int(value)


def positive_number(value, name: str) -> float:
    """``value`` as a finite float > 0 (seconds, learning rates), or a ValueError naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number; got {value!r}.") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be a positive finite number; got {value!r}.")
    return number


def one_of(value, choices: Iterable, name: str):
    """``value`` if it is one of ``choices``, else a ValueError that lists them."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} {value!r} is not one of the choices; choose one of {', '.join(map(str, choices))}.")
    return value


def texts_list(texts: str | Sequence[str], name: str = "texts") -> list[str]:
    """One string or a sequence of strings -> a list of strings; anything else is a ValueError."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, dict)) or not hasattr(texts, "__iter__"):
        raise ValueError(f"{name} must be a string or a list of strings; got a {type(texts).__name__}.")
    texts = list(texts)
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"{name} must be strings, but item {position} is a {type(text).__name__} "
                             f"({str(text)[:40]!r}); convert it with str() or drop it.")
    return texts


def pixel_batch(pixels, name: str = "pixels", channels: int = 3):
    """A (batch, channels, height, width) float tensor of finite values, or a ValueError saying what is wrong."""
    import torch

    if not isinstance(pixels, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor (batch, {channels}, height, width); got "
                         f"{type(pixels).__name__}.")
    if pixels.ndim != 4 or pixels.shape[1] != channels:
        hint = " (one image? add a batch axis with pixels[None])" if pixels.ndim == 3 else ""
        raise ValueError(f"{name} must have shape (batch, {channels}, height, width); got {tuple(pixels.shape)}{hint}. "
                         "Channels come first, as model.preprocess makes them.")
    if not pixels.is_floating_point():
        raise ValueError(f"{name} must be a float tensor; got {pixels.dtype}. Convert with .float() / 255.")
    if not torch.isfinite(pixels).all():
        bad = int((~torch.isfinite(pixels)).sum())
        raise ValueError(f"{name} holds {bad} NaN or inf values; every pixel must be a finite number.")
    return pixels
