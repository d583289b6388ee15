"""Claim: under the course's thread policy (config.apply_thread_policy) every command-line command and the tiny-model
loops run within 1.5x of their idle time while another program keeps one core busy, and no slower than torch's
old default (one thread per core) when the machine is idle.

Each workload runs in a fresh process, as a user runs it, under two policies: the old default (MMLESSON_THREADS set to
torch's own count, what every process got before the policy) and the new one (nothing set). Each runs in three
machine states: idle, beside a pure-Python busy loop, and beside a one-thread torch matmul loop; the bench starts
the competitor itself. Command-line workloads are timed as the whole process (what a user waits for); the loops
time only their work (after loading and one warm-up call), printed by the child as one number.

    python bench/thread_policy.py [--only NAME ...] [--repeats 1]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import THREAD_POLICY, emit

from mmlesson import config

BENCH = Path(__file__).resolve()
COMPETITORS = {  # what keeps the other core busy
    "idle": None,
    "busy python loop": "while True: pass",
    "busy torch matmul (1 thread)": "import torch\ntorch.set_num_threads(1)\na = torch.randn(256, 256)\n"
                                    "while True: a @ a",
}
CHILD_TIMEOUT_S = 120  # a run stuck behind the competitor this long is reported as this long
# large work: also timed on one thread, to show what the free core buys and what large_work() gives up when busy
ONE_THREAD_TOO = ("loop ViT-B-32 encode (16 x 224 px)", "loop tiny CLIP training (20 steps)")
TARGET_BUSY_OVER_IDLE = 1.5
TARGET_NEW_OVER_OLD_IDLE = 1.0


# --- the loops, run inside a child process: each returns the seconds of its work alone ---

def loop_tiny_clip_training() -> float:
    """Twenty optimiser steps of lesson 1's tiny CLIP, batch 256 (train.train_clip's own step seconds)."""
    from mmlesson.train import TrainConfig, train_clip

    settings = TrainConfig(steps=20, train_images=1024, eval_images=300, eval_every=1000)
    return train_clip(settings, progress=False).train_seconds


def loop_linear_probe() -> float:
    """Lesson 2's linear probe (zeroshot.linear_probe, L-BFGS) on 1,500 tiny-CLIP embeddings of Shapes."""
    from mmlesson import shapes, zeroshot
    from mmlesson.models import load_clip

    clip, data = load_clip("tiny-shapes", "cpu"), shapes.make_shapes(1500, seed=5)
    embeddings = clip.encode_images(data.images)  # (1500, D)
    labels = [shapes.CLASSES.index((a.color, a.shape)) for a in data.attributes]
    zeroshot.linear_probe(embeddings[:100], labels[:100], n_classes=len(shapes.CLASSES))
    start = time.perf_counter()
    zeroshot.linear_probe(embeddings, labels, n_classes=len(shapes.CLASSES))
    return time.perf_counter() - start


def loop_dalle_sampling() -> float:
    """Lesson 5: the mini DALL-E draws 16 candidates for one prompt and the tiny CLIP keeps the best."""
    from mmlesson import dalle
    from mmlesson.models import load_clip
    from mmlesson.vqgan import load_vqgan

    model = dalle.load_dalle("tiny-shapes")
    vqgan, clip = load_vqgan(model.config.vqgan, device="cpu"), load_clip("tiny-shapes", device="cpu")
    dalle.generate_images(model, vqgan, clip, ["a red star"], 2)
    start = time.perf_counter()
    dalle.generate_images(model, vqgan, clip, ["a red star"], 16)
    return time.perf_counter() - start


def loop_vit_b32_encode() -> float:
    """A large product: open_clip ViT-B-32 with random weights (no download) encodes 16 images at 224 px."""
    import torch

    from mmlesson.models import load_open_clip

    clip = load_open_clip("ViT-B-32", None, "cpu", "ViT-B-32 (random weights)")
    pixels = torch.rand(16, 3, 224, 224)
    clip.encode_images(pixels[:2])
    start = time.perf_counter()
    clip.encode_images(pixels)
    return time.perf_counter() - start


LOOPS = {"loop tiny CLIP training (20 steps)": loop_tiny_clip_training,
         "loop linear probe (lesson 2)": loop_linear_probe,
         "loop mini DALL-E sampling (lesson 5)": loop_dalle_sampling,
         "loop ViT-B-32 encode (16 x 224 px)": loop_vit_b32_encode}


# --- the parent: workloads x machine states x policies ---

def command_line_workloads(scratch: Path) -> dict:
    """name -> (mmlesson arguments, a function run before each timing to reset state)."""
    out = scratch / "out"
    folder, index = scratch / "images", scratch / "index"

    def fresh_index():
        shutil.rmtree(index, ignore_errors=True)

    return {
        "cli generate (vqgan-clip, tiny, 40 steps)": (["generate", "a red star", "--preset", "tiny", "--steps", "40",
                                                       "--out", str(out)], None),
        "cli generate --method dalle": (["generate", "a red star", "--method", "dalle", "--out", str(out)], None),
        "cli generate --method unclip": (["generate", "a red star", "--method", "unclip", "--out", str(out)], None),
        "cli index (48 images)": (["index", str(folder), "--out", str(index)], fresh_index),
        "cli search": (["search", str(scratch / "search-index"), "a red star"], None),
        "cli train-clip (20 steps)": (["train-clip", "--steps", "20", "--out", str(out / "clip.safetensors")], None),
    }


