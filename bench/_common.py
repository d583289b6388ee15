"""Shared bits for bench scripts: every script prints exactly one JSON line via ``emit``.

Importing it applies the course's thread policy (config.apply_thread_policy), as setup() and the command line
do, so that a bench measures what a user's process runs; never set OMP_NUM_THREADS by hand for a bench."""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from mmlesson import config  # noqa: E402  (after the path line above)

THREAD_POLICY = config.apply_thread_policy()  # the process's default, as a user's process gets it


def machine() -> dict:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "thread_policy": THREAD_POLICY.reason, "load_average_1min": round(os.getloadavg()[0], 2),
            "python": platform.python_version(), "torch": torch.__version__.split("+")[0]}


def timed(function, repeats: int, warmup: int = 2) -> list[float]:
    """Seconds per call of ``function()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        function()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds


def p50(seconds: list[float]) -> float:
    return statistics.median(seconds)


def emit(name: str, figures: dict, **extra) -> None:
    print(json.dumps({"name": name, "figures": figures, "machine": machine(), **extra}, sort_keys=True))
