"""Tests for Lesson 1's exercise checkers: a right answer passes, typical wrong ones get their hint,
an unfinished stub falls back to the reference."""
from __future__ import annotations

import numpy as np
import pytest

from mmlesson import contrastive
from mmlesson.exercises import NOT_DONE, check_clip_loss, check_cosine_similarity, check_multi_positive_targets


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


@pytest.mark.parametrize("wrong, hint", [
    (lambda images, texts: images @ texts.T, "you forgot to normalise"),
    (lambda images, texts: unit_rows(images) @ texts.T, "normalise the text embeddings too"),
    (lambda images, texts: (images / np.linalg.norm(images, axis=0)) @ (texts / np.linalg.norm(texts, axis=0)).T,
     "normalise along axis=1"),
    (lambda images, texts: unit_rows(texts) @ unit_rows(images).T, "rows must be images and columns texts"),
])
def test_cosine_similarity_diagnoses_typical_mistakes(capsys, wrong, hint):
    assert check_cosine_similarity(wrong) is contrastive.cosine_similarity_matrix
    assert_printed(capsys, "❌ cosine_similarity:", hint, "using the reference")


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


@pytest.mark.parametrize("wrong, hint", [
    (lambda *case: cross_entropies(*case)[0].mean(), "only one direction: you computed image->text"),
    (lambda *case: cross_entropies(*case)[1].mean(), "only one direction: you computed text->image"),
    (lambda images, texts, scale: cross_entropies(images, texts, 1.0)[0].mean() / 2
     + cross_entropies(images, texts, 1.0)[1].mean() / 2, "multiply them by logit_scale"),
    (lambda images, texts, scale: sum(d.mean() for d in cross_entropies(images, texts, 1 / scale)) / 2,
     "the temperature is used the wrong way round"),
    (lambda *case: sum(direction.sum() for direction in cross_entropies(*case)) / 2, "you summed over the batch"),
    (lambda *case: sum(direction.mean() for direction in cross_entropies(*case)), "average them"),
])
def test_clip_loss_diagnoses_typical_mistakes(capsys, wrong, hint):
    assert check_clip_loss(wrong) is contrastive.clip_loss
    assert_printed(capsys, "❌ clip_loss:", hint)


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


@pytest.mark.parametrize("wrong, hint", [
    (lambda captions: np.eye(len(captions)), "you used the identity, which ignores duplicates"),
    (same_caption, "each row must sum to 1"),
    (lambda captions: same_caption(captions) / len(captions), "not by the batch size"),
    (lambda captions: same_caption(captions) / same_caption(captions).sum(), "not by the total of the whole matrix"),
])
def test_multi_positive_targets_diagnoses_typical_mistakes(capsys, wrong, hint):
    assert check_multi_positive_targets(wrong) is contrastive.multi_positive_targets
    assert_printed(capsys, "❌ multi_positive_targets:", hint)


def test_multi_positive_targets_stub_falls_back_to_the_reference(capsys):
    assert check_multi_positive_targets(unfinished_stub) is contrastive.multi_positive_targets
    assert_printed(capsys, f"multi_positive_targets: {NOT_DONE}")


def test_an_unknown_mistake_gets_the_generic_hint_and_a_crash_is_reported(capsys):
    assert check_multi_positive_targets(lambda captions: np.ones((len(captions), len(captions)))) \
        is contrastive.multi_positive_targets
    assert_printed(capsys, "target[i, j] = 1/k")
    assert check_clip_loss(lambda *case: 1 / 0) is contrastive.clip_loss
    assert_printed(capsys, "your function raised ZeroDivisionError")
