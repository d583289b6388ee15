"""How good a tiny VQGAN's reconstruction is: the patch discriminator that learns to tell real patches from
rebuilt ones during training (the GAN in VQGAN), and the measures reported after it.

Read top-down: the patch discriminator and its two losses (hinge, VQGAN's adaptive weight), the Shapes
batches every measure draws, then what a reconstruction keeps: PSNR and codebook use, every color, and the
strict measure (measure.py) on each reconstruction. The model is vqgan_model.py; training vqgan_training.py.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from .shapes import CLASS_NAMES, CLASSES, SHAPES, with_article
from .vqgan_model import VQGAN, from_vqgan_range, to_vqgan_range

EVAL_SEED = 20_240_601  # fresh Shapes for metrics: never a training seed
TOKENIZER_SEED = 4242  # fresh Shapes for tokenizer_report (the lesson-5 tokenizer's figures): never a training seed
FOREGROUND_LEVEL = 120  # a pixel whose brightest channel exceeds this (0-255) belongs to the shape, not the background
INTERIOR_LEVEL = 170  # ...and above this it lies inside the shape (edge pixels mix with the background: a half-covered
# yellow pixel is nearer orange, so color_fidelity reads the interior; the original images then keep 100%)



# --- the patch discriminator -------------------------------------------------------------------

class PatchDiscriminator(nn.Module):
    """A small PatchGAN: convs that end in one real/fake logit per overlapping patch.

    A 32x32 image gives an 8x8 grid of logits, one per 4x4 step, each judging a 10x10-pixel patch
    (its receptive field): the discriminator scores local edges and texture, not the whole image.
    """

    def __init__(self, in_channels: int = 3, width: int = 32):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # 32 -> 16, sees 4x4
            nn.Conv2d(width, width * 2, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # -> 8, sees 10x10
            nn.Conv2d(width * 2, width * 4, 1), nn.LeakyReLU(0.2),  # no norm layer: logits stay strictly local
            nn.Conv2d(width * 4, 1, 1))  # one logit per patch

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.layers(pixels)  # (B, 1, H/4, W/4)


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Push every real patch's logit above +1 and every fake patch's below -1."""
    return 0.5 * (F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean())


def adaptive_gan_weight(reconstruction_loss: torch.Tensor, generator_loss: torch.Tensor,
                        last_layer: torch.Tensor, scale: float) -> torch.Tensor:
    """VQGAN's lambda: balance the two losses by their gradient norms at the decoder's last layer."""
    rec_grad = torch.autograd.grad(reconstruction_loss, last_layer, retain_graph=True)[0]
    gan_grad = torch.autograd.grad(generator_loss, last_layer, retain_graph=True)[0]
    return (rec_grad.norm() / (gan_grad.norm() + 1e-4)).clamp(0, 1e4).detach() * scale


# --- what a reconstruction keeps --------------------------------------------------------------

def shapes_pixels(n_images: int, seed: int, image_size: int = 32) -> torch.Tensor:
    """Shapes images as a (n, 3, size, size) float tensor in [-1, 1]."""
    from .shapes import make_shapes

    images = torch.from_numpy(make_shapes(n_images, seed, image_size).images)
    return to_vqgan_range(images.permute(0, 3, 1, 2).float() / 255)


