"""Claim: on real embeddings, where many images score nearly alike for a text query, the default index
(backend "auto" = int8 codes + exact rescoring at these sizes) still returns float32's exact top 10, because
every row whose 8-bit score is within the error bound of the 10th exact score is rescored; and it stays
faster than a bare NumPy matvec although it rescores more rows than on random vectors.

Data: the tiny CLIP's embeddings of 20,000 Shapes images (seed 7, dim 128), used (a) as they are and
(b) tiled to 100,000 rows the way bench/search_faiss.py builds its 1M: each row a random Shapes embedding
plus relative noise 0.35, mapped into 512 dims by a fixed random orthonormal matrix, plus noise 0.1, normalised.
Queries: the tiny CLIP's text embeddings of class, color and shape prompts ("a circle", "a red star", ...),
mapped the same way for (b). Per query: rows inside the bound, rows rescored, and whether the top 10 equals
float32's; then p50 ms of one query, interleaved: the default index, float32 brute force, bare NumPy matvec.

    python bench/search_shapes.py            # 100 rounds over the queries
    python bench/search_shapes.py --quick    # 4,000 images, 20,000 tiled rows, 5 rounds (correctness run)
"""
from __future__ import annotations

import argparse
import os
import time

from _common import emit, p50
from search_faiss import lift

import numpy as np

PROMPTS = ("a circle", "a square", "a triangle", "a star", "a cross", "a red star", "a blue circle",
           "a green triangle", "a yellow square", "a purple cross", "a small orange circle on the left",
           "a large red star", "a red shape", "a blue shape")


def shapes_embeddings(count: int) -> tuple[np.ndarray, np.ndarray]:
    """(image embeddings (count, 128), text embeddings (len(PROMPTS), 128)) from the bundled tiny CLIP."""
    from mmlesson import shapes
    from mmlesson.models import load_clip

    model = load_clip("tiny-shapes", device="cpu")
    images = model.encode_images(shapes.make_shapes(count, seed=7).images, batch_size=512).numpy()
    return images, model.encode_texts(list(PROMPTS)).numpy()


def rescoring(vectors: np.ndarray, queries: np.ndarray, k: int = 10) -> list[dict]:
    """Per query: rows the bound cannot rule out, rows the default index rescored, exactness against float32."""
    from mmlesson.search import ImageIndex, top_k

    index = ImageIndex.from_embeddings(vectors, "tiny-shapes", verbose=False, backend="brute-int8")
    rows = []
    for prompt, query in zip(PROMPTS, queries):
        found, _ = index.nearest(query[None], k)
        backend = index._built
        exact, exact_scores = top_k(vectors @ query, k)
        bound = float(backend.error_bounds(query[None])[0])
        approximate = backend.approximate_scores(query[None])[0]
        inside = int(np.sum(approximate >= exact_scores[0, -1] - bound))
        rows.append({"query": prompt, "rows_inside_bound": inside, "rows_rescored": backend.last_rescored[0],
                     "bound": round(bound, 4), "tenth_score": round(float(exact_scores[0, -1]), 4),
                     "same_top_10": bool(np.array_equal(found[0], exact[0]))})
    return rows


def timings(vectors: np.ndarray, queries: np.ndarray, rounds: int, k: int = 10) -> dict:
    """p50 ms of one query over all queries and rounds, the three methods taking turns."""
    from mmlesson.search import ImageIndex

    default = ImageIndex.from_embeddings(vectors, "tiny-shapes", verbose=False)
    brute = ImageIndex.from_embeddings(vectors, "tiny-shapes", verbose=False, backend="brute")
    calls = {"ours default (auto)": lambda q: default.nearest(q[None], k),
             "ours float32 brute": lambda q: brute.nearest(q[None], k),
             "bare numpy float32 matvec (no top-k)": lambda q: vectors @ q}
    seconds = {name: [] for name in calls}
    for name, call in calls.items():
        call(queries[0])  # builds the codes, warms caches
    for _ in range(rounds):
        for query in queries:
            for name, call in calls.items():
                start = time.perf_counter()
                call(query)
                seconds[name].append(time.perf_counter() - start)
    return {name: round(p50(values) * 1e3, 3) for name, values in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes: a correctness run, not a measurement")
    args = parser.parse_args()
    from mmlesson import config
    from mmlesson.search import ImageIndex

    quick = args.quick or config.QUICK
    count, tiled, rounds = (4_000, 20_000, 5) if quick else (20_000, 100_000, 100)
    load_before = os.getloadavg()[0]
    images, texts = shapes_embeddings(count)
    lifted = lift(images, tiled, 512, seed=0)  # (tiled, 512)
    lifted_texts = lift(texts, len(texts), 512, seed=2, noisy=False)
    figures = {}
    for name, vectors, queries in ((f"{count} Shapes x 128 (as they are)", images, texts),
                                   (f"{tiled} x 512 (tiled, noised, lifted)", lifted, lifted_texts)):
        per_query = rescoring(vectors, queries)
        default = ImageIndex.from_embeddings(vectors, "tiny-shapes", verbose=False)
        figures[name] = {"default_index": repr(default), "per_query": per_query,
                         "p50_ms": timings(vectors, queries, rounds),
                         "all_exact": all(row["same_top_10"] for row in per_query),
                         "rescored_covers_bound": all(row["rows_rescored"] >= row["rows_inside_bound"]
                                                      for row in per_query)}
    figures["load_average_1min"] = [load_before, os.getloadavg()[0]]
    emit("search_shapes", figures, quick=quick, rounds=rounds,
         data="tiny-CLIP embeddings of Shapes images (seed 7) and of text prompts")


if __name__ == "__main__":
    main()
