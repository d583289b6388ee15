"""Training the tiny VQGANs on Shapes: the recipe of each bundled one and the loop that follows it.

A VQ autoencoder trained from a random codebook collapses onto a few codes, so the loop starts with a
plain-autoencoder warm-up, then sets the codebook to k-means centres of the encoder's outputs, restarts
codes nobody used on recent encoder outputs, and (optionally) switches on the patch discriminator
(vqgan_quality.py). The reconstruction loss is L1, optionally weighted towards the shape's pixels.

Read top-down: the recipe (``TinyTrainingConfig``, ``TINY_RECIPES``), codebook care, the per-pixel loss
weights, then the loop (``train_tiny_vqgan`` and its ``_TinyRun``). The model is vqgan_model.py; the
``train-vqgan`` command in cli.py.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import config as mmconfig
from .checks import positive_int
from .vqgan_model import VQGAN, VQGAN_CONFIGS, VQGANConfig, from_vqgan_range
from .vqgan_quality import (FOREGROUND_LEVEL, PatchDiscriminator, adaptive_gan_weight, hinge_discriminator_loss,
                            psnr_db, shapes_pixels)

CURVE_EVERY = 50  # steps averaged into one point of the saved loss curve


@dataclass
class TinyTrainingConfig:
    """The recipe of the bundled tiny VQGAN (data/checkpoints.json records the values used)."""
    steps: int = 1600  # optimiser steps; PSNR still rises slowly past this
    batch_size: int = 16  # images per step: on a CPU, more small steps beat fewer large ones
    learning_rate: float = 2e-3  # Adam peak; cosine decay to 1% at the end
    betas: tuple[float, float] = (0.5, 0.9)  # Adam momentum; taming's GAN-friendly values (also best here)
    train_images: int = 20_000  # fixed pool drawn once; more costs a few seconds to draw
    warmup_steps: int = 200  # plain-autoencoder steps before quantizing (avoids codebook collapse)
    restart_every: int = 100  # dead-code restart period (steps)
    discriminator: bool = True  # add the patch discriminator (the GAN in VQGAN)
    disc_start_fraction: float = 0.5  # switch the discriminator on after this fraction of the steps
    disc_weight: float = 0.6  # scale on the adaptive GAN weight: patch texture vs PSNR (0.6: -0.3 dB here)
    disc_learning_rate: float = 4e-4  # discriminator Adam learning rate
    foreground_weight: float = 0.0  # extra L1 weight on the shape's pixels: codes spent on color and outline, not
    # on the background's gray level (0 = plain L1, as the 16x16 models were trained)
    edge_weight: float = 0.0  # extra L1 weight on a 2-pixel band across the outline: sharp corners and points
    # vs a slightly noisier background (0 = off)
    small_shape_area: float = 0.0  # scale the two extras by clip(this / shape area in pixels, *area_scale_range), so
    # a small star's few pixels weigh about as much as a large circle's many (0 = off)
    area_scale_range: tuple[float, float] = (0.5, 4.0)  # bounds of that scale: a tiny fragment cannot dominate a batch
    model: VQGANConfig = field(default_factory=lambda: VQGAN_CONFIGS["tiny-shapes"])

    def __post_init__(self):
        if self.warmup_steps < 0 or self.steps <= self.warmup_steps:
            raise ValueError(f"steps={self.steps} must exceed warmup_steps={self.warmup_steps} (the plain-autoencoder "
                             "warm-up before quantizing, 0 or more); use at least "
                             f"{max(self.warmup_steps, 0) + 1} steps.")
        for name in ("steps", "batch_size", "train_images", "restart_every"):
            positive_int(getattr(self, name), name)
        for name in ("foreground_weight", "edge_weight", "small_shape_area"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} must be 0 (off) or more.")
        low, high = self.area_scale_range
        if not 0 < low <= high:
            raise ValueError(f"area_scale_range={self.area_scale_range} must be (low, high) with 0 < low <= high.")


# The recipe of each bundled tiny VQGAN by load name (``train-vqgan --model NAME`` re-creates it).
TINY_RECIPES = {
    "tiny-shapes": TinyTrainingConfig(),
    "tiny-shapes-nodisc": TinyTrainingConfig(discriminator=False),
    # 8x8 codes, L1 only. With plain L1 (1500 steps) red and yellow came back orange: most pixels are background,
    # so most codes went to its gray levels. Weighting the shape's pixels 10x keeps every color apart.
    "tiny-shapes-8x8": TinyTrainingConfig(steps=1500, batch_size=16, discriminator=False, foreground_weight=9.0,
                                          model=VQGAN_CONFIGS["tiny-shapes-8x8"]),
    # Lesson 5's tokenizer: 1,024 cosine codes of 8 dims (k-means after the warm-up, dead-code restarts), batch 32,
    # and L1 weighted towards the shape, its outline and small shapes: small shapes' outlines, not PSNR, limited
    # what a transformer over these codes could draw (bench/tokenizer_reconstruction.py).
    "tiny-shapes-8x8-cosine": TinyTrainingConfig(steps=2000, batch_size=32, discriminator=False,
                                                 foreground_weight=9.0, edge_weight=6.0, small_shape_area=100.0,
                                                 model=VQGAN_CONFIGS["tiny-shapes-8x8-cosine"]),
}


@torch.no_grad()
def init_codebook_from_latents(vqgan: VQGAN, latents: torch.Tensor, iterations: int = 10) -> None:
    """Set the codebook to k-means centres of encoder outputs, so every code starts where data is."""
    vectors = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])  # (positions, C)
    centres = vectors[torch.randperm(len(vectors))[: vqgan.config.n_embed]].clone()
    for _ in range(iterations):
        assignment = torch.cdist(vectors, centres).argmin(1)
        for code in range(len(centres)):
            members = vectors[assignment == code]
            centres[code] = members.mean(0) if len(members) else vectors[torch.randint(len(vectors), ())]
    vqgan.codebook.copy_(centres)


@torch.no_grad()
def restart_dead_codes(vqgan: VQGAN, usage: torch.Tensor, latents: torch.Tensor) -> int:
    """Move every code unused since the last restart onto a random recent encoder output."""
    dead = (usage == 0).nonzero().flatten()
    if len(dead):
        vectors = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])  # (positions, C)
        vqgan.codebook[dead] = vectors[torch.randint(len(vectors), (len(dead),))]
    return len(dead)


def pixel_weights(pixels: torch.Tensor, foreground_weight: float, edge_weight: float = 0.0,
                  small_shape_area: float = 0.0, area_scale_range: tuple[float, float] = (0.5, 4.0)) -> torch.Tensor:
    """(B, 1, H, W) L1 weights ``1 + (foreground_weight * shape + edge_weight * edge band) * scale``.

    The shape is where the brightest channel is above FOREGROUND_LEVEL (the Shapes background stays below 70 of
    255); the edge band is the pixels one step inside or outside its outline; ``scale`` is 1, or with
    ``small_shape_area`` > 0, ``clip(small_shape_area / the shape's area, *area_scale_range)`` per image.
    """
    foreground = (from_vqgan_range(pixels).amax(1, keepdim=True) * 255 > FOREGROUND_LEVEL).float()  # (B, 1, H, W)
    grown = F.max_pool2d(foreground, 3, stride=1, padding=1)  # (B, 1, H, W): the shape plus one pixel around it
    shrunk = -F.max_pool2d(-foreground, 3, stride=1, padding=1)  # the shape less its outermost pixels
    extra = foreground_weight * foreground + edge_weight * (grown - shrunk)  # (B, 1, H, W)
    if small_shape_area > 0:
        area = foreground.sum((2, 3), keepdim=True).clamp(min=1)  # (B, 1, 1, 1) pixels
        extra = extra * (small_shape_area / area).clamp(*area_scale_range)
    return 1 + extra


def train_tiny_vqgan(settings: TinyTrainingConfig, seed: int = 0, progress: bool = True) -> tuple[VQGAN, dict]:
    """Train the tiny VQGAN on Shapes: autoencoder warm-up, k-means codebook, VQ with dead-code
    restarts, then (optionally) the patch discriminator. Returns (model, summary)."""
    mmconfig.seed_everything(seed)
    run = _TinyRun(settings)
    pool = shapes_pixels(settings.train_images, seed, settings.model.resolution)  # (n, 3, 32, 32) in [-1, 1]
    started, window = time.perf_counter(), []
    bar = tqdm(range(settings.steps), desc="train tiny VQGAN", disable=not progress)
    for step in bar:
        batch = pool[torch.randint(len(pool), (settings.batch_size,))]  # (batch_size, 3, 32, 32)
        reconstruction, rec_loss = run.step(step, batch)
        window.append((rec_loss, (reconstruction.detach() - batch).abs().mean().item()))
        if len(window) == CURVE_EVERY or step == settings.steps - 1:
            run.curve.append({"step": step + 1, "loss": round(sum(w[0] for w in window) / len(window), 5),
                              "l1": round(sum(w[1] for w in window) / len(window), 5)})
            window = []
            bar.set_postfix(loss=f"{run.curve[-1]['loss']:.4f}", psnr=f"{psnr_db(reconstruction, batch):.1f}")
    summary = {"train_seconds": round(time.perf_counter() - started, 1), "codes_restarted": run.restarted}
    return run.vqgan.eval(), {**summary, "loss_curve": run.curve}


class _TinyRun:
    """The models, optimisers and codebook bookkeeping of one tiny-VQGAN training run."""

    def __init__(self, settings: TinyTrainingConfig):
        self.settings = settings
        self.vqgan, self.discriminator = VQGAN(settings.model), PatchDiscriminator()
        self.optimizer = torch.optim.Adam(self.vqgan.parameters(), lr=settings.learning_rate, betas=settings.betas)
        self.disc_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=settings.disc_learning_rate,
                                               betas=(0.5, 0.9))
        decay = lambda step: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / settings.steps))  # noqa: E731
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, decay)
        self.disc_start = settings.steps  # never, unless the discriminator is on
        if settings.discriminator:
            self.disc_start = int(settings.steps * settings.disc_start_fraction)
        self.usage = torch.zeros(settings.model.n_embed)  # how often each code was picked since the last restart
        self.restarted, self.curve = 0, []

    def step(self, step: int, batch: torch.Tensor) -> tuple[torch.Tensor, float]:
        """One optimiser step of the autoencoder (and of the discriminator once it is on)."""
        settings, vqgan = self.settings, self.vqgan
        latents = vqgan.quantize.project(vqgan.encode_to_latents(batch))  # (B, C, h, w), unit length if cosine
        quantized, codebook_loss = self.quantize(step, latents)
        reconstruction = vqgan.decode(quantized)  # (B, 3, H, W)
        weights = pixel_weights(batch, settings.foreground_weight, settings.edge_weight, settings.small_shape_area,
                                settings.area_scale_range)  # (B, 1, H, W)
        rec_loss = ((reconstruction - batch).abs() * weights).mean()
        loss = rec_loss + codebook_loss
        if step >= self.disc_start:
            generator_loss = -self.discriminator(reconstruction).mean()
            weight = adaptive_gan_weight(rec_loss, generator_loss, vqgan.decoder.conv_out.weight, settings.disc_weight)
            loss = loss + weight * generator_loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        if step >= self.disc_start:
            self.discriminator_step(batch, reconstruction.detach())
        if step > settings.warmup_steps and (step - settings.warmup_steps) % settings.restart_every == 0:
            self.restarted += restart_dead_codes(vqgan, self.usage, latents.detach())
            self.usage.zero_()
        return reconstruction, rec_loss.item()

    def quantize(self, step: int, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """No quantization during the plain-autoencoder warm-up; then k-means codes, counted for restarts."""
        if step < self.settings.warmup_steps:
            return latents, latents.new_zeros(())
        if step == self.settings.warmup_steps:
            init_codebook_from_latents(self.vqgan, latents.detach())
        quantized, codebook_loss, indices = self.vqgan.quantize(latents)
        self.usage += torch.bincount(indices.flatten(), minlength=self.settings.model.n_embed)
        return quantized, codebook_loss

    def discriminator_step(self, batch: torch.Tensor, reconstruction: torch.Tensor) -> None:
        loss = hinge_discriminator_loss(self.discriminator(batch), self.discriminator(reconstruction))
        self.disc_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.disc_optimizer.step()
