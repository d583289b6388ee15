"""Lesson 5 exercises: the causal mask with a KV cache, top-k filtering for sampling, and CLIP reranking."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..transformer import causal_mask, top_k_filter
from ._checking import Exercise, run_check
from ._report import Hint


# --- the causal mask (with past positions in a KV cache) ---

def _mask_cases() -> list[tuple]:
    """(past, length): how many positions the cache already holds, how many new ones are fed."""
    return [(0, 4), (3, 2), (5, 1), (2, 5)]


def _as_float_mask(function: Callable) -> Callable:
    """Booleans -> floats so that the checker's array comparison sees True/False as 1/0."""
    def probe(past, length):
        mask = function(past, length, "cpu") if function is causal_mask else function(past, length)
        return None if mask is None else torch.as_tensor(mask).to(torch.float64)

    return probe


CAUSAL = "return torch.ones(length, past + length, dtype=torch.bool).tril(diagonal=past)"


def check_causal_mask(fn: Callable) -> Callable:
    """fn(past, length) -> (length, past + length) booleans: True where query i (at position past + i)
    may attend to key j, i.e. j <= past + i."""
    mistakes = [
        (lambda past, length: torch.ones(length, past + length, dtype=torch.bool).tril(),
         Hint("the new queries sit after the `past` cached positions: query i is at position past + i, so it sees "
              "keys 0 .. past + i", CAUSAL)),
        (lambda past, length: torch.ones(length, past + length, dtype=torch.bool).tril(diagonal=past - 1),
         Hint("a position may attend to itself: keep the diagonal (j <= past + i, not j < past + i)", CAUSAL)),
        (lambda past, length: torch.ones(length, past + length, dtype=torch.bool).triu(diagonal=past),
         Hint("that lets each query see the future and not the past: keep the lower triangle (tril), not triu",
              CAUSAL)),
        (lambda past, length: torch.ones(length, length, dtype=torch.bool).tril(),
         Hint("the keys include the cached ones: the mask has past + length columns", CAUSAL)),
    ]
    exercise = Exercise("causal_mask", _as_float_mask(causal_mask), _mask_cases(),
                        [(_as_float_mask(wrong), hint) for wrong, hint in mistakes],
                        generic_hint=Hint("expected (length, past + length) booleans, True where key j <= past + i",
                                          CAUSAL))
    result = run_check(exercise, _as_float_mask(fn))
    if result.status == "passed":
        return fn
    return lambda past, length: causal_mask(past, length, "cpu")


# --- top-k filtering before sampling ---

def _top_k_cases() -> list[tuple]:
    """(logits (B, V), k); distinct values so the k largest are unambiguous."""
    generator = torch.Generator().manual_seed(5)
    cases = []
    for batch, vocab, k in ((3, 10, 3), (1, 6, 1), (4, 32, 8), (2, 5, 5)):
        logits = torch.randperm(batch * vocab, generator=generator).reshape(batch, vocab).float() / 7 - 2
        cases.append((logits, k))
    return cases


KTH_LARGEST = "kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1): each row's k-th largest"
MASK_BELOW = "return logits.masked_fill(logits < kth, float('-inf'))"


def check_top_k_filter(fn: Callable) -> Callable:
    """fn(logits (B, V), k) -> (B, V): each row keeps its k largest logits, the others become -inf."""
    def keep_smallest(logits, k):
        kth = torch.topk(logits, k, dim=-1, largest=False).values[..., -1:]  # (B, 1)
        return logits.masked_fill(logits > kth, float("-inf"))

    def zero_the_rest(logits, k):
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1)
        return logits.masked_fill(logits < kth, 0.0)

    def one_too_few(logits, k):
        kth = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1)
        return logits.masked_fill(logits <= kth, float("-inf"))

    def whole_batch(logits, k):
        kth = torch.topk(logits.flatten(), k).values[-1]  # one threshold for every row
        return logits.masked_fill(logits < kth, float("-inf"))

    mistakes = [
        (keep_smallest, Hint("you kept the k smallest logits: topk returns the largest by default; keep those",
                             f"{KTH_LARGEST}\n{MASK_BELOW}")),
        (zero_the_rest, Hint("a logit of 0 still has probability after softmax: set the others to float('-inf')",
                             MASK_BELOW)),
        (one_too_few, Hint("you kept k - 1 tokens: mask logits strictly below the k-th largest (<, not <=)",
                           MASK_BELOW)),
        (whole_batch, Hint("take the k largest of each row (dim=-1), not of the whole batch", KTH_LARGEST)),
    ]
    exercise = Exercise("top_k_filter", top_k_filter, _top_k_cases(), mistakes,
                        generic_hint=Hint("expected each row's k largest logits unchanged and -inf everywhere "
                                          "else, shape (B, V)", f"{KTH_LARGEST}\n{MASK_BELOW}"))
    return run_check(exercise, fn).function


# --- CLIP reranking: keep the best of N candidates ---

def best_candidates(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> torch.Tensor:
    """Reference: (P, N, D) candidate image embeddings, (P, D) prompt embeddings -> (P,) index of the
    candidate with the highest cosine similarity to its prompt."""
    similarities = torch.einsum("pnd,pd->pn", F.normalize(image_embeddings, dim=-1),
                                F.normalize(text_embeddings, dim=-1))  # (P, N)
    return similarities.argmax(dim=1)  # (P,)


def _rerank_cases() -> list[tuple]:
    """(image_embeddings (P, N, D), text_embeddings (P, D)) with very different norms, so that a raw dot
    product picks other candidates than the cosine does."""
    generator = torch.Generator().manual_seed(55)
    cases = []
    for prompts, candidates, dim in ((4, 8, 6), (3, 16, 10), (2, 5, 4)):
        images = torch.randn(prompts, candidates, dim, generator=generator)
        images = images * torch.rand(prompts, candidates, 1, generator=generator).mul(5).add(0.1)
        texts = torch.randn(prompts, dim, generator=generator)
        cases.append((images, texts))
    return cases


COSINES = ("similarities = torch.einsum('pnd,pd->pn', F.normalize(image_embeddings, dim=-1), "
           "F.normalize(text_embeddings, dim=-1))  # (P, N)")
BEST = "return similarities.argmax(dim=1)  # (P,): one index per prompt"


def check_best_candidates(fn: Callable) -> Callable:
    """fn(image_embeddings (P, N, D), text_embeddings (P, D)) -> (P,) index of the best candidate per prompt."""
    def scores(images, texts):
        return torch.einsum("pnd,pd->pn", F.normalize(images, dim=-1), F.normalize(texts, dim=-1))  # (P, N)

    mistakes = [
        (lambda images, texts: scores(images, texts).argmin(dim=1),
         Hint("you kept the worst candidate: the best has the highest similarity", BEST)),
        (lambda images, texts: torch.einsum("pnd,pd->pn", images, texts).argmax(dim=1),
         Hint("normalise the embeddings first: a raw dot product favours long vectors, not matching ones",
              COSINES)),
        (lambda images, texts: scores(images, texts).argmax(dim=0),
         Hint("take the argmax over the candidates of each prompt, giving one index per prompt", BEST)),
    ]
    exercise = Exercise("best_candidates", best_candidates, _rerank_cases(), mistakes,
                        generic_hint=Hint("expected one index per prompt (shape (P,)): the candidate whose "
                                          "normalised embedding has the highest cosine with its prompt's",
                                          f"{COSINES}\n{BEST}"))
    return run_check(exercise, fn).function
