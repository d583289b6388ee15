"""One place for settings: device, seeds, threads, run modes and paths. It imports nothing of the package
(the setup() banner and the environment report are in doctor.py).

Environment variables are read here and nowhere else (CONTRIBUTING.md):

- ``MMLESSON_QUICK=1``   shrink every workload (fewer images, steps, cutouts) so CI runs in minutes.
                          Quick mode changes sizes, never code paths.
- ``MMLESSON_OFFLINE=1`` never touch the network; real-weight sections print a skip line.
- ``MMLESSON_DEVICE``    force ``cpu``, ``cuda`` or ``mps`` (default: cuda, then mps, then cpu).
- ``MMLESSON_CACHE``     where downloads and indexes go (default ``~/.cache/mmlesson``).
- ``MMLESSON_THREADS``   torch threads for the process: ``auto`` (default, the thread policy below) or a number.
"""
from __future__ import annotations

import os
import random
import sys
from contextlib import contextmanager
from dataclasses import dataclass
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


def check_threads(value, what: str = "threads") -> int | None:
    """A thread count a user asked for: a whole number, 1 or more, or ``None``/``"auto"`` for the policy's choice."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.isdigit():
        text = int(text)
    if isinstance(text, bool) or not isinstance(text, int) or text < 1:
        raise ValueError(f"{what}={value!r} is not a thread count; use 'auto' (the course's policy) "
                         "or a whole number of torch threads, 1 or more.")
    return text


QUICK: bool = _read_flag("MMLESSON_QUICK")
OFFLINE: bool = _read_flag("MMLESSON_OFFLINE")
FORCED_DEVICE: str | None = _read_device()
CACHE_DIR = Path(os.environ.get("MMLESSON_CACHE") or Path.home() / ".cache" / "mmlesson").expanduser()
REQUESTED_THREADS: int | None = check_threads(os.environ.get("MMLESSON_THREADS"), "MMLESSON_THREADS")
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


def limit_threads(threads: int = 1):
    """Run the block on at most ``threads`` torch threads, then restore the count.

    For small products and small full-batch problems: waking a second thread costs more than it saves,
    and on a busy 2-core machine the wake-up can wait a whole scheduler slice (measured: 24 ms instead
    of 0.02 ms for one 1k x 512 query; 35x for the lesson-2 linear probe)."""
    import torch

    return _torch_threads_during(min(threads, torch.get_num_threads()))


@contextmanager
def _torch_threads_during(count: int):
    """torch on ``count`` threads inside the block, the count before it afterwards."""
    import torch

    before = torch.get_num_threads()
    if count == before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# --- the thread policy ---
# Decision, from bench/thread_policy.py (2-core Xeon; figures in bench/RESULTS.md, "Threads on a busy machine"):
# on a CPU the process runs torch on ONE thread, and large work opts into more inside ``large_work()``, taking
# only the cores that no other program is running on at that moment.
# - Tiny models lose nothing on one thread and keep their speed beside a busy program; on torch's default (one
#   thread per core) every small parallel kernel waits for a thread that shares its core with the other program:
#   `generate "a red star"` (tiny, 40 steps) 3.8 s idle either way, 12.9 s beside a pure-Python loop on two
#   threads against 3.6 s on one; lesson 5's 16 samples 4.4 s against 0.24 s.
# - Large products do gain from a free core (ViT-B-32, 16 images at 224 px: 0.55 s on two threads, 1.0 s on one)
#   and lose when the core is taken (1.9 s on two beside the busy loop); so do the tiny CLIP's batch-256 training
#   steps (3.2 s against 5.5 s idle for 20 steps; 19.1 s against 5.8 s busy). Hence large_work() counts free cores.
# The price: a training run takes the thread count the load allows when it starts (train.py keeps it for every
# step), and float sums in another order change its last digits, so two runs started under different loads can
# differ slightly; the same seed and thread count repeat exactly (a fixed count: threads=N).
# A user who knows better passes ``threads=`` (setup, apply_thread_policy), ``--threads`` or MMLESSON_THREADS.


@dataclass(frozen=True)
class ThreadPolicy:
    threads: int  # torch threads for the whole process: 1 keeps tiny models fast on a busy machine
    large_work_threads: int  # threads inside large_work(): more cores pay only for products large enough
    reason: str  # one line for setup()'s banner: what was chosen and why
    adapt_to_load: bool = False  # large work takes only the cores no other program is running on right now


def choose_threads(cores: int, device: str = "cpu", requested: int | None = None) -> ThreadPolicy:
    """The thread policy for a machine with ``cores`` (torch's default count) computing on ``device``."""
    cores = check_threads(cores, "cores") or 1
    requested = check_threads(requested)
    if requested is not None:
        return ThreadPolicy(requested, requested, f"{requested} of {cores} cores, as asked")
    if cores == 1:
        return ThreadPolicy(1, 1, "1 of 1 core")
    why = "the GPU does the heavy work" if device.split(":")[0] in ("cuda", "mps") else \
        "tiny models are fastest on one, and stay fast while other programs run"
    return ThreadPolicy(1, cores, f"1 of {cores} cores ({why}; large work uses the free ones, up to {cores}; "
                                  "threads=N to change)", adapt_to_load=True)


_TORCH_DEFAULT_THREADS: int | None = None  # torch's own count, read before the policy first changes it
_APPLIED: ThreadPolicy | None = None


def torch_default_threads() -> int:
    """The number of threads torch chose for this process by itself (one per physical core)."""
    global _TORCH_DEFAULT_THREADS
    if _TORCH_DEFAULT_THREADS is None:
        import torch

        _TORCH_DEFAULT_THREADS = torch.get_num_threads()
    return _TORCH_DEFAULT_THREADS


def apply_thread_policy(threads: int | str | None = None, device: str | None = None) -> ThreadPolicy:
    """Set the process-wide torch thread count: ``threads`` if given, else MMLESSON_THREADS, else the policy."""
    import torch

    global _APPLIED
    requested = check_threads(threads)
    requested = requested if requested is not None else REQUESTED_THREADS
    _APPLIED = choose_threads(torch_default_threads(), device or get_device(), requested)
    torch.set_num_threads(_APPLIED.threads)
    return _APPLIED


def applied_thread_policy() -> ThreadPolicy | None:
    """The policy apply_thread_policy() last set, or None when it never ran (torch's own default holds)."""
    return _APPLIED


def large_work(enabled: bool = True, threads: int | None = None):
    """Run a large product (real CLIP's encoder, a training step) on ``threads``, by default on
    ``large_work_threads()``; then restore the count.

    ``enabled=False`` changes nothing (for a caller whose model may be tiny). A loop whose numbers should repeat
    (training) picks ``large_work_threads()`` once and passes it to every step."""
    import torch

    if not enabled:
        return _torch_threads_during(torch.get_num_threads())
    return _torch_threads_during(check_threads(threads) or large_work_threads())


def large_work_threads() -> int:
    """The threads large work gets now: the policy's ``large_work_threads``, or, when it adapts to load, as many of
    them as no other program is using right now; without an applied policy, torch's current count."""
    import torch

    if not _APPLIED:
        return torch.get_num_threads()
    wanted, free = _APPLIED.large_work_threads, free_cores() if _APPLIED.adapt_to_load else None
    return wanted if free is None else max(1, min(wanted, free))


def free_cores() -> int | None:
    """Cores that no other process is running on at this moment, or None where it cannot be told (not Linux).

    Reads the kernel's count of runnable threads (/proc/loadavg) and takes away this process's own: about 50 us."""
    try:
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        ours = sum(_task_state(task) == "R" for task in Path("/proc/self/task").iterdir())
    except (OSError, ValueError, IndexError):
        return None
    return max(0, torch_default_threads() - max(0, running - ours))


def _task_state(task: Path) -> str:
    """R (running), S (sleeping), ... of one thread: the field after the command name in its stat file."""
    try:
        return (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def mode_line() -> str:
    modes = [("quick" if QUICK else "full"), ("offline" if OFFLINE else "online allowed")]
    return ", ".join(modes)
