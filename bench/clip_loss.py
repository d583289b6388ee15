"""Claim: our CLIP loss (forward + backward) at batch 4096 x 512 dims runs within 1.1x of open_clip's ClipLoss.

Both losses get the same L2-normalised features (requiring grad) and a learnable logit scale; each
timed call is one forward and one backward. The two are alternated call by call, so that load on the
machine hits both alike, and we report the p50 of each and the ratio ours / open_clip.

Usage: python bench/clip_loss.py [--quick] [--batch 4096] [--dim 512] [--repeats 15] [--device cpu]
"""
from __future__ import annotations

import argparse
import time

from _common import emit, p50

import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss as OpenClipLoss

from mmlesson.config import get_device
from mmlesson.contrastive import clip_loss


def make_inputs(batch: int, dim: int, device: str, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    image_features = F.normalize(torch.randn(batch, dim, generator=generator), dim=-1)  # (batch, dim)
    text_features = F.normalize(image_features + torch.randn(batch, dim, generator=generator), dim=-1)
    logit_scale = torch.tensor(1 / 0.07, device=device, requires_grad=True)
    return (image_features.to(device).requires_grad_(), text_features.to(device).requires_grad_(), logit_scale)


def forward_backward(loss_function, inputs, device: str) -> float:
    """Seconds for one forward + backward of ``loss_function(*inputs)``; gradients are cleared after."""
    start = time.perf_counter()
    loss_function(*inputs).backward()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    for tensor in inputs:
        tensor.grad = None
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats: a correctness run, not a measurement")
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: config.get_device())")
    args = parser.parse_args()
    repeats, device = (3 if args.quick else args.repeats), get_device(args.device)

    inputs = make_inputs(args.batch, args.dim, device)
    open_clip_loss = OpenClipLoss()
    ours_value, theirs_value = float(clip_loss(*inputs).detach()), float(open_clip_loss(*inputs).detach())
    assert abs(ours_value - theirs_value) < 1e-4, (ours_value, theirs_value)

    ours, theirs = [], []
    for _ in range(2):  # warm-up
        forward_backward(clip_loss, inputs, device), forward_backward(open_clip_loss, inputs, device)
    for _ in range(repeats):
        ours.append(forward_backward(clip_loss, inputs, device))
        theirs.append(forward_backward(open_clip_loss, inputs, device))

    figures = {"batch": args.batch, "dim": args.dim, "device": device, "repeats": repeats, "quick": args.quick,
               "ours_p50_ms": round(1e3 * p50(ours), 2), "open_clip_p50_ms": round(1e3 * p50(theirs), 2),
               "ratio_ours_over_open_clip": round(p50(ours) / p50(theirs), 3), "target_ratio": 1.1,
               "loss_ours": round(ours_value, 6), "loss_open_clip": round(theirs_value, 6)}
    emit("clip_loss", figures)


if __name__ == "__main__":
    main()
