"""The contrastive (CLIP) loss from scratch, in NumPy and in torch.

A batch holds n images and their n captions, embedded into one space and L2-normalised. The
(n, n) matrix of cosines compares every image with every caption; its diagonal holds the true
pairs. Scaled by ``logit_scale`` (= 1/temperature), each row asks "which caption is this image's?"
and each column the reverse: InfoNCE is the cross-entropy of one direction, and the CLIP loss
averages both. When captions repeat ("a red circle" twice), ``multi_positive_targets`` makes every
identical caption a right answer. (If duplicates embed identically, that equals the plain loss,
gradients included; it matters once they embed differently, e.g. under text dropout.)
Every function takes NumPy arrays (by hand) or torch tensors (training): the same lines of math run
on both, and names follow open_clip's loss.py (image_features, logit_scale, logits_per_image, ...).
The loss comes first; the input checks live in _contrastive_checks.py, and the two spots where the
math differs between NumPy and torch are at the bottom.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._contrastive_checks import (Array, _as_matrix, _caption_ids, _check_features, _check_pair, _check_stochastic,
                                  _check_targets, _is_torch, _row_norms, _to_float, _to_numpy)

MAX_LOGIT_SCALE = 100.0  # CLIP clamps the scale here so the softmax cannot become too sharp
INIT_TEMPERATURE = 0.07  # CLIP's initial temperature: logit_scale starts at 1/0.07 ~ 14.3


# --- the pieces of the loss ---

def l2_normalise(features: Array) -> Array:
    """Each row divided by its L2 norm, so that dot products become cosines."""
    return features / _row_norms(features)[:, None]  # (n, d) / (n, 1)


def cosine_similarity_matrix(image_embeddings: Array, text_embeddings: Array) -> Array:
    """(n_images, n_texts) cosines between every image and every text; inputs need not be normalised."""
    image_embeddings, text_embeddings = _check_pair(image_embeddings, text_embeddings,
                                                    ("image_embeddings", "text_embeddings"), same_batch=False)
    for embeddings, name in ((image_embeddings, "image_embeddings"), (text_embeddings, "text_embeddings")):
        zero_rows = np.flatnonzero(_to_numpy(_row_norms(embeddings)) == 0)
        if len(zero_rows):
            raise ValueError(f"{name} row {int(zero_rows[0])} is all zeros; the cosine of a zero vector is undefined.")
    return l2_normalise(image_embeddings) @ l2_normalise(text_embeddings).T  # (n_images, d) @ (d, n_texts)


def get_logits(image_features: Array, text_features: Array, logit_scale) -> tuple[Array, Array]:
    """(logits_per_image, logits_per_text): scaled cosines, rows = images and rows = texts.

    Contract: ``image_features`` and ``text_features`` are L2-normalised (each row of norm 1, within
    1e-3), as the encoders return them; a ValueError says so otherwise. ``logit_scale`` is the
    exp'd scale, i.e. 1/temperature (CLIP: 100 after training), a float or a 0-d tensor.
    """
    image_features, text_features = _check_features(image_features, text_features, logit_scale, same_batch=False)
    return _logits(image_features, text_features, logit_scale)


def _logits(image_features: Array, text_features: Array, logit_scale) -> tuple[Array, Array]:
    if not _is_torch(image_features):
        logit_scale = _to_float(logit_scale)
    logits_per_image = logit_scale * (image_features @ text_features.T)  # (n_images, d) @ (d, n_texts)
    return logits_per_image, logits_per_image.T  # logits_per_text: (n_texts, n_images), the same numbers


def get_ground_truth(n: int, like: Array | None = None) -> Array:
    """Index labels 0..n-1: image i belongs to text i. A tensor on ``like``'s device if it is one."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int (the batch size); got {n!r}.")
    if _is_torch(like):
        return torch.arange(int(n), device=like.device)  # (n,) int64
    return np.arange(n)  # (n,)


def multi_positive_targets(captions: Sequence | Array) -> Array:
    """(n, n) row-stochastic targets: row i spreads 1 evenly over every j with caption j == caption i.

    ``captions`` are strings (or any hashables) or integer caption ids. With all captions distinct
    this is the identity, i.e. plain CLIP. The matrix is symmetric, so it serves both directions.
    Note: where duplicate captions have identical embeddings, the soft targets give the same loss
    and gradients as plain CLIP (tied rows average out); they differ once duplicates embed differently.
    A torch tensor of ids gives a float32 tensor on its device; anything else a float64 array.
    """
    caption_ids = _caption_ids(captions)
    same_caption = caption_ids[:, None] == caption_ids[None, :]  # (n, n) bool; the diagonal is True
    same_caption = same_caption.float() if _is_torch(same_caption) else same_caption.astype(np.float64)
    return same_caption / same_caption.sum(1, keepdims=True)  # (n, n) / (n, 1): each row sums to 1


