"""The search kernels behind ImageIndex.nearest: exact brute force in float32 or float16, and FAISS.

All give the same answer as ``ranking.top_k`` over ``embeddings @ query`` (the approximate FAISS indexes
nearly so); they differ in speed and memory. A single query at 100k images reads the whole matrix,
so it is memory-bound: float16 storage halves the bytes (and the time), and float16 scores are
re-scored exactly in float32 before the top k is returned. bench/search_bruteforce.py times them.
FAISS is optional and imported only when a "faiss-*" backend is asked for.
"""
from __future__ import annotations

import math
import warnings
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F

from .config import limit_threads
from .ranking import top_k

APPROXIMATE_BACKENDS = ("faiss-hnsw", "faiss-ivf")
BACKENDS = ("brute", "faiss-flat") + APPROXIMATE_BACKENDS
PARALLEL_MIN_ELEMENTS = 4_000_000  # below this many stored numbers (8 MB in float16), torch scores on one thread


# --- brute force: score every row ---

def nearest_brute_force(embeddings: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, scores) of the k best rows per query, best first, by scoring every row.

    float32: exact scores (one query: torch.mv; a batch: a NumPy matmul). float16: torch end to end, then the
    2k + 8 best candidates are re-scored exactly in float32, so float16 rounding of the scores
    cannot reorder near-ties in the answer.
    """
    if embeddings.dtype != np.float16:
        return top_k(similarities(embeddings, queries), k)
    scores = float16_scores(embeddings, queries)  # (n_queries, n_images) float16
    with torch_threads_for(scores.numel() * 64):
        candidates = torch.topk(scores, min(len(embeddings), 2 * k + 8), dim=1).indices.numpy()
    return rescore(embeddings, queries, candidates, k)


def similarities(embeddings: np.ndarray, query_embeddings: np.ndarray) -> np.ndarray:
    """Cosine similarities (n_queries, n_images), float32, between unit query rows and the stored rows."""
    queries = np.atleast_2d(np.asarray(query_embeddings, dtype=np.float32))  # (n_queries, dim)
    assert queries.shape[1] == embeddings.shape[1], "query and index dims differ"
    if embeddings.dtype == np.float16:
        return float16_scores(embeddings, queries).float().numpy()
    if len(queries) == 1:
        return float32_scores_one_query(embeddings, queries[0])[None]  # (1, n_images)
    return queries @ embeddings.T  # (n_queries, n_images)


def float32_scores_one_query(embeddings: np.ndarray, query: np.ndarray) -> np.ndarray:
    """(n_images,) scores: a memory-bound matrix-vector product, on one thread when it is small.

    OpenBLAS wakes a second thread even for 1k x 512, which on a busy 2-core machine can wait a
    whole scheduler slice (measured: 24 ms against 0.04 ms on one thread)."""
    with torch.inference_mode(), torch_threads_for(embeddings.size):
        return torch.mv(torch.from_numpy(embeddings), torch.from_numpy(query)).numpy()  # (n_images, dim) @ (dim,)


def float16_scores(embeddings: np.ndarray, queries: np.ndarray):
    """(n_queries, n_images) float16 torch scores, reading the half-size matrix in place.

    NumPy has no fast float16 matmul (it converts element by element); torch's kernel reads the
    float16 rows directly, so a single query costs about half the memory traffic of float32.
    bench/search_bruteforce.py times the candidate kernels side by side.
    """
    with torch.inference_mode(), torch_threads_for(embeddings.size):
        stored = torch.from_numpy(embeddings)  # (n_images, dim) float16, shares memory
        return F.linear(torch.from_numpy(queries).half(), stored)  # (n_queries, n_images)


def rescore(embeddings: np.ndarray, queries: np.ndarray, candidates: np.ndarray, k: int):
    """Exact float32 scores for candidate rows, re-sorted, keeping k: undoes float16 rounding of scores."""
    rows = embeddings[candidates].astype(np.float32)  # (n_queries, n_candidates, dim)
    exact = np.einsum("qcd,qd->qc", rows, queries)  # (n_queries, n_candidates)
    order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(candidates, order, 1), np.take_along_axis(exact, order, 1)


def torch_threads_for(elements: int):
    """One torch thread for a product of fewer than PARALLEL_MIN_ELEMENTS numbers (see config.limit_threads)."""
    return nullcontext() if elements >= PARALLEL_MIN_ELEMENTS else limit_threads(1)


# --- optional FAISS backends ---

FAISS_BUILD_OPTIONS = ("backend", "hnsw_neighbors", "hnsw_ef_construction", "ivf_lists")


def import_faiss(backend: str):
    """The faiss module, or None for 'faiss-flat' (brute force is exact too); approximate needs it."""
    try:
        import faiss
    except ImportError as error:
        if backend in APPROXIMATE_BACKENDS:
            raise ImportError(f"backend {backend!r} needs FAISS, which is not installed here: pip install "
                              "faiss-cpu (or use backend='brute', exact and built in).") from error
        warnings.warn("FAISS is not installed (pip install faiss-cpu); 'faiss-flat' falls back to brute force, "
                      "which gives the same exact results.", stacklevel=3)
        return None
    return faiss


def build_faiss_index(embeddings: np.ndarray, backend: str, config):
    """A FAISS index over the rows (inner product = cosine for unit rows), or None if FAISS is missing."""
    faiss = import_faiss(backend)
    if faiss is None:
        return None
    count, dim = embeddings.shape
    if backend == "faiss-flat":
        index = faiss.IndexFlatIP(dim)
    elif backend == "faiss-hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_neighbors, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = config.hnsw_ef_construction
    else:
        lists = config.ivf_lists or max(1, min(int(4 * math.sqrt(count)), count // 40))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(count, size=min(count, 40 * lists), replace=False)
        index.train(np.ascontiguousarray(embeddings[np.sort(sample)], dtype=np.float32))
    for start in range(0, count, 65_536):  # chunks: a float16 index is converted a piece at a time
        index.add(np.ascontiguousarray(embeddings[start: start + 65_536], dtype=np.float32))
    set_faiss_search_params(index, backend, config)
    return index


def set_faiss_search_params(index, backend: str, config) -> None:
    if backend == "faiss-hnsw":
        index.hnsw.efSearch = config.hnsw_ef_search
    elif backend == "faiss-ivf":
        index.nprobe = min(config.ivf_probes, index.nlist)
