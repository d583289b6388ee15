"""Claim: what makes tiny VQGAN+CLIP draw one shape: composition (" in the center") and image priors (total variation,
foreground spread), measured side by side under the strict measure on the same 30 prompts and seed.

Each setting starts from the tiny preset (PRESETS["tiny"]) and changes only what its name says. Settings run one
prompt at a time in turn (prompt-major order), so that machine noise touches every setting alike.

    python bench/generate_ablation.py [--seed 0] [--limit N]
"""
from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch

from _common import emit

from mmlesson.generate import PRESETS, generate, shapes_prompt
from mmlesson.judge import judge
from mmlesson.measure import check_images, pass_rate
from mmlesson.models import load_clip
from mmlesson.shapes import CLASSES
from mmlesson.vqgan import load_vqgan


def settings() -> dict:
    preset = PRESETS["tiny"].config
    before = replace(preset, composition="", tv_weight=0.0, spread_weight=0.0)  # lesson 4 as first shipped
    return {"lesson 4 before": before,
            "+ priors only": replace(preset, composition=""),
            "+ composition only": replace(before, composition=preset.composition),
            "tiny preset (both)": preset}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=len(CLASSES), help="only the first N prompts (a smoke run)")
    args = parser.parse_args()
    clip, vqgan = load_clip("tiny-shapes", "cpu"), load_vqgan("tiny-shapes", "cpu")
    pairs = CLASSES[:args.limit]
    prompts = [shapes_prompt(color, shape) for color, shape in pairs]
    configs = {name: replace(config, seed=args.seed) for name, config in settings().items()}
    images = {name: [] for name in configs}
    seconds = {name: [] for name in configs}
    for prompt in prompts:
        for name, config in configs.items():
            start = time.perf_counter()
            images[name].append(generate(prompt, clip, vqgan, config, progress=False).pixels)
            seconds[name].append(time.perf_counter() - start)
    figures = {}
    for name in configs:
        stacked = torch.stack(images[name])
        verdicts = check_images(stacked, prompts)
        judged = [(v.color, v.shape) == pair for v, pair in zip(judge(stacked), pairs)]
        figures[name] = {"strict_pass_rate": round(pass_rate(verdicts), 4),
                         "old_judge_right_rate": round(sum(judged) / len(judged), 4),
                         "median_seconds_per_image": round(statistics.median(seconds[name]), 2),
                         "passed": [p for p, v in zip(prompts, verdicts) if v.passed]}
    emit("generate_ablation", figures, seed=args.seed, prompts=len(prompts))


if __name__ == "__main__":
    main()
