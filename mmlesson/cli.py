"""The shell entry point: ``python -m mmlesson COMMAND``.

Each command is wired here and implemented in the module that owns the idea
(training in train.py, search in search.py, ...), so this file stays a table of contents.
"""
from __future__ import annotations

import argparse
import sys


def doctor(args: argparse.Namespace) -> int:
    """Print the environment report; exit 1 with one line per problem if the course cannot run."""
    try:
        from .config import environment_report
        rows, problems = environment_report()
    except Exception as error:  # e.g. a bad MMLESSON_* value: one clear line, no traceback
        print(f"mmlesson doctor: {error}", file=sys.stderr)
        return 1
    width = max(len(what) for what, _ in rows)
    for what, value in rows:
        print(f"{what:<{width}}  {value}")
    if problems:
        print(f"\n{len(problems)} problem(s) stop the course:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("\nall good: the course can run here.")
    return 0


def _lazy(module: str, function: str):
    def run(args: argparse.Namespace) -> int:
        from importlib import import_module
        return getattr(import_module(f"mmlesson.{module}"), function)(args) or 0
    return run


GENERATE_METHODS = {"vqgan-clip": "generate", "dalle": "dalle", "unclip": "unclip"}  # --method -> its module


def _generate(args: argparse.Namespace) -> int:
    if args.samples is not None and args.samples < 1:
        raise ValueError(f"--samples must be 1 or more (candidates drawn, the best kept by CLIP); got {args.samples}.")
    return _lazy(GENERATE_METHODS[args.method], "generate_command")(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mmlesson", description="mmlesson: the course's command line.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    commands.add_parser("doctor", help="check that the course can run here").set_defaults(run=doctor)

    train_clip = commands.add_parser("train-clip", help="train the tiny CLIP on Shapes")
    train_clip.add_argument("--seconds", type=float, default=None, help="stop after this much training time")
    train_clip.add_argument("--steps", type=int, default=None, help="number of optimiser steps")
    train_clip.add_argument("--seed", type=int, default=0)
    train_clip.add_argument("--out", default="data/tiny-clip-shapes.safetensors")
    train_clip.add_argument("--register", action="store_true", help="record it in data/checkpoints.json")
    train_clip.set_defaults(run=_lazy("train", "train_clip_command"))

    train_vqgan = commands.add_parser("train-vqgan", help="train the tiny VQGAN on Shapes")
    train_vqgan.add_argument("--model", default="tiny-shapes",
                             help="which bundled tiny VQGAN to re-create: tiny-shapes or tiny-shapes-8x8")
    train_vqgan.add_argument("--steps", type=int, default=None)
    train_vqgan.add_argument("--seed", type=int, default=0)
    train_vqgan.add_argument("--no-discriminator", action="store_true", help="train without the patch discriminator")
    train_vqgan.add_argument("--out", default=None, help="default: data/<the model's checkpoint name>.safetensors")
    train_vqgan.add_argument("--register", action="store_true", help="record it in data/checkpoints.json")
    train_vqgan.set_defaults(run=_lazy("vqgan", "train_vqgan_command"))

    train_judge = commands.add_parser("train-judge", help="train the independent Shapes judge")
    train_judge.add_argument("--seed", type=int, default=0)
    train_judge.add_argument("--out", default="data/shapes-judge.safetensors")
    train_judge.add_argument("--register", action="store_true", help="record it in data/checkpoints.json")
    train_judge.set_defaults(run=_lazy("judge", "train_judge_command"))

    index = commands.add_parser("index", help="embed the images of a folder into a saved index")
    index.add_argument("folder")
    index.add_argument("--out", default=None, help="index folder (default: FOLDER/.mmlesson-index)")
    index.add_argument("--model", default=None,
                       help="a load_clip name, e.g. tiny-shapes or ViT-B-32 (default: the saved index's model, else tiny-shapes)")
    index.set_defaults(run=_lazy("search", "index_command"))

    search = commands.add_parser("search", help="query a saved index in words")
    search.add_argument("index")
    search.add_argument("query")
    search.add_argument("-k", type=int, default=5)
    search.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    search.set_defaults(run=_lazy("search", "search_command"))

    generate = commands.add_parser("generate", help="make an image from words (VQGAN+CLIP, mini DALL-E)")
    generate.add_argument("prompt")
    generate.add_argument("--method", default="vqgan-clip", choices=tuple(GENERATE_METHODS),
                          help="vqgan-clip (optimise codes with CLIP), dalle (mini DALL-E samples codes), "
                               "unclip (CLIP prior + a transformer decoder)")
    generate.add_argument("--samples", type=int, default=None,
                          help="candidates drawn; the tiny CLIP keeps the best (dalle: 16; vqgan-clip: the preset's)")
    generate.add_argument("--preset", default=None, help="cpu, mps, small-cuda, large-cuda, or tiny")
    generate.add_argument("--steps", type=int, default=None)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--out", default="generated")
    generate.set_defaults(run=_generate)

    train_dalle = commands.add_parser("train-dalle", help="train the mini DALL-E (or, with --stage2, VQGAN's stage 2)")
    train_dalle.add_argument("--stage2", action="store_true", help="one start token instead of a caption")
    train_dalle.add_argument("--steps", type=int, default=None)
    train_dalle.add_argument("--seed", type=int, default=0)
    train_dalle.add_argument("--out", default=None, help="default: data/<checkpoint name>.safetensors")
    train_dalle.add_argument("--register", action="store_true", help="record it in data/checkpoints.json")
    train_dalle.set_defaults(run=_lazy("dalle", "train_dalle_command"))

    train_unclip = commands.add_parser("train-unclip", help="train the small unCLIP (MLP prior + transformer decoder)")
    train_unclip.add_argument("--steps", type=int, default=None, help="decoder optimiser steps")
    train_unclip.add_argument("--seed", type=int, default=0)
    train_unclip.add_argument("--out", default=None, help="default: data/unclip-shapes.safetensors")
    train_unclip.add_argument("--register", action="store_true", help="record it in data/checkpoints.json")
    train_unclip.set_defaults(run=_lazy("unclip", "train_unclip_command"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, FileNotFoundError) as error:  # our own clear messages: no traceback soup
        print(f"mmlesson {args.command}: {error}", file=sys.stderr)
        return 2
