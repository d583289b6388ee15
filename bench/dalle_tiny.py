"""Claim: the bundled mini DALL-E samples an image in <= 0.05 s at batch 32 with its KV cache, several times faster
than without one and with the same tokens; over the 30 color x shape prompts (2 images each) one sample passes the
strict measure >= 70%, CLIP's pick of 16 >= 90%, any of 16 >= 97%; unCLIP's CLIP pick of 16 >= 90%.

Measures, side by side in one run: seconds per image for 32 samples with and without the KV cache (same seed, the
tokens compared); for mini DALL-E at classifier-free guidance scale 3 (the default) and 1 (off), and for unCLIP, the
strict success of one sample, of CLIP's pick of 16, of any of the 16 and of a random candidate, held-out pairs apart
(one set of 16 candidates per image gives all four). With --baseline DIR, the same for the models saved in DIR
(mini-dalle-shapes, unclip-shapes and the tiny-vqgan-shapes-8x8 tokenizer they write: the previous bundle).
With --curve: CLIP's pick of the first N of 32 candidates per prompt (N = 1 .. 32, one set of samples), unCLIP's
prior cosine against the text-embedding baseline, and seconds per prompt with 16 candidates. Training time is the
one recorded in data/checkpoints.json. Prints one JSON line.
Usage: python bench/dalle_tiny.py [--repeats R] [--no-quality] [--baseline DIR] [--curve]
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from _common import emit, p50, timed

EVAL_SEED = 4242  # sampling seed of the quality figures: never a training seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-quality", action="store_true", help="speed only (skip the strict-measure runs)")
    parser.add_argument("--baseline", type=Path, default=None, help="a folder holding the previous bundle's files")
    parser.add_argument("--curve", action="store_true", help="also the rerank curve N = 1..32 and unCLIP's figures")
    args = parser.parse_args()

    import torch

    from mmlesson import checkpoints, dalle, unclip
    from mmlesson.vqgan import load_vqgan

    model = dalle.load_dalle("tiny-shapes")
    text = dalle.prompt_tokens(model.layout, [prompt for prompt, _, _ in dalle.shapes_prompts()][:32] * 2)[:32]
    draws = {}

    def draw(use_cache: bool):
        settings = dalle.SamplingConfig(use_cache=use_cache)
        draws[use_cache] = dalle.sample_codes(model, text, 64, settings, torch.Generator().manual_seed(0))

    cached, uncached = (p50(timed(lambda: draw(use_cache), args.repeats, warmup=1)) for use_cache in (True, False))
    registry = checkpoints.registry()
    figures = {"seconds_per_image_cache": round(cached / 32, 4), "seconds_per_image_no_cache": round(uncached / 32, 4),
               "cache_speedup": round(uncached / cached, 2),
               "same_tokens": bool(torch.equal(draws[True], draws[False])),
               "train_seconds": {name: registry[name]["metrics"]["train_seconds"]
                                 for name in (dalle.CHECKPOINTS["tiny-shapes"], unclip.CHECKPOINT) if name in registry}}
    if not args.no_quality:
        figures["bundled"] = quality(model, unclip.load_unclip("tiny-shapes"), load_vqgan(model.config.vqgan, "cpu"))
    if args.baseline and not args.no_quality:
        folder = args.baseline
        figures["baseline"] = quality(dalle.load_dalle(folder / "mini-dalle-shapes.safetensors"),
                                      unclip.load_unclip(folder / "unclip-shapes.safetensors"),
                                      load_vqgan(folder / "tiny-vqgan-shapes-8x8.safetensors", "cpu"))
    if args.curve:
        figures.update(rerank_curve_and_unclip(model))
    emit("dalle_tiny", figures, batch=32, load_average_1min=round(os.getloadavg()[0], 2),
         targets={"seconds_per_image_cache": 0.05, "one_sample": 0.7, "clip_pick_16": 0.9, "any_of_16": 0.97,
                  "unclip_clip_pick_16": 0.9, "one_sample_held_out": 0.5})


def quality(dalle_model, unclip_model, vqgan, candidates: int = 16) -> dict:
    """Strict figures of mini DALL-E (guidance 3 and 1) and unCLIP on the same 30 prompts x 2 images."""
    from mmlesson import dalle, unclip
    from mmlesson.models import load_clip

    clip, rows = load_clip("tiny-shapes", device="cpu"), dalle.shapes_prompts() * 2
    prompts = [prompt for prompt, _, _ in rows]
    report = {}
    for scale in (3.0, 1.0):
        settings = dalle.SamplingConfig(guidance_scale=scale)
        images = dalle.sample_candidates(dalle_model, vqgan, prompts, candidates, settings, EVAL_SEED)
        report[f"dalle_guidance_{scale:g}"] = dalle.candidates_report(images, clip, rows, dalle_model.config.holdout)
    images = unclip.sample_candidates(unclip_model, vqgan, clip, prompts, candidates, EVAL_SEED)
    report["unclip"] = dalle.candidates_report(images, clip, rows, unclip_model.config.holdout)
    report["tokenizer"] = f"{vqgan.config.n_embed} codes, {vqgan.config.codebook_lookup} lookup"
    return report


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
