"""unCLIP (DALL-E 2), small: a *prior* turns the tiny CLIP's text embedding into an image embedding, and a
*decoder* draws an image from a CLIP image embedding.

    caption --CLIP text encoder--> text embedding --prior--> image embedding --decoder--> VQGAN codes --> image

Why a prior at all? CLIP's text and image embeddings live in the same space but not in the same place
(the "modality gap"): a caption's embedding is not where its images' embeddings are. The prior learns
that map. We measure it as DALL-E 2 does: the cosine similarity between the predicted and the true image
embedding, against the baseline of using the text embedding directly.

Here the prior is an MLP (DALL-E 2 used a diffusion prior, or an autoregressive one). The decoder is
**not** DALL-E 2's: theirs is a diffusion model. Ours is a cheaper stand-in, the GPT of transformer.py
writing VQGAN codes, with the CLIP image embedding (projected to its width) added at its start position.
Because the decoder only sees an embedding, sampling it several times from one image's embedding gives
*variations* of that image: what CLIP keeps (color, shape) stays, what it ignores may change.

Read top-down: the config, the prior, the decoder, training, measuring and sampling, loading. The
``generate --method unclip`` and ``train-unclip`` commands are in cli.py.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import checkpoints, config as mmconfig
from .checks import positive_int, texts_list
from .dalle import DATA_SEED, check_tokenizer, config_record, decode_codes, encode_images, keep_best
from .shapes import DEFAULT_HOLDOUT, describe, make_shapes
from .transformer import GPT, GPTConfig, count_parameters, sample

CHECKPOINT = "unclip-shapes"
EVAL_SEED = 20_241_202  # fresh images for the prior's measure


@dataclass
class UnclipConfig:
    """Both models and their training recipe (data/checkpoints.json records the values used)."""
    embed_dim: int = 128  # the tiny CLIP's embedding size
    prior_hidden: int = 512  # MLP width: the prior is tiny next to the decoder
    prior_steps: int = 1500  # cheap: one MLP step is ~1 ms
    prior_batch_size: int = 256  # (text, image) embedding pairs per step
    prior_learning_rate: float = 1e-3  # AdamW, cosine decay to 10%
    grid_size: int = 8  # the VQGAN's code grid side
    n_codes: int = 256  # the VQGAN's codebook size
    n_layers: int = 4  # decoder depth; the same GPT as the mini DALL-E
    n_heads: int = 4  # heads of 32 dims
    width: int = 128  # decoder width
    decoder_steps: int = 1200  # the decoder's optimiser steps: the slow part
    decoder_batch_size: int = 32  # streams per step
    decoder_learning_rate: float = 2e-3  # AdamW peak, warm-up 100 steps, cosine decay to 10%
    train_images: int = 12_000  # images embedded once by CLIP and encoded once to codes
    vqgan: str = "tiny-shapes-8x8"  # whose codes the decoder writes
    holdout: tuple = DEFAULT_HOLDOUT  # pairs never seen in training

    def __post_init__(self):
        self.holdout = tuple(tuple(pair) for pair in self.holdout)
        for name in ("prior_steps", "prior_batch_size", "decoder_steps", "decoder_batch_size", "train_images"):
            positive_int(getattr(self, name), name)


# --- the prior: text embedding -> image embedding -------------------------------------------------

class MLPPrior(nn.Module):
    """A residual MLP on the unit sphere: normalise(text + mlp(text))."""

    def __init__(self, embed_dim: int, hidden: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(embed_dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, embed_dim))

    def forward(self, text_embeddings: torch.Tensor) -> torch.Tensor:
        return F.normalize(text_embeddings + self.mlp(text_embeddings), dim=-1)  # (B, D)


# --- the decoder: image embedding -> codes --------------------------------------------------------

class EmbeddingDecoder(nn.Module):
    """GPT over [start | 64 codes]; the projected CLIP image embedding is added at the start position."""

    def __init__(self, config: UnclipConfig):
        super().__init__()
        self.config = config
        self.start_token = config.n_codes  # codes are 0 .. n_codes-1, the start token comes after them
        self.gpt = GPT(GPTConfig(config.n_codes + 1, 1, config.grid_size, config.n_layers, config.n_heads,
                                 config.width))
        self.project = nn.Linear(config.embed_dim, config.width)

    def loss(self, image_embeddings: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the codes, given (B, D) embeddings and (B, 64) codes."""
        start = torch.full((len(codes), 1), self.start_token, dtype=codes.dtype)
        stream = torch.cat([start, codes], dim=1)  # (B, 65)
        logits = self.gpt(stream[:, :-1], condition=self.project(image_embeddings))  # (B, 64, n_codes + 1)
        return F.cross_entropy(logits[..., :self.start_token].transpose(1, 2), stream[:, 1:])

    @torch.no_grad()
    def sample_codes(self, image_embeddings: torch.Tensor, temperature: float = 1.0, top_k: int | None = 64,
                     generator: torch.Generator | None = None, use_cache: bool = True) -> torch.Tensor:
        """(B, D) embeddings -> (B, 64) code indices."""
        start = torch.full((len(image_embeddings), 1), self.start_token, dtype=torch.long)
        return sample(self.gpt, start, self.config.grid_size ** 2, (0, self.start_token), temperature, top_k,
                      generator, use_cache, condition=self.project(image_embeddings))


