"""Claim: on Shapes with the bundled tiny CLIP, text search reaches mean precision@10 >= 0.95 over all
30 color x shape queries ("a red star", ...). Also reported: the 3 held-out pairs alone (never seen
in training), and full attribute queries ("a small blue circle on the left") judged against all
four known attributes. Images come from a seed the model was not trained on.

    python bench/search_precision.py            # 6,000 images
    python bench/search_precision.py --quick    # 1,500 images (correctness run)
"""
from __future__ import annotations

import argparse
import sys

from _common import emit

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer images: a correctness run, not a measurement")
    args = parser.parse_args()
    from mmlesson import config, shapes
    from mmlesson.models import load_clip
    from mmlesson.search import ImageIndex, precision_at_k, recall_at_k

    try:
        model = load_clip("tiny-shapes", device="cpu")
    except ValueError as error:  # CheckpointError: not trained/registered yet
        sys.exit(f"search_precision needs the bundled tiny CLIP: {error} "
                 "(train it: python -m mmlesson train-clip --register).")
    quick = args.quick or config.QUICK
    count, k = (1_500 if quick else 6_000), 10
    batch = shapes.make_shapes(count, seed=2024)
    index = ImageIndex.from_images(batch, model, progress=False, verbose=False)

    def matching(**wanted) -> set:
        return {i for i, a in enumerate(batch.attributes)
                if all(getattr(a, key) == value for key, value in wanted.items())}

    pairs = list(shapes.CLASSES)
    class_queries = [shapes.with_article(f"a {color} {shape}") for color, shape in pairs]
    class_relevant = [matching(color=color, shape=shape) for color, shape in pairs]
    class_results = index.search(class_queries, k=k)
    per_class = {query: round(precision_at_k([found], [truth], k), 2)
                 for query, found, truth in zip(class_queries, class_results, class_relevant)}
    held_out = [i for i, pair in enumerate(pairs) if pair in shapes.DEFAULT_HOLDOUT]

    rng = np.random.default_rng(0)
    issue_example = shapes.ShapeAttributes(shape="circle", color="blue", size="small", position="on the left")
    combos = [issue_example] + [batch.attributes[i] for i in rng.permutation(count)[:40]]
    attribute_queries = [shapes.describe(a, keep_size=True, keep_position=True) for a in combos]
    attribute_relevant = [matching(color=a.color, shape=a.shape, size=a.size, position=a.position) for a in combos]
    attribute_results = index.search(attribute_queries, k=k)
    enough = [i for i, truth in enumerate(attribute_relevant) if len(truth) >= k]  # precision@10 can reach 1

    figures = {
        "images": count, "k": k,
        "mean_precision@10_color_shape": round(precision_at_k(class_results, class_relevant, k), 4),
        "mean_recall@10_color_shape": round(recall_at_k(class_results, class_relevant, k), 4),
        "mean_precision@10_held_out_pairs": round(precision_at_k([class_results[i] for i in held_out],
                                                                 [class_relevant[i] for i in held_out], k), 4),
        "mean_precision@10_full_attributes": round(precision_at_k([attribute_results[i] for i in enough],
                                                                  [attribute_relevant[i] for i in enough], k), 4),
        "full_attribute_queries": len(enough),
        "issue_example": {"query": attribute_queries[0], "relevant": len(attribute_relevant[0]),
                          "precision@10": round(precision_at_k(attribute_results[:1], attribute_relevant[:1], k), 2)},
        "worst_color_shape": sorted(per_class.items(), key=lambda item: item[1])[:5],
        "target": 0.95,
    }
    figures["target_met"] = figures["mean_precision@10_color_shape"] >= 0.95
    emit("search_precision", figures, quick=quick, data=f"make_shapes({count}, seed=2024), not a training seed")


if __name__ == "__main__":
    main()
