"""The shell entry point: ``python -m mmlesson COMMAND``, and every command-line adapter of the course.

Each command reads its arguments, calls the module that owns the idea (training in train.py, search in
index.py, ...), and prints what it did; no teaching module holds command-line code. A module is
imported only when its command runs, so that ``doctor`` still works (and says what is wrong) where
torch itself cannot be imported. Our own clear errors (ValueError, FileNotFoundError) print as one
line, without a traceback; bad numbers are refused by the parser before anything runs.
"""
from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import asdict, replace
from pathlib import Path

from . import checks


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (ValueError, FileNotFoundError) as error:  # our own clear messages: no traceback soup
        print(f"mmlesson {args.command}: {error}", file=sys.stderr)
        return 2


# --- the commands ---

def doctor_command(args: argparse.Namespace) -> int:
    """Print the environment report; exit 1 with one line per problem if the course cannot run."""
    try:
        from .doctor import environment_report
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


def train_clip_command(args: argparse.Namespace) -> int:
    """Train the tiny CLIP, print its history, save it (and register it with --register)."""
    from .train import TrainConfig, save_tiny_clip, steps_for_seconds, train_clip

    cfg = TrainConfig(seed=args.seed, **_given(args, "steps", "batch_size"))
    if args.seconds is not None:
        cfg = replace(cfg, steps=steps_for_seconds(args.seconds, cfg))
    result = train_clip(cfg)
    for row in result.history:
        print(f"step {row['step']:>5}  {row['seconds']:>6.1f} s  loss {row['loss']:.3f}  "
              f"zero-shot {row['zero_shot']:.1%}  held-out {row['held_out']:.1%}")
    command = "python -m mmlesson " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("__main__.py") else \
        f"python -m mmlesson train-clip --steps {cfg.steps} --seed {cfg.seed}"
    metrics = save_tiny_clip(result, cfg, args.out, command, register=args.register)
    print(f"saved {args.out}: {metrics}")
    return 0


def train_vqgan_command(args: argparse.Namespace) -> int:
    """Train the tiny VQGAN, measure it on fresh Shapes, save it (and register it with --register)."""
    from . import checkpoints
    from .vqgan import (EVAL_SEED, TINY_CHECKPOINT, TINY_NODISC_CHECKPOINT, TinyTrainingConfig,
                        reconstruction_metrics, train_tiny_vqgan)

    settings = TinyTrainingConfig(discriminator=not args.no_discriminator, **_given(args, "steps", "batch_size"))
    vqgan, summary = train_tiny_vqgan(settings, seed=args.seed)
    metrics = {**reconstruction_metrics(vqgan, 2000, EVAL_SEED), **summary, "eval_images": 2000,
               "eval_seed": EVAL_SEED}
    model_config = asdict(settings.model)
    recipe = {key: value for key, value in asdict(settings).items() if key != "model"}
    out = Path(args.out)
    checkpoints.save_state(vqgan.state_dict(), out, {"config": model_config, "training": recipe, "metrics": metrics})
    print(json.dumps(metrics))
    if args.register:
        name = TINY_CHECKPOINT if settings.discriminator else TINY_NODISC_CHECKPOINT
        command = (f"python -m mmlesson train-vqgan --steps {settings.steps} --seed {args.seed}"
                   f"{' --no-discriminator' if args.no_discriminator else ''} --out {args.out} --register")
        checkpoints.register(name, out, command, args.seed, metrics, {"model": model_config, "training": recipe})
        print(f"registered {name} in {checkpoints.REGISTRY_FILE}")
    return 0


def train_judge_command(args: argparse.Namespace) -> int:
    """Train the independent Shapes judge, measure it, save it (and register it with --register)."""
    import time

    from . import checkpoints, judge

    config = replace(judge.JudgeConfig(), **_given(args, "steps", "batch_size"))
    start = time.perf_counter()
    model = judge.train_judge(config, seed=args.seed)
    seconds = time.perf_counter() - start
    metrics = {"fresh_shapes": judge.accuracy(model), "train_seconds": round(seconds, 1),
               "parameters": judge.parameter_count(model)}
    metadata = {"config": asdict(config), "seed": args.seed, "metrics": metrics}
    sha256 = checkpoints.save_state(model.state_dict(), args.out, metadata)
    print(f"judge saved to {args.out} (sha256 {sha256[:12]}…): fresh Shapes accuracy "
          f"color {metrics['fresh_shapes']['color']:.4f}, shape {metrics['fresh_shapes']['shape']:.4f}, "
          f"both {metrics['fresh_shapes']['joint']:.4f}; trained in {seconds:.0f} s")
    if args.register:
        command = f"python -m mmlesson train-judge --seed {args.seed} --out {args.out} --register"
        checkpoints.register(judge.CHECKPOINT_NAME, args.out, command, args.seed, metrics, asdict(config))
    return 0


def index_command(args: argparse.Namespace) -> int:
    """Embed a folder's images into a saved index (only new or changed files when it exists)."""
    from .index import default_index_dir, index_folder

    index = index_folder(args.folder, args.model, args.out, **_given(args, "batch_size"))
    out = Path(args.out) if args.out else default_index_dir(args.folder)
    print(f"index at {out}: {len(index)} images ({index.model_name}, dim {index.embed_dim}, {index.config.dtype})")
    return 0


