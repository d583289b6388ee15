"""Lesson 4 exercises: the spherical distance loss and the straight-through quantizer."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from ..generate import spherical_distance
from ..vqgan import lookup_codes, nearest_codes, straight_through_quantize
from ._checking import Exercise, run_check
from ._report import Hint


# --- guided generation ---

def _spherical_cases() -> list[tuple]:
    """(image_embeddings (B, D), text_embeddings (P, D)) with norms 0.2-0.6, deliberately not normalised."""
    generator = torch.Generator().manual_seed(4)
    cases = []
    for n_images, n_texts, dim in ((4, 3, 8), (1, 1, 5), (6, 2, 16)):
        images, texts = torch.randn(n_images, dim, generator=generator), torch.randn(n_texts, dim, generator=generator)
        images = images / images.norm(dim=-1, keepdim=True) * (0.2 + 0.4 * torch.rand(n_images, 1, generator=generator))
        texts = texts / texts.norm(dim=-1, keepdim=True) * (0.2 + 0.4 * torch.rand(n_texts, 1, generator=generator))
        cases.append((images, texts))
    return cases


UNIT_INPUTS = "images, texts = F.normalize(image_embeddings, dim=-1), F.normalize(text_embeddings, dim=-1)"
SPHERICAL = "return 2 * torch.arcsin((images[:, None, :] - texts[None, :, :]).norm(dim=-1) / 2) ** 2  # (B, P)"


def check_spherical_distance_loss(fn: Callable) -> Callable:
    """fn(image_embeddings (B, D), text_embeddings (P, D)) -> (B, P): 2 * arcsin(|a - b| / 2)^2 on unit vectors."""
    def chord(images, texts):
        return (images[:, None, :] - texts[None, :, :]).norm(dim=-1)  # (B, P)

    mistakes = [
        (lambda images, texts: 2 * torch.arcsin(chord(images, texts) / 2) ** 2,
         Hint("normalise both inputs to unit length first: the formula holds on the sphere", UNIT_INPUTS)),
        (lambda images, texts: 1 - F.normalize(images, dim=-1) @ F.normalize(texts, dim=-1).T,
         Hint("that is the cosine distance 1 - cos; VQGAN+CLIP uses the squared great-circle distance "
              "2 * arcsin(|a - b| / 2) ** 2", SPHERICAL)),
        (lambda images, texts: 2 * torch.arcsin(chord(F.normalize(images, dim=-1), F.normalize(texts, dim=-1)) / 2),
         Hint("square the arcsin: 2 * arcsin(|a - b| / 2) ** 2 (the square makes it smooth where a = b)", SPHERICAL)),
    ]
    exercise = Exercise("spherical_distance_loss", spherical_distance, _spherical_cases(), mistakes,
                        generic_hint=Hint("expected 2 * arcsin(|a - b| / 2) ** 2 for every (image, text) pair of "
                                          "normalised embeddings, shape (n_images, n_texts)",
                                          f"{UNIT_INPUTS}\n{SPHERICAL}"))
    return run_check(exercise, fn).function



# --- the VQGAN codebook ---

def _quantizer_cases() -> list[tuple]:
    """(latents (B, C, H, W), codebook (K, C)); code lengths vary so a dot product picks other codes."""
    generator = torch.Generator().manual_seed(44)
    cases = []
    for batch, channels, side, n_codes in ((2, 4, 3, 10), (1, 3, 2, 6), (3, 8, 4, 16)):
        latents = torch.randn(batch, channels, side, side, generator=generator)
        codebook = torch.randn(n_codes, channels, generator=generator) * torch.linspace(0.3, 2.5, n_codes)[:, None]
        cases.append((latents, codebook))
    return cases


def _quantizer_probe(function: Callable) -> Callable:
    """Run ``function`` and return its output values followed by d(sum(weights * output))/d(latents),
    so that a checker comparing arrays also sees whether the gradient reaches the latents."""
    def probe(latents, codebook):
        latents = latents.clone().requires_grad_(True)
        quantized = function(latents, codebook)
        if quantized is None:
            return None
        quantized = torch.as_tensor(quantized)
        weights = torch.linspace(-1, 1, quantized.numel()).reshape(quantized.shape)  # (B, C, H, W)
        gradient = torch.zeros_like(latents)
        if quantized.requires_grad:
            gradient = torch.autograd.grad((quantized * weights).sum(), latents, allow_unused=True)[0]
        gradient = torch.zeros_like(latents) if gradient is None else gradient
        return torch.cat([quantized.detach().double().flatten(), gradient.double().flatten()])

    return probe


FLATTEN = "flat = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])  # (B*H*W, C)"
NEAREST = "indices = torch.cdist(flat, codebook).argmin(dim=1)  # (B*H*W,)"
LOOK_UP = "quantized = codebook[indices].reshape(B, H, W, C).permute(0, 3, 1, 2)  # (B, C, H, W)"
STRAIGHT_THROUGH = "return latents + (quantized - latents).detach()"


def check_straight_through_quantizer(fn: Callable) -> Callable:
    """fn(latents (B, C, H, W), codebook (K, C)) -> (B, C, H, W): each C-vector replaced by its nearest
    codebook row (Euclidean), with the gradient passed straight through to the latents."""
    def by_dot_product(latents, codebook):
        scores = latents.permute(0, 2, 3, 1) @ codebook.T  # (B, H, W, K)
        quantized = lookup_codes(scores.argmax(-1), codebook)
        return latents + (quantized - latents).detach()

    def channels_not_moved_last(latents, codebook):
        flat = latents.reshape(-1, latents.shape[1])  # mixes channels with positions
        indices = torch.cdist(flat, codebook).argmin(1)
        quantized = codebook[indices].reshape(latents.shape)  # (B*H*W, C) read back as (B, C, H, W): wrong
        return latents + (quantized - latents).detach()

    mistakes = [
        (lambda latents, codebook: lookup_codes(nearest_codes(latents, codebook), codebook),
         Hint("the values are right but no gradient reaches the latents: the backward pass must skip the "
              "non-differentiable lookup", STRAIGHT_THROUGH)),
        (by_dot_product, Hint("nearest means the smallest Euclidean distance ||z - e||, not the largest dot product "
                              "z.e: codebook rows have different lengths", NEAREST)),
        (channels_not_moved_last, Hint("each latent vector is the C channels at one (h, w) position: move channels "
                                       "last before flattening to (B*H*W, C), and back afterwards",
                                       f"{FLATTEN}\n{LOOK_UP}")),
        (lambda latents, codebook: nearest_codes(latents, codebook),
         Hint("you returned the code indices; return the codebook vectors at those indices, shape (B, C, H, W)",
              LOOK_UP)),
    ]
    exercise = Exercise("straight_through_quantizer", _quantizer_probe(straight_through_quantize), _quantizer_cases(),
                        [(_quantizer_probe(wrong), hint) for wrong, hint in mistakes],
                        generic_hint=Hint("expected the nearest codebook vector at every position, shape "
                                          "(B, C, H, W), with gradient d output / d latents = identity",
                                          f"{FLATTEN}\n{NEAREST}\n{LOOK_UP}\n{STRAIGHT_THROUGH}"))
    result = run_check(exercise, _quantizer_probe(fn))
    return fn if result.status == "passed" else straight_through_quantize
