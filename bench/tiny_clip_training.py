"""Target: the fast recipe (train.RECIPES["fast"]) trains the tiny CLIP from scratch on 2 CPU cores to >= 98%
zero-shot top-1 over all 30 color x shape classes, and >= 95% on the held-out pairs, within 30 s of training wall
time; measured side by side with the lesson's recipe (train.py's defaults) in the same run, and over more seeds.

For every budget and recipe the step count is fitted to the budget on this machine (train.steps_for_seconds), so
the warm-up and cosine decay end inside it, and the model is evaluated once at the end, on fresh images (evaluation
time excluded from the training seconds). Prints accuracy against training seconds for both recipes, the machine
and its load (run it under `flock -x /tmp/mmlesson-cpu.lock` on a shared machine).
"""
import argparse
import os
from dataclasses import replace

from _common import emit

from mmlesson import train

RECIPES = {"lesson": train.RECIPES["lesson"], "fast": train.RECIPES["fast"]}
EVAL_IMAGES = 3_000  # all-class test images; the held-out test set gets a fifth of this (600)


def train_for(seconds: float, recipe: str, seed: int) -> dict:
    """One run of ``recipe`` fitted to ``seconds``: its steps, real training seconds and final accuracies."""
    cfg, model_cfg = RECIPES[recipe]
    cfg = replace(cfg, seed=seed, eval_images=EVAL_IMAGES)
    steps = train.steps_for_seconds(seconds, cfg, model_cfg)
    result = train.train_clip(replace(cfg, steps=steps, eval_every=steps), model_cfg, progress=False)
    final = result.history[-1]
    return {"budget_s": seconds, "steps": steps, "train_s": round(result.train_seconds, 1),
            "all_classes": round(final["zero_shot"], 4), "held_out": round(final["held_out"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budgets", type=float, nargs="+", default=[10, 20, 30, 45, 60])
    parser.add_argument("--seed", type=int, default=0, help="the seed of the curves")
    parser.add_argument("--more-seeds", type=int, nargs="*", default=[1, 2], help="more 30 s runs of the fast recipe")
    args = parser.parse_args()
    load_before = os.getloadavg()
    curves = {recipe: [train_for(seconds, recipe, args.seed) for seconds in args.budgets] for recipe in RECIPES}
    fast_30s_more_seeds = {seed: train_for(30, "fast", seed) for seed in args.more_seeds}
    emit("tiny_clip_training", {
        "curves": curves, "fast_30s_more_seeds": fast_30s_more_seeds,
        "recipes": {name: train.recipe_changes(name) for name in RECIPES}},
        load_1min_before_after=[round(load_before[0], 2), round(os.getloadavg()[0], 2)])


if __name__ == "__main__":
    main()
