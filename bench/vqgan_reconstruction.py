"""Claim: the bundled tiny VQGAN reconstructs fresh Shapes at >= 28 dB PSNR and uses its codebook.

Measures PSNR (pooled over all pixels, images in [0, 1]), codebook perplexity and the number of
distinct codes used on 2000 Shapes images drawn from a seed that training never used, for the
bundled model and (when bundled) its no-discriminator twin. Prints one JSON line.
Usage: python bench/vqgan_reconstruction.py [--images N]
"""
from __future__ import annotations

import argparse
import time

from _common import emit

BENCH_SEED = 777  # differs from the training seed (0) and from vqgan.EVAL_SEED used at registration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()

    from mmlesson import checkpoints
    from mmlesson.vqgan import BUNDLED_VQGANS, load_vqgan, reconstruction_metrics

    figures = {}
    for name, checkpoint in BUNDLED_VQGANS.items():
        if checkpoint not in checkpoints.registry():
            continue
        started = time.perf_counter()
        metrics = reconstruction_metrics(load_vqgan(name, device="cpu"), args.images, BENCH_SEED)
        figures[name] = {**metrics, "seconds": round(time.perf_counter() - started, 2)}
    emit("vqgan_reconstruction", figures, images=args.images, seed=BENCH_SEED, target_psnr_db=28.0)


if __name__ == "__main__":
    main()
