"""Lesson 1 exercises: cosine similarity, the CLIP loss, multi-positive targets."""
from __future__ import annotations

from typing import Callable

import numpy as np

from .. import contrastive
from ._checking import Exercise, run_check
from ._report import Hint


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


NORMALISE_IMAGES = "unit_images = image_embeddings / np.linalg.norm(image_embeddings, axis=1, keepdims=True)"
NORMALISE_TEXTS = "unit_texts = text_embeddings / np.linalg.norm(text_embeddings, axis=1, keepdims=True)"
COSINES = "return unit_images @ unit_texts.T  # (n_images, n_texts)"


def _squared_norm_rows(embeddings: np.ndarray) -> np.ndarray:
    return embeddings / (embeddings ** 2).sum(axis=1, keepdims=True)  # forgot the square root


def check_cosine_similarity(fn: Callable) -> Callable:
    """fn(image_embeddings (n_images, d), text_embeddings (n_texts, d)) -> (n_images, n_texts) cosines."""
    cases = [(_lesson1_embeddings(1, 4, 6, False), _lesson1_embeddings(2, 4, 6, False)),
             (_lesson1_embeddings(3, 5, 8, False), _lesson1_embeddings(4, 3, 8, False)),
             (_lesson1_embeddings(5, 16, 32, False), _lesson1_embeddings(6, 16, 32, False))]
    both_sides = f"{NORMALISE_IMAGES}\n{NORMALISE_TEXTS}\n{COSINES}"
    own_length = Hint("you divided by the norm of the whole matrix (np.linalg.norm without axis): that is one number "
                      "for all rows, so each row keeps its own length. Give every row its own norm",
                      f"{NORMALISE_IMAGES}\n{NORMALISE_TEXTS}")
    mistakes = [
        (lambda images, texts: images @ texts.T,
         Hint("these are raw dot products: you forgot to normalise, so a long embedding scores high whatever its "
              "direction. Look at what each row should be divided by before the product", both_sides)),
        (lambda images, texts: _unit_rows(images) @ texts.T,
         Hint("only the image embeddings were normalised: normalise the text embeddings too", NORMALISE_TEXTS)),
        (lambda images, texts: images @ _unit_rows(texts).T,
         Hint("only the text embeddings were normalised: normalise the image embeddings too", NORMALISE_IMAGES)),
        (lambda images, texts: (images / np.linalg.norm(images, axis=0)) @ (texts / np.linalg.norm(texts, axis=0)).T,
         Hint("you normalised each column (axis=0); each row is one embedding, so normalise along axis=1",
              f"{NORMALISE_IMAGES}\n{NORMALISE_TEXTS}")),
        (lambda images, texts: (images / np.linalg.norm(images)) @ (texts / np.linalg.norm(texts)).T, own_length),
        (lambda images, texts: _unit_rows(texts) @ _unit_rows(images).T,
         Hint("rows must be images and columns texts: your matrix is (n_texts, n_images)", COSINES)),
        (lambda images, texts: _squared_norm_rows(images) @ _squared_norm_rows(texts).T,
         Hint("you divided each row by its squared length (the sum of squares, without the square root), so the "
              "rows have length 1/|x| instead of 1. Look at the norm you divide by",
              f"{NORMALISE_IMAGES}\n{NORMALISE_TEXTS}")),
        (lambda images, texts: 1 - contrastive.cosine_similarity_matrix(images, texts),
         Hint("you returned 1 - cos, the cosine distance (0 for a perfect match); the exercise asks for the "
              "similarity itself, 1 for a perfect match", COSINES)),
    ]
    keepdims = Hint("np.linalg.norm(x, axis=1) has shape (n,): it drops the axis it sums over, so NumPy lines the "
                    "norms up with the columns of the (n, d) array, not with its rows. Keep that axis",
                    f"{NORMALISE_IMAGES}\n{NORMALISE_TEXTS}")
    exercise = Exercise("cosine_similarity", contrastive.cosine_similarity_matrix, cases, mistakes,
                        Hint("the matrix differs from the cosines: normalise both sides' rows, then one matrix "
                             "product with images as rows", both_sides),
                        keepdims_hint=keepdims, returns="one (n_images, n_texts) array")
    return run_check(exercise, fn).function


