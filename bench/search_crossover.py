"""Claim: "auto" switches from float32 brute force to int8 + exact rescoring where int8 starts to win, one query,
default threads: ``search_backends.INT8_MIN_NUMBERS`` stored numbers (rows x dim).

Side by side, interleaved (each round calls both methods once): ``ImageIndex.nearest`` with backend="brute"
and with backend="brute-int8", top 10, at collection sizes around the switch, for dim 128 (the tiny CLIP)
and dim 512 (ViT-B/32). Random unit vectors: both methods are exact, and their cost does not depend on the
data except through rescoring, which bench/search_shapes.py measures on real embeddings.

    python bench/search_crossover.py            # 200 rounds per size
    python bench/search_crossover.py --quick    # 10 rounds (correctness run)
"""
from __future__ import annotations

import argparse
import os
import time

from _common import emit, p50

import numpy as np

SIZES = {128: (4_000, 8_000, 16_000, 32_000, 64_000, 128_000), 512: (1_000, 2_000, 4_000, 8_000, 16_000, 32_000)}


def race(embeddings: np.ndarray, query: np.ndarray, rounds: int, k: int = 10) -> dict:
    """p50 ms of one query for brute and brute-int8, taking turns; and whether they agree."""
    from mmlesson.search import ImageIndex

    indexes = {name: ImageIndex.from_embeddings(embeddings, "random", verbose=False, backend=name)
               for name in ("brute", "brute-int8")}
    answers = {name: index.nearest(query, k)[0] for name, index in indexes.items()}  # builds the codes
    seconds = {name: [] for name in indexes}
    for _ in range(rounds):
        for name, index in indexes.items():
            start = time.perf_counter()
            index.nearest(query, k)
            seconds[name].append(time.perf_counter() - start)
    brute, int8 = (round(p50(seconds[name]) * 1e3, 4) for name in indexes)
    return {"rows": len(embeddings), "numbers": embeddings.size, "brute_ms": brute, "int8_ms": int8,
            "int8_over_brute": round(int8 / brute, 2), "same_top_k": bool(np.array_equal(*answers.values()))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10 rounds: a correctness run, not a measurement")
    args = parser.parse_args()
    from mmlesson import config
    from mmlesson.search import random_unit_vectors
    from mmlesson.search_backends import INT8_MIN_NUMBERS

    quick = args.quick or config.QUICK
    rounds = 10 if quick else 200
    load_before = os.getloadavg()[0]
    rows = {}
    for dim, sizes in SIZES.items():
        query = random_unit_vectors(1, dim, seed=1)
        rows[dim] = [race(random_unit_vectors(size, dim, seed=0), query, rounds) for size in sizes]
    first_win = {dim: min((r["numbers"] for r in table if r["int8_over_brute"] < 1.0), default=None)
                 for dim, table in rows.items()}
    emit("search_crossover", {"rounds": rounds, "tables": {str(d): t for d, t in rows.items()},
                              "int8_wins_from_numbers": {str(d): n for d, n in first_win.items()},
                              "INT8_MIN_NUMBERS": INT8_MIN_NUMBERS,
                              "load_average_1min": [load_before, os.getloadavg()[0]]},
         quick=quick, data="random unit vectors, one query, top 10")


if __name__ == "__main__":
    main()
