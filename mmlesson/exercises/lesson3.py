"""Lesson 3 exercises: top-k retrieval and recall@k."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..ranking import precision_at_k, recall_at_k, top_k_indices
from ._checking import Exercise, run_check
from ._report import Hint


def _top_k_cases() -> list[tuple]:
    """(query (D,), image_embeddings (N, D), k): unit vectors with distinct scores; k >= 2 first, so that
    'right images, wrong order' and 'off by one' differ from the answer."""
    rng = np.random.default_rng(3)
    cases = []
    for n_images, dim, k in ((12, 8, 3), (30, 16, 5), (7, 4, 1)):
        images = rng.standard_normal((n_images, dim))
        images /= np.linalg.norm(images, axis=1, keepdims=True)
        query = rng.standard_normal(dim)
        cases.append((query / np.linalg.norm(query), images, k))
    return cases


SCORES = "scores = image_embeddings @ query_embedding  # (n,): one cosine per image"
BEST_FIRST = "return np.argsort(-scores)[:k]  # best first"


def check_top_k(fn: Callable) -> Callable:
    """fn(query_embedding (D,), image_embeddings (N, D), k) -> indices of the k best images, best first."""
    def scores(query, images):
        return np.asarray(images) @ np.asarray(query)  # (N,)

    off_by_one = Hint("off by one: return exactly k indices, starting from the best one (position 0)", BEST_FIRST)
    mistakes = [
        (lambda q, e, k: np.argsort(scores(q, e))[:k],
         Hint("those are the k worst images: np.argsort sorts ascending, so the best come last", BEST_FIRST)),
        (lambda q, e, k: np.argsort(scores(q, e))[-k:],
         Hint("the right images in the wrong order: np.argsort is ascending, so your list ends with the best; "
              "it should start with it", BEST_FIRST)),
        (lambda q, e, k: np.sort(np.argsort(-scores(q, e))[:k]),
         Hint("the right k images, but sorted by index instead of by score: keep the order the ranking gives "
              "(best first); do not sort the indices themselves", BEST_FIRST)),
        (lambda q, e, k: np.sort(scores(q, e))[::-1][:k],
         Hint("you returned the scores; return the indices of the images (np.argsort gives positions, np.sort "
              "values)", BEST_FIRST)),
        (lambda q, e, k: np.argsort(-scores(q, e))[:k + 1], off_by_one),
        (lambda q, e, k: np.argsort(-scores(q, e))[:k - 1], off_by_one),
        (lambda q, e, k: np.argsort(-scores(q, e))[1:k + 1], off_by_one),
    ]
    exercise = Exercise("top_k", top_k_indices, _top_k_cases(), mistakes,
                        generic_hint=Hint("expected the indices of the k largest scores (image_embeddings against "
                                          "the query), best first, shape (k,)", f"{SCORES}\n{BEST_FIRST}"),
                        returns="one array of k indices")
    return run_check(exercise, fn).function


RECALL_CASES = [  # (retrieved, relevant sets, k): more columns than k, relevant sets of other sizes than k;
    # each case tells precision@k, a floored (//) recall and recall / min(k, |relevant|) apart from recall@k
    (np.array([[4, 1, 7, 2, 9], [0, 3, 5, 8, 6], [2, 6, 1, 0, 4]]), [{1, 2}, {3, 8, 9, 11}, {0, 6}], 3),
    ([[5, 0, 2, 8], [1, 9, 4, 7]], [{0, 7, 3}, {4, 9}], 2),
    (np.array([[3, 2, 1, 0]]), [{0, 1, 2, 3, 4, 5}], 4),
]
ONE_RECALL = "recall = len(set(row[:k]) & truth) / len(truth)  # hits / number of relevant items"
MEAN_RECALL = ("recalls = [len(set(row[:k]) & truth) / len(truth) for row, truth in zip(retrieved, relevant)]\n"
               "return np.mean(recalls)")


def check_recall_at_k(fn: Callable) -> Callable:
    """fn(retrieved (Q, >= k) indices best first, relevant (one set per query), k) -> mean recall@k."""
    def hits(retrieved, relevant, k, columns=None):
        return np.array([len(set(list(row)[:columns or k]) & set(truth)) for row, truth in zip(retrieved, relevant)])

    sizes = lambda relevant: np.array([len(truth) for truth in relevant])  # noqa: E731
    first_k = "hits = len(set(row[:k]) & truth)  # the first k retrieved items only"
    mistakes = [
        (precision_at_k, Hint("that is precision@k (hits / k); recall@k divides each query's hits by how many "
                              "relevant items that query has", ONE_RECALL)),
        (lambda r, t, k: np.mean(hits(r, t, k) // sizes(t)),
         Hint("you divided with //, which rounds down: a query that finds 1 of its 2 relevant items scores 0, "
              "not 0.5. Use true division", ONE_RECALL)),
        (lambda r, t, k: np.mean(hits(r, t, k) / np.minimum(k, sizes(t))),
         Hint("you divided by min(k, |relevant|), a capped recall: recall@k divides by the number of relevant "
              "items even when it is larger than k, so a perfect ranking can stay below 1", ONE_RECALL)),
        (lambda r, t, k: hits(r, t, k) / sizes(t),
         Hint("return one number: the mean of the per-query recalls", "return np.mean(recalls)")),
        (lambda r, t, k: np.mean(hits(r, t, k, columns=len(list(r)[0])) / sizes(t)),
         Hint("count only the first k retrieved items of each row, not all of them", first_k)),
        (lambda r, t, k: np.mean(hits(r, t, k, columns=max(k - 1, 1)) / sizes(t)) if k > 1 else np.nan,
         Hint("off by one: you counted k-1 columns; the first k retrieved items count", first_k)),
        (lambda r, t, k: hits(r, t, k).sum() / sizes(t).sum(),
         Hint("you pooled over the queries (all hits / all relevant items); compute each query's recall first, "
              "then average those, so every query counts equally", MEAN_RECALL)),
    ]
    exercise = Exercise("recall_at_k", recall_at_k, RECALL_CASES, mistakes,
                        generic_hint=Hint("expected the mean over queries of |top-k ∩ relevant| / |relevant|, "
                                          "one number", MEAN_RECALL),
                        returns="one number")
    return run_check(exercise, fn).function
