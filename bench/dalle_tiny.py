"""Claim: the bundled mini DALL-E samples an image in <= 0.05 s at batch 32 with its KV cache, several times faster
than without one and with the same tokens; with CLIP reranking of 16 samples >= 90% of the 30 color x shape prompts
pass the strict measure.

Measures, side by side in one run: seconds per image for 32 samples with and without the KV cache (same seed, the
tokens compared), and strict success for N = 1 and N = 16 candidates (2 images per prompt, held-out pairs apart).
Training time is the one recorded in data/checkpoints.json. Prints one JSON line.
Usage: python bench/dalle_tiny.py [--repeats R] [--no-quality]
"""
from __future__ import annotations

import argparse

from _common import emit, p50, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-quality", action="store_true", help="speed only (skip the strict-measure runs)")
    args = parser.parse_args()

    import torch

    from mmlesson import checkpoints, dalle
    from mmlesson.models import load_clip
    from mmlesson.vqgan import load_vqgan

    model = dalle.load_dalle("tiny-shapes")
    text = dalle.prompt_tokens(model.layout, [prompt for prompt, _, _ in dalle.shapes_prompts()][:32] * 2)[:32]
    draws = {}

    def draw(use_cache: bool):
        settings = dalle.SamplingConfig(use_cache=use_cache)
        draws[use_cache] = dalle.sample_codes(model, text, 64, settings, torch.Generator().manual_seed(0))

    cached, uncached = (p50(timed(lambda: draw(use_cache), args.repeats, warmup=1)) for use_cache in (True, False))
    figures = {"seconds_per_image_cache": round(cached / 32, 4), "seconds_per_image_no_cache": round(uncached / 32, 4),
               "cache_speedup": round(uncached / cached, 2),
               "same_tokens": bool(torch.equal(draws[True], draws[False])),
               "train_seconds": checkpoints.registry()[dalle.CHECKPOINTS["tiny-shapes"]]["metrics"]["train_seconds"]}
    if not args.no_quality:
        vqgan, clip = load_vqgan(model.config.vqgan, device="cpu"), load_clip("tiny-shapes", device="cpu")
        for candidates in (1, 16):
            figures[f"rerank_{candidates}"] = dalle.evaluate_prompts(model, vqgan, clip, candidates, seed=4242)
    emit("dalle_tiny", figures, batch=32, targets={"seconds_per_image_cache": 0.05, "rerank_16_strict": 0.9})


if __name__ == "__main__":
    main()
