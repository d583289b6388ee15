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
        if args.command != "doctor":  # doctor reports a broken torch instead of importing it here
            from .config import apply_thread_policy
            apply_thread_policy(args.threads)
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
    """Train a tiny VQGAN from its recipe (--model), measure it on fresh Shapes, save it (and register it)."""
    from . import checkpoints
    from .vqgan import (BUNDLED_VQGANS, EVAL_SEED, TINY_RECIPES, color_fidelity, reconstruction_metrics,
                        strict_reconstruction_rate, train_tiny_vqgan)

    name = checks.one_of(args.model, TINY_RECIPES, "VQGAN recipe (--model)")
    if args.no_discriminator and name == "tiny-shapes":
        name = "tiny-shapes-nodisc"
    recipe = TINY_RECIPES[name]
    if args.discriminator and args.no_discriminator:
        raise ValueError("--discriminator and --no-discriminator contradict each other; give one of them.")
    discriminator = args.discriminator or (recipe.discriminator and not args.no_discriminator)
    settings = replace(recipe, discriminator=discriminator, **_given(args, "steps", "batch_size"))
    vqgan, summary = train_tiny_vqgan(settings, seed=args.seed)
    curve = summary.pop("loss_curve")
    metrics = {**reconstruction_metrics(vqgan, 2000, EVAL_SEED), **summary, "eval_images": 2000,
               "eval_seed": EVAL_SEED, "color_fidelity": color_fidelity(vqgan, 600, EVAL_SEED),
               "strict_reconstruction_pass": strict_reconstruction_rate(vqgan, 400, EVAL_SEED)}
    model_config = asdict(settings.model)
    training = {key: value for key, value in asdict(settings).items() if key != "model"}
    out = Path(args.out or _default_out(BUNDLED_VQGANS[name]))
    checkpoints.save_state(vqgan.state_dict(), out, {"config": model_config, "training": training, "metrics": metrics,
                                                     "loss_curve": curve})
    print("loss curve (mean of each 50 steps), last points: "
          + ", ".join(f"{row['step']}: {row['loss']:.4f}" for row in curve[-5:]))
    print(json.dumps(metrics))
    if args.register:
        model_flag = f" --model {args.model}" if args.model != "tiny-shapes" else ""
        command = (f"OMP_NUM_THREADS=1 python -m mmlesson train-vqgan{model_flag} --steps {settings.steps} "
                   f"--seed {args.seed}"
                   f"{_batch_size_flag(args)}{' --no-discriminator' if args.no_discriminator else ''}"
                   f"{' --discriminator' if args.discriminator else ''}"
                   f" --out {args.out or 'data/' + out.name} --register")
        checkpoints.register(BUNDLED_VQGANS[name], out, command, args.seed, metrics,
                             {"model": model_config, "training": training})
        print(f"registered {BUNDLED_VQGANS[name]} in {checkpoints.REGISTRY_FILE}")
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


def train_dalle_command(args: argparse.Namespace) -> int:
    """Train the mini DALL-E (with --stage2, VQGAN's stage 2), measure it, save it (and register it)."""
    from . import checkpoints, dalle
    from .models import load_clip
    from .vqgan import load_vqgan

    name = "stage2" if args.stage2 else "tiny-shapes"
    config = dalle.DalleConfig(conditional=False, text_length=1) if args.stage2 else dalle.DalleConfig()
    config = replace(config, **_given(args, "steps", "batch_size"))
    model, summary = dalle.train_dalle(config, seed=args.seed)
    history = summary.pop("history")
    metrics = dict(summary)
    if config.conditional:  # strict success over the 30 prompts, best of 1 and of 16 by the tiny CLIP
        vqgan, clip = load_vqgan(config.vqgan, device="cpu"), load_clip("tiny-shapes", device="cpu")
        for candidates in (1, 16):
            metrics[f"rerank_{candidates}"] = dalle.evaluate_prompts(model, vqgan, clip, candidates=candidates)
    out = Path(args.out or _default_out(dalle.CHECKPOINTS[name]))
    dalle.save_dalle(model, out, {**metrics, "history": history})
    print(json.dumps(metrics))
    if args.register:
        command = (f"OMP_NUM_THREADS=1 python -m mmlesson train-dalle{' --stage2' if args.stage2 else ''} "
                   f"--steps {config.steps} --seed {args.seed}{_batch_size_flag(args)} --register")
        checkpoints.register(dalle.CHECKPOINTS[name], out, command, args.seed, metrics, dalle.config_record(config))
        print(f"registered {dalle.CHECKPOINTS[name]} in {checkpoints.REGISTRY_FILE}")
    return 0


