"""The first judge: a small supervised classifier that says which color and shape a Shapes image shows.

Generation (generate.py) is guided by CLIP, so CLIP's own score cannot tell us whether an image
really looks like its prompt. This judge was the course's first answer: trained separately (its own
seeds, all 30 classes, plain labels rather than captions), never used in any loss, 100% right on
fresh Shapes. It is kept to show why that was not enough: a classifier always names *some* class.
Shown patchworks of random codes, it names a color and a shape with a median confidence above 0.8
(bench/strict_measure.py). Success of generation is measured by measure.py, which checks for one
object with the prompt's outline and fails such nonsense.

    from mmlesson.judge import judge
    judge(images)  # -> [Verdict(color='red', shape='star', confidence=0.98), ...]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .checks import pixel_batch, positive_int
from .shapes import COLORS, SHAPES, make_shapes

CHECKPOINT_NAME = "shapes-judge"
IMAGE_SIZE = 32
COLOR_NAMES = tuple(COLORS)
EVAL_SEED = 777_777  # fresh Shapes for the recorded accuracy; no training seed comes near it
DATA_SEED_OFFSET = 5_000_000  # training pools use seeds 5_000_000 + 1000 * seed + i


@dataclass
class JudgeConfig:
    width: int = 16  # channels of the first block; 16 gives ~60k parameters (~0.25 MB), ~5M multiply-adds per image
    steps: int = 1200  # optimiser steps; a few minutes on 2 cores
    batch_size: int = 96  # images per step
    learning_rate: float = 3e-3  # peak of a one-cycle schedule
    pool_size: int = 24_000  # pre-rendered images; rendering every batch afresh would triple the time
    max_noise: float = 0.12  # std of added Gaussian pixel noise, drawn per image in [0, max_noise]
    max_blur_sigma: float = 1.2  # Gaussian blur, drawn per image; VQGAN outputs are slightly soft
    max_shift: float = 0.12  # random translation as a fraction of the image
    gain: float = 0.12  # brightness/color gain in [1 - gain, 1 + gain]; larger starts to mix red and orange

    def __post_init__(self):
        for name in ("width", "steps", "batch_size", "pool_size"):
            positive_int(getattr(self, name), name)


class Verdict(NamedTuple):
    color: str
    shape: str
    confidence: float  # P(color) * P(shape) under the judge


# --- the network: three conv blocks, then one linear head per attribute ---

def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU())


class ShapesJudge(nn.Module):
    def __init__(self, width: int = 16):
        super().__init__()
        self.width = width
        self.features = nn.Sequential(conv_block(3, width), nn.MaxPool2d(2),  # 32 -> 16
                                      conv_block(width, 2 * width), nn.MaxPool2d(2),  # 16 -> 8
                                      conv_block(2 * width, 4 * width), conv_block(4 * width, 4 * width),
                                      nn.AdaptiveAvgPool2d(1))
        self.color_head = nn.Linear(4 * width, len(COLOR_NAMES))
        self.shape_head = nn.Linear(4 * width, len(SHAPES))

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """pixels (B, 3, 32, 32) in [0, 1] -> (color logits (B, 6), shape logits (B, 5))."""
        assert pixels.shape[1:] == (3, IMAGE_SIZE, IMAGE_SIZE), f"expected (B, 3, 32, 32), got {tuple(pixels.shape)}"
        features = self.features(pixels * 2 - 1).flatten(1)  # (B, 4 * width)
        return self.color_head(features), self.shape_head(features)


# --- augmentation: what generated images do to Shapes (noise, blur, shifts, color drift) ---

def gaussian_blur(pixels: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Blur each image with its own sigma (B,) by a separable 5-tap Gaussian; sigma 0 leaves it unchanged."""
    offsets = torch.arange(-2, 3, dtype=pixels.dtype)
    weights = torch.exp(-offsets[None] ** 2 / (2 * sigmas[:, None].clamp_min(1e-3) ** 2))  # (B, 5)
    weights = weights / weights.sum(1, keepdim=True)
    batch, channels, height, width = pixels.shape
    grouped = pixels.reshape(1, batch * channels, height, width)  # one group per (image, channel)
    kernel = weights.repeat_interleave(channels, 0)  # (B * C, 5)
    grouped = F.conv2d(F.pad(grouped, (2, 2, 0, 0), mode="replicate"), kernel[:, None, None, :], groups=batch * channels)
    grouped = F.conv2d(F.pad(grouped, (0, 0, 2, 2), mode="replicate"), kernel[:, None, :, None], groups=batch * channels)
    return grouped.reshape(batch, channels, height, width)  # (B, C, H, W) again


def augment(pixels: torch.Tensor, config: JudgeConfig, generator: torch.Generator) -> torch.Tensor:
    """Random shift/scale, color gain, blur and noise, drawn per image from ``generator``."""
    batch = pixels.shape[0]

    def uniform(*shape, low=0.0, high=1.0):
        return low + (high - low) * torch.rand(*shape, generator=generator)

    scale = uniform(batch, low=0.85, high=1.15)
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    theta[:, :, 2] = uniform(batch, 2, low=-config.max_shift, high=config.max_shift) * 2  # grid spans [-1, 1]
    grid = F.affine_grid(theta, list(pixels.shape), align_corners=False)
    pixels = F.grid_sample(pixels, grid, padding_mode="border", align_corners=False)
    gain = uniform(batch, 1, 1, 1, low=1 - config.gain, high=1 + config.gain)
    tint = uniform(batch, 3, 1, 1, low=0.95, high=1.05)
    pixels = pixels * gain * tint + uniform(batch, 1, 1, 1, low=-0.05, high=0.05)
    blurred = torch.rand(batch, generator=generator) < 0.5
    pixels = torch.where(blurred[:, None, None, None], gaussian_blur(pixels, uniform(batch) * config.max_blur_sigma),
                         pixels)
    noise = torch.randn(pixels.shape, generator=generator) * uniform(batch, 1, 1, 1) * config.max_noise
    return (pixels + noise).clamp(0, 1)