def prepare(scratch: Path) -> None:
    """A folder of 48 Shapes images and a saved index of it for the search command."""
    from PIL import Image

    from mmlesson import shapes

    folder = scratch / "images"
    folder.mkdir(parents=True)
    for number, image in enumerate(shapes.make_shapes(48, seed=3).images):  # (32, 32, 3) uint8 each
        Image.fromarray(image).save(folder / f"{number:03d}.png")
    run_child(["-m", "mmlesson", "index", str(folder), "--out", str(scratch / "search-index")], {})


def run_child(arguments: list[str], env: dict) -> tuple[float, str]:
    """(wall seconds, stdout) of ``python ARGUMENTS``; a timeout counts as CHILD_TIMEOUT_S."""
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, *arguments], capture_output=True, text=True, timeout=CHILD_TIMEOUT_S,
                              env={**os.environ, **env}, cwd=BENCH.parent.parent)
    except subprocess.TimeoutExpired:
        return float(CHILD_TIMEOUT_S), ""
    if done.returncode != 0:
        raise RuntimeError(f"{arguments} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start, done.stdout


def time_workload(name: str, cli: dict, env: dict) -> float:
    """Seconds of one run of a workload under the policy ``env`` describes."""
    if name in LOOPS:
        seconds, stdout = run_child([str(BENCH), "--loop", name], env)
        return float(stdout.strip().splitlines()[-1]) if stdout else seconds
    arguments, reset = cli[name]
    if reset:
        reset()
    return run_child(["-m", "mmlesson", *arguments], env)[0]


def start_competitor(code: str | None):
    return None if code is None else subprocess.Popen([sys.executable, "-c", code])


def measure(names: list[str], cli: dict, policies: dict, repeats: int) -> dict:
    """seconds[state][workload][policy]: the median of ``repeats`` runs, old and new interleaved."""
    seconds: dict = {}
    for state, code in COMPETITORS.items():
        competitor = start_competitor(code)
        time.sleep(0.5 if competitor else 0)  # let it reach its loop
        try:
            for name in names:
                tried = {**policies, **({"one thread": {"MMLESSON_THREADS": "1"}} if name in ONE_THREAD_TOO else {})}
                runs = {policy: [] for policy in tried}
                for _ in range(repeats):
                    for policy, env in tried.items():
                        runs[policy].append(time_workload(name, cli, env))
                seconds.setdefault(state, {})[name] = {p: round(statistics.median(r), 3) for p, r in runs.items()}
                print(f"{state:<30} {name:<45} {seconds[state][name]}", file=sys.stderr, flush=True)
        finally:
            if competitor:
                competitor.kill()
                competitor.wait()
    return seconds


def ratios(seconds: dict, names: list[str]) -> dict:
    """Per workload: busy/idle under the new policy (each busy state) and new idle / old idle."""
    table = {}
    for name in names:
        idle = seconds["idle"][name]
        row = {"new_idle_over_old_idle": round(idle["new"] / idle["old"], 2)}
        if "one thread" in idle:  # large work: what more threads buy, idle and busy
            row.update({f"one thread / new, {state}": round(seconds[state][name]["one thread"] / seconds[state][name]
                                                             ["new"], 2) for state in COMPETITORS})
        for state in list(COMPETITORS)[1:]:
            row[f"new {state} / new idle"] = round(seconds[state][name]["new"] / idle["new"], 2)
            row[f"old {state} / old idle"] = round(seconds[state][name]["old"] / idle["old"], 2)
        row["busy_target_met"] = all(row[f"new {s} / new idle"] <= TARGET_BUSY_OVER_IDLE for s in list(COMPETITORS)[1:])
        table[name] = row
    return table


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="+", default=None, help="workload names (substrings) to run")
    parser.add_argument("--repeats", type=int, default=1, help="runs per workload, policy and state (median)")
    parser.add_argument("--loop", default=None, help=argparse.SUPPRESS)  # a child: run one loop, print its seconds
    args = parser.parse_args()
    if args.loop:
        print(f"{LOOPS[args.loop]():.4f}")
        return
    load_before = os.getloadavg()
    policies = {"old": {"MMLESSON_THREADS": str(config.torch_default_threads())}, "new": {}}
    with tempfile.TemporaryDirectory() as scratch:
        cli = command_line_workloads(Path(scratch))
        names = [n for n in [*cli, *LOOPS] if not args.only or any(part in n for part in args.only)]
        prepare(Path(scratch))
        started = time.perf_counter()
        seconds = measure(names, cli, policies, args.repeats)
    table = ratios(seconds, names)
    emit("thread_policy", {
        "seconds": seconds, "ratios": table,
        "all_busy_targets_met": all(row["busy_target_met"] for row in table.values()),
        "all_idle_targets_met": all(row["new_idle_over_old_idle"] <= TARGET_NEW_OVER_OLD_IDLE for row in table.values()),
        "bench_seconds": round(time.perf_counter() - started, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }, policies={"old": f"MMLESSON_THREADS={config.torch_default_threads()} (torch's default)",
                 "new": THREAD_POLICY.reason}, repeats=args.repeats,
       targets={"busy_over_idle": TARGET_BUSY_OVER_IDLE, "new_idle_over_old_idle": TARGET_NEW_OVER_OLD_IDLE})


if __name__ == "__main__":
    main()
