"""Lesson 1 exercises: cosine similarity, the CLIP loss, multi-positive targets."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import contrastive
from ._checking import Exercise, run_check


# Cases are NumPy inputs from fixed seeds; each mistake is a typical wrong solution written out,
# so that a learner's answer that equals it gets that mistake's hint.


_LESSON1_CAPTIONS = ("a red circle", "a blue square", "a green star", "a yellow cross", "a circle")


def _lesson1_embeddings(seed: int, n: int, dim: int, normalise: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(n, dim))  # (n, dim)
    if normalise:
        return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings * rng.uniform(0.3, 3.0, size=(n, 1))  # rows of varied length


def _lesson1_pairs(seed: int, n: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised (image_features, text_features) where pair i is correlated, as after some training."""
    image_features = _lesson1_embeddings(seed, n, dim, normalise=True)
    text_features = image_features + 0.8 * _lesson1_embeddings(seed + 100, n, dim, normalise=True)
    return image_features, text_features / np.linalg.norm(text_features, axis=1, keepdims=True)


def _unit_rows(embeddings: np.ndarray) -> np.ndarray:
    return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)


def check_cosine_similarity(fn: Callable) -> Callable:
    """fn(image_embeddings (n_images, d), text_embeddings (n_texts, d)) -> (n_images, n_texts) cosines."""
    cases = [(_lesson1_embeddings(1, 4, 6, False), _lesson1_embeddings(2, 4, 6, False)),
             (_lesson1_embeddings(3, 5, 8, False), _lesson1_embeddings(4, 3, 8, False)),
             (_lesson1_embeddings(5, 16, 32, False), _lesson1_embeddings(6, 16, 32, False))]
    mistakes = [
        (lambda images, texts: images @ texts.T,
         "these are raw dot products: you forgot to normalise. Divide each embedding by its L2 norm "
         "(np.linalg.norm(x, axis=1, keepdims=True)) first, so only the angle counts"),
        (lambda images, texts: _unit_rows(images) @ texts.T,
         "only the image embeddings were normalised: normalise the text embeddings too"),
        (lambda images, texts: images @ _unit_rows(texts).T,
         "only the text embeddings were normalised: normalise the image embeddings too"),
        (lambda images, texts: (images / np.linalg.norm(images, axis=0)) @ (texts / np.linalg.norm(texts, axis=0)).T,
         "you normalised each column (axis=0); each row is one embedding, so normalise along axis=1"),
        (lambda images, texts: (images / np.linalg.norm(images)) @ (texts / np.linalg.norm(texts)).T,
         "you divided by the norm of the whole matrix (np.linalg.norm without axis); give each row its own "
         "norm: np.linalg.norm(x, axis=1, keepdims=True)"),
        (lambda images, texts: _unit_rows(texts) @ _unit_rows(images).T,
         "rows must be images and columns texts: compute images @ texts.T, shape (n_images, n_texts)"),
    ]
    exercise = Exercise("cosine_similarity", contrastive.cosine_similarity_matrix, cases, mistakes,
                        "the matrix differs from the cosines: normalise both sides' rows, then take "
                        "image_embeddings @ text_embeddings.T")
    return run_check(exercise, fn).function


def _lesson1_cross_entropies(image_features, text_features, logit_scale) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair cross-entropies (image->text, text->image), for writing out the wrong variants."""
    logits_per_image = logit_scale * image_features @ text_features.T  # (n, n)
    image_to_text = -np.diag(contrastive.log_softmax(logits_per_image))  # (n,)
    text_to_image = -np.diag(contrastive.log_softmax(logits_per_image.T))  # (n,)
    return image_to_text, text_to_image


def _wrong_scale(scale_of) -> Callable:
    """The symmetric loss computed with a wrong logit scale: ``scale_of(logit_scale)``."""
    return lambda images, texts, logit_scale: contrastive.clip_loss(images, texts, scale_of(logit_scale))


def check_clip_loss(fn: Callable) -> Callable:
    """fn(image_features, text_features, logit_scale) -> the symmetric CLIP loss (a number)."""
    cases = [(*_lesson1_pairs(10, 5, 8), 10.0), (*_lesson1_pairs(11, 8, 16), 100.0),
             (*_lesson1_pairs(12, 16, 32), 14.3), (*_lesson1_pairs(13, 3, 4), 1.0)]

    def one_direction(pick: int) -> Callable:
        return lambda *case: _lesson1_cross_entropies(*case)[pick].mean()

    mistakes = [
        (one_direction(0), "only one direction: you computed image->text (your loss equals that cross-entropy "
                           "alone). If you wrote two terms, both are image->text (one direction computed twice): the "
                           "text->image term needs the transposed logits, logits.T, before its softmax. CLIP's "
                           "loss averages the two directions"),
        (one_direction(1), "only one direction: you computed text->image. CLIP's loss is symmetric: also take "
                           "the image->text cross-entropy and average the two"),
        (_wrong_scale(lambda logit_scale: 1.0),
         "the cosines were not scaled: multiply them by logit_scale before the softmax"),
        (_wrong_scale(lambda logit_scale: 1.0 / logit_scale),
         "the temperature is used the wrong way round: logit_scale is 1/temperature, so multiply the cosines "
         "by logit_scale (dividing by it is dividing by 1/temperature)"),
        (lambda *case: sum(direction.sum() for direction in _lesson1_cross_entropies(*case)) / 2,
         "you summed over the batch: take the mean over the n pairs, so the loss does not grow with batch size"),
        (lambda *case: sum(direction.mean() for direction in _lesson1_cross_entropies(*case)),
         "you added the two directions: average them, (image->text + text->image) / 2"),
        (lambda *case: -contrastive.clip_loss(*case),
         "the sign is flipped: cross-entropy is minus the log-probability of the right match, so the loss is >= 0"),
    ]
    exercise = Exercise("clip_loss", contrastive.clip_loss, cases, mistakes,
                        "the loss differs from the reference: logits = logit_scale * image_features @ "
                        "text_features.T, cross-entropy against the diagonal, both directions, averaged")
    return run_check(exercise, fn).function


def _lesson1_captions(seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [_LESSON1_CAPTIONS[index] for index in rng.integers(0, 3, size=n)]  # 3 captions: many duplicates


def _same_caption(captions) -> np.ndarray:
    return np.array([[first == second for second in captions] for first in captions], dtype=np.float64)  # (n, n)


def check_multi_positive_targets(fn: Callable) -> Callable:
    """fn(captions: list of n strings) -> (n, n) targets; each row spreads 1 over the identical captions."""
    cases = [(["a red circle", "a blue square", "a red circle", "a green star", "a red circle", "a blue square"],),
             (_lesson1_captions(20, 12),), (list(_LESSON1_CAPTIONS[:3]),), (["a circle"] * 4,)]
    mistakes = [
        (lambda captions: np.eye(len(captions)),
         "you used the identity, which ignores duplicates: every j whose caption equals caption i is a positive "
         "for row i"),
        (_same_caption, "each row must sum to 1 (a probability distribution): divide each row of the 0/1 "
                        "match matrix by its row sum"),
        (lambda captions: _same_caption(captions) / len(captions),
         "divide each row by its own number of matches (its row sum), not by the batch size"),
        (lambda captions: _same_caption(captions) / _same_caption(captions).sum(),
         "divide each row by its own row sum, not by the total of the whole matrix"),
    ]
    exercise = Exercise("multi_positive_targets", contrastive.multi_positive_targets, cases, mistakes,
                        "the targets differ from the reference: target[i, j] = 1/k when caption j equals "
                        "caption i (k such j, including i itself), else 0")
    return run_check(exercise, fn).function