def psnr_db(reconstruction: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1], measured in [0, 1] on the pooled mean squared error."""
    mse = (from_vqgan_range(reconstruction) - from_vqgan_range(target)).pow(2).mean().item()
    return 10 * math.log10(1 / max(mse, 1e-12))


@torch.no_grad()
def reconstruction_metrics(vqgan: VQGAN, n_images: int = 1000, seed: int = EVAL_SEED,
                           batch_size: int = 250) -> dict:
    """PSNR (dB, pooled over all pixels), codebook perplexity and number of distinct codes used,
    measured on ``n_images`` fresh Shapes images drawn from ``seed``."""
    device = next(vqgan.parameters()).device
    pixels = shapes_pixels(n_images, seed, vqgan.config.resolution)
    squared_error, counts = 0.0, torch.zeros(vqgan.config.n_embed)
    for start in range(0, n_images, batch_size):
        batch = pixels[start:start + batch_size].to(device)
        reconstruction, _, indices = vqgan(batch)
        squared_error += (from_vqgan_range(reconstruction) - from_vqgan_range(batch)).pow(2).sum().item()
        counts += torch.bincount(indices.flatten().cpu(), minlength=vqgan.config.n_embed).float()
    probabilities = counts / counts.sum()
    entropy = -(probabilities[probabilities > 0] * probabilities[probabilities > 0].log()).sum().item()
    mse = squared_error / pixels.numel()
    return {"psnr_db": round(10 * math.log10(1 / max(mse, 1e-12)), 2), "perplexity": round(math.exp(entropy), 1),
            "codes_used": int((counts > 0).sum())}


@torch.no_grad()
def color_fidelity(vqgan: VQGAN, n_images: int = 600, seed: int = EVAL_SEED, batch_size: int = 200) -> dict:
    """Does every Shapes color survive reconstruction? Per color: the mean absolute error (0-255) between the
    shape's mean RGB in the original and in the reconstruction, and the fraction of reconstructions whose
    mean shape color is still nearest to the right Shapes color (so purple must not come back blue)."""
    from .shapes import COLORS

    shapes, originals, rebuilt = reconstruct_fresh_shapes(vqgan, n_images, seed, batch_size)
    mask = (originals.amax(1, keepdim=True) * 255 > INTERIOR_LEVEL).float()  # (n, 1, H, W): the shape's interior
    area = mask.sum((2, 3)).clamp(min=1)  # (n, 1)
    original_rgb = (originals * mask).sum((2, 3)) / area * 255  # (n, 3): mean shape color
    rebuilt_rgb = (rebuilt * mask).sum((2, 3)) / area * 255
    palette = torch.tensor(list(COLORS.values()), dtype=torch.float32)  # (6, 3)
    nearest = torch.cdist(rebuilt_rgb, palette).argmin(1)  # (n,)
    true = torch.tensor([list(COLORS).index(a.color) for a in shapes.attributes])
    report = {}
    for index, color in enumerate(COLORS):
        rows = true == index
        report[color] = {"rgb_error": round((rebuilt_rgb[rows] - original_rgb[rows]).abs().mean().item(), 1),
                         "kept": round((nearest[rows] == index).float().mean().item(), 3), "images": int(rows.sum())}
    return report


@torch.no_grad()
def strict_reconstruction_rate(vqgan: VQGAN, n_images: int = 400, seed: int = EVAL_SEED) -> float:
    """Fraction of reconstructions of fresh Shapes that pass the strict measure (measure.py) for their own
    "a COLOR SHAPE" prompt; real Shapes themselves pass about 97%."""
    from .measure import check_images, pass_rate
    shapes, _, rebuilt = reconstruct_fresh_shapes(vqgan, n_images, seed)
    prompts = [with_article(f"a {a.color} {a.shape}") for a in shapes.attributes]
    return round(pass_rate(check_images(rebuilt, prompts)), 3)


@torch.no_grad()
def reconstruct_fresh_shapes(vqgan: VQGAN, n_images: int, seed: int, batch_size: int = 200) -> tuple:
    """(the Shapes drawn from ``seed``, originals (n, 3, H, W) in [0, 1], their reconstructions in [0, 1])."""
    from .shapes import make_shapes

    shapes = make_shapes(n_images, seed, vqgan.config.resolution)
    originals = torch.from_numpy(shapes.images).permute(0, 3, 1, 2).float() / 255  # (n, 3, H, W) in [0, 1]
    device = next(vqgan.parameters()).device
    rebuilt = torch.cat([from_vqgan_range(vqgan(to_vqgan_range(originals[i:i + batch_size]).to(device))[0]).cpu()
                         for i in range(0, n_images, batch_size)])  # (n, 3, H, W) in [0, 1]
    return shapes, originals, rebuilt


@torch.no_grad()
def tokenizer_report(vqgan: VQGAN, clip=None, n_images: int = 900, seed: int = TOKENIZER_SEED) -> dict:
    """What a tokenizer keeps of fresh Shapes, as the strict measure reads it: the pass rate of the
    reconstructions (all, small and large shapes, each shape), the originals' own pass rate (the ceiling),
    PSNR and codebook use, and, with a CLIP, how often it reads the right shape on a reconstruction."""
    from .measure import check_images

    shapes, originals, rebuilt = reconstruct_fresh_shapes(vqgan, n_images, seed)
    prompts = [with_article(f"a {a.color} {a.shape}") for a in shapes.attributes]
    passed = torch.tensor([verdict.passed for verdict in check_images(rebuilt, prompts)], dtype=torch.float32)
    groups = {size: [a.size == size for a in shapes.attributes] for size in ("small", "large")}
    groups.update({shape: [a.shape == shape for a in shapes.attributes] for shape in SHAPES})
    report = {"strict": round(passed.mean().item(), 3),
              **{f"strict_{name}": round(passed[torch.tensor(rows)].mean().item(), 3) for name, rows in groups.items()},
              "strict_originals": round(float(np.mean([v.passed for v in check_images(originals, prompts)])), 3),
              "psnr_db": round(10 * math.log10(1 / max((rebuilt - originals).pow(2).mean().item(), 1e-12)), 2),
              "codes_used": int(torch.unique(vqgan.encode(to_vqgan_range(originals))[2]).numel()),
              "images": n_images, "seed": seed}
    if clip is not None:
        report["clip_reads_shape"] = round(clip_shape_reading(clip, rebuilt, shapes.attributes), 3)
    return report


def clip_shape_reading(clip, images: torch.Tensor, attributes) -> float:
    """Fraction of images (n, 3, H, W) in [0, 1] whose CLIP zero-shot class (30 color x shape names, the
    Shapes templates) has the right shape."""
    from .zeroshot import SHAPES_TEMPLATES, ZeroShotClassifier

    classifier = ZeroShotClassifier.from_names(clip, CLASS_NAMES, SHAPES_TEMPLATES)
    pil_images = [Image.fromarray((image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)) for image in images]
    predicted = classifier.predict(pil_images, progress=False)  # (n,) class indices
    return float(np.mean([CLASSES[p][1] == a.shape for p, a in zip(predicted, attributes)]))
