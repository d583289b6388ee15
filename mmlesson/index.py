"""ImageIndex: the image embeddings of a collection, persisted on disk and kept up to date, searchable in words.

    index = ImageIndex.from_folder("photos", model)      # or from_paths / from_images / from_embeddings
    index.search("a dog on a beach", k=5)                 # -> [SearchResult(rank, index, path, score), ...]
    index.search("a dog", negative="grass")               # weighted sum of text embeddings
    index.search_image("photos/cat.jpg", k=5)             # image -> image
    index.save("photos/.mmlesson-index"); ImageIndex.load("photos/.mmlesson-index")
    index.update_folder()                                 # encode only new or changed files

The ranking itself is ranking.py (the lesson's idea); the backends that answer ``nearest`` (chosen by
``backend``, "auto" by default: the faster exact one for the collection's size) are search_backends.py; the
files on disk (folder scan, manifest, saving) are index_files.py; in-memory sources are index_sources.py.
Images are read with images.read_image, the course's one loader, so an indexed photo looks exactly as
``model.encode_images`` sees it.
Over 500 lines because ImageIndex is one object with four parts that share its state: building
(seven ways in, since learners arrive with folders, path lists, arrays, datasets or ready embeddings),
the incremental folder update, persistence, and queries.
"""
from __future__ import annotations

import os
import time
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .images import read_image
from .index_files import (FORMAT_NAME, FORMAT_VERSION, MANIFEST_FILE, FileEntry, default_index_dir,  # noqa: F401
                          embeddings_checksum, no_images_message, read_index, require_images, saved_backend_state,
                          scan_folder, skip_summary, stat_files, write_index)
from .index_sources import encode_source, to_numpy, unwrap_images
from .models import encode_in_batches, load_clip
from .ranking import SearchResult, normalize_rows
from .search_backends import (BACKENDS, BUILD_OPTIONS, build_backend, choose_backend, memory_line,
                              restore_backend)

DTYPES = ("float32", "float16")
BACKEND_OPTIONS = ("backend",) + BUILD_OPTIONS + ("hnsw_ef_search", "ivf_probes")  # saved with an index
REPORT_LINES = 20  # skipped files listed in a printed report before "... and N more"


