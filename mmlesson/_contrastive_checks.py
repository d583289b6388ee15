"""Input checks for contrastive.py: a clear error at the public entry point, not a traceback from deep inside.

Kept apart so that contrastive.py reads as the loss itself. Every check takes NumPy arrays or torch
tensors; the four small helpers at the top (also used by contrastive.py) tell the two apart.
"""
from __future__ import annotations

import math
from typing import Union

import numpy as np
import torch

Array = Union[np.ndarray, torch.Tensor]

NORM_TOLERANCE = 1e-3  # get_logits accepts row norms within this of 1 (looser for half precision)


# --- NumPy or torch ---

def _is_torch(value) -> bool:
    return isinstance(value, torch.Tensor)


def _row_norms(features: Array) -> Array:
    if _is_torch(features):
        return torch.linalg.vector_norm(features, dim=1)  # (n,)
    return np.linalg.norm(features, axis=1)  # (n,)


def _to_float(value: Array) -> float:
    return float(value.detach()) if _is_torch(value) else float(value)


def _to_numpy(value):
    return value.detach().cpu().numpy() if _is_torch(value) else value


# --- the checks ---

def _shape(value: Array) -> tuple:
    return tuple(value.shape)


def _as_matrix(value, name: str) -> Array:
    """``value`` as a finite, non-empty 2-D float array or tensor; raise a clear error otherwise."""
    if not _is_torch(value):
        value = np.asarray(value)
        if not np.issubdtype(value.dtype, np.floating):
            try:
                value = value.astype(np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"{name} must be a float array or tensor; got dtype {value.dtype}.") from None
    elif not value.is_floating_point():
        raise TypeError(f"{name} must be a float tensor; got dtype {value.dtype}. Convert with .float().")
    if value.ndim != 2:
        raise ValueError(f"{name} must be 2-D (batch, embed_dim); got shape {_shape(value)}.")
    if value.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {_shape(value)}); pass at least one row.")
    if value.shape[1] == 0:
        raise ValueError(f"{name} has embed_dim 0 (shape {_shape(value)}); each row needs at least one value.")
    _check_finite(value, name)
    return value


def _check_finite(value: Array, name: str) -> None:
    finite_rows = torch.isfinite(value.detach()).all(dim=1) if _is_torch(value) else np.isfinite(value).all(axis=1)
    if bool(finite_rows.all()):
        return
    bad_rows = np.flatnonzero(~_to_numpy(finite_rows))
    raise ValueError(f"{name} contains NaN or inf in {len(bad_rows)} of {len(finite_rows)} rows "
                     f"(first bad row: {bad_rows[0]}).")


def _check_pair(image_features, text_features, names=("image_features", "text_features"),
                same_batch: bool = True) -> tuple[Array, Array]:
    """Validate both matrices, then that they agree in kind, embedding size and (optionally) batch size."""
    if _is_torch(image_features) != _is_torch(text_features):
        kinds = [type(value).__name__ for value in (image_features, text_features)]
        raise TypeError(f"{names[0]} is a {kinds[0]} but {names[1]} is a {kinds[1]}; pass both as NumPy "
                        "arrays or both as torch tensors.")
    image_features, text_features = _as_matrix(image_features, names[0]), _as_matrix(text_features, names[1])
    if image_features.shape[1] != text_features.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} have different embedding dims ({image_features.shape[1]} "
                         f"vs {text_features.shape[1]}); both encoders must map into the same space.")
    if same_batch and image_features.shape[0] != text_features.shape[0]:
        raise ValueError(f"mismatched batch sizes: {image_features.shape[0]} images but {text_features.shape[0]} "
                         "texts; the loss needs one caption per image (row i of each is a pair).")
    return image_features, text_features


