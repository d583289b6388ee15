"""Lesson 3, text-based image search: embed a collection once, then rank it by cosine similarity to words.

CLIP puts images and texts in one space, so searching is classification turned around: embed every
image once (the slow part, cached on disk), embed the query (milliseconds), and take the images whose
embeddings have the largest dot product with it (all rows are unit length, so the dot product is the
cosine similarity).

    index = ImageIndex.from_folder("photos", model)      # or from_paths / from_images
    index.search("a dog on a beach", k=5)                 # -> [SearchResult(rank, index, path, score), ...]
    index.save("photos/.mmlesson-index"); ImageIndex.load("photos/.mmlesson-index")

This module is the lesson's front door: the names the notebook uses, from the modules that hold them,
and the measurement of how query time grows with the collection.

- ranking.py:         the idea -- ``top_k_indices``, ``top_k``, precision@k and recall@k;
- index.py:           ``ImageIndex``, persisted and updated incrementally, and ``index_folder``;
- index_files.py:     the folder scan and the saved manifest;
- search_backends.py: float32/float16 brute force, 8-bit scores + exact rescoring, and the FAISS backends
  behind the same API.

Storage is float32, or float16 on request (half the memory). A single query at 100k images is
memory-bound: its time is about the bytes it reads over the machine's memory bandwidth. Search is exact
and built in by default (backend="auto"): small collections are scored row by row in float32 ("brute");
from 8 million stored numbers (16,000 images at dim 512, 62,500 at dim 128) "brute-int8" takes over: it
adds 8-bit codes (one byte per number, +25% of float32's memory, on top of the stored rows), scores them first and rescores
exactly every row the 8-bit error bound cannot rule out, so it returns float32's top k while reading a
quarter of the bytes. FAISS backends ("faiss-flat" exact, "faiss-hnsw"/"faiss-ivf" approximate) are for
collections of millions.
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from .index import DTYPES, ImageIndex, IndexConfig, UpdateReport, index_folder, make_config  # noqa: F401
from .index_files import (DEFAULT_INDEX_DIRNAME, IMAGE_EXTENSIONS, MANIFEST_FILE, FileEntry,  # noqa: F401
                          default_index_dir, scan_folder)
from .ranking import (SearchResult, format_table, normalize_rows, precision_at_k, recall_at_k,  # noqa: F401
                      top_k, top_k_indices)
from .search_backends import BACKENDS, nearest_brute_force  # noqa: F401


# --- cost: how query time grows with the collection ---

QUERY_METHODS = {  # name -> (dtype, backend)
    "numpy fp32": ("float32", "brute"), "torch fp16": ("float16", "brute"), "int8 + rescore": ("float32", "brute-int8"),
    "faiss flat": ("float32", "faiss-flat"),
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

    Random unit vectors: fine for exact methods, whose cost hardly depends on the data (int8's rescoring
    does, a little: bench/search_shapes.py). Rows:
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
