"""Claim: the full-size VQGAN+CLIP loop (f16-16384 VQGAN + ViT-B-32, 256x256, 32 cutouts) runs on a CPU;
iterations per second and peak memory, with random weights (nothing is downloaded).

Side by side in the same run: the same loop with taming-transformers' Decoder (the module the common
VQGAN+CLIP notebooks call) in place of ours, same weights, same settings: `taming_ratio` = ours / taming speed.
The two alternate in A B B A order and each reports its median run, so neither always runs first.
peak_rss_mb is the process's peak after the first run of ours (before any taming run).

    python bench/generate_full_size.py [--iterations 4] [--rounds 2] [--resolution 256] [--cutouts 32] [--no-taming]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

from _common import emit

import mmlesson.generate as gen
from mmlesson.models import load_open_clip
from mmlesson.vqgan import VQGAN, VQGAN_CONFIGS


def rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TamingDecoded(torch.nn.Module):
    """Our VQGAN with taming's Decoder (same weights) in place of ours: the reference for the ratio."""

    def __init__(self, ours: VQGAN):
        super().__init__()
        from taming.modules.diffusionmodules.model import Decoder

        settings = ours.config
        self.ours = ours
        self.decoder = Decoder(ch=settings.ch, out_ch=settings.out_ch, ch_mult=list(settings.ch_mult),
                               num_res_blocks=settings.num_res_blocks, attn_resolutions=list(settings.attn_resolutions),
                               dropout=settings.dropout, in_channels=settings.in_channels,
                               resolution=settings.resolution, z_channels=settings.z_channels).eval()
        self.decoder.load_state_dict(ours.decoder.state_dict(), strict=True)
        self.downsample_factor, self.quantize_latents = ours.downsample_factor, ours.quantize_latents

    @property
    def codebook(self):
        return self.ours.codebook

    def decode(self, quantized):
        return self.decoder(self.ours.post_quant_conv(quantized))


def iterations_per_second(clip, vqgan, config: gen.GenerationConfig) -> float:
    """Steps per second after the first (warm-up) step, timed from the loop's own callback."""
    stamps = []
    gen.generate("a watercolor painting of a lighthouse", clip, vqgan, config, progress=False,
                 callback=lambda step, pixels, losses: stamps.append(time.perf_counter()))
    assert len(stamps) == config.steps >= 2, "need at least 2 iterations to time one"
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def flops_per_iteration(clip, vqgan, config: gen.GenerationConfig) -> float:
    """FLOPs of one step (forward and backward), counted by torch's FlopCounterMode over a 1-step run."""
    from dataclasses import replace

    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        gen.generate("a watercolor painting of a lighthouse", clip, vqgan, replace(config, steps=1), progress=False)
    return counter.get_total_flops()  # one step, plus two no-grad VQGAN decodes (the start and the final image)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=4, help="steps per run; the first is a warm-up")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--cutouts", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="A B B A rounds of (ours, taming) runs")
    parser.add_argument("--no-taming", action="store_true", help="skip the side-by-side taming run")
    parser.add_argument("--flops", action="store_true", help="also count the FLOPs of one step (for GPU estimates)")
    args = parser.parse_args()
    torch.manual_seed(0)
    start_mb = rss_mb()
    vqgan = VQGAN(VQGAN_CONFIGS["vqgan_imagenet_f16_16384"]).eval()
    clip = load_open_clip("ViT-B-32", None, "cpu", "ViT-B-32 (random weights)")
    models_mb = rss_mb()
    config = gen.GenerationConfig(resolution=args.resolution, cutouts=args.cutouts, steps=args.iterations + 1)
    implementations = {"ours": vqgan} if args.no_taming else {"ours": vqgan, "taming": TamingDecoded(vqgan)}
    runs = {name: [] for name in implementations}
    for round_number in range(args.rounds):
        order = list(implementations) if round_number % 2 == 0 else list(reversed(implementations))
        for name in order:
            runs[name].append(iterations_per_second(clip, implementations[name], config))
            if name == "ours" and round_number == 0:
                ours_peak_mb = rss_mb()  # before taming's run can raise the peak
    ours = statistics.median(runs["ours"])
    figures = {"iterations_per_second": round(ours, 4), "seconds_per_iteration": round(1 / ours, 2),
               "peak_rss_mb": round(ours_peak_mb), "peak_rss_mb_all_runs": round(rss_mb()),
               "rss_after_loading_models_mb": round(models_mb), "rss_at_start_mb": round(start_mb),
               "runs_iterations_per_second": {
                   name: [round(value, 4) for value in values] for name, values in runs.items()}}
    if "taming" in runs:
        taming = statistics.median(runs["taming"])
        figures.update(taming_iterations_per_second=round(taming, 4), taming_ratio=round(ours / taming, 3))
    if args.flops:
        figures["gflops_per_iteration"] = round(flops_per_iteration(clip, vqgan, config) / 1e9, 1)
    emit("generate_full_size", figures, settings={"vqgan": "vqgan_imagenet_f16_16384 (random weights)",
                                                  "clip": "ViT-B-32 (random weights)", "resolution": args.resolution,
                                                  "cutouts": args.cutouts, "timed_iterations": args.iterations,
                                                  "device": "cpu"})


if __name__ == "__main__":
    main()