@dataclass
class IndexConfig:
    dtype: str = "float32"  # "float16" halves memory and the time of a memory-bound query; scores keep ~3 digits
    backend: str = "auto"  # "auto": "brute-int8" from 8M stored numbers (rows x dim) up, else "brute"; both exact.
    # "brute-int8" is ~4x faster per query at 100k x 512 for n x dim more bytes; "faiss-*" pay a build for 1M+
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
    Read in this order: queries (what it is for), building, the incremental update, models, persistence.
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
        if self.embeddings.ndim != 2:
            raise ValueError(f"embeddings must be (n_images, dim); got shape {self.embeddings.shape}.")
        self.embed_dim = int(getattr(model, "embed_dim", 0) or self.embeddings.shape[1])
        if self.embeddings.shape[1] != self.embed_dim:
            raise ValueError(f"the model's embed_dim {self.embed_dim} differs from the embeddings' "
                             f"{self.embeddings.shape[1]}; build the index with the model that made them.")
        self.paths, self.file_stats, self.images, self.root = paths, file_stats, images, root
        if paths is not None and len(paths) != len(self.embeddings):
            raise ValueError(f"{len(paths)} paths for {len(self.embeddings)} embeddings; pass one path per embedding.")
        self.skipped: list[tuple[str, str]] = []  # (path, reason) of files that could not be used
        self._skipped_stats: dict[str, tuple[int, int]] = {}  # so unchanged bad files are not re-read
        self._built = None
        if self._model is not None:
            self._check_model(self._model)

    # -- queries --

    def __len__(self) -> int:
        return len(self.embeddings)

    def __repr__(self) -> str:
        return f"ImageIndex({self.summary()})"

    def summary(self) -> str:
        """One line: size, model, storage, the backend that answers and the memory rows + backend take."""
        chosen = " (auto)" if self.config.backend == "auto" else ""
        memory = memory_line(self.config.backend, self.embeddings, self.config, self._built)
        return (f"{len(self)} images, model={self.model_name!r}, dim={self.embed_dim}, {self.config.dtype}, "
                f"backend={self.backend_name!r}{chosen}, memory {memory}, skipped={len(self.skipped)}")

    @property
    def backend_name(self) -> str:
        """The backend that answers queries: the configured one, with "auto" resolved for this size."""
        if self._built is not None:
            return self._built.name
        return choose_backend(self.config.backend, *self.embeddings.shape)

    def set_backend(self, backend: str, **options) -> None:
        """Switch between the backends (see BACKENDS) and their knobs without re-encoding.

        Search-time knobs (ivf_probes, hnsw_ef_search) apply at once; others rebuild the backend's structure.
        """
        if "dtype" in options:
            raise ValueError("set_backend cannot change the storage dtype; build the index again with dtype=...")
        before, name = self.config, self.backend_name
        self.config = make_config(self.config, backend=backend, **options)
        rebuild = choose_backend(backend, *self.embeddings.shape) != name
        if rebuild or any(getattr(before, option) != getattr(self.config, option) for option in BUILD_OPTIONS):
            self._built = None
        elif self._built is not None:
            self._built.configure(self.config)

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
        text_embeddings = to_numpy(model.encode_texts(texts))  # (n_texts, dim)
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
            vector = to_numpy(self._require_model().encode_images([image], batch_size=1))[0]
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
        queries = np.ascontiguousarray(np.atleast_2d(query_embeddings), dtype=np.float32)  # (n_queries, dim)
        k = self._check_k(k)
        self.build_backend()
        return self._built.search(queries, k)

    def build_backend(self) -> float:
        """Build the backend's structure now (otherwise the first query does); returns the seconds it took.

        "brute-int8": the 8-bit codes (n_images x dim bytes); "faiss-*": the FAISS index; "brute": nothing."""
        start = time.perf_counter()
        if self._built is None:
            self._built = build_backend(self.config.backend, self.embeddings, self.config)
        return time.perf_counter() - start

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
            raise ValueError(f"none of the {len(paths)} files could be used: " + skip_summary(index.skipped))
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
        source = unwrap_images(images)
        if len(source) == 0:
            raise ValueError("from_images got no images; pass a non-empty list, array, ShapesBatch or dataset.")
        embeddings = encode_source(model, source, config.batch_size, config.progress)
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
            raise ValueError(no_images_message(folder, others))
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
            raise ValueError(f"no usable images in folder {folder}: " + skip_summary(skipped))
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
        self._built = None

    def _encode_files(self, entries: list[FileEntry]):
        """(embeddings, entries that worked, [(path, reason)] that did not), decoding with images.read_image."""
        model, kept, skipped = self._require_model(), [], []

        def encode(batch: list[FileEntry]):
            pixels = []
            for entry in batch:
                image, reason = read_image(entry.path, self.config.max_pixels)
                if image is None:
                    skipped.append((entry.path, reason))
                    continue
                pixels.append(model.preprocess(image))
                kept.append(entry)
            return to_numpy(model.encode_images(torch.stack(pixels), batch_size=len(pixels))) if pixels else \
                np.zeros((0, self.embed_dim), np.float32)  # (batch, dim) from a (batch, 3, H, W) tensor

        embeddings = encode_in_batches(entries, self.config.batch_size, encode, "indexing images",
                                       self.config.progress and bool(entries), self.embed_dim)
        return embeddings.numpy().astype(self.config.dtype), kept, skipped

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
        """Write embeddings.npy, the backend's built structure (backend.npz, if any) and manifest.json.

        All are written to temporary files first and then renamed over the old ones (the manifest last),
        so a save that fails part-way leaves the previous index intact. The manifest records a checksum of
        the embeddings, so a mismatched pair (a hand edit, a half-copied folder) is caught at load time.
        """
        checksum = embeddings_checksum(self.embeddings)
        state = self._built.state() if self._built is not None else {}
        return write_index(Path(directory).expanduser(), self.embeddings, self._manifest(checksum, bool(state)), state)

    def _manifest(self, checksum: str, with_backend_state: bool) -> dict:
        items = None
        if self.paths is not None:
            items = [{"path": p, "size": s, "mtime_ns": m} for p, (s, m) in zip(self.paths, self.file_stats)]
        backend = {option: getattr(self.config, option) for option in BACKEND_OPTIONS}
        backend["built"] = self._built.name if with_backend_state else None  # what backend.npz holds
        return {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "model": self.model_name,
                "embed_dim": self.embed_dim, "dtype": self.config.dtype, "count": len(self),
                "embeddings_sha256": checksum, "root": self.root, "search_backend": backend,
                "source": "files" if self.paths is not None else "in-memory images (not saved; results give indices)",
                "items": items, "skipped": [{"path": p, "reason": r, "stat": self._skipped_stats.get(p)}
                                            for p, r in self.skipped]}

    @classmethod
    def load(cls, directory: str | Path, model=None, **options) -> "ImageIndex":
        """Read a saved index; ``model`` (object or name) must be the one that built it.

        Without ``model``, the one named in the manifest is loaded on the first text query. The saved
        backend and its options apply unless ``options`` name others.
        """
        directory = Path(directory).expanduser()
        manifest, embeddings = read_index(directory)
        saved = manifest.get("search_backend") or {}  # absent in indexes saved before backends were recorded
        config = make_config(**{"dtype": manifest["dtype"], **{o: saved[o] for o in BACKEND_OPTIONS if o in saved},
                                **options})
        items = manifest["items"]
        index = cls(embeddings, model_name=manifest["model"], config=config, root=manifest.get("root"),
                    paths=None if items is None else [item["path"] for item in items],
                    file_stats=None if items is None else [(item["size"], item["mtime_ns"]) for item in items])
        index.skipped = [(s["path"], s["reason"]) for s in manifest.get("skipped", [])]
        index._skipped_stats = {s["path"]: tuple(s["stat"]) for s in manifest.get("skipped", []) if s.get("stat")}
        if model is not None:
            index._check_model(model)
            index._model = None if isinstance(model, str) else model
        state = saved_backend_state(directory, manifest, index.backend_name, config)
        if state is not None:
            index._built = restore_backend(index.backend_name, embeddings, state, config)
        return index


# --- the high-level helper the CLI and the notebook use ---

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
        if report.modified and not report.pending:
            index.build_backend()  # saved with the index, so a later search need not build it
        if report.modified:
            index.save(out)
        if not report.pending:
            return index


# --- helpers for building ---

def _resolve_model(model):
    """A model object as is; a name through load_clip."""
    if isinstance(model, (str, Path)):
        return load_clip(str(model))
    if not all(hasattr(model, a) for a in ("encode_images", "encode_texts", "preprocess", "name", "embed_dim")):
        raise ValueError(f"{type(model).__name__} is not a CLIP model; pass load_clip(...) or a model name.")
    return model


def _rows_are_unit(embeddings: np.ndarray, tolerance: float = 1e-2) -> bool:
    sample = np.asarray(embeddings[:: max(1, len(embeddings) // 1000)], dtype=np.float32)
    return bool(np.all(np.abs(np.linalg.norm(sample, axis=1) - 1) < tolerance))


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
