"""One place for settings: device, seeds, threads, run modes and paths. It imports nothing of the package
(the setup() banner and the environment report are in doctor.py).

Environment variables are read here and nowhere else (CONTRIBUTING.md):

- ``MMLESSON_QUICK=1``   shrink every workload (fewer images, steps, cutouts) so CI runs in minutes.
                          Quick mode changes sizes, never code paths.
- ``MMLESSON_OFFLINE=1`` never touch the network; real-weight sections print a skip line.
- ``MMLESSON_DEVICE``    force ``cpu``, ``cuda`` or ``mps`` (default: cuda, then mps, then cpu).
- ``MMLESSON_CACHE``     where downloads and indexes go (default ``~/.cache/mmlesson``).
"""
from __future__ import annotations

import os
import random
import sys
from contextlib import contextmanager
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


@contextmanager
def limit_threads(threads: int = 1):
    """Run the block on at most ``threads`` torch threads, then restore the count.

    For small products and small full-batch problems: waking a second thread costs more than it saves,
    and on a busy 2-core machine the wake-up can wait a whole scheduler slice (measured: 24 ms instead
    of 0.02 ms for one 1k x 512 query; 35x for the lesson-2 linear probe)."""
    import torch

    before = torch.get_num_threads()
    if threads >= before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def mode_line() -> str:
    modes = [("quick" if QUICK else "full"), ("offline" if OFFLINE else "online allowed")]
    return ", ".join(modes)
