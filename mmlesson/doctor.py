"""The environment report: what the course needs, what is here, and what to do about what is missing.

``setup()`` (the first call of every notebook, as ``mmlesson.setup()``) seeds everything, applies the
thread policy (config.apply_thread_policy) and prints the report as a banner; ``python -m mmlesson
doctor`` prints it from a shell and exits non-zero, one line per problem, when the course cannot run.
Kept out of config.py so that config imports nothing of the package; the checks of torch and open_clip
import them inside functions, so that a broken install is reported rather than crashing the report.
"""
from __future__ import annotations

import platform

from . import __version__, checkpoints, config


def environment_report() -> tuple[list[tuple[str, str]], list[str]]:
    """Rows of (what, value) for the banner, and a list of problems that stop the course."""
    rows: list[tuple[str, str]] = [("python", platform.python_version()), ("mode", config.mode_line())]
    problems: list[str] = []
    for module, hint in [("torch", "pip install torch==2.14.1 torchvision==0.29.1"),
                         ("torchvision", "pip install torch==2.14.1 torchvision==0.29.1 (a matched pair)"),
                         ("open_clip", "pip install open_clip_torch"),
                         ("numpy", "pip install numpy"), ("PIL", "pip install pillow"),
                         ("matplotlib", "pip install matplotlib"), ("safetensors", "pip install safetensors"),
                         ("tqdm", "pip install tqdm"), ("ipywidgets", "pip install ipywidgets")]:
        try:
            imported = __import__(module)
            rows.append((module, getattr(imported, "__version__", "ok")))
        except Exception as error:  # an import can fail with OSError/RuntimeError too (torchvision _C)
            first_line = (str(error).splitlines() or [type(error).__name__])[0][:120]
            rows.append((module, "MISSING"))
            problems.append(f"{module} cannot be imported ({first_line}); fix: {hint}")
    if not problems:
        rows.append(("device", config.get_device()))
        rows.append(("threads", threads_line()))
    rows.append(("cache", str(config.CACHE_DIR)))
    rows.extend(_weights_rows())
    return rows, problems


def threads_line() -> str:
    """The torch threads: the policy setup() applied, or the one it and every command would apply, and why."""
    import torch

    policy = config.applied_thread_policy()
    if policy is None:
        policy = config.choose_threads(config.torch_default_threads(), config.get_device(), config.REQUESTED_THREADS)
        return f"{policy.reason} (applied by setup() and every command)"
    if torch.get_num_threads() != policy.threads:
        return f"{torch.get_num_threads()}, changed since setup() chose {policy.reason}"
    return policy.reason


def _weights_rows() -> list[tuple[str, str]]:
    """Which model weights can be used right now, without touching the network."""
    rows = []
    for name, entry in checkpoints.registry().items():
        path = config.DATA_DIR / entry["file"]
        rows.append((f"weights {name}", "bundled" if path.exists() else "MISSING from data/"))
    real = "skipped (offline mode)" if config.OFFLINE else "downloaded on first use (needs network)"
    try:
        from .models import real_weights_cached  # imports torch: here, so the report works without it

        if real_weights_cached("ViT-B-32"):
            real = "cached"
    except Exception:
        pass
    rows.append(("weights ViT-B-32 (OpenAI)", real))
    return rows


def setup(seed: int = config.DEFAULT_SEED, threads: int | str | None = None) -> str:
    """The first call of every notebook: seed everything, choose the torch threads, print where and how we run.

    ``threads``: a number of torch threads for the whole process, or None/"auto" for the course's policy."""
    config.check_threads(threads)  # a bad value fails before anything changes
    config.seed_everything(seed)
    config.apply_thread_policy(threads)
    rows, problems = environment_report()
    width = max(len(what) for what, _ in rows)
    print("mmlesson", __version__, f"(seed {seed})")
    for what, value in rows:
        print(f"  {what:<{width}}  {value}")
    for problem in problems:
        print("  PROBLEM:", problem)
    return config.get_device() if not problems else "cpu"
