"""Claim: offline, the tiny CLIP guiding the tiny VQGAN makes images that the independent judge reads as the
prompt for >= 80% of the 30 color x shape prompts, at <= 20 s per image on 2 CPU cores.

The images are VQGAN+CLIP collages (often several copies or fragments of the shape), not clean Shapes
drawings; the judge names the dominant color and shape, so also reported is the stricter rate of verdicts
that are right with confidence >= 0.9. Also reported: how often the guiding CLIP itself would pick the prompt for its own image (zero-shot over the
30 class prompts), which is higher than the judge's figure when images fool their guide.

    python bench/generate_tiny.py [--limit N] [--steps S]
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
from mmlesson.models import load_clip
from mmlesson.shapes import CLASSES
from mmlesson.vqgan import load_vqgan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=len(CLASSES), help="only the first N prompts (a smoke run)")
    parser.add_argument("--steps", type=int, default=None, help="override the tiny preset's steps")
    args = parser.parse_args()
    torch.set_num_threads(2)
    clip, vqgan = load_clip("tiny-shapes", "cpu"), load_vqgan("tiny-shapes", "cpu")
    config = PRESETS["tiny"].config
    config = replace(config, steps=args.steps) if args.steps is not None else config
    prompts = [shapes_prompt(color, shape) for color, shape in CLASSES]
    class_embeddings = clip.encode_texts(prompts)  # (30, D)
    seconds, wanted, images = [], CLASSES[:args.limit], []
    for pair, prompt in zip(wanted, prompts):
        start = time.perf_counter()
        result = generate(prompt, clip, vqgan, config, progress=False)
        seconds.append(time.perf_counter() - start)
        images.append(result.pixels)
    pixels = torch.stack(images)  # (n, 3, 32, 32)
    verdicts = judge(pixels)
    colors = [verdict.color == color for verdict, (color, _) in zip(verdicts, wanted)]
    shapes = [verdict.shape == shape for verdict, (_, shape) in zip(verdicts, wanted)]
    both = [c and s for c, s in zip(colors, shapes)]
    confident = [ok and verdict.confidence >= 0.9 for ok, verdict in zip(both, verdicts)]
    with torch.no_grad():
        clip_choice = (clip.embed_pixels(pixels.to(clip.device)).cpu() @ class_embeddings.T).argmax(1)  # (n,)
    clip_agrees = [CLASSES[int(index)] == pair for index, pair in zip(clip_choice, wanted)]
    emit("generate_tiny", {
        "judge_success_rate": round(sum(both) / len(both), 4), "judge_successes": sum(both), "prompts": len(both),
        "judge_confident_success_rate": round(sum(confident) / len(confident), 4),  # right and confidence >= 0.9
        "mean_judge_confidence": round(sum(v.confidence for v in verdicts) / len(verdicts), 4),
        "color_right_rate": round(sum(colors) / len(colors), 4), "shape_right_rate": round(sum(shapes) / len(shapes), 4),
        "guiding_clip_agrees_rate": round(sum(clip_agrees) / len(clip_agrees), 4),
        "median_seconds_per_image": round(statistics.median(seconds), 2),
        "max_seconds_per_image": round(max(seconds), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),  # the whole process
        "failures": [f"{shapes_prompt(*pair)} -> {v.color} {v.shape}" for pair, v, ok in zip(wanted, verdicts, both)
                     if not ok],
    }, settings=asdict(config))


if __name__ == "__main__":
    main()
