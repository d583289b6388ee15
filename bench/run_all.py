"""Run every bench/*.py (or those named on the command line) and collect their JSON lines.

Usage: python bench/run_all.py [name ...]   ->  bench/results.jsonl
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main(names: list[str]) -> int:
    scripts = sorted(p for p in BENCH_DIR.glob("*.py") if not p.name.startswith(("_", "run_all")))
    if names:
        scripts = [p for p in scripts if p.stem in names]
    failed = 0
    with open(BENCH_DIR / "results.jsonl", "a") as results:
        for script in scripts:
            print(f"== {script.name}", flush=True)
            run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
            lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
            if run.returncode != 0 or not lines:
                failed += 1
                print(run.stdout[-2000:], run.stderr[-2000:], sep="\n")
                continue
            print(lines[-1], flush=True)
            results.write(lines[-1] + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
