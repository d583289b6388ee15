"""Text-based image search: embed a collection once, then rank it by cosine similarity to words.

CLIP puts images and texts in one space, so searching is classification turned around:
embed every image once (the slow part, cached on disk), embed the query (milliseconds), and
take the images whose embeddings have the largest dot product with it (all rows are unit
length, so the dot product is the cosine similarity).

    index = ImageIndex.from_folder("photos", model)      # or from_paths / from_images
    index.search("a dog on a beach", k=5)                 # -> [SearchResult(rank, index, path, score), ...]
    index.search("a dog", negative="grass")               # weighted sum of text embeddings
    index.search_image("photos/cat.jpg", k=5)             # image -> image
    index.save("photos/.mmlesson-index"); ImageIndex.load("photos/.mmlesson-index")
    index.update_folder()                                 # encode only new or changed files

Storage is float32, or float16 on request (half the memory; a single query at 100k images is
memory-bound, so also about twice as fast). Search is brute force by default (exact, no extra
package); FAISS backends ("faiss-flat" exact, "faiss-hnsw"/"faiss-ivf" approximate) sit behind
the same API for collections of millions and are imported only when asked for.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .images import to_rgb

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
DTYPES = ("float32", "float16")
APPROXIMATE_BACKENDS = ("faiss-hnsw", "faiss-ivf")
BACKENDS = ("brute", "faiss-flat") + APPROXIMATE_BACKENDS
FORMAT_NAME = "mmlesson-image-index"
FORMAT_VERSION = 1
MANIFEST_FILE, EMBEDDINGS_FILE = "manifest.json", "embeddings.npy"
DEFAULT_INDEX_DIRNAME = ".mmlesson-index"  # inside the indexed folder; hidden, so never indexed itself
REPORT_LINES = 20  # skipped files listed in a printed report before "... and N more"
PARALLEL_MIN_ELEMENTS = 4_000_000  # below this many stored numbers (8 MB in float16), torch scores on one thread


@dataclass
class SearchResult:
    rank: int  # 1 = best
    index: int  # row in the index (also the position in the source list or array)
    path: str | None  # the file, or None for in-memory images
    score: float  # cosine similarity between the query and the image, in [-1, 1]
    image: Any = field(default=None, repr=False, compare=False)  # the in-memory image, for show_results

    def to_dict(self) -> dict:
        return {"rank": self.rank, "index": self.index, "path": self.path, "score": round(self.score, 6)}


@dataclass
class IndexConfig:
    dtype: str = "float32"  # "float16" halves memory and the time of a memory-bound query; scores keep ~3 digits
    backend: str = "brute"  # "brute" is exact and built in; "faiss-*" pay a build for faster queries at 1M+
    batch_size: int = 256  # images per encode call: larger is faster until memory runs out
    max_pixels: int = 64_000_000  # larger images are skipped: decoding one could exhaust memory
    progress: bool = True  # tqdm bar while encoding
    verbose: bool = True  # print a one-line summary and the skipped files after indexing
    hnsw_neighbors: int = 32  # HNSW graph degree: more = better recall, more memory and build time
    hnsw_ef_construction: int = 80  # HNSW build effort: more = better graph, slower build
    hnsw_ef_search: int = 64  # HNSW candidates per query: more = better recall, slower query
    ivf_lists: int | None = None  # IVF cells (None: 4 sqrt(n)): more = fewer vectors per cell, longer training
    ivf_probes: int = 32  # IVF cells visited per query: more = better recall, slower query

    def __post_init__(self):
        try:
            self.dtype = np.dtype(self.dtype).name  # accepts "float16", np.float16, ...
        except TypeError:
            self.dtype = str(self.dtype)
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype={self.dtype!r} is not supported; choose one of {', '.join(DTYPES)}.")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend={self.backend!r} is unknown; choose one of {', '.join(BACKENDS)}.")
        if self.batch_size < 1 or self.max_pixels < 1:
            raise ValueError(f"batch_size and max_pixels must be positive, got {self.batch_size}, {self.max_pixels}.")


def make_config(config: IndexConfig | None = None, **options) -> IndexConfig:
    """An IndexConfig from keyword options, with a clear error for a misspelt one."""
    valid = [f.name for f in fields(IndexConfig)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; valid options: {', '.join(valid)}.")
    return IndexConfig(**{**(asdict(config) if config else {}), **options})


# --- small pieces: vectors, checksums, metrics ------------------------------------------------

def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); a zero row is an error, not a silent NaN."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("an embedding has length 0, so it has no direction to compare; check the inputs.")
    return vectors / norms


def embeddings_checksum(embeddings: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(embeddings).data).hexdigest()


def _as_index_lists(retrieved) -> list[list[int]]:
    rows = retrieved.tolist() if isinstance(retrieved, np.ndarray) else list(retrieved)
    return [[item.index if isinstance(item, SearchResult) else int(item) for item in row] for row in rows]


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


def _check_metric_inputs(rows: list, relevant: Sequence[set], k: int) -> None:
    if len(rows) != len(relevant) or not rows:
        raise ValueError(f"need one relevant set per query: {len(rows)} result rows, {len(relevant)} sets.")
    if k < 1:
        raise ValueError(f"k must be 1 or more, got {k}.")
    if any(len(truth) == 0 for truth in relevant):
        raise ValueError("a query has no relevant items, so its recall is undefined; drop that query.")


# --- finding and reading image files ---------------------------------------------------------

@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    mtime_ns: int

    @property
    def stat(self) -> tuple[int, int]:
        return (self.size, self.mtime_ns)


def scan_folder(folder: str | Path) -> tuple[list[FileEntry], list[str]]:
    """(image files, other files) under ``folder``, recursively, sorted; stat only, nothing is decoded.

    Hidden files and folders (names starting with '.') are left out, and folder symlinks are not
    followed (no loops).
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"folder {root} does not exist.")
    if not root.is_dir():
        raise ValueError(f"{root} is a file, not a folder; pass the folder that holds the images.")
    images, others, pending = [], [], [str(root.resolve())]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif not entry.name.lower().endswith(IMAGE_EXTENSIONS):
                    others.append(entry.path)
                elif entry.is_file():
                    stat = entry.stat()
                    images.append(FileEntry(entry.path, stat.st_size, stat.st_mtime_ns))
    return sorted(images, key=lambda e: e.path), sorted(others)


