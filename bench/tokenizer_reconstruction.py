"""Claim: lesson 5's 8x8 tokenizer keeps >= 95% of fresh Shapes whole under the strict measure (>= 90% of small ones).

Measures, side by side in one run, each bundled 8x8 tokenizer (and any extra checkpoint given with --extra, for
ablations): the strict measure's pass rate on its reconstructions of 900 fresh Shapes (seed 4242: never a
training seed), split small / large and by shape, the originals' own pass rate (the ceiling), PSNR, codes used,
the tiny CLIP's shape reading of the reconstructions, and the training seconds recorded for it. Prints one JSON line.
Usage: python bench/tokenizer_reconstruction.py [--images N] [--extra PATH ...]
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from _common import emit

TOKENIZERS = ("tiny-shapes-8x8", "tiny-shapes-8x8-cosine")  # load_vqgan names, before and after the new recipe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=900)
    parser.add_argument("--extra", nargs="*", default=[], help="more .safetensors tokenizers to measure (ablations)")
    args = parser.parse_args()

    from mmlesson import checkpoints
    from mmlesson.models import load_clip
    from mmlesson.vqgan import BUNDLED_VQGANS, load_vqgan, tokenizer_report

    clip, registry = load_clip("tiny-shapes", device="cpu"), checkpoints.registry()
    figures = {}
    for name in [n for n in TOKENIZERS if BUNDLED_VQGANS[n] in registry] + args.extra:
        vqgan = load_vqgan(name, device="cpu")
        entry = registry.get(BUNDLED_VQGANS.get(name, ""), {}) or _sidecar(name)
        figures[Path(name).stem] = {**tokenizer_report(vqgan, clip, args.images),
                                    "train_seconds": entry.get("metrics", {}).get("train_seconds"),
                                    "parameters": sum(p.numel() for p in vqgan.parameters())}
    emit("tokenizer_reconstruction", figures, load_average_1min=round(os.getloadavg()[0], 2),
         targets={"strict": 0.95, "strict_small": 0.90})


def _sidecar(path: str) -> dict:
    """The metadata saved beside an unbundled checkpoint (its .json sidecar), or nothing."""
    sidecar = Path(path).with_suffix(".json")
    return json.loads(sidecar.read_text()) if sidecar.exists() else {}


if __name__ == "__main__":
    main()
