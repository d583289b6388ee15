"""The search backends behind ImageIndex.nearest, behind one interface: exact brute force in float32 or float16
("brute"), 8-bit scores plus exact rescoring ("brute-int8"), and FAISS ("faiss-flat", "faiss-hnsw", "faiss-ivf").

Every backend is a ``SearchBackend``: ``build(embeddings, config)`` makes it, ``search(queries, k)`` answers,
``state()`` / ``restore(embeddings, state, config)`` persist what took time to build, and ``extra_bytes``
says how much memory it adds to the stored rows. ``build_backend(name, ...)`` picks the class by name; "auto"
(the default) is "brute-int8" from ``INT8_MIN_NUMBERS`` stored numbers up, "brute" below.

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
BACKENDS = ("auto", "brute", "brute-int8", "faiss-flat") + APPROXIMATE_BACKENDS
PARALLEL_MIN_ELEMENTS = 4_000_000  # below this many stored numbers (8 MB in float16), torch scores on one thread
# "auto" picks brute-int8 from this many stored numbers (rows x dim) up. Measured side by side, one query, top 10,
# int8 / float32 time (bench/search_crossover.py, 2026-12-04, 2 shared cores, two runs): 1.13-1.35 at 1.02M numbers,
# 0.88-1.02 at 2.05M, 1.02-1.11 at 4.10M (float32 brute force uses two threads from 4M, an int8 query one),
# 0.87-0.88 at 8.19M, 0.60-0.77 at 16.4M, at dim 128 and 512 alike; at 100k x 512, 0.34 (search_bruteforce.py).
# Below, float32 is as fast or faster and costs no extra memory.
INT8_MIN_NUMBERS = 8_000_000
SINGLE_QUERY_THREADS = 1  # torch threads for one int8 query: a memory-bound matrix-vector product (bench/RESULTS.md)
BUILD_OPTIONS = ("hnsw_neighbors", "hnsw_ef_construction", "ivf_lists")  # config fields a FAISS build depends on


def choose_backend(requested: str, count: int, dim: int) -> str:
    """The backend that answers: ``requested``, or for "auto" the faster exact one at this size."""
    if requested not in BACKENDS:
        raise ValueError(f"backend={requested!r} is unknown; choose one of {', '.join(BACKENDS)}.")
    if requested != "auto":
        return requested
    return "brute-int8" if count * dim >= INT8_MIN_NUMBERS else "brute"


def build_backend(requested: str, embeddings: np.ndarray, config) -> "SearchBackend":
    """The backend for ``requested`` (see choose_backend) over these rows, built now."""
    return backend_class(choose_backend(requested, *embeddings.shape)).build(embeddings, config)


def restore_backend(name: str, embeddings: np.ndarray, state: dict, config) -> "SearchBackend":
    """A backend from what its ``state()`` saved, without the build's work."""
    return backend_class(name).restore(embeddings, state, config)


def backend_class(name: str) -> type:
    return {"brute": BruteForce, "brute-int8": Int8Rescoring}.get(name, FaissBackend)


def memory_line(requested: str, embeddings: np.ndarray, config, built: "SearchBackend | None") -> str:
    """'204.8 MB float32 rows + 51.2 MB int8 codes (+25%)': what the rows and the backend keep in memory."""
    name = built.name if built is not None else choose_backend(requested, *embeddings.shape)
    extra = built.extra_bytes if built is not None else backend_class(name).expected_bytes(*embeddings.shape, config)
    line = f"{format_bytes(embeddings.nbytes)} {embeddings.dtype} rows"
    if extra:
        line += f" + {format_bytes(extra)} {backend_class(name).what_it_adds}"
        line += f" (+{100 * extra / max(embeddings.nbytes, 1):.0f}%)"
    return line


def format_bytes(count: int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} B"


# --- the interface ---