def stat_files(paths: Iterable[str | Path]) -> tuple[list[FileEntry], list[tuple[str, str]]]:
    """FileEntry for each existing file; (path, reason) for the others."""
    found, missing = [], []
    for path in paths:
        path = str(Path(path).expanduser().resolve())
        try:
            stat = os.stat(path)
        except OSError as error:
            missing.append((path, f"cannot read: {error.strerror or error}"))
            continue
        if not os.path.isfile(path):
            missing.append((path, "not a file"))
            continue
        found.append(FileEntry(path, stat.st_size, stat.st_mtime_ns))
    return found, missing


def read_image(path: str | Path, max_pixels: int = IndexConfig.max_pixels):
    """(RGB PIL image, None) or (None, why it cannot be used). Never raises for a bad file."""
    from PIL import Image, UnidentifiedImageError

    try:
        if os.path.getsize(path) == 0:
            return None, "empty file (0 bytes)"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # palette/EXIF chatter; the pixel limit is checked below
            with Image.open(path) as image:
                width, height = image.size
                if width * height > max_pixels:
                    return None, (f"too large: {width}x{height} = {width * height / 1e6:.0f} megapixels, above "
                                  f"the limit of {max_pixels / 1e6:.0f} (raise IndexConfig.max_pixels to keep it)")
                image.load()
                return to_rgb(image), None
    except UnidentifiedImageError:
        return None, "not an image that PIL can read (wrong extension, or not an image at all)"
    except Image.DecompressionBombError as error:
        return None, f"too large: {error}"
    except OSError as error:  # truncated data, permission denied, ...
        if "truncated" in str(error).lower():
            return None, f"truncated or damaged image data ({error})"
        return None, f"unreadable: {error}"
    except Exception as error:  # a broken file must never stop a whole indexing run
        return None, f"cannot decode: {type(error).__name__}: {error}"


# --- scoring: one matrix-vector product, then the k largest ----------------------------------

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
    import torch

    with torch.inference_mode(), torch_threads_for(embeddings.size):
        return torch.mv(torch.from_numpy(embeddings), torch.from_numpy(query)).numpy()


def float16_scores(embeddings: np.ndarray, queries: np.ndarray):
    """(n_queries, n_images) float16 torch scores, reading the half-size matrix in place.

    NumPy has no fast float16 matmul (it converts element by element); torch's kernel reads the
    float16 rows directly, so a single query costs about half the memory traffic of float32.
    bench/search_bruteforce.py times the candidate kernels side by side.
    """
    import torch
    import torch.nn.functional as F

    with torch.inference_mode(), torch_threads_for(embeddings.size):
        stored = torch.from_numpy(embeddings)  # (n_images, dim) float16, shares memory
        return F.linear(torch.from_numpy(queries).half(), stored)  # (n_queries, n_images)


