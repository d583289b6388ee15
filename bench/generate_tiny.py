"""Claim: offline, `python -m mmlesson generate PROMPT` (the tiny preset: the tiny CLIP guiding a tiny VQGAN from
random codes) draws one shape a person can see: >= 60% of the 30 color x shape prompts pass the strict measure
(measure.py), at <= 20 s per image on 2 CPU cores.

Runs every prompt with several seeds through the same function the command line calls (generate.generate with
PRESETS["tiny"]) and reports, side by side for the same images:
- the strict measure's pass rate, overall and per seed, and per prompt (passes out of seeds);
- the old judge's rate (judge.py: right color and shape, any confidence), which a patchwork also satisfies;
- median and max seconds per image, and the peak RSS of the whole process.

    python bench/generate_tiny.py [--seeds 0 1 2] [--limit N]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time
from dataclasses import asdict, replace

import torch

from _common import emit

from mmlesson.generate import PRESETS, generate, shapes_prompt
from mmlesson.judge import judge
from mmlesson.measure import check_images, pass_rate
from mmlesson.models import load_clip
from mmlesson.shapes import CLASSES
from mmlesson.vqgan import load_vqgan


def run_seed(clip, vqgan, config, pairs, seed: int) -> tuple[list, list]:
    """(pixels per prompt, seconds per prompt) for one seed."""
    images, seconds = [], []
    for color, shape in pairs:
        start = time.perf_counter()
        result = generate(shapes_prompt(color, shape), clip, vqgan, replace(config, seed=seed), progress=False)
        seconds.append(time.perf_counter() - start)
        images.append(result.pixels)
    return images, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--limit", type=int, default=len(CLASSES), help="only the first N prompts (a smoke run)")
    args = parser.parse_args()
    preset = PRESETS["tiny"]
    clip, vqgan = load_clip(preset.clip, "cpu"), load_vqgan(preset.vqgan, "cpu")
    pairs = CLASSES[:args.limit]
    prompts = [shapes_prompt(color, shape) for color, shape in pairs]
    per_prompt, per_seed, judged, seconds = {prompt: 0 for prompt in prompts}, {}, [], []
    for seed in args.seeds:
        images, times = run_seed(clip, vqgan, preset.config, pairs, seed)
        seconds += times
        verdicts = check_images(torch.stack(images), prompts)
        per_seed[seed] = round(pass_rate(verdicts), 4)
        for prompt, verdict in zip(prompts, verdicts):
            per_prompt[prompt] += verdict.passed
        judged += [(v.color, v.shape) == pair for v, pair in zip(judge(torch.stack(images)), pairs)]
    emit("generate_tiny", {
        "strict_pass_rate": round(statistics.mean(per_seed.values()), 4), "strict_pass_rate_per_seed": per_seed,
        "old_judge_right_rate": round(sum(judged) / len(judged), 4),
        "prompts": len(prompts), "seeds": args.seeds,
        "strict_passes_per_prompt": per_prompt,  # out of len(seeds)
        "median_seconds_per_image": round(statistics.median(seconds), 2),
        "max_seconds_per_image": round(max(seconds), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),  # the whole process
    }, settings={**asdict(preset.config), "clip": preset.clip, "vqgan": preset.vqgan})


if __name__ == "__main__":
    main()
