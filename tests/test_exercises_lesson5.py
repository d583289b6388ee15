"""Tests for Lesson 5's exercise checkers: a right answer passes, typical wrong ones get their specific hint,
an unfinished stub falls back to the reference."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmlesson.exercises import NOT_DONE, check_best_candidates, check_causal_mask, check_top_k_filter
from mmlesson.exercises.lesson5 import best_candidates
from mmlesson.transformer import causal_mask, top_k_filter


def unfinished_stub(*arguments):
    raise NotImplementedError


def assert_printed(capsys, *fragments: str) -> str:
    printed = capsys.readouterr().out
    for fragment in fragments:
        assert fragment in printed, printed
    return printed


# --- the causal mask ---

def test_causal_mask_passes_a_right_answer(capsys):
    def learner(past, length):
        positions = torch.arange(past, past + length)[:, None]  # (length, 1): where each query sits
        keys = torch.arange(past + length)[None, :]  # (1, past + length)
        return keys <= positions

    assert check_causal_mask(learner) is learner
    assert_printed(capsys, "✅ causal_mask: passed (4 cases)")


@pytest.mark.parametrize("wrong, hint", [
    (lambda past, length: torch.ones(length, past + length, dtype=torch.bool).tril(), "tril(diagonal=past)"),
    (lambda past, length: torch.arange(past + length)[None, :] < torch.arange(past, past + length)[:, None],
     "a position may attend to itself"),
    (lambda past, length: torch.arange(past + length)[None, :] >= torch.arange(past, past + length)[:, None],
     "keep the lower triangle"),
])
def test_causal_mask_diagnoses_typical_mistakes(capsys, wrong, hint):
    fallback = check_causal_mask(wrong)
    assert torch.equal(fallback(2, 3), causal_mask(2, 3, "cpu"))
    assert_printed(capsys, "❌ causal_mask:", hint, "using the reference")


def test_causal_mask_stub_falls_back_to_the_reference(capsys):
    fallback = check_causal_mask(unfinished_stub)
    assert torch.equal(fallback(1, 4), causal_mask(1, 4, "cpu"))
    assert_printed(capsys, f"causal_mask: {NOT_DONE}")


# --- top-k filtering ---

def test_top_k_filter_passes_a_right_answer(capsys):
    def learner(logits, k):
        best = torch.topk(logits, k, dim=1).indices  # (B, k)
        kept = torch.zeros_like(logits, dtype=torch.bool).scatter(1, best, True)  # (B, V)
        return torch.where(kept, logits, torch.full_like(logits, float("-inf")))

    assert check_top_k_filter(learner) is learner
    assert_printed(capsys, "✅ top_k_filter: passed (4 cases)")


def zero_instead_of_minus_infinity(logits, k):
    kth = torch.topk(logits, k, dim=1).values[:, -1:]  # (B, 1)
    return torch.where(logits >= kth, logits, torch.zeros_like(logits))


def smallest_k(logits, k):
    kth = torch.topk(logits, k, dim=1, largest=False).values[:, -1:]  # (B, 1)
    return torch.where(logits <= kth, logits, torch.full_like(logits, float("-inf")))


@pytest.mark.parametrize("wrong, hint", [
    (zero_instead_of_minus_infinity, "set the others to float('-inf')"),
    (smallest_k, "you kept the k smallest logits"),
])
def test_top_k_filter_diagnoses_typical_mistakes(capsys, wrong, hint):
    assert check_top_k_filter(wrong) is top_k_filter
    assert_printed(capsys, "❌ top_k_filter:", hint, "using the reference")


def test_top_k_filter_stub_falls_back_to_the_reference(capsys):
    assert check_top_k_filter(unfinished_stub) is top_k_filter
    assert_printed(capsys, f"top_k_filter: {NOT_DONE}")


# --- CLIP reranking: the best of N ---

def test_best_candidates_passes_a_right_answer(capsys):
    def learner(image_embeddings, text_embeddings):
        image_embeddings = F.normalize(image_embeddings, dim=2)  # (P, N, D)
        text_embeddings = F.normalize(text_embeddings, dim=1)  # (P, D)
        cosines = (image_embeddings @ text_embeddings[:, :, None]).squeeze(2)  # (P, N)
        return cosines.argmax(dim=1)

    assert check_best_candidates(learner) is learner
    assert_printed(capsys, "✅ best_candidates: passed (3 cases)")


@pytest.mark.parametrize("wrong, hint", [
    (lambda images, texts: (images @ texts[:, :, None]).squeeze(2).argmax(dim=1), "normalise the embeddings first"),
    (lambda images, texts: (F.normalize(images, dim=2) @ F.normalize(texts, dim=1)[:, :, None]).squeeze(2).argmin(1),
     "you kept the worst candidate"),
])
def test_best_candidates_diagnoses_typical_mistakes(capsys, wrong, hint):
    assert check_best_candidates(wrong) is best_candidates
    assert_printed(capsys, "❌ best_candidates:", hint, "using the reference")


def test_best_candidates_stub_falls_back_to_the_reference(capsys):
    assert check_best_candidates(unfinished_stub) is best_candidates
    assert_printed(capsys, f"best_candidates: {NOT_DONE}")