@contextmanager
def torch_threads_for(elements: int):
    """One torch thread for a small product: waking a second thread costs more than it saves, and on a
    busy machine the wake-up can wait a whole scheduler slice (measured: 24 ms instead of 0.02 ms)."""
    import torch

    threads = torch.get_num_threads()
    if elements >= PARALLEL_MIN_ELEMENTS or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def nearest_brute_force(embeddings: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices, scores) of the k best rows per query, best first, by scoring every row.

    float32: exact scores (one query: torch.mv; a batch: a NumPy matmul). float16: torch end to end, then the
    2k + 8 best candidates are re-scored exactly in float32, so float16 rounding of the scores
    cannot reorder near-ties in the answer.
    """
    if embeddings.dtype != np.float16:
        return top_k(similarities(embeddings, queries), k)
    import torch

    scores = float16_scores(embeddings, queries)  # (n_queries, n_images) float16
    with torch_threads_for(scores.numel() * 64):
        candidates = torch.topk(scores, min(len(embeddings), 2 * k + 8), dim=1).indices.numpy()
    return rescore(embeddings, queries, candidates, k)


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


def rescore(embeddings: np.ndarray, queries: np.ndarray, candidates: np.ndarray, k: int):
    """Exact float32 scores for candidate rows, re-sorted, keeping k: undoes float16 rounding of scores."""
    rows = embeddings[candidates].astype(np.float32)  # (n_queries, n_candidates, dim)
    exact = np.einsum("qcd,qd->qc", rows, queries)  # (n_queries, n_candidates)
    order = np.argsort(-exact, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(candidates, order, 1), np.take_along_axis(exact, order, 1)


# --- optional FAISS backends ------------------------------------------------------------------

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


def build_faiss_index(embeddings: np.ndarray, backend: str, config: IndexConfig):
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


def set_faiss_search_params(index, backend: str, config: IndexConfig) -> None:
    if backend == "faiss-hnsw":
        index.hnsw.efSearch = config.hnsw_ef_search
    elif backend == "faiss-ivf":
        index.nprobe = min(config.ivf_probes, index.nlist)


# --- the index --------------------------------------------------------------------------------

@dataclass
class UpdateReport:
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list = field(default_factory=list)  # (path, reason)
    pending: int = 0  # new or changed files left for the next call (update_folder's limit)
    modified: bool = False  # whether the index changed (and so needs saving)

    def __str__(self) -> str:
        return (f"{self.added} new, {self.changed} changed, {self.removed} removed, {self.unchanged} unchanged, "
                f"{len(self.skipped)} skipped" + (f", {self.pending} still to encode" if self.pending else ""))


class ImageIndex:
    """Unit-length image embeddings from one model, with where each came from; searchable in words.

    Build it with ``from_folder``, ``from_paths``, ``from_images`` (PIL list, uint8 array, ShapesBatch,
    dataset) or ``from_embeddings``; ``ImageIndex.load(dir)`` reads a saved one.
    """

    def __init__(self, embeddings: np.ndarray, model=None, *, model_name: str | None = None,
                 paths: list[str] | None = None, file_stats: list[tuple[int, int]] | None = None,
                 images: Any = None, root: str | None = None, config: IndexConfig | None = None):
        self.config = config or IndexConfig()
        self._model = None if isinstance(model, str) else model
        self.model_name = str(model_name or getattr(model, "name", None) or model or "")
        if not self.model_name:
            raise ValueError("an ImageIndex needs a model (or model_name) so that queries use the same space.")
        self.embeddings = np.ascontiguousarray(embeddings, dtype=self.config.dtype)  # (n_images, dim)
        assert self.embeddings.ndim == 2, "embeddings must be (n_images, dim)"
        self.embed_dim = int(getattr(model, "embed_dim", 0) or self.embeddings.shape[1])
        assert self.embeddings.shape[1] == self.embed_dim, "the model's embed_dim differs from the embeddings'"
        self.paths, self.file_stats, self.images, self.root = paths, file_stats, images, root
        assert paths is None or len(paths) == len(self.embeddings), "one path per embedding"
        self.skipped: list[tuple[str, str]] = []  # (path, reason) of files that could not be used
        self._skipped_stats: dict[str, tuple[int, int]] = {}  # so unchanged bad files are not re-read
        self._faiss = None
        if self._model is not None:
            self._check_model(self._model)

    # -- building --

    @classmethod
    def from_folder(cls, folder: str | Path, model, **options) -> "ImageIndex":
        """Every image under ``folder`` (recursive; .jpg .jpeg .png .bmp .gif .webp .tif .tiff)."""
        config = make_config(**options)
        require_images(folder)  # fail fast on an empty folder, before loading a model by name
        index = cls.empty(model, config)
        index.update_folder(folder)
        return index

    @classmethod
    def empty(cls, model, config: IndexConfig | None = None) -> "ImageIndex":
        """An index with no images yet, for ``update_folder`` to fill."""
        model = _resolve_model(model)
        return cls(np.zeros((0, model.embed_dim)), model, paths=[], file_stats=[], config=config)

    @classmethod
    def from_paths(cls, paths: Sequence[str | Path], model, **options) -> "ImageIndex":
        """These image files, in this order (unreadable ones are skipped and reported)."""
        if isinstance(paths, (str, Path)) or len(paths) == 0:
            raise ValueError("from_paths needs a non-empty list of image files (use from_folder for a folder).")
        entries, missing = stat_files(paths)
        index = cls.empty(model, make_config(**options))
        embeddings, kept, skipped = index._encode_files(entries)
        index._set_files(embeddings, kept, missing + skipped, {}, sort=False)
        if not len(index):
            raise ValueError(f"none of the {len(paths)} files could be used: " + _skip_summary(index.skipped))
        index._report(UpdateReport(added=len(index), skipped=index.skipped, modified=True))
        return index

    @classmethod
    def from_images(cls, images, model, **options) -> "ImageIndex":
        """In-memory images: a list of PIL images, a uint8 array (n, H, W, 3), a ShapesBatch, or a dataset.

        A dataset's items (or their first element, for tuples) may be PIL images, uint8 arrays, or
        tensors already passed through ``model.preprocess`` (as with ``transform=model.preprocess``).
        """
        if isinstance(images, (list, tuple)) and images and all(isinstance(i, (str, Path)) for i in images):
            return cls.from_paths(images, model, **options)
        config, model = make_config(**options), _resolve_model(model)
        source = _unwrap_images(images)
        if len(source) == 0:
            raise ValueError("from_images got no images; pass a non-empty list, array, ShapesBatch or dataset.")
        embeddings = _encode_in_batches(model, source, config)
        index = cls(embeddings, model, images=source, config=config)
        index._report(UpdateReport(added=len(index), modified=True))
        return index

    @classmethod
    def from_embeddings(cls, embeddings: np.ndarray, model_name: str, *, paths=None, images=None,
                        normalize: bool = True, **options) -> "ImageIndex":
        """Wrap precomputed (n, dim) embeddings, e.g. random vectors to time queries at scale."""
        config = make_config(**options)
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or len(embeddings) == 0:
            raise ValueError(f"embeddings must be a non-empty (n, dim) array, got shape {embeddings.shape}.")
        if normalize and not _rows_are_unit(embeddings):
            embeddings = normalize_rows(embeddings)
        return cls(embeddings, model_name=model_name, paths=paths, images=images, config=config)

    @classmethod
    def build(cls, source, model, **options) -> "ImageIndex":
        """Dispatch on the source: a folder, a list of paths, or in-memory images."""
        if isinstance(source, (str, Path)):
            return cls.from_folder(source, model, **options)
        if isinstance(source, (list, tuple)) and source and all(isinstance(s, (str, Path)) for s in source):
            return cls.from_paths(source, model, **options)
        return cls.from_images(source, model, **options)

    # -- incremental update --

    def update_folder(self, folder: str | Path | None = None, limit: int | None = None) -> UpdateReport:
        """Bring a folder index up to date: encode new or changed files (size or mtime), drop deleted ones.

        Unchanged files are only stat'ed, never decoded, so re-indexing an unchanged folder is fast.
        ``limit``: encode at most this many files now (report.pending says how many are left), so a
        long run can be saved piece by piece. If the folder has no usable images, the index is left
        as it was and a ValueError is raised.
        """
        folder = self._folder_to_update(folder)
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be 1 or more (or None for no limit), got {limit}.")
        files, others = scan_folder(folder)
        if not files:
            raise ValueError(_no_images_message(folder, others))
        previous = {path: row for row, path in enumerate(self.paths)}
        keep_rows, still_skipped, to_encode = self._plan_update(files)
        report = UpdateReport(unchanged=len(keep_rows), pending=len(to_encode[limit:]) if limit else 0)
        report.removed = len(previous) - len(keep_rows) - sum(entry.path in previous for entry in to_encode)
        if not to_encode and not report.removed and set(still_skipped) == set(self._skipped_stats):  # fast path
            self.root, report.skipped = folder, list(self.skipped)
            self._report(report)
            return report
        encode_now, later = to_encode[:limit], to_encode[limit:] if limit else []
        keep_rows += [previous[entry.path] for entry in later if entry.path in previous]  # old vector until its turn
        embeddings, kept, newly_skipped = self._encode_files(encode_now)
        report.changed = sum(entry.path in previous for entry in kept)  # re-encoded; a now-broken file is skipped
        report.added = len(kept) - report.changed
        skipped = [(path, reason) for path, reason in self.skipped if path in still_skipped] + newly_skipped
        if not keep_rows and not kept and not later:
            raise ValueError(f"no usable images in folder {folder}: " + _skip_summary(skipped))
        old = [FileEntry(self.paths[row], *self.file_stats[row]) for row in keep_rows]
        all_embeddings = np.concatenate([self.embeddings[keep_rows], embeddings])  # (n_kept + n_new, dim)
        self._set_files(all_embeddings, old + kept, skipped, {p: e.stat for p, e in still_skipped.items()})
        self.root, report.skipped, report.modified = folder, list(self.skipped), True
        self._report(report)
        return report

    def _folder_to_update(self, folder) -> str:
        if self.paths is None:
            raise ValueError("this index holds in-memory images; update_folder works only for file indexes.")
        if folder is None and self.root is None:
            raise ValueError("this index was not built from a folder; pass the folder to update_folder(folder).")
        return str(Path(folder if folder is not None else self.root).expanduser().resolve())

    def _plan_update(self, files: list[FileEntry]):
        """(rows to keep, {path: entry} of unchanged bad files, entries to encode), by comparing stats."""
        stats = dict(zip(self.paths, self.file_stats))
        rows = {path: row for row, path in enumerate(self.paths)}
        keep_rows, still_skipped, to_encode = [], {}, []
        for entry in files:
            if stats.get(entry.path) == entry.stat:
                keep_rows.append(rows[entry.path])
            elif self._skipped_stats.get(entry.path) == entry.stat:
                still_skipped[entry.path] = entry
            else:
                to_encode.append(entry)
        return keep_rows, still_skipped, to_encode

    def _set_files(self, embeddings, entries: list[FileEntry], skipped, skipped_stats: dict, sort=True) -> None:
        order = list(range(len(entries)))
        if sort:  # by path: an updated index has the same order as a fresh build
            order.sort(key=lambda i: entries[i].path)
        self.embeddings = np.ascontiguousarray(embeddings[order], dtype=self.config.dtype)
        self.paths = [entries[i].path for i in order]
        self.file_stats = [entries[i].stat for i in order]
        self.skipped = list(skipped)
        for path, _ in skipped:  # remember bad files by stat, so an unchanged one is not decoded again
            if path not in skipped_stats:
                try:
                    stat = os.stat(path)
                    skipped_stats[path] = (stat.st_size, stat.st_mtime_ns)
                except OSError:
                    pass
        self._skipped_stats = skipped_stats
        self._faiss = None

    def _encode_files(self, entries: list[FileEntry]):
        """(embeddings, entries that worked, [(path, reason)] that did not), decoding with guards."""
        from tqdm.auto import tqdm
        import torch

        model, size = self._require_model(), self.config.batch_size
        outputs, kept, skipped = [], [], []
        with tqdm(total=len(entries), desc="indexing images", unit="img", disable=not self.config.progress or not entries) as bar:
            for start in range(0, len(entries), size):
                pixels = []
                for entry in entries[start: start + size]:
                    image, reason = read_image(entry.path, self.config.max_pixels)
                    if image is None:
                        skipped.append((entry.path, reason))
                        continue
                    pixels.append(model.preprocess(image))
                    kept.append(entry)
                if pixels:
                    batch = torch.stack(pixels)  # (batch, 3, H, W), already preprocessed
                    outputs.append(_to_numpy(model.encode_images(batch, batch_size=len(batch))))
                bar.update(min(size, len(entries) - start))
        embeddings = np.concatenate(outputs) if outputs else np.zeros((0, self.embed_dim), np.float32)
        return embeddings.astype(self.config.dtype), kept, skipped

    # -- models: one index, one embedding space --

    @property
    def model(self):
        return self._require_model()

    def use_model(self, model) -> None:
        """Attach the model used for text queries; it must be the one that built the index."""
        self._check_model(model)
        self._model = model

    def _check_model(self, model) -> None:
        name, dim = str(getattr(model, "name", model)), getattr(model, "embed_dim", None)
        if name != self.model_name or (dim is not None and int(dim) != self.embed_dim):
            other = f"model {name!r}" + (f" (dim {dim})" if dim is not None else "")
            raise ValueError(f"this index holds embeddings from model {self.model_name!r} (dim {self.embed_dim}); "
                             f"{other} lives in a different space, so its queries and images cannot be mixed "
                             f"with them. Use {self.model_name!r}, or build a new index with the other model "
                             "in another folder.")

    def _require_model(self):
        if self._model is None:
            if self.config.verbose:
                print(f"loading model {self.model_name!r}, the one that built this index")
            model = _resolve_model(self.model_name)
            self._check_model(model)
            self._model = model
        return self._model

    # -- persistence --

    def save(self, directory: str | Path) -> Path:
        """Write embeddings.npy and manifest.json into ``directory``.

        Both are written to temporary files first and then renamed over the old ones, so a save that
        fails part-way leaves the previous index intact. The manifest records a checksum of the
        embeddings, so a mismatched pair (a hand edit, a half-copied folder) is caught at load time.
        """
        directory = Path(directory).expanduser()
        directory.mkdir(parents=True, exist_ok=True)
        temporaries = []
        try:
            embeddings_tmp = _temporary(directory, EMBEDDINGS_FILE, temporaries)
            with open(embeddings_tmp, "wb") as handle:
                np.save(handle, self.embeddings, allow_pickle=False)
                handle.flush()
                os.fsync(handle.fileno())
            manifest_tmp = _temporary(directory, MANIFEST_FILE, temporaries)
            Path(manifest_tmp).write_text(json.dumps(self._manifest(), indent=1) + "\n")
            os.replace(embeddings_tmp, directory / EMBEDDINGS_FILE)
            os.replace(manifest_tmp, directory / MANIFEST_FILE)  # the commit point
        finally:
            for temporary in temporaries:
                Path(temporary).unlink(missing_ok=True)
        return directory

    def _manifest(self) -> dict:
        items = None
        if self.paths is not None:
            items = [{"path": p, "size": s, "mtime_ns": m} for p, (s, m) in zip(self.paths, self.file_stats)]
        return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "model": self.model_name,
                "embed_dim": self.embed_dim, "dtype": self.config.dtype, "count": len(self),
                "embeddings_sha256": embeddings_checksum(self.embeddings), "root": self.root,
                "source": "files" if self.paths is not None else "in-memory images (not saved; results give indices)",
                "items": items, "skipped": [{"path": p, "reason": r, "stat": self._skipped_stats.get(p)}
                                            for p, r in self.skipped]}

    @classmethod
    def load(cls, directory: str | Path, model=None, **options) -> "ImageIndex":
        """Read a saved index; ``model`` (object or name) must be the one that built it.

        Without ``model``, the one named in the manifest is loaded on the first text query.
        """
        directory = Path(directory).expanduser()
        manifest = _read_manifest(directory)
        try:
            embeddings = np.load(directory / EMBEDDINGS_FILE, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise ValueError(f"{directory / EMBEDDINGS_FILE} cannot be read ({error}); re-build the index.") from error
        _check_manifest(directory, manifest, embeddings)
        config = make_config(**{"dtype": manifest["dtype"], **options})
        items = manifest["items"]
        index = cls(embeddings, model_name=manifest["model"], config=config, root=manifest.get("root"),
                    paths=None if items is None else [item["path"] for item in items],
                    file_stats=None if items is None else [(item["size"], item["mtime_ns"]) for item in items])
        index.skipped = [(s["path"], s["reason"]) for s in manifest.get("skipped", [])]
        index._skipped_stats = {s["path"]: tuple(s["stat"]) for s in manifest.get("skipped", []) if s.get("stat")}
        if model is not None:
            index._check_model(model)
            index._model = None if isinstance(model, str) else model
        return index

    # -- queries --

    def __len__(self) -> int:
        return len(self.embeddings)

    def __repr__(self) -> str:
        return (f"ImageIndex({len(self)} images, model={self.model_name!r}, dim={self.embed_dim}, "
                f"{self.config.dtype}, backend={self.config.backend!r}, skipped={len(self.skipped)})")

    def set_backend(self, backend: str, **options) -> None:
        """Switch between brute force and the FAISS backends (and their knobs) without re-encoding.

        Search-time knobs (ivf_probes, hnsw_ef_search) apply at once; others rebuild the FAISS index.
        """
        if "dtype" in options:
            raise ValueError("set_backend cannot change the storage dtype; build the index again with dtype=...")
        before = self.config
        self.config = make_config(self.config, backend=backend, **options)
        if any(getattr(before, name) != getattr(self.config, name) for name in FAISS_BUILD_OPTIONS):
            self._faiss = None

    def query_embedding(self, query: str | dict, negative: str | Sequence[str] | None = None,
                        negative_weight: float = 0.5) -> np.ndarray:
        """One unit query vector from words.

        query = normalize(sum_i w_i * text_embedding_i): the query text has weight 1, each negative
        text weight -negative_weight; or pass ``{"a dog": 1.0, "grass": -0.5}`` to choose every weight.
        Subtracting "grass" moves the query away from what grass images share, so dogs on grass rank lower.
        """
        return self._query_embeddings([query], negative, negative_weight)[0]

    def _query_embeddings(self, queries: list, negative, negative_weight: float) -> np.ndarray:
        weightings = [_weights(query, negative, negative_weight) for query in queries]
        texts = sorted({text for weights in weightings for text in weights})
        model = self._require_model()
        text_embeddings = _to_numpy(model.encode_texts(texts))  # (n_texts, dim)
        if text_embeddings.shape[1] != self.embed_dim:
            raise ValueError(f"model {self.model_name!r} gave {text_embeddings.shape[1]}-dim text embeddings, "
                             f"but the index holds {self.embed_dim}-dim ones.")
        row = {text: i for i, text in enumerate(texts)}
        combined = np.stack([sum(w * text_embeddings[row[t]] for t, w in weights.items()) for weights in weightings])
        if np.any(np.linalg.norm(combined, axis=1) < 1e-6):
            raise ValueError("the weighted texts cancel out exactly, leaving no direction to search; "
                             "use a smaller negative_weight or different words.")
        return normalize_rows(combined)  # (n_queries, dim)

    def search(self, query: str | dict | Sequence[str], k: int = 5, *, negative=None, negative_weight: float = 0.5,
               min_score: float | None = None):
        """The k images closest to the words, best first, as SearchResult records.

        ``query``: a text, a dict of text weights (see ``query_embedding``), or a list of texts
        (a batch: returns one list of results per text). ``min_score`` drops weaker hits.
        """
        if isinstance(query, (list, tuple)):
            if not query:
                raise ValueError("the list of queries is empty; pass at least one text.")
            vectors = self._query_embeddings(list(query), negative, negative_weight)
            return self._records(vectors, k, min_score)
        return self._records(self.query_embedding(query, negative, negative_weight)[None], k, min_score)[0]

    def search_image(self, image, k: int = 5, *, min_score: float | None = None) -> list[SearchResult]:
        """The k images most like ``image``: a path, a PIL image, a uint8 (H, W, 3) array, or a row number."""
        if isinstance(image, (int, np.integer)) and not isinstance(image, bool):
            if not 0 <= image < len(self):
                raise ValueError(f"row {image} is outside the index (0..{len(self) - 1}).")
            vector = self.embeddings[int(image)].astype(np.float32)
        else:
            if isinstance(image, (str, Path)):
                decoded, reason = read_image(image, self.config.max_pixels)
                if decoded is None:
                    raise ValueError(f"cannot use {image} as a query image: {reason}.")
                image = decoded
            vector = _to_numpy(self._require_model().encode_images([image], batch_size=1))[0]
        return self.search_embedding(vector, k, min_score=min_score)

    def search_embedding(self, vector: np.ndarray, k: int = 5, *, min_score: float | None = None):
        """Search with a ready (dim,) embedding, or a (n_queries, dim) batch (returns a list per query)."""
        vectors = np.asarray(vector, dtype=np.float32)
        if vectors.shape[-1] != self.embed_dim or vectors.ndim not in (1, 2):
            raise ValueError(f"query embedding has shape {vectors.shape}; this index ({self.model_name!r}) "
                             f"needs ({self.embed_dim},) or (n_queries, {self.embed_dim}).")
        records = self._records(normalize_rows(np.atleast_2d(vectors)), k, min_score)
        return records[0] if vectors.ndim == 1 else records

    def nearest(self, query_embeddings: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores), each (n_queries, k), best first, for unit (n_queries, dim) queries."""
        queries = np.atleast_2d(np.asarray(query_embeddings, dtype=np.float32))
        k = self._check_k(k)
        if self.config.backend != "brute":
            found = self._faiss_nearest(queries, k)
            if found is not None:
                return found
        return nearest_brute_force(self.embeddings, queries, k)

    def build_backend(self) -> float:
        """Build the FAISS index now (otherwise the first query does); returns the seconds it took."""
        start = time.perf_counter()
        if self.config.backend != "brute" and self._faiss is None:
            built = build_faiss_index(self.embeddings, self.config.backend, self.config)
            self._faiss = built if built is not None else False  # False: faiss-flat without FAISS
        return time.perf_counter() - start

    def _faiss_nearest(self, queries: np.ndarray, k: int):
        self.build_backend()
        if self._faiss is False:
            return None  # brute force is exact too
        set_faiss_search_params(self._faiss, self.config.backend, self.config)
        scores, indices = self._faiss.search(np.ascontiguousarray(queries), k)  # (n_queries, k) each
        return indices, scores

    def _check_k(self, k) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a whole number of results, 1 or more; got {k!r}.")
        if not len(self):
            raise ValueError("the index is empty; build it from some images first.")
        if k > len(self):
            warnings.warn(f"k={k} is larger than the collection ({len(self)} images); returning all {len(self)}.",
                          stacklevel=5)
        return int(min(k, len(self)))

    def _records(self, queries: np.ndarray, k: int, min_score: float | None) -> list[list[SearchResult]]:
        indices, scores = self.nearest(queries, k)
        return [[SearchResult(rank + 1, int(i), self.paths[i] if self.paths is not None else None, float(s),
                              self.image_at(int(i)) if self.images is not None else None)
                 for rank, (i, s) in enumerate(zip(row_indices, row_scores))
                 if i >= 0 and (min_score is None or s >= min_score)]
                for row_indices, row_scores in zip(indices, scores)]

    def image_at(self, row: int):
        """The image of one row: the in-memory image, or its path."""
        if self.images is not None:
            item = self.images[row]
            return item[0] if isinstance(item, tuple) else item
        return self.paths[row] if self.paths is not None else None

    def _report(self, report: UpdateReport) -> None:
        if not self.config.verbose:
            return
        where = f" from {self.root}" if self.root else ""
        print(f"ImageIndex: {len(self)} images{where} with {self.model_name!r} ({report})")
        for path, reason in report.skipped[:REPORT_LINES]:
            print(f"  skipped {path}: {reason}")
        if len(report.skipped) > REPORT_LINES:
            print(f"  ... and {len(report.skipped) - REPORT_LINES} more (see index.skipped)")