# --- the losses ---

def info_nce(logits: Array, targets) -> Array:
    """InfoNCE for one direction: mean cross-entropy of each row of ``logits`` against its target.

    ``targets`` are index labels (n,) (row i's right column) or an (n, n_classes) row-stochastic
    matrix, e.g. from ``multi_positive_targets``. Returns a NumPy float or a 0-d tensor.
    """
    logits = _as_matrix(logits, "logits")
    return _cross_entropy(logits, _check_targets(targets, logits))


def clip_loss(image_features: Array, text_features: Array, logit_scale, targets=None) -> Array:
    """The symmetric CLIP loss: the mean of the image->text and text->image InfoNCE.

    Features must be L2-normalised (see ``get_logits``); ``logit_scale`` = 1/temperature.
    ``targets=None`` means pair i matches only pair i; pass ``multi_positive_targets(captions)``
    to count identical captions as positives too (text->image uses its transpose).
    """
    image_features, text_features = _check_features(image_features, text_features, logit_scale, same_batch=True)
    logits_per_image, logits_per_text = _logits(image_features, text_features, logit_scale)
    if targets is None:
        labels = get_ground_truth(len(logits_per_image), like=logits_per_image)
        return (_cross_entropy(logits_per_image, labels) + _cross_entropy(logits_per_text, labels)) / 2
    targets = _check_targets(targets, logits_per_image)
    if targets.ndim != 2:
        raise ValueError("clip_loss targets must be an (n, n) matrix such as multi_positive_targets(captions); "
                         "for plain CLIP leave targets=None.")
    _check_stochastic(targets.T, "targets' columns (used for text->image)")
    return (_cross_entropy(logits_per_image, targets) + _cross_entropy(logits_per_text, targets.T)) / 2


class ClipLoss(nn.Module):
    """The symmetric CLIP loss with a learnable temperature.

    ``logit_scale`` is a parameter holding log(1/temperature), initialised to log(1/0.07) as in CLIP;
    when used it is exp'd and clamped to at most ``max_logit_scale`` (100). Pass ``caption_ids``
    (strings or ids, one per pair) to treat identical captions as positives.
    """

    def __init__(self, temperature: float = INIT_TEMPERATURE, max_logit_scale: float = MAX_LOGIT_SCALE):
        super().__init__()
        if not 0 < temperature < math.inf or not 0 < max_logit_scale < math.inf:
            raise ValueError(f"temperature and max_logit_scale must be positive and finite; got {temperature}, "
                             f"{max_logit_scale}.")
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))  # log-space, as CLIP stores it
        self.max_logit_scale = max_logit_scale

    def scale(self) -> torch.Tensor:
        """The exp'd logit scale (1/temperature) that multiplies the cosines, clamped at max_logit_scale."""
        return clamp_logit_scale(self.logit_scale, self.max_logit_scale)

    @property
    def temperature(self) -> float:
        return 1.0 / float(self.scale().detach())

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor, caption_ids=None) -> torch.Tensor:
        if not (_is_torch(image_features) and _is_torch(text_features)):
            raise TypeError("ClipLoss takes torch tensors; for NumPy arrays call clip_loss(...).")
        targets = None
        if caption_ids is not None:
            if len(caption_ids) != len(image_features):
                raise ValueError(f"caption_ids has {len(caption_ids)} entries but the batch has "
                                 f"{len(image_features)} image-text pairs; pass one per pair.")
            targets = torch.as_tensor(multi_positive_targets(caption_ids), device=image_features.device)
        return clip_loss(image_features, text_features, self.scale(), targets)


def clamp_logit_scale(log_scale: torch.Tensor, max_logit_scale: float = MAX_LOGIT_SCALE) -> torch.Tensor:
    """exp of a learned log-scale, clamped at ``max_logit_scale`` (100) as CLIP does: the 1/temperature that
    multiplies the cosines. The one place the clamp is written (ClipLoss, ClipModel and training use it)."""
    return log_scale.exp().clamp(max=max_logit_scale)


# --- the two places where the math differs between NumPy and torch ---

def log_softmax(logits: Array) -> Array:
    if _is_torch(logits):
        return torch.log_softmax(logits, dim=1)
    shifted = logits - logits.max(axis=1, keepdims=True)  # (n, m); subtract the max for stability
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (n, m)


def _cross_entropy(logits: Array, targets: Array) -> Array:
    """Mean cross-entropy of each row of ``logits`` against index labels (n,) or probabilities (n, m)."""
    if _is_torch(logits):
        return F.cross_entropy(logits, targets)  # fused log-softmax + NLL; takes labels or probabilities
    log_probs = log_softmax(logits)  # (n, m)
    if targets.ndim == 1:
        return -log_probs[np.arange(len(targets)), targets].mean()
    return -(targets * log_probs).sum(axis=1).mean()