def train_unclip_command(args: argparse.Namespace) -> int:
    """Train the small unCLIP (--steps and --batch-size are the decoder's), measure its prior, save it."""
    from . import checkpoints, unclip
    from .dalle import config_record
    from .models import load_clip

    decoder = {f"decoder_{key}": value for key, value in _given(args, "steps", "batch_size").items()}
    config = unclip.UnclipConfig(**decoder)
    model, summary = unclip.train_unclip(config, seed=args.seed)
    history = summary.pop("history")
    metrics = {**summary, "prior_cosine": unclip.prior_cosines(model, load_clip("tiny-shapes", device="cpu"))}
    out = Path(args.out or _default_out(unclip.CHECKPOINT))
    unclip.save_unclip(model, out, {**metrics, "history": history})
    print(json.dumps(metrics))
    if args.register:
        command = (f"OMP_NUM_THREADS=1 python -m mmlesson train-unclip --steps {config.decoder_steps} "
                   f"--seed {args.seed}{_batch_size_flag(args)} --register")
        checkpoints.register(unclip.CHECKPOINT, out, command, args.seed, metrics, config_record(config))
        print(f"registered {unclip.CHECKPOINT} in {checkpoints.REGISTRY_FILE}")
    return 0


def index_command(args: argparse.Namespace) -> int:
    """Embed a folder's images into a saved index (only new or changed files when it exists)."""
    from .index import default_index_dir, index_folder

    index = index_folder(args.folder, args.model, args.out, **_given(args, "batch_size"))
    out = Path(args.out) if args.out else default_index_dir(args.folder)
    print(f"index at {out}: {index.summary()}")
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


def badges_command(args: argparse.Namespace) -> int:
    """Write the repository address (--repo, a GitHub origin, or pyproject's) into every badge and COURSE_REPO."""
    from .badges import repository_url, write_badges

    changed = write_badges(args.repo)
    for path in changed:
        print(f"updated {path}")
    print(f"every badge and COURSE_REPO points to {repository_url()}" + ("" if changed else " (nothing to change)"))
    return 0


def clean_notebook_command(args: argparse.Namespace) -> int:
    """Clean saved notebooks: finished progress bars as text, no widgets, checked cells tagged (idempotent)."""
    from .saved_outputs import clean_notebook

    for path in args.notebooks:
        changes = clean_notebook(path)
        print(f"{path}: " + (f"{len(changes)} change(s)" if changes else "already clean"))
        for change in changes if args.verbose else []:
            print(f"  {change}")
    return 0


GENERATE_METHODS = ("vqgan-clip", "dalle", "unclip")  # generate --method; the first is the default
DEFAULT_SAMPLES = 16  # candidates the mini DALL-E and unCLIP draw when --samples is not given


def generate_command(args: argparse.Namespace) -> int:
    """Make an image from words with --method: VQGAN+CLIP (lesson 4), the mini DALL-E or unCLIP (lesson 5)."""
    methods = {"vqgan-clip": _generate_vqgan_clip, "dalle": _generate_dalle, "unclip": _generate_unclip}
    return methods[checks.one_of(args.method, methods, "--method")](args)