# --- helpers for building ---------------------------------------------------------------------

def _resolve_model(model):
    """A model object as is; a name through load_clip."""
    if isinstance(model, (str, Path)):
        from .models import load_clip

        return load_clip(str(model))
    if not all(hasattr(model, a) for a in ("encode_images", "encode_texts", "preprocess", "name", "embed_dim")):
        raise ValueError(f"{type(model).__name__} is not a CLIP model; pass load_clip(...) or a model name.")
    return model


def _to_numpy(tensor) -> np.ndarray:
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().cpu().numpy()
    return np.asarray(tensor, dtype=np.float32)


def _rows_are_unit(embeddings: np.ndarray, tolerance: float = 1e-2) -> bool:
    sample = np.asarray(embeddings[:: max(1, len(embeddings) // 1000)], dtype=np.float32)
    return bool(np.all(np.abs(np.linalg.norm(sample, axis=1) - 1) < tolerance))


def _unwrap_images(images):
    """A sliceable source: uint8 array, list of PIL, or a dataset; ShapesBatch/ShapesDataset give their array."""
    from .shapes import ShapesBatch, ShapesDataset

    if isinstance(images, ShapesDataset):
        images = images.batch
    if isinstance(images, ShapesBatch):
        return images.images
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[-1] not in (3, 4) or images.dtype != np.uint8:
            raise ValueError(f"an image array must be uint8 (n, H, W, 3); got {images.dtype} {images.shape}.")
        return images
    if isinstance(images, (list, tuple)):
        return list(images)
    if hasattr(images, "__len__") and hasattr(images, "__getitem__"):
        return images
    raise ValueError(f"cannot index a {type(images).__name__}; pass a folder, a list of paths or PIL images, "
                     "a uint8 array, a ShapesBatch, or a dataset.")


def _encode_in_batches(model, source, config: IndexConfig) -> np.ndarray:
    """Encode a sliceable source batch by batch under one progress bar; (n, dim) float32 rows."""
    from tqdm.auto import tqdm

    from PIL import Image

    direct = isinstance(source, np.ndarray) or (isinstance(source, list)  # encode_images takes these as they are
                                                and all(isinstance(i, (Image.Image, np.ndarray)) for i in source))
    outputs = []
    with tqdm(total=len(source), desc="indexing images", unit="img", disable=not config.progress) as bar:
        for start in range(0, len(source), config.batch_size):
            stop = min(start + config.batch_size, len(source))
            batch = source[start:stop] if direct else _dataset_batch(model, source, start, stop)
            outputs.append(_to_numpy(model.encode_images(batch, batch_size=len(batch))))
            bar.update(stop - start)
    return np.concatenate(outputs)


def _dataset_batch(model, dataset, start: int, stop: int):
    """Items start..stop of a dataset as a preprocessed tensor batch (B, 3, H, W)."""
    import torch
    from PIL import Image

    pixels = []
    for i in range(start, stop):
        item = dataset[i]
        item = item[0] if isinstance(item, (tuple, list)) else item
        if isinstance(item, np.ndarray):
            item = Image.fromarray(item)
        pixels.append(item if isinstance(item, torch.Tensor) else model.preprocess(item))
    return torch.stack(pixels)


def _weights(query, negative, negative_weight: float) -> dict[str, float]:
    """{text: weight} for one query: the text at +1 and each negative at -negative_weight."""
    if isinstance(query, dict):
        weights = {str(text): float(weight) for text, weight in query.items()}
    elif isinstance(query, str):
        weights = {query: 1.0}
    else:
        raise ValueError(f"a query is a text or a dict of {{text: weight}}, not {type(query).__name__}.")
    if not weights or any(not text.strip() for text in weights):
        raise ValueError("the query is empty; type some words to search for, e.g. 'a red star'.")
    negatives = [negative] if isinstance(negative, str) else list(negative or [])
    if any(not str(text).strip() for text in negatives):
        raise ValueError("a negative prompt is empty; give words to steer away from, e.g. negative='grass'.")
    for text in negatives:
        weights[text] = weights.get(text, 0.0) - float(negative_weight)
    return weights


def _temporary(directory: Path, name: str, registry: list) -> str:
    handle, path = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    os.close(handle)
    registry.append(path)
    return path


def require_images(folder: str | Path) -> None:
    """A clear error, naming the folder, if it holds no image files at all."""
    files, others = scan_folder(folder)
    if not files:
        raise ValueError(_no_images_message(str(Path(folder).expanduser().resolve()), others))


def _no_images_message(folder: str, others: list[str]) -> str:
    found = (f" It has {len(others)} other file(s), e.g. {Path(others[0]).name}." if others
             else " It is empty.")
    return (f"no images found in folder {folder} (looked recursively for {' '.join(IMAGE_EXTENSIONS)}).{found}")


def _skip_summary(skipped: list[tuple[str, str]]) -> str:
    shown = "; ".join(f"{Path(p).name}: {r}" for p, r in skipped[:5])
    return shown + (f"; ... and {len(skipped) - 5} more" if len(skipped) > 5 else "")


def _read_manifest(directory: Path) -> dict:
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.exists() or not (directory / EMBEDDINGS_FILE).exists():
        raise FileNotFoundError(f"no saved index in {directory} (it needs {MANIFEST_FILE} and {EMBEDDINGS_FILE}); "
                                "build one with `python -m mmlesson index FOLDER` or ImageIndex.save().")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{manifest_path} is not valid JSON ({error}); was it edited by hand? "
                         "Re-build the index to replace it.") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ValueError(f"{manifest_path} is not an mmlesson image index manifest.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{manifest_path} has format version {manifest.get('format_version')!r}; this mmlesson "
                         f"reads version {FORMAT_VERSION}. Re-build the index.")
    missing = [key for key in ("model", "embed_dim", "dtype", "count", "embeddings_sha256", "items")
               if key not in manifest]
    if missing:
        raise ValueError(f"{manifest_path} lacks {', '.join(missing)}; was it edited by hand? Re-build the index.")
    return manifest


def _check_manifest(directory: Path, manifest: dict, embeddings: np.ndarray) -> None:
    """The manifest and the embeddings must describe each other exactly."""
    problems = []
    if embeddings.ndim != 2 or embeddings.shape != (manifest["count"], manifest["embed_dim"]):
        problems.append(f"embeddings have shape {embeddings.shape}, the manifest says "
                        f"({manifest['count']}, {manifest['embed_dim']})")
    if str(embeddings.dtype) != manifest["dtype"]:
        problems.append(f"embeddings are {embeddings.dtype}, the manifest says {manifest['dtype']}")
    items = manifest["items"]
    if items is not None and len(items) != manifest["count"]:
        problems.append(f"the manifest lists {len(items)} files for {manifest['count']} embeddings")
    if not problems and embeddings_checksum(embeddings) != manifest["embeddings_sha256"]:
        problems.append("the embeddings' checksum differs from the one recorded in the manifest")
    if problems:
        raise ValueError(f"the index in {directory} is inconsistent: {'; '.join(problems)}. One of "
                         f"{MANIFEST_FILE}/{EMBEDDINGS_FILE} was edited or replaced; re-build the index.")


# --- the high-level helper the CLI and the notebook use -----------------------------------------

def default_index_dir(folder: str | Path) -> Path:
    return Path(folder).expanduser() / DEFAULT_INDEX_DIRNAME


def index_folder(folder: str | Path, model=None, out: str | Path | None = None, save_every: int = 5_000,
                 **options) -> ImageIndex:
    """Index a folder and save it to ``out``; if ``out`` already holds an index, update it (only new or
    changed files are encoded). The index is saved after every ``save_every`` encoded images.

    ``model`` is a ClipModel or a load_clip name (None: the saved index's model, else "tiny-shapes").
    With a name, the model is loaded only when there is something to encode, so re-indexing an
    unchanged folder costs a few stat calls.
    """
    out = Path(out).expanduser() if out is not None else default_index_dir(folder)
    if (out / MANIFEST_FILE).exists():
        index = ImageIndex.load(out, model, **options)
    else:
        require_images(folder)
        index = ImageIndex.empty(model or "tiny-shapes", make_config(**options))
    while True:  # save every `save_every` encoded images: an interrupted run keeps what it did
        report = index.update_folder(folder, limit=save_every)
        if report.modified:
            index.save(out)
        if not report.pending:
            return index


# --- cost: how query time grows with the collection -----------------------------------------------

QUERY_METHODS = {  # name -> (dtype, backend)
    "numpy fp32": ("float32", "brute"), "torch fp16": ("float16", "brute"), "faiss flat": ("float32", "faiss-flat"),
    "faiss ivf": ("float32", "faiss-ivf"), "faiss hnsw": ("float32", "faiss-hnsw")}


def random_unit_vectors(count: int, dim: int = 512, seed: int = 0, dtype: str = "float32") -> np.ndarray:
    """(count, dim) random unit rows, generated in chunks so 1M x 512 never needs a float64 copy."""
    rng = np.random.default_rng(seed)
    vectors = np.empty((count, dim), dtype=dtype)
    for start in range(0, count, 65_536):
        chunk = rng.standard_normal((min(65_536, count - start), dim), dtype=np.float32)
        vectors[start: start + len(chunk)] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return vectors


def time_queries(sizes: Sequence[int] = (1_000, 10_000, 100_000, 1_000_000), dim: int = 512,
                 methods: Sequence[str] = ("numpy fp32", "torch fp16", "faiss flat"), k: int = 10,
                 repeats: int = 20, seed: int = 0) -> list[dict]:
    """Median seconds of one query (after the text is encoded) per collection size and method.

    Random unit vectors: fine for exact methods, whose cost does not depend on the data. Rows:
    {"size", "method", "p50_ms"}. Plot them with mmlesson.viz.show_query_cost.
    """
    unknown = [m for m in methods if m not in QUERY_METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {', '.join(QUERY_METHODS)}.")
    rows, query = [], random_unit_vectors(1, dim, seed + 1)
    for size in sizes:
        vectors = random_unit_vectors(size, dim, seed)
        for method in methods:
            dtype, backend = QUERY_METHODS[method]
            index = ImageIndex.from_embeddings(vectors, "random", dtype=dtype, backend=backend, verbose=False)
            index.nearest(query, k)  # builds a FAISS index if needed, warms caches
            seconds = []
            for _ in range(repeats):
                start = time.perf_counter()
                index.nearest(query, k)
                seconds.append(time.perf_counter() - start)
            rows.append({"size": size, "method": method, "p50_ms": float(np.median(seconds) * 1e3)})
            del index
    return rows


# --- command line: python -m mmlesson index FOLDER / search INDEX QUERY ----------------------------

def index_command(args) -> int:
    index = index_folder(args.folder, args.model, args.out)
    out = Path(args.out) if args.out else default_index_dir(args.folder)
    print(f"index at {out}: {len(index)} images ({index.model_name}, dim {index.embed_dim}, {index.config.dtype})")
    return 0


def search_command(args) -> int:
    directory = Path(args.index).expanduser()
    if not (directory / MANIFEST_FILE).exists() and (default_index_dir(directory) / MANIFEST_FILE).exists():
        directory = default_index_dir(directory)  # the folder that was indexed, not the index itself
    index = ImageIndex.load(directory, verbose=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = index.search(args.query, k=args.k)
    for warning in caught:  # one clean line each, not a source location
        print(f"mmlesson search: note: {warning.message}", file=sys.stderr)
    if args.json:
        print(json.dumps([result.to_dict() for result in results], indent=1))
    else:
        print(format_table(results))
    return 0


def format_table(results: list[SearchResult]) -> str:
    lines = [f"{'rank':>4}  {'score':>7}  path"]
    for result in results:
        where = result.path if result.path is not None else f"#{result.index}"
        lines.append(f"{result.rank:>4}  {result.score:>7.4f}  {where}")
    return "\n".join(lines)
