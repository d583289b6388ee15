"""Claim: prompt engineering, measured. The tiny Shapes CLIP's zero-shot top-1 over all 30 color x shape
classes with a bare class name, with "a photo of a {}", and with template ensembles (also the mean
cross-entropy and true-class probability, which still separate the prompt sets when top-1 saturates).

Images are a fresh Shapes draw (a seed the model was not trained on). The ensembles are
mmlesson.zeroshot's: SHAPES_TEMPLATES stay inside the tiny model's ~30-word vocabulary,
PHOTO_TEMPLATES are written for real CLIP (most of their words are <unk> to the tiny model).

Usage: python bench/zeroshot_prompts.py [--n 3000] [--seed 3]   (MMLESSON_QUICK=1: 600 images)
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from _common import emit

from mmlesson import config, zeroshot
from mmlesson.models import load_clip
from mmlesson.shapes import CLASS_NAMES, CLASSES, DEFAULT_HOLDOUT, make_shapes

TEMPLATE_SETS = {
    "bare": ("{}",),
    "photo_of_a": ("a photo of a {}",),
    "default": zeroshot.DEFAULT_TEMPLATES,
    "shapes_ensemble": zeroshot.SHAPES_TEMPLATES,
    "photo_ensemble": zeroshot.PHOTO_TEMPLATES,
    "full_ensemble": zeroshot.ENSEMBLE_TEMPLATES,
}


def unknown_word_share(clip, templates) -> float:
    """Fraction of the template words (class name excluded) that the model's tokenizer does not know."""
    unknown_words = getattr(clip.tokenize, "unknown_words", None)
    if unknown_words is None:  # a BPE tokenizer knows every word
        return 0.0
    words = [word for template in templates for word in template.replace("{}", " ").split()]
    return sum(len(unknown_words(word)) > 0 for word in words) / max(len(words), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=config.quick(3000, 600), help="Shapes test images")
    parser.add_argument("--seed", type=int, default=3, help="Shapes seed (not a training seed)")
    parser.add_argument("--model", default="tiny-shapes", help="load_clip name or a tiny checkpoint path")
    args = parser.parse_args()
    config.seed_everything(0)
    clip = load_clip(args.model, device="cpu")
    batch = make_shapes(args.n, seed=args.seed)
    start = time.perf_counter()
    image_embeddings = zeroshot.encode_images(clip, batch.images, progress=False)
    encode_s = time.perf_counter() - start
    held_out = np.isin(batch.labels, [CLASSES.index(pair) for pair in DEFAULT_HOLDOUT])
    figures = {"n_images": args.n, "n_classes": len(CLASS_NAMES), "encode_images_per_s": args.n / encode_s}
    for key, templates in TEMPLATE_SETS.items():
        classifier = zeroshot.ZeroShotClassifier.from_names(clip, CLASS_NAMES, templates)
        logits = classifier.logits_from_embeddings(image_embeddings)  # (n_images, 30)
        evaluation = zeroshot.evaluate_logits(logits, batch.labels, CLASS_NAMES)
        predicted = logits.argmax(dim=1).numpy()
        figures[f"top1_{key}"] = round(evaluation.top1, 4)
        figures[f"top5_{key}"] = round(evaluation.top5, 4)
        figures[f"top1_held_out_pairs_{key}"] = round(float((predicted == batch.labels)[held_out].mean()), 4)
        # top-1 saturates on Shapes; the cross-entropy and the true class's probability still separate prompt sets
        labels = torch.from_numpy(batch.labels)
        figures[f"nll_{key}"] = round(float(F.cross_entropy(logits, labels)), 4)
        figures[f"true_class_probability_{key}"] = round(float(logits.softmax(dim=1)[torch.arange(len(labels)), labels]
                                                               .mean()), 4)
        figures[f"templates_{key}"] = len(templates)
        figures[f"unknown_word_share_{key}"] = round(unknown_word_share(clip, templates), 3)
    figures["ensemble_gain_vs_photo_of_a"] = round(figures["top1_shapes_ensemble"] - figures["top1_photo_of_a"], 4)
    emit("zeroshot_prompts", figures, model=clip.name, seed=args.seed, quick=config.QUICK,
         held_out_pairs=[" ".join(pair) for pair in DEFAULT_HOLDOUT])


if __name__ == "__main__":
    main()
