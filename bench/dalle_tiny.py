"""Claim: the bundled mini DALL-E samples an image in <= 0.05 s at batch 32 with its KV cache, several times faster
than without one and with the same tokens; with CLIP reranking of 16 samples >= 90% of the 30 color x shape prompts
pass the strict measure.

Measures, side by side in one run: seconds per image for 32 samples with and without the KV cache (same seed, the
tokens compared), and strict success for N = 1 and N = 16 candidates (2 images per prompt, held-out pairs apart).
With --curve: strict success of the CLIP-best of the first N of 32 candidates per prompt (N = 1 .. 32, one set of
samples), unCLIP's prior cosine against the text-embedding baseline, and seconds per image for mini DALL-E and
unCLIP with 16 candidates. Training time is the one recorded in data/checkpoints.json. Prints one JSON line.
Usage: python bench/dalle_tiny.py [--repeats R] [--no-quality] [--curve]
"""
from __future__ import annotations

import argparse

from _common import emit, p50, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-quality", action="store_true", help="speed only (skip the strict-measure runs)")
    parser.add_argument("--curve", action="store_true", help="also the rerank curve N = 1..32 and unCLIP's figures")
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
    if args.curve:
        figures.update(rerank_curve_and_unclip(model))
    emit("dalle_tiny", figures, batch=32, targets={"seconds_per_image_cache": 0.05, "rerank_16_strict": 0.9})


def rerank_curve_and_unclip(model, max_candidates: int = 32, seed: int = 6) -> dict:
    """The rerank curve from one set of 32 samples per prompt, and unCLIP's prior cosines and speed."""
    import time

    import torch

    from mmlesson import dalle, measure, unclip
    from mmlesson.models import load_clip
    from mmlesson.vqgan import load_vqgan

    vqgan, clip = load_vqgan(model.config.vqgan, device="cpu"), load_clip("tiny-shapes", device="cpu")
    prompts = [prompt for prompt, _, _ in dalle.shapes_prompts()]
    text = dalle.prompt_tokens(model.layout, prompts).repeat_interleave(max_candidates, 0)  # (30 * N, 12)
    codes = dalle.sample_codes(model, text, 64, dalle.SamplingConfig(), torch.Generator().manual_seed(seed))
    candidates = dalle.decode_codes(vqgan, codes).reshape(len(prompts), max_candidates, 3, 32, 32)
    scores = torch.stack([dalle.rerank(clip, group, prompt)[0] for prompt, group in zip(prompts, candidates)])
    passed = torch.tensor([[v.passed for v in measure.check_images(group, [prompt] * max_candidates)]
                           for prompt, group in zip(prompts, candidates)])  # (30, N)
    curve = {}
    for n in (1, 2, 4, 8, 16, 32):
        best = scores[:, :n].argmax(1, keepdim=True)  # (30, 1): CLIP's pick among the first n
        curve[n] = {"clip_best": round(passed.gather(1, best).float().mean().item(), 3),
                    "any_passes": round(passed[:, :n].any(1).float().mean().item(), 3)}
    unclip_model = unclip.load_unclip("tiny-shapes")
    start = time.perf_counter()
    images, _ = unclip.generate_images(unclip_model, vqgan, clip, prompts, candidates=16, seed=7)
    unclip_seconds = (time.perf_counter() - start) / len(prompts)
    start = time.perf_counter()
    dalle.generate_images(model, vqgan, clip, prompts, candidates=16, seed=7)
    dalle_seconds = (time.perf_counter() - start) / len(prompts)
    return {"rerank_curve": curve, "random_candidate_passes": round(passed.float().mean().item(), 3),
            "unclip_rerank_16_strict": round(measure.pass_rate(measure.check_images(images, prompts)), 3),
            "unclip_prior_cosine": unclip.prior_cosines(unclip_model, clip),
            "seconds_per_prompt_rerank_16": {"dalle": round(dalle_seconds, 3), "unclip": round(unclip_seconds, 3)}}


if __name__ == "__main__":
    main()