def _lesson1_cross_entropies(image_features, text_features, logit_scale) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair cross-entropies (image->text, text->image), for writing out the wrong variants."""
    logits_per_image = logit_scale * image_features @ text_features.T  # (n, n)
    image_to_text = -np.diag(contrastive.log_softmax(logits_per_image))  # (n,)
    text_to_image = -np.diag(contrastive.log_softmax(logits_per_image.T))  # (n,)
    return image_to_text, text_to_image


def _mean_over_all_cells(image_features, text_features, logit_scale) -> float:
    """-log p averaged over every cell of both softmaxes, not only the right matches on the diagonal."""
    logits_per_image = logit_scale * image_features @ text_features.T  # (n, n)
    return -(contrastive.log_softmax(logits_per_image).mean() + contrastive.log_softmax(logits_per_image.T).mean()) / 2


def _shift_without_keepdims(image_features, text_features, logit_scale) -> float:
    """Each row's maximum subtracted without keepdims: on a square matrix NumPy subtracts it from the columns."""
    def cross_entropy(logits):
        shifted = logits - logits.max(axis=1)  # (n, n) - (n,): the maxima line up with the columns
        return -np.diag(shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))).mean()

    logits_per_image = logit_scale * image_features @ text_features.T  # (n, n)
    return (cross_entropy(logits_per_image) + cross_entropy(logits_per_image.T)) / 2


def _wrong_scale(scale_of) -> Callable:
    """The symmetric loss computed with a wrong logit scale: ``scale_of(logit_scale)``."""
    return lambda images, texts, logit_scale: contrastive.clip_loss(images, texts, scale_of(logit_scale))


LOGITS = "logits = logit_scale * image_features @ text_features.T  # (n, n)"
IMAGE_TO_TEXT = "image_to_text = -np.log(np.diag(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))).mean()"
TEXT_TO_IMAGE = ("text_to_image = -np.log(np.diag(np.exp(logits.T) / np.exp(logits.T).sum(axis=1, keepdims=True)))"
                 ".mean()")
AVERAGE = "return (image_to_text + text_to_image) / 2"


