"""The search kernels behind ImageIndex.nearest: exact brute force in float32 or float16, 8-bit scores plus exact
rescoring ("brute-int8"), and FAISS.

All give the same answer as ``ranking.top_k`` over ``embeddings @ query`` (the approximate FAISS indexes
nearly so); they differ in speed and memory. A single query at 100k images reads the whole matrix,
so it is memory-bound: float16 storage halves the bytes, 8-bit codes quarter them, and approximate
scores are re-scored exactly in float32 before the top k is returned. bench/search_bruteforce.py times them.
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
BACKENDS = ("brute", "brute-int8", "faiss-flat") + APPROXIMATE_BACKENDS
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


# --- 8-bit codes for a fast first pass, exact float32 rescoring of the candidates ---

class Int8Rescoring:
    """Exact top-k from 8-bit scores: score every row from int8 codes, rescore the best few in float32.

    What is stored: the index's own rows (float32 or float16, kept for rescoring and unchanged) plus one
    int8 code per number and one scale for the whole matrix: n x dim bytes more, a quarter of float32
    (100k x 512: 51 MB next to 205 MB of float32 rows). The memory grows; what shrinks is what one query
    reads: the first pass reads only the codes (a quarter of float32's bytes), and the rescoring reads
    ``candidates`` rows.

    The first pass is torch's int8 linear layer (``quantized.linear_dynamic``, FBGEMM/oneDNN on x86,
    QNNPACK on ARM): the query is quantised to 8 bits on the fly and products are summed in int32. Torch
    marks its quantized tensors deprecated; where the operator is missing (or ``packed=False``), the codes
    are converted to float32 a block at a time with NumPy (same answer; at 100k x 512, 13 ms against 3.7 ms,
    see bench/RESULTS.md).

    Why the answer equals float32's: a row's 8-bit score differs from its exact score by at most ``error_bound(query)``
    (query rounding, ||q - q'|| <= step/2 * sqrt(dim) against a unit row, plus ||q'|| times the largest
    row rounding error ||x - x'||, measured when the codes are made). After rescoring the best candidates,
    any row whose 8-bit score is below (k-th exact score - error) cannot beat the k-th; if some row outside
    the candidates is above it, those rows are rescored too. So the top k is exact, not just likely.
    """

    def __init__(self, embeddings: np.ndarray, candidates: int = 64, packed: bool = True):
        self.embeddings = embeddings  # (n_images, dim) float32 or float16: rescoring reads these rows
        self.candidates = candidates
        self.scale = max(float(np.abs(embeddings).max()), 1e-12) / 127  # one step of the 8-bit grid
        self.codes = np.empty(embeddings.shape, dtype=np.int8)  # (n_images, dim): row ~ scale * codes
        self.row_error = 0.0  # largest ||row - scale * codes|| over the rows
        for start in range(0, len(embeddings), 8192):  # blocks: no float32 copy of a float16 index
            rows = np.asarray(embeddings[start: start + 8192], dtype=np.float32)  # (block, dim)
            self.codes[start: start + 8192] = np.clip(np.rint(rows / self.scale), -127, 127)
            rounding = rows - self.scale * self.codes[start: start + 8192]
            self.row_error = max(self.row_error, float(np.sqrt(np.square(rounding).sum(1)).max()))
        self.packed = pack_int8_linear(self.codes, self.scale) if packed else None

    @property
    def nbytes(self) -> int:
        """Bytes of the 8-bit codes (the first pass reads all of them for every query)."""
        return self.codes.nbytes

    def approximate_scores(self, queries: np.ndarray) -> np.ndarray:
        """(n_queries, n_images) float32 scores from the int8 codes."""
        if self.packed is not None:
            with torch.inference_mode(), torch_threads_for(self.codes.size):
                query_rows = torch.from_numpy(queries)  # (n_queries, dim)
                return torch.ops.quantized.linear_dynamic(query_rows, self.packed, False).numpy()
        scores = np.empty((len(self.codes), len(queries)), dtype=np.float32)  # (n_images, n_queries)
        for start in range(0, len(self.codes), 4096):  # (block, dim) int8 -> float32, 8 MB: stays in cache
            block = self.codes[start: start + 4096].astype(np.float32)
            np.matmul(block, queries.T, out=scores[start: start + 4096])  # (block, dim) @ (dim, n_queries)
        return (scores.T * self.scale).copy()  # (n_queries, n_images)

    def error_bound(self, query: np.ndarray) -> float:
        """Largest |8-bit score - exact score| for this query against any stored unit row (see class doc)."""
        span = max(float(query.max()), 0.0) - min(float(query.min()), 0.0)
        query_error = span / 255 / 2 * math.sqrt(len(query))  # 8-bit affine rounding of the query
        return 1.01 * (query_error + (float(np.linalg.norm(query)) + query_error) * self.row_error) + 1e-5

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores), each (n_queries, k), best first, exactly as float32 brute force ranks them."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        approximate = self.approximate_scores(queries)  # (n_queries, n_images)
        found = [self._search_one(row_scores, query, k) for row_scores, query in zip(approximate, queries)]
        return np.stack([f[0] for f in found]), np.stack([f[1] for f in found])

    def _search_one(self, approximate: np.ndarray, query: np.ndarray, k: int):
        count = min(len(approximate), max(self.candidates, 2 * k))
        candidates = np.argpartition(-approximate, count - 1)[:count] if count < len(approximate) \
            else np.arange(len(approximate))
        indices, scores = rescore(self.embeddings, query[None], candidates[None], k)
        threshold = scores[0, -1] - self.error_bound(query)  # rows scoring below this cannot enter the top k
        outside = np.ones(len(approximate), dtype=bool)
        outside[candidates] = False
        contenders = np.flatnonzero(outside & (approximate >= threshold))
        if len(contenders):  # the bound cannot rule them out: rescore them too
            indices, scores = rescore(self.embeddings, query[None], np.concatenate([indices[0], contenders])[None], k)
        return indices[0], scores[0]


def pack_int8_linear(codes: np.ndarray, scale: float):
    """Torch's packed int8 weight for quantized.linear_dynamic, or None where this torch lacks it."""
    try:
        with warnings.catch_warnings():  # torch >= 2.10 warns that quantized tensors are deprecated
            warnings.simplefilter("ignore", UserWarning)
            weight = torch._make_per_tensor_quantized_tensor(torch.from_numpy(codes), scale, 0)  # qint8 view
            return torch.ops.quantized.linear_prepack(weight, None)
    except (AttributeError, RuntimeError, NotImplementedError):
        return None


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
