"""Tests for Lesson 1's exercise checkers: a right answer passes, typical wrong ones get their two-step hint
(a nudge, then the line behind a fold), an unfinished stub falls back to the reference."""
from __future__ import annotations

import numpy as np
import pytest

from mmlesson import contrastive
from mmlesson.exercises import NOT_DONE, check_clip_loss, check_cosine_similarity, check_multi_positive_targets
from tests.hint_output import two_step


def unfinished_stub(*arguments):
    raise NotImplementedError


def unit_rows(embeddings: np.ndarray) -> np.ndarray:
    return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)


def log_softmax_rows(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def cross_entropies(image_features, text_features, scale):
    """Per-pair (image->text, text->image) cross-entropies, as a learner would write them."""
    logits = scale * image_features @ text_features.T  # (n, n)
    return -np.diag(log_softmax_rows(logits)), -np.diag(log_softmax_rows(logits.T))


def assert_printed(capsys, *fragments: str) -> str:
    printed = capsys.readouterr().out
    for fragment in fragments:
        assert fragment in printed, printed
    return printed


# --- cosine similarity ---

def test_cosine_similarity_passes_a_right_answer(capsys):
    def learner(image_embeddings, text_embeddings):
        return unit_rows(image_embeddings) @ unit_rows(text_embeddings).T

    assert check_cosine_similarity(learner) is learner
    assert_printed(capsys, "✅ cosine_similarity: passed")


NORMALISED_TEXTS = "unit_texts = text_embeddings / np.linalg.norm(text_embeddings, axis=1, keepdims=True)"


@pytest.mark.parametrize("wrong, nudge, line", [
    (lambda images, texts: images @ texts.T, "you forgot to normalise", NORMALISED_TEXTS),
    (lambda images, texts: unit_rows(images) @ texts.T, "normalise the text embeddings too", NORMALISED_TEXTS),
    (lambda images, texts: (images / np.linalg.norm(images, axis=0)) @ (texts / np.linalg.norm(texts, axis=0)).T,
     "normalise along axis=1", NORMALISED_TEXTS),
    (lambda images, texts: unit_rows(texts) @ unit_rows(images).T, "rows must be images and columns texts",
     "return unit_images @ unit_texts.T"),
    (lambda images, texts: (images / (images ** 2).sum(axis=1, keepdims=True))
     @ (texts / (texts ** 2).sum(axis=1, keepdims=True)).T, "its squared length", NORMALISED_TEXTS),
    (lambda images, texts: (images / np.linalg.norm(images, axis=1, keepdims=True) ** 2)
     @ (texts / np.linalg.norm(texts, axis=1, keepdims=True) ** 2).T, "its squared length", NORMALISED_TEXTS),
    (lambda images, texts: 1 - unit_rows(images) @ unit_rows(texts).T, "you returned 1 - cos",
     "return unit_images @ unit_texts.T"),
])
def test_cosine_similarity_diagnoses_typical_mistakes(capsys, wrong, nudge, line):
    assert check_cosine_similarity(wrong) is contrastive.cosine_similarity_matrix
    two_step(capsys.readouterr().out, nudge, line, name="cosine_similarity:")


def test_cosine_similarity_without_keepdims_names_the_lost_axis(capsys):
    def learner(image_embeddings, text_embeddings):
        unit_images = image_embeddings / np.linalg.norm(image_embeddings, axis=1)  # (n, d) / (n,)
        unit_texts = text_embeddings / np.linalg.norm(text_embeddings, axis=1)
        return unit_images @ unit_texts.T

    assert check_cosine_similarity(learner) is contrastive.cosine_similarity_matrix
    headline, _ = two_step(capsys.readouterr().out, "drops the axis it sums over", NORMALISED_TEXTS)
    assert "could not be broadcast" in headline and "(4,6) (4,)" in headline


def test_cosine_similarity_stub_falls_back_to_the_reference(capsys):
    assert check_cosine_similarity(unfinished_stub) is contrastive.cosine_similarity_matrix
    assert_printed(capsys, f"cosine_similarity: {NOT_DONE}")


# --- the symmetric CLIP loss ---

def test_clip_loss_passes_a_right_answer(capsys):
    def learner(image_features, text_features, logit_scale):
        image_to_text, text_to_image = cross_entropies(image_features, text_features, logit_scale)
        return (image_to_text.mean() + text_to_image.mean()) / 2

    assert check_clip_loss(learner) is learner
    assert_printed(capsys, "✅ clip_loss: passed (4 cases)")


def mean_over_all_cells(image_features, text_features, scale):
    logits = scale * image_features @ text_features.T  # (n, n)
    return (-log_softmax_rows(logits).mean() - log_softmax_rows(logits.T).mean()) / 2


def shifted_without_keepdims(image_features, text_features, scale):
    logits = scale * image_features @ text_features.T  # (n, n)

    def image_to_text(logits):
        shifted = logits - logits.max(axis=1)  # forgot keepdims=True
        probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        return -np.log(np.diag(probabilities)).mean()

    return (image_to_text(logits) + image_to_text(logits.T)) / 2


LOGITS = "logits = logit_scale * image_features @ text_features.T"
AVERAGE = "return (image_to_text + text_to_image) / 2"


@pytest.mark.parametrize("wrong, nudge, line", [
    (lambda *case: cross_entropies(*case)[0].mean(), "only one direction: you computed image->text", "logits.T"),
    (lambda *case: cross_entropies(*case)[1].mean(), "only one direction: you computed text->image",
     "np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)"),
    (lambda images, texts, scale: cross_entropies(images, texts, 1.0)[0].mean() / 2
     + cross_entropies(images, texts, 1.0)[1].mean() / 2, "the cosines were not scaled", LOGITS),
    (lambda images, texts, scale: sum(d.mean() for d in cross_entropies(images, texts, 1 / scale)) / 2,
     "the temperature is used the wrong way round", LOGITS),
    (lambda *case: sum(direction.sum() for direction in cross_entropies(*case)) / 2, "you summed over the batch",
     ".mean()"),
    (lambda *case: sum(direction.mean() for direction in cross_entropies(*case)), "you added the two directions",
     AVERAGE),
    (lambda *case: (cross_entropies(*case)[0].mean(), cross_entropies(*case)[1].mean()),
     "you returned the two directions as a tuple", AVERAGE),
    (mean_over_all_cells, "over every cell of the matrix", "np.diag("),
    (shifted_without_keepdims, "subtracted each row's maximum without keeping its axis",
     "logits.max(axis=1, keepdims=True)"),
    (lambda *case: -sum(direction.mean() for direction in cross_entropies(*case)) / 2, "the sign is flipped",
     "-np.log("),
])
def test_clip_loss_diagnoses_typical_mistakes(capsys, wrong, nudge, line):
    assert check_clip_loss(wrong) is contrastive.clip_loss
    two_step(capsys.readouterr().out, nudge, line, name="clip_loss:")


def test_clip_loss_returning_loss_and_logits_is_told_to_return_one_number(capsys):
    def learner(image_features, text_features, logit_scale):
        logits = logit_scale * image_features @ text_features.T
        return sum(d.mean() for d in cross_entropies(image_features, text_features, logit_scale)) / 2, logits

    assert check_clip_loss(learner) is contrastive.clip_loss
    two_step(capsys.readouterr().out, "you returned a tuple of 2 values", AVERAGE)


def test_clip_loss_stub_and_none_fall_back_to_the_reference(capsys):
    assert check_clip_loss(unfinished_stub) is contrastive.clip_loss
    assert check_clip_loss(lambda *case: None) is contrastive.clip_loss
    printed = assert_printed(capsys, f"clip_loss: {NOT_DONE}", "did you forget `return`?")
    assert printed.count(NOT_DONE) == 1


# --- multi-positive targets ---

def test_multi_positive_targets_passes_a_right_answer(capsys):
    def learner(captions):
        same = np.array([[first == second for second in captions] for first in captions], dtype=float)
        return same / same.sum(axis=1, keepdims=True)

    assert check_multi_positive_targets(learner) is learner
    assert_printed(capsys, "✅ multi_positive_targets: passed")


def same_caption(captions) -> np.ndarray:
    captions = np.array(captions)
    return captions[:, None] == captions[None, :]  # (n, n) bool


ROW_SUMS = "return same / same.sum(axis=1, keepdims=True)"


@pytest.mark.parametrize("wrong, nudge, line", [
    (lambda captions: np.eye(len(captions)), "you used the identity, which ignores duplicates",
     "[[first == second for second in captions] for first in captions]"),
    (same_caption, "each row must sum to 1", ROW_SUMS),
    (lambda captions: same_caption(captions) / len(captions), "not by the batch size", ROW_SUMS),
    (lambda captions: same_caption(captions) / same_caption(captions).sum(), "not by the total of the whole matrix",
     ROW_SUMS),
])
def test_multi_positive_targets_diagnoses_typical_mistakes(capsys, wrong, nudge, line):
    assert check_multi_positive_targets(wrong) is contrastive.multi_positive_targets
    two_step(capsys.readouterr().out, nudge, line, name="multi_positive_targets:")


def test_multi_positive_targets_stub_falls_back_to_the_reference(capsys):
    assert check_multi_positive_targets(unfinished_stub) is contrastive.multi_positive_targets
    assert_printed(capsys, f"multi_positive_targets: {NOT_DONE}")


def test_an_unknown_mistake_gets_the_generic_hint_and_a_crash_is_reported(capsys):
    assert check_multi_positive_targets(lambda captions: np.ones((len(captions), len(captions)))) \
        is contrastive.multi_positive_targets
    two_step(capsys.readouterr().out, "target[i, j] = 1/k", ROW_SUMS)
    assert check_clip_loss(lambda *case: 1 / 0) is contrastive.clip_loss
    assert_printed(capsys, "your function raised ZeroDivisionError")