# --- inputs: tensors, uint8 arrays or PIL images, all become (B, 3, 32, 32) floats in [0, 1] ---

def as_pixels(images) -> torch.Tensor:
    """Tensor (B,3,H,W) or (3,H,W) in [0, 1], uint8 array (B,H,W,3) or (H,W,3), or PIL image(s) -> (B,3,32,32)."""
    if hasattr(images, "convert"):  # one PIL image
        images = [images]
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("judge() got an empty list of images.")
        images = np.stack([np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
                           for image in images])
    if isinstance(images, np.ndarray):
        if images.dtype != np.uint8:
            raise ValueError(f"numpy images must be uint8 (H, W, 3) arrays, got dtype {images.dtype}; "
                             "pass floats as a torch tensor (B, 3, H, W) in [0, 1].")
        images = torch.from_numpy(images[None] if images.ndim == 3 else images).permute(0, 3, 1, 2).float() / 255
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"judge() takes a tensor, a uint8 array or PIL images, not {type(images).__name__}.")
    pixels = pixel_batch((images[None] if images.ndim == 3 else images).detach().float().cpu(), "judge() images")
    if pixels.shape[-2:] != (IMAGE_SIZE, IMAGE_SIZE):
        pixels = F.interpolate(pixels, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear", antialias=True,
                               align_corners=False)
    return pixels.clamp(0, 1)


# --- training and evaluation ---

def shapes_tensors(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fresh Shapes as (pixels (n,3,32,32) in [0,1], color labels (n,), shape labels (n,))."""
    batch = make_shapes(n, seed=seed, image_size=IMAGE_SIZE)
    pixels = torch.from_numpy(batch.images).permute(0, 3, 1, 2).float() / 255
    colors = torch.tensor([COLOR_NAMES.index(a.color) for a in batch.attributes])
    shapes = torch.tensor([SHAPES.index(a.shape) for a in batch.attributes])
    return pixels, colors, shapes


@torch.no_grad()
def accuracy(model: ShapesJudge, n: int = 3000, seed: int = EVAL_SEED) -> dict:
    """Color, shape and joint (both right) accuracy on ``n`` fresh Shapes images."""
    pixels, colors, shapes = shapes_tensors(n, seed)
    model.eval()
    color_logits, shape_logits = model(pixels)
    color_right, shape_right = color_logits.argmax(1) == colors, shape_logits.argmax(1) == shapes
    return {"color": color_right.float().mean().item(), "shape": shape_right.float().mean().item(),
            "joint": (color_right & shape_right).float().mean().item(), "n_images": n}


def train_judge(config: JudgeConfig | None = None, seed: int = 0, progress: bool = True) -> ShapesJudge:
    """Train a judge from scratch on all 30 color x shape classes (no held-out pairs)."""
    from tqdm.auto import tqdm

    config = config or JudgeConfig()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    pools = [shapes_tensors(config.pool_size // 4, DATA_SEED_OFFSET + 1000 * seed + i) for i in range(4)]
    pixels, colors, shapes = (torch.cat(parts) for parts in zip(*pools))
    model = ShapesJudge(config.width)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.learning_rate, total_steps=config.steps)
    model.train()
    for _ in tqdm(range(config.steps), desc="training judge", disable=not progress):
        index = torch.randint(len(pixels), (config.batch_size,), generator=generator)
        color_logits, shape_logits = model(augment(pixels[index], config, generator))
        loss = F.cross_entropy(color_logits, colors[index]) + F.cross_entropy(shape_logits, shapes[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


# --- the public entry points ---

_LOADED: dict[str, ShapesJudge] = {}


def load_judge(path: str | None = None) -> ShapesJudge:
    """The bundled judge (sha256 verified), or one saved by ``train-judge --out PATH``."""
    from . import checkpoints

    key = str(path or CHECKPOINT_NAME)
    if key not in _LOADED:
        tensors, _ = checkpoints.load_state(path) if path else checkpoints.load_bundled(CHECKPOINT_NAME)
        try:
            model = ShapesJudge(width=tensors["features.0.0.weight"].shape[0])  # first conv: (width, 3, 3, 3)
            model.load_state_dict(tensors)
        except (KeyError, RuntimeError) as error:
            raise checkpoints.CheckpointError(f"{key} is not a Shapes judge checkpoint: {error}") from None
        _LOADED[key] = model.eval()
    return _LOADED[key]


@torch.no_grad()
def judge(images, model: ShapesJudge | None = None) -> list[Verdict]:
    """Which color and shape each image shows: a list of Verdict(color, shape, confidence)."""
    model = model or load_judge()
    color_logits, shape_logits = model.eval()(as_pixels(images))
    color_probability, color_index = color_logits.softmax(1).max(1)
    shape_probability, shape_index = shape_logits.softmax(1).max(1)
    return [Verdict(COLOR_NAMES[c], SHAPES[s], float(pc * ps))
            for c, s, pc, ps in zip(color_index.tolist(), shape_index.tolist(), color_probability, shape_probability)]


def parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


__all__ = ["JudgeConfig", "ShapesJudge", "Verdict", "judge", "load_judge", "train_judge", "accuracy",
           "as_pixels", "augment"]