def _check_normalised(features: Array, name: str) -> None:
    norms = _row_norms(features.detach()) if _is_torch(features) else _row_norms(features)
    tolerance = NORM_TOLERANCE
    if _is_torch(features) and features.dtype in (torch.float16, torch.bfloat16):
        tolerance = 8 * torch.finfo(features.dtype).eps
    lowest, highest = float(norms.min()), float(norms.max())
    if max(abs(lowest - 1), abs(highest - 1)) > tolerance:
        raise ValueError(f"{name} must be L2-normalised (every row of norm 1, within {tolerance:g}); row norms "
                         f"range from {lowest:.4g} to {highest:.4g}. Divide each row by its norm first, e.g. "
                         "features / np.linalg.norm(features, axis=1, keepdims=True) or F.normalize(features, dim=-1).")


def _check_logit_scale(logit_scale) -> None:
    if (logit_scale.numel() if _is_torch(logit_scale) else np.size(logit_scale)) != 1:
        raise ValueError(f"logit_scale must be a single number; got shape {np.shape(logit_scale)}.")
    value = _to_float(logit_scale)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"logit_scale must be a positive finite number (the exp'd scale, 1/temperature, e.g. "
                         f"100); got {value}. If you hold log(scale), pass its exp().")


def _check_features(image_features, text_features, logit_scale, same_batch: bool) -> tuple[Array, Array]:
    image_features, text_features = _check_pair(image_features, text_features, same_batch=same_batch)
    _check_normalised(image_features, "image_features")
    _check_normalised(text_features, "text_features")
    _check_logit_scale(logit_scale)
    return image_features, text_features


def _check_targets(targets, logits: Array, name: str = "targets") -> Array:
    """Index labels (n,) in [0, n_classes) or a row-stochastic (n, n_classes) matrix, in logits' backend."""
    if _is_torch(logits):
        targets = torch.as_tensor(targets, device=logits.device)
        targets = targets if targets.ndim == 1 else targets.to(logits.dtype)
    else:
        targets = np.asarray(_to_numpy(targets))
    n_rows, n_classes = logits.shape
    if targets.ndim == 1:
        _check_labels(targets, n_rows, n_classes, name)
    elif _shape(targets) != (n_rows, n_classes):
        raise ValueError(f"{name} must be labels of shape ({n_rows},) or a matrix of shape ({n_rows}, {n_classes}) "
                         f"like the logits; got shape {_shape(targets)}.")
    else:
        _check_stochastic(targets, name)
    return targets


def _check_labels(labels: Array, n_rows: int, n_classes: int, name: str) -> None:
    integer = not labels.is_floating_point() if _is_torch(labels) else np.issubdtype(labels.dtype, np.integer)
    if not integer or len(labels) != n_rows:
        raise ValueError(f"{name} as labels must be {n_rows} integers (one per row of logits); "
                         f"got shape {_shape(labels)} of dtype {labels.dtype}.")
    if int(labels.min()) < 0 or int(labels.max()) >= n_classes:
        raise ValueError(f"{name} labels must lie in [0, {n_classes}); got {int(labels.min())}..{int(labels.max())}.")


def _check_stochastic(targets: Array, name: str) -> None:
    row_sums = targets.sum(1)
    worst = float((row_sums - 1).abs().max()) if _is_torch(targets) else float(np.abs(row_sums - 1).max())
    if float(targets.min()) < 0 or not worst <= NORM_TOLERANCE:
        raise ValueError(f"{name} must be non-negative with every row summing to 1 (a probability per row); "
                         f"the worst row sum is off by {worst:.3g}. Divide each row by its sum.")


def _caption_ids(captions) -> Array:
    """A 1-D integer array (or tensor) with equal ids exactly where captions are equal."""
    if isinstance(captions, str):
        raise TypeError("multi_positive_targets takes a list of captions, one per pair, not a single string.")
    if _is_torch(captions):
        caption_ids = captions
    else:
        index: dict = {}
        caption_ids = np.array([index.setdefault(_hashable(caption), len(index)) for caption in captions],
                               dtype=np.int64)
    if caption_ids.ndim != 1 or len(caption_ids) == 0:
        raise ValueError(f"captions must be a non-empty 1-D sequence (one per pair); got shape {_shape(caption_ids)}.")
    return caption_ids


def _hashable(caption):
    return caption.item() if isinstance(caption, (np.generic, torch.Tensor)) else caption
