"""Claim: the strict measure passes fresh Shapes (>= 97%, right color and shape) and fails nonsense (<= 5% for
each negative control), where the old judge does not.

For each negative control, an image "passes" the strict measure if it would pass for ANY of the 30 color x shape
prompts (measure.shows_any_shape), the harshest reading. For the old judge (judge.py), which always names some
color and shape, the figure is the share of images it names with confidence >= 0.5, and its median confidence.
Also reported: how the bundled VQGANs' reconstructions of fresh Shapes fare (what a perfect generator could reach).

    python bench/strict_measure.py [--n 300]
"""
from __future__ import annotations

import argparse
import statistics

import torch

from _common import emit

from mmlesson import controls
from mmlesson.judge import judge
from mmlesson.measure import check_images, pass_rate, shows_any_shape
from mmlesson.shapes import make_shapes
from mmlesson.vqgan import BUNDLED_VQGANS, load_vqgan

FRESH_SEED = 91_000_001  # never a training seed
CONTROL_SEED = 91_000_002


def judge_figures(images) -> dict:
    verdicts = judge(torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255)
    confidences = [verdict.confidence for verdict in verdicts]
    return {"judge_confident_rate": round(sum(c >= 0.5 for c in confidences) / len(confidences), 3),
            "judge_median_confidence": round(statistics.median(confidences), 3)}


@torch.no_grad()
def reconstructions(vqgan, images):
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1  # (n, 3, 32, 32) in [-1, 1]
    return controls.to_uint8(vqgan(pixels)[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300, help="images per negative control (fresh Shapes: 3x)")
    args = parser.parse_args()
    fresh = make_shapes(3 * args.n, seed=FRESH_SEED)
    prompts = [f"a {a.color} {a.shape}" for a in fresh.attributes]
    full = [f"a {a.size} {a.color} {a.shape} {a.position}" for a in fresh.attributes]
    figures = {"fresh_shapes": {"strict_pass": round(pass_rate(check_images(fresh.images, prompts)), 4),
                                "strict_pass_full_caption": round(pass_rate(check_images(fresh.images, full)), 4),
                                "n": len(prompts), **judge_figures(fresh.images)}}
    vqgan = load_vqgan("tiny-shapes", "cpu")
    for name, images in controls.all_controls(vqgan, args.n, CONTROL_SEED).items():
        figures[name] = {"strict_pass_any_prompt": round(pass_rate(shows_any_shape(images)), 4), "n": len(images),
                         **judge_figures(images)}
    for name in BUNDLED_VQGANS:
        rebuilt = reconstructions(load_vqgan(name, "cpu"), fresh.images)
        figures[f"reconstructions by {name}"] = {"strict_pass": round(pass_rate(check_images(rebuilt, prompts)), 4),
                                                 "n": len(prompts)}
    emit("strict_measure", figures, seeds={"fresh": FRESH_SEED, "controls": CONTROL_SEED})


if __name__ == "__main__":
    main()
