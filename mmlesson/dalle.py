"""Mini DALL-E: a transformer that writes an image's VQGAN codes after its caption, and VQGAN's stage 2.

One stream per image, one vocabulary for everything:

    stream     = [caption tokens, padded to text_length | 64 image codes in raster order]
    vocabulary = [caption words (the tiny CLIP's) | one padding token per text position | image codes]

As in the DALL-E paper, each text position has its own padding token, so the model always knows how far
into the caption it is. The GPT (transformer.py) predicts every next token; logits are masked by segment,
so text positions choose among text tokens and image positions among codes; the image loss weighs 7/8
and the text loss 1/8 (the paper's weights), and both are logged. Some captions are replaced by padding
alone during training, so the same model also draws with no caption: that enables classifier-free guidance.

**Stage 2** of VQGAN (taming-transformers) is the same model with the caption replaced by a single start
token (``DalleConfig(conditional=False)``): it draws Shapes with no condition and completes the lower half
of a real image from its upper half.

Read top-down: the token layout, the config, the model, prompts, training, sampling and reranking,
loading, and measuring. The ``generate --method dalle`` and ``train-dalle`` commands are in cli.py.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import checkpoints, config as mmconfig
from .checks import positive_int, texts_list
from .shapes import DEFAULT_HOLDOUT, CLASSES, describe, make_shapes
from .transformer import GPT, GPTConfig, count_parameters, sample

CHECKPOINTS = {"tiny-shapes": "mini-dalle-shapes", "stage2": "stage2-shapes"}  # load_dalle names -> bundled files
DATA_SEED = 1_000_003  # training images for the transformer: not the VQGAN's or the CLIP's seeds
EVAL_SEED = 20_241_201  # fresh images for completion demos and metrics


# --- the token layout --------------------------------------------------------------------------

class TokenLayout:
    """Where each kind of token lives in the one vocabulary: words, per-position pads, then codes."""

    def __init__(self, words: tuple[str, ...], text_length: int, n_codes: int):
        from .models import WordTokenizer

        self.words, self.text_length, self.n_codes = tuple(words), text_length, n_codes
        self.tokenizer = WordTokenizer(self.words, context_length=max(text_length, 2)) if words else None
        self.pad_start = len(self.words)  # pad token of text position i is pad_start + i
        self.code_start = self.pad_start + text_length
        self.vocab_size = self.code_start + n_codes

    @property
    def text_range(self) -> tuple[int, int]:
        return 0, self.code_start  # words and pads

    @property
    def code_range(self) -> tuple[int, int]:
        return self.code_start, self.vocab_size

    def padding(self, batch: int) -> torch.Tensor:
        """(batch, text_length) of pads only: the empty caption (or stage 2's start token)."""
        return (self.pad_start + torch.arange(self.text_length)).repeat(batch, 1)

    def text_tokens(self, captions: list[str]) -> torch.Tensor:
        """Captions -> (B, text_length): <sot> words <eot>, then each free position's own pad token."""
        assert self.tokenizer is not None, "a stage-2 layout has no words: use padding() for its start token"
        tokens = self.tokenizer(captions)[:, :self.text_length]  # (B, text_length), tokenizer pads with pad_id
        pads = self.padding(len(captions))
        return torch.where(tokens == self.tokenizer.pad_id, pads, tokens)

    def stream(self, text: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """(B, text_length) text and (B, h*w) code indices -> (B, text_length + h*w) token ids."""
        assert text.shape[1] == self.text_length and codes.max() < self.n_codes
        return torch.cat([text, codes + self.code_start], dim=1)

    def target_masks(self, length: int) -> torch.Tensor:
        """(length, vocab) booleans: which tokens target position t (predicting stream[t+1]) may choose."""
        allowed = torch.zeros(length, self.vocab_size, dtype=torch.bool)
        predicts_text = torch.arange(1, length + 1) < self.text_length  # (length,)
        allowed[predicts_text, :self.code_start] = True
        allowed[~predicts_text, self.code_start:] = True
        return allowed


# --- the config and the model ------------------------------------------------------------------

@dataclass
class DalleConfig:
    """The model and its training recipe (data/checkpoints.json records the values used)."""
    conditional: bool = True  # False: VQGAN stage 2, the caption replaced by one start token
    text_length: int = 12  # caption positions; 12 = <sot> + the longest Shapes caption (10 words) + <eot>
    grid_size: int = 8  # the VQGAN's code grid side (64 codes per image)
    n_codes: int = 256  # the VQGAN's codebook size
    n_layers: int = 4  # depth; 4 x 128 is nanoGPT's CPU recipe, ~0.9M parameters
    n_heads: int = 4  # heads of 32 dims
    width: int = 128  # residual width; 256 would cost ~4x per step on a CPU
    text_loss_weight: float = 1 / 8  # DALL-E's 1/8 text, 7/8 image: the model's job is the image
    caption_dropout: float = 0.1  # fraction of captions replaced by padding: enables guidance, costs a little fit
    steps: int = 1500  # optimiser steps; PSNR-like gains flatten, sampled shapes sharpen with more
    batch_size: int = 32  # streams per step: on a CPU, more small steps beat fewer large ones
    learning_rate: float = 2e-3  # AdamW peak; linear warm-up, cosine decay to 10%
    warmup_steps: int = 100  # steps of learning-rate warm-up
    weight_decay: float = 0.05  # on matrices only (not norms, biases or position tables)
    train_images: int = 12_000  # images encoded once to codes; each step draws fresh captions for them
    vqgan: str = "tiny-shapes-8x8"  # which bundled VQGAN's codes the model writes
    holdout: tuple = DEFAULT_HOLDOUT  # (color, shape) pairs never seen in training: composition is tested on them

    def __post_init__(self):
        self.holdout = tuple(tuple(pair) for pair in self.holdout)
        for name in ("text_length", "steps", "batch_size", "train_images"):
            positive_int(getattr(self, name), name)
        if not self.conditional and self.text_length != 1:
            raise ValueError(f"stage 2 (conditional=False) has one start token, so text_length must be 1; "
                             f"got {self.text_length}.")


def layout_for(config: DalleConfig) -> TokenLayout:
    from .models import CAPTION_WORDS, SPECIAL_TOKENS

    words = SPECIAL_TOKENS + CAPTION_WORDS if config.conditional else ()
    return TokenLayout(words, config.text_length, config.n_codes)


class MiniDalle(nn.Module):
    """A GPT over [text | codes] with DALL-E's token layout, segment-masked logits and weighted losses."""

    def __init__(self, config: DalleConfig):
        super().__init__()
        self.config, self.layout = config, layout_for(config)
        self.gpt = GPT(GPTConfig(self.layout.vocab_size, config.text_length, config.grid_size, config.n_layers,
                                 config.n_heads, config.width))
        self.register_buffer("masks", self.layout.target_masks(self.gpt.config.block_size - 1), persistent=False)

    def losses(self, stream: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(text loss, image loss): mean cross-entropy of each segment's next-token predictions."""
        inputs, targets = stream[:, :-1], stream[:, 1:]  # (B, T-1) each
        logits = self.gpt(inputs).masked_fill(~self.masks, float("-inf"))  # (B, T-1, vocab)
        losses = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, T-1)
        n_text_targets = self.config.text_length - 1  # targets 1 .. text_length-1 are text
        text_loss = losses[:, :n_text_targets].mean() if n_text_targets else losses.new_zeros(())
        return text_loss, losses[:, n_text_targets:].mean()

    def weighted_loss(self, text_loss: torch.Tensor, image_loss: torch.Tensor) -> torch.Tensor:
        weight = self.config.text_loss_weight if self.config.conditional else 0.0
        return weight * text_loss + (1 - weight) * image_loss


# --- prompts: the checks at the public entry point ---------------------------------------------

def prompt_tokens(layout: TokenLayout, prompts: list[str]) -> torch.Tensor:
    """Checked prompts -> (B, text_length). Empty: an error; unknown words: one warning naming them;
    longer than the text length: truncated with a warning."""
    prompts = texts_list(prompts, "prompts")
    if not prompts or any(not p.strip() for p in prompts):
        raise ValueError("a prompt must be non-empty text such as 'a red star' (a color and a shape: "
                         f"{', '.join(sorted({c for c, _ in CLASSES}))}; circle, square, triangle, star, cross).")
    tokenizer, room = layout.tokenizer, layout.text_length - 2  # <sot> and <eot> take two positions
    unknown = sorted({word for prompt in prompts for word in tokenizer.unknown_words(prompt)})
    if unknown:
        warnings.warn(f"the tiny model does not know the word(s) {', '.join(map(repr, unknown))}; they become "
                      f"<unk>. It knows: {', '.join(layout.words[4:])}.", stacklevel=3)
    long = [prompt for prompt in prompts if len(tokenizer.words(prompt)) > room]
    if long:
        warnings.warn(f"{len(long)} prompt(s) longer than {room} words were truncated, e.g. {long[0]!r}.",
                      stacklevel=3)
        prompts = [" ".join(tokenizer.words(prompt)[:room]) for prompt in prompts]
    return layout.text_tokens(prompts)


# --- training ----------------------------------------------------------------------------------

@torch.no_grad()
def encode_images(vqgan, images: np.ndarray, batch_size: int = 500) -> torch.Tensor:
    """uint8 (N, H, W, 3) images -> (N, h*w) code indices in raster order."""
    from .vqgan import to_vqgan_range

    codes = []
    for start in range(0, len(images), batch_size):
        pixels = torch.from_numpy(images[start:start + batch_size]).permute(0, 3, 1, 2).float() / 255  # (B, 3, H, W)
        _, _, indices = vqgan.encode(to_vqgan_range(pixels))  # (B, h, w)
        codes.append(indices.flatten(1))  # (B, h*w)
    return torch.cat(codes)


def learning_rate_at(step: int, config: DalleConfig) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model: MiniDalle, config: DalleConfig) -> torch.optim.Optimizer:
    """AdamW; weight decay on 2-D weight matrices only (nanoGPT's rule)."""
    matrices = [parameter for name, parameter in model.named_parameters()
                if parameter.dim() == 2 and "embedding" not in name and "positions" not in name]
    others = [p for n, p in model.named_parameters() if not any(p is m for m in matrices)]
    groups = [{"params": matrices, "weight_decay": config.weight_decay}, {"params": others, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=(0.9, 0.95))


def training_batch(model: MiniDalle, pool, codes: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """A batch of streams: random images, a fresh random caption for each, some captions dropped."""
    config, layout = model.config, model.layout
    rows = rng.integers(len(codes), size=config.batch_size)
    if not config.conditional:
        return layout.stream(layout.padding(len(rows)), codes[rows])
    text = layout.text_tokens([describe(pool.attributes[row], rng) for row in rows])  # (B, text_length)
    dropped = torch.from_numpy(rng.random(len(rows)) < config.caption_dropout)
    text[dropped] = layout.padding(int(dropped.sum()))
    return layout.stream(text, codes[rows])


def train_dalle(config: DalleConfig, seed: int = 0, progress: bool = True, vqgan=None) -> tuple[MiniDalle, dict]:
    """Encode Shapes (held-out pairs excluded) to codes once, then train with a tqdm bar. Returns (model, summary)."""
    from tqdm.auto import tqdm

    from .vqgan import load_vqgan

    mmconfig.seed_everything(seed)
    started = time.perf_counter()
    vqgan = vqgan or load_vqgan(config.vqgan, device="cpu")
    check_tokenizer(config, vqgan, "the mini DALL-E's config")
    pool = make_shapes(config.train_images, DATA_SEED + seed, vqgan.config.resolution, holdout=config.holdout)
    codes = encode_images(vqgan, pool.images)  # (N, 64)
    model, rng = MiniDalle(config).train(), np.random.default_rng(seed)
    optimizer, history = make_optimizer(model, config), []
    bar = tqdm(range(config.steps), desc="train mini DALL-E" if config.conditional else "train stage 2",
               disable=not progress)
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, config)
        text_loss, image_loss = model.losses(training_batch(model, pool, codes, rng))
        optimizer.zero_grad(set_to_none=True)
        model.weighted_loss(text_loss, image_loss).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % 50 == 0 or step == config.steps - 1:
            history.append({"step": step, "text_loss": round(text_loss.item(), 4),
                            "image_loss": round(image_loss.item(), 4)})
            bar.set_postfix(text=f"{text_loss.item():.3f}", image=f"{image_loss.item():.3f}")
    summary = {"train_seconds": round(time.perf_counter() - started, 1), "parameters": count_parameters(model),
               "final_text_loss": history[-1]["text_loss"], "final_image_loss": history[-1]["image_loss"]}
    return model.eval(), {**summary, "history": history}


# --- sampling, decoding, reranking -------------------------------------------------------------

@dataclass
class SamplingConfig:
    temperature: float = 1.0  # <1 sharper and less varied, >1 wilder
    top_k: int | None = 64  # keep the 64 likeliest codes of 256: cuts the rare odd code, keeps variety
    guidance_scale: float = 3.0  # classifier-free guidance; 1 = off. Measured: strict N=1 0% at 1, 12% at 3
    batch_size: int = 32  # streams sampled at once
    use_cache: bool = True  # the KV cache: same tokens, several times faster


@torch.no_grad()
def sample_codes(model: MiniDalle, prefix: torch.Tensor, n_new: int, settings: SamplingConfig,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Continue (B, P) prefixes with ``n_new`` codes, in batches; returns (B, n_new) code indices (0-based)."""
    layout, outputs = model.layout, []
    for start in range(0, len(prefix), settings.batch_size):
        chunk = prefix[start:start + settings.batch_size]
        guided = settings.guidance_scale != 1.0 and model.config.conditional
        unconditional = torch.cat([layout.padding(len(chunk)), chunk[:, layout.text_length:]], 1) if guided else None
        tokens = sample(model.gpt, chunk, n_new, layout.code_range, settings.temperature, settings.top_k, generator,
                        settings.use_cache, unconditional, settings.guidance_scale)
        outputs.append(tokens - layout.code_start)
    return torch.cat(outputs)  # (B, n_new)


def check_tokenizer(config, vqgan, described_as: str) -> None:
    """A clear error when a transformer (its ``config``: ``n_codes``, ``vqgan``) and a tokenizer disagree on
    the codebook size: its codes would index the wrong vectors, or none."""
    if vqgan.config.n_embed != config.n_codes:
        raise checkpoints.CheckpointError(
            f"{described_as} writes codes of a {config.n_codes}-code tokenizer ({config.vqgan!r}), but the VQGAN given "
            f"has {vqgan.config.n_embed} codes; load the one it was trained on: load_vqgan({config.vqgan!r}).")


@torch.no_grad()
def decode_codes(vqgan, codes: torch.Tensor) -> torch.Tensor:
    """(B, h*w) code indices -> (B, 3, H, W) images in [0, 1]."""
    from .vqgan import from_vqgan_range

    side = math.isqrt(codes.shape[1])
    assert side * side == codes.shape[1], f"{codes.shape[1]} codes do not form a square grid"
    return from_vqgan_range(vqgan.decode_indices(codes.reshape(len(codes), side, side)))  # (B, 3, H, W)


@torch.no_grad()
def rerank(clip, images: torch.Tensor, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
    """DALL-E's reranking: the tiny CLIP scores (N, 3, H, W) candidates against the prompt.
    Returns (scores (N,), order best first)."""
    image_embeddings = clip.embed_pixels(images)  # (N, D), normalised
    text_embedding = clip.encode_texts([prompt])  # (1, D)
    scores = (image_embeddings @ text_embedding.t()).squeeze(1)  # (N,) cosine similarities
    return scores, scores.argsort(descending=True)


def keep_best(clip, images: torch.Tensor, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, N, 3, H, W) candidates -> (the best of each group (P, 3, H, W), its CLIP score (P,))."""
    best, scores = [], []
    for prompt, group in zip(prompts, images):
        score, order = rerank(clip, group, prompt)
        best.append(group[order[0]])
        scores.append(score[order[0]])
    return torch.stack(best), torch.stack(scores)


def generate_images(model: MiniDalle, vqgan, clip, prompts: list[str], candidates: int = 16,
                    settings: SamplingConfig | None = None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """For each prompt, sample ``candidates`` images and keep the one CLIP scores best.
    Returns (best images (P, 3, H, W) in [0, 1], their CLIP scores (P,))."""
    return keep_best(clip, sample_candidates(model, vqgan, prompts, candidates, settings, seed), prompts)


def sample_candidates(model: MiniDalle, vqgan, prompts: list[str], candidates: int = 16,
                      settings: SamplingConfig | None = None, seed: int = 0) -> torch.Tensor:
    """``candidates`` images for each prompt: (P, candidates, 3, H, W) in [0, 1]."""
    positive_int(candidates, "the number of candidates (--samples)")
    check_tokenizer(model.config, vqgan, "this mini DALL-E")
    settings, prompts = settings or SamplingConfig(), texts_list(prompts, "prompts")
    text = prompt_tokens(model.layout, prompts).repeat_interleave(candidates, 0)  # (P * candidates, text_length)
    codes = sample_codes(model, text, model.config.grid_size ** 2, settings, torch.Generator().manual_seed(seed))
    return decode_codes(vqgan, codes).reshape(len(prompts), candidates, *decode_shape(vqgan, model))


def decode_shape(vqgan, model: MiniDalle) -> tuple[int, int, int]:
    side = model.config.grid_size * vqgan.downsample_factor
    return 3, side, side


@torch.no_grad()
def complete_lower_half(model: MiniDalle, vqgan, images: np.ndarray, prompts: list[str] | None = None,
                        settings: SamplingConfig | None = None, seed: int = 0) -> torch.Tensor:
    """Keep the upper half of each uint8 (N, H, W, 3) image's code grid and sample the lower half.
    Stage 2 needs no prompts; mini DALL-E takes one per image (None: the empty caption).
    Returns (N, 3, H, W) images in [0, 1]."""
    layout, settings = model.layout, settings or SamplingConfig()
    check_tokenizer(model.config, vqgan, "this model")
    codes = encode_images(vqgan, images)  # (N, 64)
    half = codes.shape[1] // 2  # the upper rows, in raster order
    has_text = model.config.conditional and prompts is not None
    text = prompt_tokens(layout, list(prompts)) if has_text else layout.padding(len(codes))
    prefix = torch.cat([text, codes[:, :half] + layout.code_start], dim=1)  # (N, text_length + half)
    lower = sample_codes(model, prefix, codes.shape[1] - half, settings, torch.Generator().manual_seed(seed))
    return decode_codes(vqgan, torch.cat([codes[:, :half], lower], dim=1))


def sample_unconditional(model: MiniDalle, vqgan, n_images: int, settings: SamplingConfig | None = None,
                         seed: int = 0) -> torch.Tensor:
    """Stage 2 (or mini DALL-E with the empty caption): (n_images, 3, H, W) images in [0, 1]."""
    positive_int(n_images, "n_images")
    check_tokenizer(model.config, vqgan, "this model")
    settings = settings or SamplingConfig()
    codes = sample_codes(model, model.layout.padding(n_images), model.config.grid_size ** 2, settings,
                         torch.Generator().manual_seed(seed))
    return decode_codes(vqgan, codes)


# --- saving and loading ------------------------------------------------------------------------

KIND = "mini-dalle"


def save_dalle(model: MiniDalle, path: str | Path, metrics: dict) -> str:
    return checkpoints.save_state(model.state_dict(), path,
                                  {"kind": KIND, "config": config_record(model.config), "metrics": metrics})


def config_record(config) -> dict:
    """A config dataclass as JSON-ready values (its held-out pairs as lists), for metadata and the registry."""
    return {key: list(map(list, value)) if key == "holdout" else value for key, value in asdict(config).items()}


def dalle_from_state(state: dict, metadata: dict, described_as: str) -> MiniDalle:
    """Build the model the metadata describes and load ``state``; a mismatch is a clear CheckpointError."""
    if metadata.get("kind") != KIND or "config" not in metadata:
        raise checkpoints.CheckpointError(f"{described_as} is not a mini DALL-E checkpoint (its metadata says kind="
                                          f"{metadata.get('kind')!r}); give one saved by train-dalle.")
    try:
        model = MiniDalle(DalleConfig(**metadata["config"]))
    except TypeError as error:
        raise checkpoints.CheckpointError(f"{described_as} has an unknown config ({error}).") from error
    expected = model.state_dict()
    wrong = sorted(set(expected) ^ set(state)) + [key for key in expected if key in state
                                                   and state[key].shape != expected[key].shape]
    if wrong:
        raise checkpoints.CheckpointError(f"{described_as} does not fit the architecture its metadata describes: "
                                          f"{len(wrong)} missing, extra or mis-shaped tensors (first: {wrong[:3]}).")
    model.load_state_dict(state)
    return model.eval()


def load_dalle(name_or_path: str | Path = "tiny-shapes") -> MiniDalle:
    """``"tiny-shapes"`` (the bundled mini DALL-E), ``"stage2"`` (stage 2: not bundled, to keep data/ under 20 MB;
    ``python -m mmlesson train-dalle --stage2 --register`` makes it), or a .safetensors path."""
    name = str(name_or_path)
    if name in CHECKPOINTS:
        state, metadata = checkpoints.load_bundled(CHECKPOINTS[name])
        return dalle_from_state(state, metadata, f"bundled {name}")
    if not name.endswith(".safetensors"):
        raise ValueError(f"unknown mini DALL-E {name!r}; choose one of {', '.join(CHECKPOINTS)} "
                         "or give a path to a .safetensors file saved by train-dalle.")
    state, metadata = checkpoints.load_state(Path(name).expanduser())
    return dalle_from_state(state, metadata, name)


# --- measuring: the strict measure over the 30 color x shape prompts --------------------------

def shapes_prompts() -> list[tuple[str, str, str]]:
    """(prompt, color, shape) for all 30 classes, e.g. ("a red star", "red", "star")."""
    from .shapes import with_article

    return [(with_article(f"a {color} {shape}"), color, shape) for color, shape in CLASSES]


def strict_verdicts(images: torch.Tensor, prompts: list[str]) -> list:
    """The course's strict measure (measure.py): each verdict has ``.passed`` and ``.reason``."""
    from .measure import check_images

    return check_images(images, prompts)


def evaluate_prompts(model: MiniDalle, vqgan, clip, candidates: int, seed: int = EVAL_SEED,
                     settings: SamplingConfig | None = None, repeats: int = 2) -> dict:
    """Strict success over the 30 color x shape prompts (``repeats`` images each, best of ``candidates`` by CLIP),
    overall, for trained pairs and for the held-out pairs."""
    rows = shapes_prompts() * repeats
    prompts = [prompt for prompt, _, _ in rows]
    images, _ = generate_images(model, vqgan, clip, prompts, candidates, settings, seed)
    passed = [verdict.passed for verdict in strict_verdicts(images, prompts)]
    held_out = [(color, shape) in model.config.holdout for _, color, shape in rows]
    rate = lambda keep: round(sum(p for p, k in zip(passed, keep) if k) / max(1, sum(keep)), 3)  # noqa: E731
    return {"candidates": candidates, "images": len(rows), "strict_success": rate([True] * len(rows)),
            "trained_pairs": rate([not h for h in held_out]), "held_out_pairs": rate(held_out)}


def candidates_report(candidates: torch.Tensor, clip, rows: list[tuple[str, str, str]], holdout) -> dict:
    """Strict success of (P, N, 3, H, W) candidates for ``rows`` of (prompt, color, shape): of one sample (the
    first), of CLIP's pick of the N, of any of the N (the best a perfect reranker could do), and of a random
    candidate; overall and for the ``holdout`` pairs apart."""
    prompts = [prompt for prompt, _, _ in rows]
    passed = torch.tensor([[verdict.passed for verdict in strict_verdicts(group, [prompt] * len(group))]
                           for prompt, group in zip(prompts, candidates)])  # (P, N)
    picks = torch.stack([rerank(clip, group, prompt)[1][0] for prompt, group in zip(prompts, candidates)])  # (P,)
    measures = {"one_sample": passed[:, 0].float(), "clip_pick": passed.gather(1, picks[:, None])[:, 0].float(),
                "any_of_n": passed.any(1).float(), "random_candidate": passed.float().mean(1)}
    held_out = torch.tensor([(color, shape) in holdout for _, color, shape in rows])
    report = {"images": len(rows), "candidates": candidates.shape[1]}
    for name, values in measures.items():
        report[name] = round(values.mean().item(), 3)
        report[f"{name}_held_out"] = round(values[held_out].mean().item(), 3) if held_out.any() else None
    return report
