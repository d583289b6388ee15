"""Claim: on Shapes, zero-shot (no training images) against linear probes on the same frozen tiny-CLIP
embeddings: a probe on the whole training pool, and k-shot probes with k = 1, 4, 16 images per class
(mean and spread over seeds). Measured on clean Shapes and on Shapes with Gaussian pixel noise
(sigma 40), a distribution shift that zero-shot cannot adapt to but a probe trained on a few noisy
examples can.

Usage: python bench/zeroshot_vs_fewshot.py [--train 3000] [--test 3000] [--seeds 5] [--noise 40]
       (MMLESSON_QUICK=1: 900 / 600 images, 2 seeds)
"""
from __future__ import annotations

import argparse

from _common import emit

from mmlesson import config, zeroshot
from mmlesson.models import load_clip
from mmlesson.shapes import CLASS_NAMES, make_shapes


def measure(clip, pool, test, pool_images, test_images, n_seeds: int, prefix: str) -> dict:
    pool_embeddings = zeroshot.encode_images(clip, pool_images, progress=False)  # (n_pool, D)
    test_embeddings = zeroshot.encode_images(clip, test_images, progress=False)  # (n_test, D)
    figures = {}
    for key, templates in (("default", zeroshot.DEFAULT_TEMPLATES), ("shapes_ensemble", zeroshot.SHAPES_TEMPLATES)):
        classifier = zeroshot.ZeroShotClassifier.from_names(clip, CLASS_NAMES, templates)
        evaluation = classifier.evaluate_embeddings(test_embeddings, test.labels)
        figures[f"{prefix}zero_shot_top1_{key}"] = round(evaluation.top1, 4)
    probe = zeroshot.linear_probe(pool_embeddings, pool.labels, class_names=CLASS_NAMES)
    figures[f"{prefix}probe_full_top1"] = round(probe.evaluate(test_embeddings, test.labels).top1, 4)
    curve = zeroshot.k_shot_accuracy(pool_embeddings, pool.labels, test_embeddings, test.labels, ks=(1, 4, 16),
                                     seeds=range(n_seeds), n_classes=len(CLASS_NAMES))
    for k, mean, std in zip(curve.ks, curve.mean, curve.std):
        figures[f"{prefix}k{k}_top1_mean"] = round(float(mean), 4)
        figures[f"{prefix}k{k}_top1_std"] = round(float(std), 4)
    figures[f"{prefix}k16_minus_zero_shot"] = round(figures[f"{prefix}k16_top1_mean"]
                                                    - figures[f"{prefix}zero_shot_top1_default"], 4)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=config.quick(3000, 900), help="training pool images")
    parser.add_argument("--test", type=int, default=config.quick(3000, 600), help="test images")
    parser.add_argument("--seeds", type=int, default=config.quick(5, 2), help="draws per k")
    parser.add_argument("--noise", type=float, default=40.0, help="pixel noise sigma of the shifted condition")
    parser.add_argument("--data-seed", type=int, default=5, help="Shapes seed of the pool; the test set uses +1")
    parser.add_argument("--model", default="tiny-shapes", help="load_clip name or a tiny checkpoint path")
    args = parser.parse_args()
    config.seed_everything(0)
    clip = load_clip(args.model, device="cpu")
    pool, test = make_shapes(args.train, seed=args.data_seed), make_shapes(args.test, seed=args.data_seed + 1)
    figures = {"n_pool": args.train, "n_test": args.test, "n_seeds": args.seeds, "n_classes": len(CLASS_NAMES),
               "noise_sigma": args.noise}
    figures.update(measure(clip, pool, test, pool.images, test.images, args.seeds, "clean_"))
    noisy_pool = zeroshot.add_pixel_noise(pool.images, args.noise, seed=1)
    noisy_test = zeroshot.add_pixel_noise(test.images, args.noise, seed=2)
    figures.update(measure(clip, pool, test, noisy_pool, noisy_test, args.seeds, "noisy_"))
    emit("zeroshot_vs_fewshot", figures, model=clip.name, data_seed=args.data_seed, quick=config.QUICK,
         probe=vars(zeroshot.ProbeConfig()))


if __name__ == "__main__":
    main()