class SearchBackend:
    """One way to answer ``nearest``: build it over the rows, search it, persist what its build computed."""

    name = "brute"
    what_it_adds = ""  # the memory line's name for what the backend keeps beside the rows

    def __init__(self, embeddings: np.ndarray):
        self.embeddings = embeddings  # (n_images, dim) float32 or float16, the index's rows, never copied

    @classmethod
    def build(cls, embeddings: np.ndarray, config) -> "SearchBackend":
        return cls(embeddings)

    @classmethod
    def restore(cls, embeddings: np.ndarray, state: dict, config) -> "SearchBackend":
        """From a saved ``state()``; a backend with nothing to save simply builds."""
        return cls.build(embeddings, config)

    def state(self) -> dict:
        """{name: array} worth saving beside the rows (what the build computed); {} when rebuilding is free."""
        return {}

    def configure(self, config) -> None:
        """Apply search-time knobs (FAISS probes, efSearch) without rebuilding."""

    @classmethod
    def expected_bytes(cls, count: int, dim: int, config) -> int:
        """Memory the backend adds to the rows, known before it is built."""
        return 0

    @property
    def extra_bytes(self) -> int:
        return self.expected_bytes(*self.embeddings.shape, None)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores), each (n_queries, k), best first, for unit float32 (n_queries, dim) queries."""
        raise NotImplementedError


class BruteForce(SearchBackend):
    """Score every stored row: exact, nothing to build, nothing added to memory."""

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return nearest_brute_force(self.embeddings, queries, k)


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


def torch_threads_for(elements: int, single_query: bool = False):
    """One torch thread for a product of fewer than PARALLEL_MIN_ELEMENTS numbers, or for one int8 query
    (SINGLE_QUERY_THREADS; see config.limit_threads)."""
    if elements < PARALLEL_MIN_ELEMENTS:
        return limit_threads(1)
    return limit_threads(SINGLE_QUERY_THREADS) if single_query else nullcontext()


# --- 8-bit codes for a fast first pass, exact float32 rescoring of the candidates ---

class Int8Rescoring(SearchBackend):
    """Exact top-k from 8-bit scores: score every row from int8 codes, rescore the best few in float32.

    What is stored: the index's own rows (float32 or float16, kept for rescoring and unchanged) plus one
    int8 code per number and one scale for the whole matrix: n x dim bytes more, a quarter of float32
    (100k x 512: 51 MB next to 205 MB of float32 rows). The memory grows; what shrinks is what one query
    reads: the first pass reads only the codes (a quarter of float32's bytes), and the rescoring reads
    the candidate rows.

    The first pass is torch's int8 linear layer (``quantized.linear_dynamic``, FBGEMM/oneDNN on x86,
    QNNPACK on ARM): the queries are quantised to 8 bits on the fly (one scale for the whole batch) and
    products are summed in int32. One query runs on one thread (torch_threads_for). Torch marks its
    quantized tensors deprecated; where the operator is missing (or ``packed=False``), the codes are
    converted to float32 a block at a time with NumPy (same answer, about 4x slower, see bench/RESULTS.md).

    Why the answer equals float32's: a row's 8-bit score differs from its exact score by at most
    ``error_bound`` (the query's own rounding error ||q - q'||, computed exactly from the batch's quantisation
    parameters, against a unit row, plus ||q'|| times the largest row rounding error ||x - x'||, measured when
    the codes are made). After rescoring the best candidates, any row whose 8-bit score is below
    (k-th exact score - error) cannot beat the k-th; every other row is rescored too. So the top k is
    exact, not just likely. ``last_rescored`` counts the rows rescored per query of the last search.
    """

    name = "brute-int8"
    what_it_adds = "int8 codes"

    def __init__(self, embeddings: np.ndarray, candidates: int = 64, packed: bool = True, state: dict | None = None):
        super().__init__(embeddings)
        self.candidates = candidates  # rows rescored at least: more costs rescoring, fewer leaves more contenders
        if state is None:
            self.scale, self.codes, self.row_error = quantize_rows(embeddings)
        else:
            self.scale, self.row_error = float(state["scale"]), float(state["row_error"])
            self.codes = np.ascontiguousarray(state["codes"], dtype=np.int8)  # (n_images, dim)
            assert self.codes.shape == embeddings.shape, "saved int8 codes do not match the rows"
        self.packed = pack_int8_linear(self.codes, self.scale) if packed else None
        self.last_rescored: list[int] = []

    @classmethod
    def restore(cls, embeddings: np.ndarray, state: dict, config) -> "Int8Rescoring":
        return cls(embeddings, state=state)

    def state(self) -> dict:
        return {"codes": self.codes, "scale": np.float64(self.scale), "row_error": np.float64(self.row_error)}

    @classmethod
    def expected_bytes(cls, count: int, dim: int, config) -> int:
        return count * dim  # one byte per number

    @property
    def nbytes(self) -> int:
        """Bytes of the 8-bit codes (the first pass reads all of them for every query)."""
        return self.codes.nbytes

    def approximate_scores(self, queries: np.ndarray) -> np.ndarray:
        """(n_queries, n_images) float32 scores from the int8 codes."""
        if self.packed is not None:
            with torch.inference_mode(), torch_threads_for(self.codes.size, len(queries) == 1):
                query_rows = torch.from_numpy(queries)  # (n_queries, dim)
                return torch.ops.quantized.linear_dynamic(query_rows, self.packed, False).numpy()
        scores = np.empty((len(self.codes), len(queries)), dtype=np.float32)  # (n_images, n_queries)
        for start in range(0, len(self.codes), 4096):  # (block, dim) int8 -> float32, 8 MB: stays in cache
            block = self.codes[start: start + 4096].astype(np.float32)
            np.matmul(block, queries.T, out=scores[start: start + 4096])  # (block, dim) @ (dim, n_queries)
        return (scores.T * self.scale).copy()  # (n_queries, n_images)

    def error_bounds(self, queries: np.ndarray) -> np.ndarray:
        """(n_queries,) largest |8-bit score - exact score| of each query against any stored unit row."""
        rounded = quantized_queries(queries) if self.packed is not None else queries  # what the first pass multiplies
        query_error = np.linalg.norm(queries - rounded, axis=1)  # ||q - q'||
        return 1.01 * (query_error + np.linalg.norm(rounded, axis=1) * self.row_error) + 1e-5

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores), each (n_queries, k), best first, exactly as float32 brute force ranks them."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        approximate = self.approximate_scores(queries)  # (n_queries, n_images)
        errors = self.error_bounds(queries)  # (n_queries,)
        found = [self._search_one(row, query, error, k) for row, query, error in zip(approximate, queries, errors)]
        self.last_rescored = [f[2] for f in found]
        return np.stack([f[0] for f in found]), np.stack([f[1] for f in found])

    def _search_one(self, approximate: np.ndarray, query: np.ndarray, error: float, k: int):
        """(indices, scores, rows rescored) for one query."""
        count = min(len(approximate), max(self.candidates, 2 * k))
        candidates = np.argpartition(-approximate, count - 1)[:count] if count < len(approximate) \
            else np.arange(len(approximate))
        indices, scores = rescore(self.embeddings, query[None], candidates[None], k)
        threshold = scores[0, -1] - error  # rows whose 8-bit score is below this cannot enter the top k
        contenders = np.setdiff1d(np.flatnonzero(approximate >= threshold), candidates, assume_unique=True)
        if len(contenders):  # the bound cannot rule them out: rescore them too
            indices, scores = rescore(self.embeddings, query[None], np.concatenate([indices[0], contenders])[None], k)
        return indices[0], scores[0], count + len(contenders)


def quantize_rows(embeddings: np.ndarray, block: int = 8192) -> tuple[float, np.ndarray, float]:
    """(scale, int8 codes with row ~ scale * codes, largest ||row - scale * codes|| over the rows)."""
    scale = max(float(np.abs(embeddings).max()), 1e-12) / 127  # one step of the 8-bit grid
    codes = np.empty(embeddings.shape, dtype=np.int8)  # (n_images, dim)
    row_error = 0.0
    for start in range(0, len(embeddings), block):  # blocks: no float32 copy of a float16 index
        rows = np.asarray(embeddings[start: start + block], dtype=np.float32)  # (block, dim)
        codes[start: start + block] = np.clip(np.rint(rows / scale), -127, 127)
        rounding = rows - scale * codes[start: start + block]
        row_error = max(row_error, float(np.sqrt(np.square(rounding).sum(1)).max()))
    return scale, codes, row_error


def quantized_queries(queries: np.ndarray) -> np.ndarray:
    """The queries as the int8 linear layer sees them: rounded to 8 bits with one scale for the batch."""
    with warnings.catch_warnings(), limit_threads(1):  # a few hundred numbers; torch warns quantization is deprecated
        warnings.simplefilter("ignore", UserWarning)
        rows = torch.from_numpy(queries)  # (n_queries, dim)
        scale, zero_point = torch._choose_qparams_per_tensor(rows, False)  # what linear_dynamic computes
        return torch.quantize_per_tensor(rows, scale, zero_point, torch.quint8).dequantize().numpy()


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

class FaissBackend(SearchBackend):
    """A FAISS index over the rows (inner product = cosine for unit rows): exact "faiss-flat", approximate
    "faiss-hnsw" / "faiss-ivf". It holds its own float32 copy of the rows (plus the graph or the lists)."""

    what_it_adds = "FAISS index"

    def __init__(self, embeddings: np.ndarray, name: str, index, config):
        super().__init__(embeddings)
        self.name, self.index, self._config = name, index, config
        self.configure(config)

    @classmethod
    def build(cls, embeddings: np.ndarray, config) -> SearchBackend:
        index = build_faiss_index(embeddings, config.backend, config)
        return BruteForce(embeddings) if index is None else cls(embeddings, config.backend, index, config)

    @classmethod
    def restore(cls, embeddings: np.ndarray, state: dict, config) -> SearchBackend:
        faiss = import_faiss(config.backend)
        if faiss is None:
            return BruteForce(embeddings)
        return cls(embeddings, config.backend, faiss.deserialize_index(state["faiss_index"]), config)

    def state(self) -> dict:
        import faiss

        return {"faiss_index": faiss.serialize_index(self.index)}  # uint8 array

    def configure(self, config) -> None:
        self._config = config
        set_faiss_search_params(self.index, self.name, config)

    @classmethod
    def expected_bytes(cls, count: int, dim: int, config) -> int:
        links = 2 * config.hnsw_neighbors * 4 * count if config and config.backend == "faiss-hnsw" else 0
        return count * dim * 4 + links + (8 * count if config and config.backend == "faiss-ivf" else 0)

    @property
    def extra_bytes(self) -> int:
        return self.expected_bytes(*self.embeddings.shape, self._config)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, indices = self.index.search(np.ascontiguousarray(queries), k)  # (n_queries, k) each
        return indices, scores


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
    """A FAISS index over the rows, or None if FAISS is missing (for 'faiss-flat')."""
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
    return index


def set_faiss_search_params(index, backend: str, config) -> None:
    if backend == "faiss-hnsw":
        index.hnsw.efSearch = config.hnsw_ef_search
    elif backend == "faiss-ivf":
        index.nprobe = min(config.ivf_probes, index.nlist)
