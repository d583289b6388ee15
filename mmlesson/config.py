"""One place for settings: device, seeds, run modes, paths, and the setup() banner.

Environment variables are read here and nowhere else (CONTRIBUTING.md):

- ``MMLESSON_QUICK=1``   shrink every workload (fewer images, steps, cutouts) so CI runs in minutes.
                          Quick mode changes sizes, never code paths.
- ``MMLESSON_OFFLINE=1`` never touch the network; real-weight sections print a skip line.
- ``MMLESSON_DEVICE``    force ``cpu``, ``cuda`` or ``mps`` (default: cuda, then mps, then cpu).
- ``MMLESSON_CACHE``     where downloads and indexes go (default ``~/.cache/mmlesson``).
"""
from __future__ import annotations

import os
import platform
import random
import sys
from pathlib import Path

import numpy as np

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
DATA_DIR = REPO_DIR / "data"  # bundled checkpoints + checkpoints.json

VALID_FLAGS = {"1": True, "true": True, "yes": True, "on": True,
               "0": False, "false": False, "no": False, "off": False, "": False}
VALID_DEVICES = ("cpu", "cuda", "mps")
DEFAULT_SEED = 0


def _read_flag(name: str) -> bool:
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if value not in VALID_FLAGS:
        raise ValueError(f"{name}={raw!r} is not understood; use one of 1/0, true/false, yes/no, on/off.")
    return VALID_FLAGS[value]


def _read_device() -> str | None:
    raw = os.environ.get("MMLESSON_DEVICE", "").strip().lower()
    if raw and raw not in VALID_DEVICES:
        raise ValueError(f"MMLESSON_DEVICE={raw!r} is not a device; choose one of {', '.join(VALID_DEVICES)}.")
    return raw or None


QUICK: bool = _read_flag("MMLESSON_QUICK")
OFFLINE: bool = _read_flag("MMLESSON_OFFLINE")
FORCED_DEVICE: str | None = _read_device()
CACHE_DIR = Path(os.environ.get("MMLESSON_CACHE") or Path.home() / ".cache" / "mmlesson").expanduser()
IN_COLAB: bool = "google.colab" in sys.modules


def quick(normal, quick_value):
    """Pick a workload size: ``quick_value`` under MMLESSON_QUICK=1, else ``normal``."""
    return quick_value if QUICK else normal


def check_device(name: str) -> str:
    """Validate a device name and check that it is usable here."""
    import torch

    name = str(name).lower()
    base = name.split(":")[0]
    if base not in VALID_DEVICES:
        raise ValueError(f"unknown device {name!r}; choose one of {', '.join(VALID_DEVICES)}.")
    if base == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but torch sees no CUDA GPU here; use 'cpu'.")
    if base == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' was asked for, but this torch has no usable MPS backend; use 'cpu'.")
    return name


def get_device(requested: str | None = None) -> str:
    """The device to compute on: ``requested``, else MMLESSON_DEVICE, else cuda, then mps, then cpu."""
    import torch

    if requested or FORCED_DEVICE:
        return check_device(requested or FORCED_DEVICE)
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def seed_everything(seed: int = DEFAULT_SEED) -> int:
    """Seed Python, NumPy and torch (CPU and GPU) so a run repeats exactly."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def cache_dir(*parts: str) -> Path:
    """A folder under the cache directory, created on first use."""
    path = CACHE_DIR.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def mode_line() -> str:
    modes = [("quick" if QUICK else "full"), ("offline" if OFFLINE else "online allowed")]
    return ", ".join(modes)


def environment_report() -> tuple[list[tuple[str, str]], list[str]]:
    """Rows of (what, value) for the banner, and a list of problems that stop the course."""
    rows: list[tuple[str, str]] = [("python", platform.python_version()), ("mode", mode_line())]
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
        rows.append(("device", get_device()))
    rows.append(("cache", str(CACHE_DIR)))
    rows.extend(_weights_rows())
    return rows, problems


def _weights_rows() -> list[tuple[str, str]]:
    """Which model weights can be used right now, without touching the network."""
    from . import checkpoints

    rows = []
    for name, entry in checkpoints.registry().items():
        path = DATA_DIR / entry["file"]
        rows.append((f"weights {name}", "bundled" if path.exists() else "MISSING from data/"))
    real = "skipped (offline mode)" if OFFLINE else "downloaded on first use (needs network)"
    try:
        from .models import real_weights_cached

        if real_weights_cached("ViT-B-32"):
            real = "cached"
    except Exception:
        pass
    rows.append(("weights ViT-B-32 (OpenAI)", real))
    return rows


def setup(seed: int = DEFAULT_SEED) -> str:
    """The first call of every notebook: seed everything and print where and how we run."""
    seed_everything(seed)
    rows, problems = environment_report()
    width = max(len(what) for what, _ in rows)
    print("mmlesson", _version(), f"(seed {seed})")
    for what, value in rows:
        print(f"  {what:<{width}}  {value}")
    for problem in problems:
        print("  PROBLEM:", problem)
    return get_device() if not problems else "cpu"


def _version() -> str:
    from . import __version__

    return __version__