class Unclip(nn.Module):
    def __init__(self, config: UnclipConfig):
        super().__init__()
        self.config = config
        self.prior = MLPPrior(config.embed_dim, config.prior_hidden)
        self.decoder = EmbeddingDecoder(config)


# --- training -------------------------------------------------------------------------------------

@torch.no_grad()
def embed_pool(clip, pool, rng: np.random.Generator, captions_per_image: int = 2) -> tuple[torch.Tensor, ...]:
    """(image embeddings (N, D), text embeddings (N * k, D), image row of each text (N * k,))."""
    pixels = torch.from_numpy(pool.images).permute(0, 3, 1, 2).float() / 255  # (N, 3, H, W) in [0, 1]
    image_embeddings = torch.cat([clip.embed_pixels(pixels[i:i + 500]) for i in range(0, len(pixels), 500)])
    rows = np.repeat(np.arange(len(pool)), captions_per_image)
    captions = [describe(pool.attributes[row], rng) for row in rows]
    return image_embeddings, clip.encode_texts(captions), torch.from_numpy(rows)


def cosine_schedule(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup))))


def train_prior(prior: MLPPrior, image_embeddings, text_embeddings, rows, config: UnclipConfig,
                generator: torch.Generator) -> float:
    """Minimise 1 - cos(prior(text), image); returns the last batch's mean cosine."""
    optimizer = torch.optim.AdamW(prior.parameters(), lr=config.prior_learning_rate, weight_decay=0.01)
    for step in range(config.prior_steps):
        for group in optimizer.param_groups:
            group["lr"] = cosine_schedule(step, config.prior_steps, config.prior_learning_rate, 50)
        batch = torch.randint(len(rows), (config.prior_batch_size,), generator=generator)
        cosine = (prior(text_embeddings[batch]) * image_embeddings[rows[batch]]).sum(1).mean()
        optimizer.zero_grad(set_to_none=True)
        (1 - cosine).backward()
        optimizer.step()
    return round(cosine.item(), 4)


