"""Claim: one brute-force query against 100k x 512 embeddings takes p50 <= 5 ms on 2 CPU cores with
float16 storage, measured after the text is encoded. Side by side in one run: NumPy float32 matvec
(what we would write by hand), FAISS IndexFlatIP (the library we would otherwise call), our float32
and float16 paths (ImageIndex.nearest, top-10 included), and the raw float16 kernels we chose among.
Also the cost curve over collection sizes (mmlesson.search.time_queries) that the notebook plots.

    python bench/search_bruteforce.py            # 100k, and sizes 1k..1M
    python bench/search_bruteforce.py --quick    # 20k, and sizes 1k..20k (correctness run)
"""
from __future__ import annotations

import argparse

from _common import emit, p50, timed

import numpy as np


def kernels(embeddings32: np.ndarray, query: np.ndarray) -> dict:
    """Single-query matvec candidates, no top-k: which float16 kernel is fastest on this machine."""
    import torch
    import torch.nn.functional as F

    stored16 = torch.from_numpy(embeddings32.astype(np.float16))  # (n, dim)
    transposed16 = stored16.T.contiguous()  # (dim, n)
    query16 = torch.from_numpy(query).half()
    return {"numpy fp32 matvec": lambda: embeddings32 @ query,
            "torch fp16 mv": lambda: torch.mv(stored16, query16),
            "torch fp16 linear": lambda: F.linear(query16[None], stored16),
            "torch fp16 (1,d)@(d,n) transposed storage": lambda: query16[None] @ transposed16}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes: a correctness run, not a measurement")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    from mmlesson import config
    from mmlesson.search import ImageIndex, random_unit_vectors, time_queries

    quick = args.quick or config.QUICK
    size, dim, k = (20_000 if quick else 100_000), 512, 10
    repeats = args.repeats or (10 if quick else 200)
    embeddings = random_unit_vectors(size, dim, seed=0)
    query = random_unit_vectors(1, dim, seed=1)  # stands for an encoded text: exact methods do not care

    methods = {"ours fp32 (numpy matvec + top-k)": ImageIndex.from_embeddings(embeddings, "random", verbose=False),
               "ours fp16 (torch + top-k + rescore)": ImageIndex.from_embeddings(embeddings, "random", verbose=False,
                                                                                dtype="float16")}
    calls = {name: (lambda index=index: index.nearest(query, k)) for name, index in methods.items()}
    try:
        import faiss

        flat = faiss.IndexFlatIP(dim)
        flat.add(embeddings)
        calls["faiss IndexFlatIP (search k=10)"] = lambda: flat.search(query, k)
    except ImportError:
        pass
    calls.update({f"kernel: {name}": call for name, call in kernels(embeddings, query[0]).items()})
    timings = interleaved(calls, repeats)
    ours = timings["ours fp16 (torch + top-k + rescore)"]
    figures = {"size": size, "dim": dim, "k": k, "repeats": repeats,
               "p50_ms": {name: round(p50(s) * 1e3, 3) for name, s in timings.items()},
               "min_ms": {name: round(min(s) * 1e3, 3) for name, s in timings.items()},
               "target_p50_ms": 5.0, "target_met": p50(ours) * 1e3 <= 5.0,
               "ratio_numpy_fp32_over_ours_fp16": round(p50(timings["kernel: numpy fp32 matvec"]) / p50(ours), 3)}
    if "faiss IndexFlatIP (search k=10)" in timings:
        faiss_flat = timings["faiss IndexFlatIP (search k=10)"]
        figures["ratio_faiss_flat_over_ours_fp16"] = round(p50(faiss_flat) / p50(ours), 3)
    sizes = (1_000, 5_000, 20_000) if quick else (1_000, 10_000, 100_000, 1_000_000)
    figures["scaling"] = time_queries(sizes, dim, ("numpy fp32", "torch fp16", "faiss flat"), k,
                                      repeats=5 if quick else 30)
    for row in figures["scaling"]:
        row["p50_ms"] = round(row["p50_ms"], 3)
    emit("search_bruteforce", figures, quick=quick, data="random unit vectors (exact methods: cost does not "
                                                          "depend on the data)")


def interleaved(calls: dict, repeats: int) -> dict:
    """Seconds per call for each function, taking turns so background load hits all of them alike."""
    timings = {name: [] for name in calls}
    for name, call in calls.items():
        timed(call, repeats=1, warmup=3)
    for _ in range(repeats):
        for name, call in calls.items():
            timings[name].extend(timed(call, repeats=1, warmup=0))
    return timings


if __name__ == "__main__":
    main()
