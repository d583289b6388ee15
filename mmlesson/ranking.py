"""Ranking by cosine similarity, the idea of lesson 3: score every image against the query, keep the k best.

CLIP puts images and texts in one space, so searching is classification turned around: with unit
vectors, the dot product of the query with each stored image embedding is their cosine similarity,
and the answer is the k largest. ``top_k_indices`` is that idea in two lines (the lesson's exercise);
``top_k`` does the same for a batch of queries without sorting everything. Precision@k and recall@k
say how good a ranking is when we know which images are relevant.

The persisted, incremental index that uses these is in index.py; the fast kernels (float16, FAISS)
behind it are in search_backends.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np


def top_k_indices(query_embedding: np.ndarray, image_embeddings: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k images most similar to one query, best first (the lesson's exercise, in NumPy)."""
    scores = np.asarray(image_embeddings) @ np.asarray(query_embedding)  # (n_images,)
    return np.argsort(-scores, kind="stable")[:k]


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, scores) of the k largest entries of each row of (n_queries, n) scores, best first.

    argpartition finds the k best in linear time; only those k are then sorted.
    """
    scores = np.atleast_2d(scores)
    if k < scores.shape[1]:
        best = np.argpartition(-scores, k - 1, axis=1)[:, :k]  # (n_queries, k), unordered
    else:
        best = np.tile(np.arange(scores.shape[1]), (len(scores), 1))
    best_scores = np.take_along_axis(scores, best, 1)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    return np.take_along_axis(best, order, 1), np.take_along_axis(best_scores, order, 1)


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); a zero row is an error, not a silent NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("an embedding has length 0, so it has no direction to compare; check the inputs.")
    return vectors / norms


# --- one hit of a search ---

@dataclass
class SearchResult:
    rank: int  # 1 = best
    index: int  # row in the index (also the position in the source list or array)
    path: str | None  # the file, or None for in-memory images
    score: float  # cosine similarity between the query and the image, in [-1, 1]
    image: Any = field(default=None, repr=False, compare=False)  # the in-memory image, for show_results

    def to_dict(self) -> dict:
        return {"rank": self.rank, "index": self.index, "path": self.path, "score": round(self.score, 6)}


def format_table(results: list[SearchResult]) -> str:
    lines = [f"{'rank':>4}  {'score':>7}  path"]
    for result in results:
        where = result.path if result.path is not None else f"#{result.index}"
        lines.append(f"{result.rank:>4}  {result.score:>7.4f}  {where}")
    return "\n".join(lines)


# --- how good is a ranking: precision@k and recall@k ---

def precision_at_k(retrieved, relevant: Sequence[set], k: int) -> float:
    """Mean over queries of (relevant items among the top k) / k.

    ``retrieved``: (n_queries, >= k) indices, best first (or lists of SearchResult);
    ``relevant``: one set of correct indices per query.
    """
    rows = _as_index_lists(retrieved)
    _check_metric_inputs(rows, relevant, k)
    return float(np.mean([len(set(row[:k]) & set(truth)) / k for row, truth in zip(rows, relevant)]))


def recall_at_k(retrieved, relevant: Sequence[set], k: int) -> float:
    """Mean over queries of (relevant items among the top k) / (all relevant items)."""
    rows = _as_index_lists(retrieved)
    _check_metric_inputs(rows, relevant, k)
    return float(np.mean([len(set(row[:k]) & set(truth)) / len(truth) for row, truth in zip(rows, relevant)]))


def _as_index_lists(retrieved) -> list[list[int]]:
    rows = retrieved.tolist() if isinstance(retrieved, np.ndarray) else list(retrieved)
    return [[item.index if isinstance(item, SearchResult) else int(item) for item in row] for row in rows]


def _check_metric_inputs(rows: list, relevant: Sequence[set], k: int) -> None:
    if len(rows) != len(relevant) or not rows:
        raise ValueError(f"need one relevant set per query: {len(rows)} result rows, {len(relevant)} sets.")
    if k < 1:
        raise ValueError(f"k must be 1 or more, got {k}.")
    if any(len(truth) == 0 for truth in relevant):
        raise ValueError("a query has no relevant items, so its recall is undefined; drop that query.")