def search_command(args: argparse.Namespace) -> int:
    """Query a saved index in words; print a table or JSON records."""
    from .index import MANIFEST_FILE, ImageIndex, default_index_dir
    from .search import format_table

    directory = Path(args.index).expanduser()
    if not (directory / MANIFEST_FILE).exists() and (default_index_dir(directory) / MANIFEST_FILE).exists():
        directory = default_index_dir(directory)  # the folder that was indexed, not the index itself
    index = ImageIndex.load(directory, verbose=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = index.search(args.query, k=args.k)
    for warning in caught:  # one clean line each, not a source location
        print(f"mmlesson search: note: {warning.message}", file=sys.stderr)
    if args.json:
        print(json.dumps([result.to_dict() for result in results], indent=1))
    else:
        print(format_table(results))
    return 0


def generate_command(args: argparse.Namespace) -> int:
    """VQGAN+CLIP from the shell: a PNG and a GIF of the optimisation in --out."""
    from . import config as settings
    from .files import atomic_write
    from .generate import PRESETS, default_preset, generate, parse_prompts, save_animation
    from . import measure

    name = checks.one_of(args.preset or default_preset(), PRESETS, "preset")
    preset = PRESETS[name]
    parse_prompts(args.prompt)  # a bad prompt fails here, before any model loads
    if preset.clip != "tiny-shapes" and settings.OFFLINE:
        raise ValueError(f"preset {name!r} needs downloaded weights, but MMLESSON_OFFLINE=1; use --preset tiny.")
    config = replace(preset.config, seed=args.seed, steps=args.steps if args.steps is not None else preset.config.steps)
    print(f"generate: preset {name} ({preset.clip} + {preset.vqgan}, {config.resolution}px, {config.cutouts} cutouts, "
          f"{config.steps} steps; expected {preset.expected})")
    result = generate(args.prompt, preset.clip, preset.vqgan, config)
    stem = "_".join("".join(c if c.isalnum() else " " for c in args.prompt).split())[:60] or "image"
    image_path, gif_path = Path(args.out) / f"{stem}.png", Path(args.out) / f"{stem}.gif"
    atomic_write(image_path, lambda handle: result.image.save(handle, format="PNG"))
    save_animation(result.frames, gif_path, scale=max(1, 256 // config.resolution))
    note = f" (stopped early: {result.stopped})" if result.stopped else ""
    print(f"saved {image_path} and {gif_path} after {result.steps_done} steps in {result.seconds:.1f} s{note}")
    if config.resolution == measure.IMAGE_SIZE:  # the strict measure reads Shapes-sized images
        main_text = parse_prompts(args.prompt)[0].text
        print(f"strict measure ({main_text!r}): {measure.check_images(result.pixels[None], main_text)[0]}")
    return 0


def _given(args: argparse.Namespace, *names: str) -> dict:
    """The options among ``names`` that were given on the command line (the others keep their defaults)."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


# --- the parser ---

def positive_int(text: str) -> int:
    """argparse type: a whole number, 1 or more (steps, batch sizes, k)."""
    try:
        return checks.positive_int(int(text) if text.strip().lstrip("+-").isdigit() else text, "the value")
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None


def positive_float(text: str) -> float:
    """argparse type: a positive number of seconds."""
    try:
        return checks.positive_number(text, "the value")
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mmlesson", description="mmlesson: the course's command line.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    commands.add_parser("doctor", help="check that the course can run here").set_defaults(run=doctor_command)
    _add_training_commands(commands)
    _add_search_commands(commands)
    generate = commands.add_parser("generate", help="VQGAN+CLIP: make an image from words")
    generate.add_argument("prompt")
    generate.add_argument("--preset", default=None, help="cpu, mps, small-cuda, large-cuda, or tiny")
    generate.add_argument("--steps", type=positive_int, default=None)
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--out", default="generated")
    generate.set_defaults(run=generate_command)
    return parser


def _add_training_commands(commands) -> None:
    recipes = [("train-clip", "train the tiny CLIP on Shapes", "data/tiny-clip-shapes.safetensors", train_clip_command),
               ("train-vqgan", "train the tiny VQGAN on Shapes", "data/tiny-vqgan-shapes.safetensors",
                train_vqgan_command),
               ("train-judge", "train the independent Shapes judge", "data/shapes-judge.safetensors",
                train_judge_command)]
    for name, help_text, out, run in recipes:
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--steps", type=positive_int, default=None, help="number of optimiser steps")
        command.add_argument("--batch-size", type=positive_int, default=None, help="examples per step")
        command.add_argument("--seed", type=int, default=0)
        command.add_argument("--out", default=out)
        command.add_argument("--register", action="store_true", help="record it in data/checkpoints.json")
        command.set_defaults(run=run)
        if name == "train-clip":
            command.add_argument("--seconds", type=positive_float, default=None, help="stop after this much training")
        if name == "train-vqgan":
            command.add_argument("--no-discriminator", action="store_true", help="train without the discriminator")


def _add_search_commands(commands) -> None:
    index = commands.add_parser("index", help="embed the images of a folder into a saved index")
    index.add_argument("folder")
    index.add_argument("--out", default=None, help="index folder (default: FOLDER/.mmlesson-index)")
    index.add_argument("--model", default=None,
                       help="a load_clip name, e.g. tiny-shapes or ViT-B-32 (default: the saved index's model, "
                            "else tiny-shapes)")
    index.add_argument("--batch-size", type=positive_int, default=None, help="images per encode call")
    index.set_defaults(run=index_command)
    search = commands.add_parser("search", help="query a saved index in words")
    search.add_argument("index")
    search.add_argument("query")
    search.add_argument("-k", type=positive_int, default=5)
    search.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    search.set_defaults(run=search_command)