def train_decoder(decoder: EmbeddingDecoder, image_embeddings, codes, config: UnclipConfig,
                  generator: torch.Generator, progress: bool) -> list[dict]:
    """Teach the decoder to write each image's codes from its CLIP embedding; returns the loss history."""
    from tqdm.auto import tqdm

    optimizer = torch.optim.AdamW(decoder.parameters(), lr=config.decoder_learning_rate, betas=(0.9, 0.95),
                                  weight_decay=0.0)
    history = []
    bar = tqdm(range(config.decoder_steps), desc="train unCLIP decoder", disable=not progress)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = cosine_schedule(step, config.decoder_steps, config.decoder_learning_rate, 100)
        batch = torch.randint(len(codes), (config.decoder_batch_size,), generator=generator)
        loss = decoder.loss(image_embeddings[batch], codes[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(decoder.parameters(), 1.0)
        optimizer.step()
        if step % 50 == 0 or step == config.decoder_steps - 1:
            history.append({"step": step, "image_loss": round(loss.item(), 4)})
            bar.set_postfix(image=f"{loss.item():.3f}")
    return history


def train_unclip(config: UnclipConfig, seed: int = 0, progress: bool = True, clip=None,
                 vqgan=None) -> tuple[Unclip, dict]:
    """Embed and encode Shapes (held-out pairs excluded) once, train the prior, then the decoder."""
    from .models import load_clip
    from .vqgan import load_vqgan

    mmconfig.seed_everything(seed)
    started, generator = time.perf_counter(), torch.Generator().manual_seed(seed)
    clip, vqgan = clip or load_clip("tiny-shapes", device="cpu"), vqgan or load_vqgan(config.vqgan, device="cpu")
    check_tokenizer(config, vqgan, "the unCLIP config")
    pool = make_shapes(config.train_images, DATA_SEED + 7 + seed, vqgan.config.resolution, holdout=config.holdout)
    image_embeddings, text_embeddings, rows = embed_pool(clip, pool, np.random.default_rng(seed))
    codes = encode_images(vqgan, pool.images)  # (N, 64)
    model = Unclip(config)
    prior_cosine = train_prior(model.prior, image_embeddings, text_embeddings, rows, config, generator)
    history = train_decoder(model.decoder, image_embeddings, codes, config, generator, progress)
    summary = {"train_seconds": round(time.perf_counter() - started, 1), "parameters": count_parameters(model),
               "prior_train_cosine": prior_cosine, "final_image_loss": history[-1]["image_loss"]}
    return model.eval(), {**summary, "history": history}


# --- measuring and sampling -----------------------------------------------------------------------

@torch.no_grad()
def prior_cosines(model: Unclip, clip, n_images: int = 600, seed: int = EVAL_SEED) -> dict:
    """Mean cos(predicted, true image embedding) on fresh Shapes with "a COLOR SHAPE" prompts, against the
    baseline cos(text embedding, true image embedding); held-out pairs reported apart."""
    from .shapes import with_article

    shapes = make_shapes(n_images, seed)
    pixels = torch.from_numpy(shapes.images).permute(0, 3, 1, 2).float() / 255  # (n, 3, H, W)
    image_embeddings = clip.embed_pixels(pixels)  # (n, D)
    text_embeddings = clip.encode_texts([with_article(f"a {a.color} {a.shape}") for a in shapes.attributes])
    predicted = (model.prior(text_embeddings) * image_embeddings).sum(1)  # (n,) cosines
    baseline = (text_embeddings * image_embeddings).sum(1)  # (n,)
    held = torch.tensor([(a.color, a.shape) in model.config.holdout for a in shapes.attributes])
    mean = lambda values, keep: round(values[keep].mean().item(), 4)  # noqa: E731
    return {"prior": mean(predicted, ~held | held), "text_baseline": mean(baseline, ~held | held),
            "prior_held_out": mean(predicted, held), "text_baseline_held_out": mean(baseline, held),
            "images": n_images}


def generate_images(model: Unclip, vqgan, clip, prompts: list[str], candidates: int = 16, seed: int = 0,
                    temperature: float = 1.0, top_k: int | None = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """prompt -> text embedding -> prior -> decoder, ``candidates`` times; CLIP keeps the best.
    Returns (images (P, 3, H, W) in [0, 1], CLIP scores (P,))."""
    images = sample_candidates(model, vqgan, clip, prompts, candidates, seed, temperature, top_k)
    return keep_best(clip, images, prompts)


def sample_candidates(model: Unclip, vqgan, clip, prompts: list[str], candidates: int = 16, seed: int = 0,
                      temperature: float = 1.0, top_k: int | None = 64) -> torch.Tensor:
    """``candidates`` decoder samples for each prompt, all from the prior's one embedding of it (the prior is
    deterministic): (P, candidates, 3, H, W) in [0, 1]."""
    from .dalle import layout_for, DalleConfig, prompt_tokens

    positive_int(candidates, "the number of candidates (--samples)")
    check_tokenizer(model.config, vqgan, "this unCLIP decoder")
    prompts = texts_list(prompts, "prompts")
    prompt_tokens(layout_for(DalleConfig()), prompts)  # the same prompt checks (empty, unknown words, length)
    with torch.no_grad():
        image_embeddings = model.prior(clip.encode_texts(prompts)).repeat_interleave(candidates, 0)  # (P * N, D)
        generator = torch.Generator().manual_seed(seed)
        codes = torch.cat([model.decoder.sample_codes(chunk, temperature, top_k, generator)
                           for chunk in image_embeddings.split(32)])  # (P * N, 64)
    return decode_codes(vqgan, codes).reshape(len(prompts), candidates, 3, *codes_side(vqgan, model))


def codes_side(vqgan, model: Unclip) -> tuple[int, int]:
    side = model.config.grid_size * vqgan.downsample_factor
    return side, side


@torch.no_grad()
def variations(model: Unclip, clip, vqgan, image: np.ndarray, n: int = 8, seed: int = 0) -> torch.Tensor:
    """n samples from one uint8 (H, W, 3) image's CLIP embedding: (n, 3, H, W) in [0, 1]."""
    positive_int(n, "n")
    check_tokenizer(model.config, vqgan, "this unCLIP decoder")
    pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W)
    embedding = clip.embed_pixels(pixels).repeat(n, 1)  # (n, D): the same embedding n times
    codes = model.decoder.sample_codes(embedding, generator=torch.Generator().manual_seed(seed))
    return decode_codes(vqgan, codes)


# --- saving and loading ---------------------------------------------------------------------------

KIND = "unclip"


def save_unclip(model: Unclip, path: str | Path, metrics: dict) -> str:
    return checkpoints.save_state(model.state_dict(), path,
                                  {"kind": KIND, "config": config_record(model.config), "metrics": metrics})


def load_unclip(name_or_path: str | Path = "tiny-shapes") -> Unclip:
    """``"tiny-shapes"`` (bundled) or a .safetensors path saved by train-unclip."""
    name = str(name_or_path)
    if name == "tiny-shapes":
        state, metadata = checkpoints.load_bundled(CHECKPOINT)
    elif name.endswith(".safetensors"):
        state, metadata = checkpoints.load_state(Path(name).expanduser())
    else:
        raise ValueError(f"unknown unCLIP model {name!r}; use 'tiny-shapes' or a .safetensors path from train-unclip.")
    if metadata.get("kind") != KIND:
        raise checkpoints.CheckpointError(f"{name} is not an unCLIP checkpoint (kind={metadata.get('kind')!r}).")
    model = Unclip(UnclipConfig(**metadata["config"]))
    expected = model.state_dict()
    wrong = sorted(set(expected) ^ set(state))
    wrong += [key for key in expected if key in state and state[key].shape != expected[key].shape]
    if wrong:
        raise checkpoints.CheckpointError(f"{name} does not fit the unCLIP architecture its metadata describes "
                                          f"(first mismatches: {wrong[:3]}).")
    model.load_state_dict(state)
    return model.eval()