def _generate_vqgan_clip(args: argparse.Namespace) -> int:
    """VQGAN+CLIP: a PNG and a GIF of the optimisation in --out; --samples restarts, the guiding CLIP keeps one."""
    from . import config as settings
    from .files import atomic_write
    from .generate import PRESETS, default_preset, generate, parse_prompts, save_animation
    from . import measure

    name = checks.one_of(args.preset or default_preset(), PRESETS, "preset")
    preset = PRESETS[name]
    parse_prompts(args.prompt)  # a bad prompt fails here, before any model loads
    if preset.clip != "tiny-shapes" and settings.OFFLINE:
        raise ValueError(f"preset {name!r} needs downloaded weights, but MMLESSON_OFFLINE=1; use --preset tiny.")
    config = replace(preset.config, seed=args.seed, steps=args.steps if args.steps is not None else preset.config.steps,
                     restarts=args.samples or preset.config.restarts)
    print(f"generate: preset {name} ({preset.clip} + {preset.vqgan}, {config.resolution}px, {config.cutouts} cutouts, "
          f"{config.steps} steps; expected {preset.expected})")
    result = generate(args.prompt, preset.clip, preset.vqgan, config)
    image_path, gif_path = _output_path(args, ".png"), _output_path(args, ".gif")
    atomic_write(image_path, lambda handle: result.image.save(handle, format="PNG"))
    save_animation(result.frames, gif_path, scale=max(1, 256 // config.resolution))
    note = f" (stopped early: {result.stopped})" if result.stopped else ""
    print(f"saved {image_path} and {gif_path} after {result.steps_done} steps in {result.seconds:.1f} s{note}")
    if config.resolution == measure.IMAGE_SIZE:  # the strict measure reads Shapes-sized images
        main_text = parse_prompts(args.prompt)[0].text
        print(f"strict measure ({main_text!r}): {measure.check_images(result.pixels[None], main_text)[0]}")
    return 0


def _generate_dalle(args: argparse.Namespace) -> int:
    """The mini DALL-E: sample --samples images (default 16), keep the one the tiny CLIP ranks first."""
    import time

    from . import dalle
    from .models import load_clip
    from .vqgan import load_vqgan

    samples = args.samples or DEFAULT_SAMPLES
    dalle.prompt_tokens(dalle.layout_for(dalle.DalleConfig()), [args.prompt])  # a bad prompt fails before loading
    model = dalle.load_dalle("tiny-shapes")
    vqgan, clip = load_vqgan(model.config.vqgan, device="cpu"), load_clip("tiny-shapes", device="cpu")
    started = time.perf_counter()
    images, scores = dalle.generate_images(model, vqgan, clip, [args.prompt], samples, seed=args.seed)
    seconds = time.perf_counter() - started
    path = _save_png(images[0], args)
    print(f"saved {path}: best of {samples} by the tiny CLIP (similarity {scores[0]:.3f}) in {seconds:.2f} s")
    _print_strict_verdict(images, args.prompt)
    return 0


def _generate_unclip(args: argparse.Namespace) -> int:
    """The small unCLIP: prior, then decoder, --samples times (default 16); the tiny CLIP keeps the best."""
    from . import unclip
    from .models import load_clip
    from .vqgan import load_vqgan

    samples = args.samples or DEFAULT_SAMPLES
    model = unclip.load_unclip("tiny-shapes")
    vqgan, clip = load_vqgan(model.config.vqgan, device="cpu"), load_clip("tiny-shapes", device="cpu")
    images, scores = unclip.generate_images(model, vqgan, clip, [args.prompt], samples, seed=args.seed)
    path = _save_png(images[0], args)
    print(f"saved {path}: unCLIP (MLP prior + transformer decoder, not DALL-E 2's diffusion decoder), best of "
          f"{samples} by the tiny CLIP (similarity {scores[0]:.3f})")
    _print_strict_verdict(images, args.prompt)
    return 0


def _output_path(args: argparse.Namespace, suffix: str) -> Path:
    """--out/<the prompt's words>.suffix, e.g. generated/a_red_star.png."""
    stem = "_".join("".join(c if c.isalnum() else " " for c in args.prompt).split())[:60] or "image"
    return Path(args.out) / f"{stem}{suffix}"


def _save_png(image, args: argparse.Namespace) -> Path:
    """A (3, H, W) image in [0, 1] -> --out/<prompt>.png, written to a temporary name and renamed."""
    from .files import atomic_write
    from .generate import to_pil

    path = _output_path(args, ".png")
    atomic_write(path, lambda handle: to_pil(image).save(handle, format="PNG"))
    return path


def _print_strict_verdict(images, prompt: str) -> None:
    """The strict measure's verdict on the first of (N, 3, H, W) images in [0, 1]."""
    from .measure import check_images

    print(f"strict measure: {check_images(images[:1], [prompt])[0]}")  # PASS/FAIL and why, or why not scorable


def _given(args: argparse.Namespace, *names: str) -> dict:
    """The options among ``names`` that were given on the command line (the others keep their defaults)."""
    return {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}


def _default_out(checkpoint_name: str) -> Path:
    """Where a training command saves by default: the bundled file it re-creates, data/<name>.safetensors."""
    from .config import DATA_DIR

    return DATA_DIR / f"{checkpoint_name}.safetensors"


def _batch_size_flag(args: argparse.Namespace) -> str:
    """`` --batch-size N`` for a recorded command when it was given, so that the command re-creates the run."""
    return f" --batch-size {args.batch_size}" if args.batch_size is not None else ""


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


def thread_count(text: str) -> int | None:
    """argparse type: 'auto' or a whole number of torch threads, 1 or more."""
    from .config import check_threads

    try:
        return check_threads(text, "--threads")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mmlesson", description="mmlesson: the course's command line.")
    parser.add_argument("--threads", type=thread_count, default=None,
                        help="torch threads for this run (default: auto, the course's policy; also MMLESSON_THREADS)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    commands.add_parser("doctor", help="check that the course can run here").set_defaults(run=doctor_command)
    _add_training_commands(commands)
    _add_search_commands(commands)
    generate = commands.add_parser("generate", help="make an image from words (VQGAN+CLIP, mini DALL-E, unCLIP)")
    generate.add_argument("prompt", help='what to draw, in words, e.g. "a red circle"')
    generate.add_argument("--method", default=GENERATE_METHODS[0], choices=GENERATE_METHODS,
                          help="vqgan-clip (CLIP steers a VQGAN's codes), dalle (the mini DALL-E writes codes), "
                               "unclip (CLIP prior + a transformer decoder)")
    generate.add_argument("--samples", type=positive_int, default=None,
                          help=f"candidates drawn, the best kept by CLIP (dalle, unclip: {DEFAULT_SAMPLES}; "
                               "vqgan-clip: the preset's restarts)")
    generate.add_argument("--preset", default=None, help="vqgan-clip: cpu, mps, small-cuda, large-cuda, or tiny")
    generate.add_argument("--steps", type=positive_int, default=None, help="vqgan-clip: optimisation steps")
    generate.add_argument("--seed", type=int, default=0, help="random seed, for a repeatable image (default: 0)")
    generate.add_argument("--out", default="generated", help="folder the images are written to (default: generated)")
    generate.set_defaults(run=generate_command)
    _add_notebook_commands(commands)
    return parser


def _add_notebook_commands(commands) -> None:
    badges = commands.add_parser("badges", help="point every 'Open in Colab' badge and COURSE_REPO at the repository")
    badges.add_argument("--repo", default=None,
                        help="https://github.com/OWNER/NAME (default: origin when it is on GitHub, else pyproject's "
                             "[project.urls] Repository); also written into pyproject.toml")
    badges.set_defaults(run=badges_command)
    clean = commands.add_parser("clean-notebook", help="clean saved notebooks: finished bars as text, no widgets, "
                                                       "checked cells tagged")
    clean.add_argument("notebooks", nargs="+", help="the .ipynb files to clean in place")
    clean.add_argument("-v", "--verbose", action="store_true", help="list every change")
    clean.set_defaults(run=clean_notebook_command)


def _add_training_commands(commands) -> None:
    recipes = [("train-clip", "train the tiny CLIP on Shapes", "data/tiny-clip-shapes.safetensors", train_clip_command),
               ("train-vqgan", "train a tiny VQGAN on Shapes", None, train_vqgan_command),
               ("train-judge", "train the independent Shapes judge", "data/shapes-judge.safetensors",
                train_judge_command),
               ("train-dalle", "train the mini DALL-E (or, with --stage2, VQGAN's stage 2)", None,
                train_dalle_command),
               ("train-unclip", "train the small unCLIP (MLP prior + transformer decoder)", None,
                train_unclip_command)]
    for name, help_text, out, run in recipes:
        command = commands.add_parser(name, help=help_text)
        whose = "the decoder's " if name == "train-unclip" else ""
        command.add_argument("--steps", type=positive_int, default=None, help=f"number of {whose}optimiser steps")
        command.add_argument("--batch-size", type=positive_int, default=None, help=f"{whose}examples per step")
        command.add_argument("--seed", type=int, default=0, help="random seed, for a repeatable run (default: 0)")
        command.add_argument("--out", default=out,
                             help=f"where the weights are saved (default: {out or 'data/<its checkpoint>.safetensors'})")
        command.add_argument("--register", action="store_true", help="record it in data/checkpoints.json")
        command.set_defaults(run=run)
        if name == "train-clip":
            command.add_argument("--seconds", type=positive_float, default=None, help="stop after this much training")
        if name == "train-vqgan":
            command.add_argument("--model", default="tiny-shapes",
                                 help="which tiny VQGAN to re-create: tiny-shapes, tiny-shapes-nodisc, tiny-shapes-8x8 "
                                      "or tiny-shapes-8x8-cosine")
            command.add_argument("--no-discriminator", action="store_true", help="train without the discriminator")
            command.add_argument("--discriminator", action="store_true",
                                 help="add the patch discriminator to a recipe without one (an ablation)")
        if name == "train-dalle":
            command.add_argument("--stage2", action="store_true", help="one start token instead of a caption")


def _add_search_commands(commands) -> None:
    index = commands.add_parser("index", help="embed the images of a folder into a saved index")
    index.add_argument("folder", help="folder of images to embed (searched recursively)")
    index.add_argument("--out", default=None, help="index folder (default: FOLDER/.mmlesson-index)")
    index.add_argument("--model", default=None,
                       help="a load_clip name, e.g. tiny-shapes or ViT-B-32 (default: the saved index's model, "
                            "else tiny-shapes)")
    index.add_argument("--batch-size", type=positive_int, default=None, help="images per encode call")
    index.set_defaults(run=index_command)
    search = commands.add_parser("search", help="query a saved index in words")
    search.add_argument("index", help="a saved index folder (made by `python -m mmlesson index`), or the image "
                                      "folder it was made for")
    search.add_argument("query", help='what to look for, in words, e.g. "a small red star"')
    search.add_argument("-k", type=positive_int, default=5, help="how many results to show, best first (default: 5)")
    search.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    search.set_defaults(run=search_command)