def check_clip_loss(fn: Callable) -> Callable:
    """fn(image_features, text_features, logit_scale) -> the symmetric CLIP loss (a number)."""
    cases = [(*_lesson1_pairs(10, 5, 8), 10.0), (*_lesson1_pairs(11, 8, 16), 100.0),
             (*_lesson1_pairs(12, 16, 32), 14.3), (*_lesson1_pairs(13, 3, 4), 1.0)]

    def one_direction(pick: int) -> Callable:
        return lambda *case: _lesson1_cross_entropies(*case)[pick].mean()

    mistakes = [
        (one_direction(0), Hint("only one direction: you computed image->text (your loss equals that cross-entropy "
                                "alone). If you wrote two terms, both are image->text (one direction computed "
                                "twice): look at which matrix the second softmax runs over. CLIP's loss averages "
                                "the two directions", f"{TEXT_TO_IMAGE}\n{AVERAGE}")),
        (one_direction(1), Hint("only one direction: you computed text->image. CLIP's loss is symmetric: also take "
                                "the image->text cross-entropy and average the two", f"{IMAGE_TO_TEXT}\n{AVERAGE}")),
        (_wrong_scale(lambda logit_scale: 1.0),
         Hint("the cosines were not scaled: the softmax sees numbers between -1 and 1, where no match can stand "
              "out. Look at where logit_scale should enter", LOGITS)),
        (_wrong_scale(lambda logit_scale: 1.0 / logit_scale),
         Hint("the temperature is used the wrong way round: logit_scale is already 1/temperature, so dividing by "
              "it divides by 1/temperature", LOGITS)),
        (lambda *case: sum(direction.sum() for direction in _lesson1_cross_entropies(*case)) / 2,
         Hint("you summed over the batch: the loss would grow with the batch size. Look at how each direction "
              "combines its n cross-entropies", f"{IMAGE_TO_TEXT}  # the mean over the n pairs")),
        (lambda *case: sum(direction.mean() for direction in _lesson1_cross_entropies(*case)),
         Hint("you added the two directions: the loss is their average, not their sum", AVERAGE)),
        (lambda *case: tuple(direction.mean() for direction in _lesson1_cross_entropies(*case)),
         Hint("you returned the two directions as a tuple: the loss is one number that combines them", AVERAGE)),
        (_mean_over_all_cells,
         Hint("you averaged -log p over every cell of the matrix: only the right matches, on the diagonal, belong "
              "in the cross-entropy", f"{IMAGE_TO_TEXT}  # the diagonal only")),
        (_shift_without_keepdims,
         Hint("you subtracted each row's maximum without keeping its axis: logits.max(axis=1) has shape (n,), so "
              "on an (n, n) matrix NumPy silently subtracts it from the columns instead of the rows",
              "shifted = logits - logits.max(axis=1, keepdims=True)  # (n, n) - (n, 1)")),
        (lambda *case: -contrastive.clip_loss(*case),
         Hint("the sign is flipped: cross-entropy is minus the log-probability of the right match, so the loss "
              "is >= 0", IMAGE_TO_TEXT)),
    ]
    exercise = Exercise("clip_loss", contrastive.clip_loss, cases, mistakes,
                        Hint("the loss differs from the reference: scaled cosines as logits, cross-entropy against "
                             "the diagonal, in both directions, averaged",
                             f"{LOGITS}\n{IMAGE_TO_TEXT}\n{TEXT_TO_IMAGE}\n{AVERAGE}"),
                        keepdims_hint=Hint("a sum over axis=1 has shape (n,): it drops the axis, so it no longer "
                                           "lines up with the rows it should divide. Keep that axis", IMAGE_TO_TEXT),
                        returns="one number")
    return run_check(exercise, fn).function


def _lesson1_captions(seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [_LESSON1_CAPTIONS[index] for index in rng.integers(0, 3, size=n)]  # 3 captions: many duplicates


def _same_caption(captions) -> np.ndarray:
    return np.array([[first == second for second in captions] for first in captions], dtype=np.float64)  # (n, n)


SAME_CAPTION = "same = np.array([[first == second for second in captions] for first in captions], dtype=float)"
ROW_SUMS = "return same / same.sum(axis=1, keepdims=True)  # each row sums to 1"


def check_multi_positive_targets(fn: Callable) -> Callable:
    """fn(captions: list of n strings) -> (n, n) targets; each row spreads 1 over the identical captions."""
    cases = [(["a red circle", "a blue square", "a red circle", "a green star", "a red circle", "a blue square"],),
             (_lesson1_captions(20, 12),), (list(_LESSON1_CAPTIONS[:3]),), (["a circle"] * 4,)]
    mistakes = [
        (lambda captions: np.eye(len(captions)),
         Hint("you used the identity, which ignores duplicates: every j whose caption equals caption i is a "
              "positive for row i", SAME_CAPTION)),
        (_same_caption, Hint("each row must sum to 1 (a probability distribution): look at what each row of your "
                             "0/1 match matrix adds up to", ROW_SUMS)),
        (lambda captions: _same_caption(captions) / len(captions),
         Hint("divide each row by its own number of matches, not by the batch size", ROW_SUMS)),
        (lambda captions: _same_caption(captions) / _same_caption(captions).sum(),
         Hint("divide each row by its own row sum, not by the total of the whole matrix", ROW_SUMS)),
    ]
    exercise = Exercise("multi_positive_targets", contrastive.multi_positive_targets, cases, mistakes,
                        Hint("the targets differ from the reference: target[i, j] = 1/k when caption j equals "
                             "caption i (k such j, including i itself), else 0", f"{SAME_CAPTION}\n{ROW_SUMS}"),
                        returns="one (n, n) array")
    return run_check(exercise, fn).function
