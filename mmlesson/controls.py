"""Negative controls: images that must NOT pass a measure of "shows the prompt's shape".

A measure is only as good as the nonsense it rejects. The first judge of lesson 4 gave high
confidence to patchworks of random codes; these generators make that nonsense on purpose, so
that measure.py can be checked against it (bench/strict_measure.py, tests/test_measure.py):

- ``random_codes``: a VQGAN decoding a grid of random codebook entries (a patchwork);
- ``step_zero``: generation's own starting image (random codes through generate's latent path);
- ``shuffled_codes``: a real Shapes image's codes in a random order (right colors, no outline);
- ``two_shapes``: two Shapes objects in one image, same or different colors;
- ``fragments``: one Shapes object cut into pieces by background-colored stripes;
- ``blobs``: irregular single pieces of one Shapes color (a color, but no shape).

Every generator returns (n, 32, 32, 3) uint8 and is deterministic in its seed.
"""
from __future__ import annotations

import numpy as np
import torch

from .measure import pieces
from .shapes import COLORS, make_shapes


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """VQGAN output (n, 3, H, W) in about [-1, 1] -> (n, H, W, 3) uint8."""
    images = ((pixels.detach().float().cpu() + 1) / 2).clamp(0, 1)
    return (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)  # (n, H, W, 3)


@torch.no_grad()
def random_codes(vqgan, n: int, seed: int) -> np.ndarray:
    """Decode (n, h, w) grids of uniformly random code indices."""
    grid = 32 // vqgan.downsample_factor
    generator = torch.Generator().manual_seed(seed)
    indices = torch.randint(vqgan.config.n_embed, (n, grid, grid), generator=generator)
    return to_uint8(vqgan.decode_indices(indices))


@torch.no_grad()
def step_zero(vqgan, n: int, seed: int) -> np.ndarray:
    """The first frame generate() shows: its random starting latents, quantized and decoded."""
    from .generate import latents_to_pixels, random_latents

    generator = torch.Generator().manual_seed(seed)
    latents = random_latents(vqgan, n, 32 // vqgan.downsample_factor, generator)  # (n, C, h, w)
    return (latents_to_pixels(vqgan, latents).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)


@torch.no_grad()
def shuffled_codes(vqgan, n: int, seed: int) -> np.ndarray:
    """Encode fresh Shapes, permute each image's code positions at random, decode."""
    batch = make_shapes(n, seed=seed)
    pixels = torch.from_numpy(batch.images).permute(0, 3, 1, 2).float() / 127.5 - 1  # (n, 3, 32, 32) in [-1, 1]
    _, _, indices = vqgan.encode(pixels)  # (n, h, w)
    generator = torch.Generator().manual_seed(seed)
    flat = indices.flatten(1)  # (n, h * w)
    order = torch.argsort(torch.rand(flat.shape, generator=generator), dim=1)
    shuffled = torch.gather(flat, 1, order).reshape(indices.shape)  # (n, h, w)
    return to_uint8(vqgan.decode_indices(shuffled))


def two_shapes(n: int, seed: int, same_color: bool) -> np.ndarray:
    """Two objects per image: a Shapes image on the left and one on the right, brighter pixel wins."""
    left = make_shapes(n, seed=seed, only=None)
    right = make_shapes(n, seed=seed + 1)
    lefts, rights = _placed(left, "on the left", seed), _placed(right, "on the right", seed + 1)
    if same_color:
        rights = _placed(right, "on the right", seed + 1, colors=[a.color for a in left.attributes])
    return np.maximum(lefts, rights)


def _placed(batch, position: str, seed: int, colors=None) -> np.ndarray:
    """Re-render ``batch``'s attributes small and at ``position`` (optionally with other colors)."""
    from dataclasses import replace

    from .shapes import render

    attributes = [replace(a, position=position, size="small", color=colors[i] if colors else a.color)
                  for i, a in enumerate(batch.attributes)]
    return render(attributes, np.random.default_rng(seed))


def fragments(n: int, seed: int) -> np.ndarray:
    """Large Shapes objects cut through their middle by one or two dark stripes (2-3 px wide)."""
    from dataclasses import replace

    from .shapes import render

    rng = np.random.default_rng(seed)
    batch = make_shapes(n, seed=seed)
    attributes = [replace(a, size="large", position="in the center") for a in batch.attributes]
    images = render(attributes, rng).copy()
    rows, cols = np.indices((32, 32)) + 0.5
    for image in images:
        background = np.median(np.concatenate([image[0], image[-1]]), axis=0)
        for angle in rng.uniform(0, np.pi, rng.integers(1, 3)):
            distance = (cols - 16) * np.cos(angle) + (rows - 16) * np.sin(angle) + rng.uniform(-2, 2)
            image[np.abs(distance) < rng.uniform(1.0, 1.5)] = background
    return images


def blobs(n: int, seed: int) -> np.ndarray:
    """One irregular, connected blob of a Shapes color per image: smooth random noise, thresholded."""
    rng = np.random.default_rng(seed)
    names = list(COLORS)
    images = np.empty((n, 32, 32, 3), np.uint8)
    for i in range(n):
        coarse = torch.from_numpy(rng.standard_normal((1, 1, 5, 5)).astype(np.float32))
        field = torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bicubic", align_corners=False)[0, 0]
        field = field.numpy() - 2.5 * np.hypot(*(np.indices((32, 32)) - 15.5)) / 32  # favour the centre
        mask = pieces(field > np.quantile(field, 1 - rng.uniform(0.08, 0.25)))[0]  # its largest piece
        color = np.array(COLORS[names[rng.integers(len(names))]], np.float32)
        background = rng.uniform(10, 45)
        image = np.where(mask[..., None], color, background) + rng.normal(0, 4, (32, 32, 3))
        images[i] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return images


def all_controls(vqgan, n: int, seed: int) -> dict[str, np.ndarray]:
    """Every control, ``n`` images each, keyed by name."""
    return {"random codes": random_codes(vqgan, n, seed), "step-0 frames": step_zero(vqgan, n, seed + 1),
            "shuffled codes": shuffled_codes(vqgan, n, seed),
            "two shapes, same color": two_shapes(n, seed, same_color=True),
            "two shapes, two colors": two_shapes(n, seed, same_color=False),
            "fragments": fragments(n, seed), "color blobs": blobs(n, seed)}
