"""VQGAN+CLIP: make an image from words by adjusting a VQGAN latent until CLIP says it fits.

The loop, one step at a time:

1. quantize the continuous latent to its nearest codebook entries (straight-through, so gradients
   still reach the latent), and decode it with the VQGAN into pixels;
2. cut the image into many random, augmented crops ("cutouts") at CLIP's input size;
3. embed the cutouts with CLIP and measure the spherical distance to each prompt's embedding;
4. take an Adam step on the latent to shrink the weighted distance.

Cutouts matter: without them the optimiser finds pixels that CLIP scores highly but that do not
look like the prompt (``fooling_demo`` measures this with the independent judge of judge.py).

    from mmlesson.generate import generate, PRESETS
    result = generate("a red star", clip="tiny-shapes", vqgan="tiny-shapes", config=PRESETS["tiny"].config)
    result.image  # a PIL image; result.frames holds the optimisation as it went

Over 500 lines because every part (prompts, loss, cutouts, latents, the loop, saving, the fooling demo,
presets) serves the one loop, and lesson 4 reads them in this order. The ``generate`` command is in cli.py.
"""
from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .checks import pixel_batch
from .files import atomic_write
from .images import load_rgb

# --- prompts: "a red star:1 | blurry:-0.5" -> [Prompt("a red star", 1.0), Prompt("blurry", -0.5)] ---


class Prompt(NamedTuple):
    text: str
    weight: float  # > 0 pulls the image towards the text, < 0 pushes it away


def parse_prompts(prompts: str | list) -> list[Prompt]:
    """Parse ``"text:weight | text:weight"`` (weight optional, default 1) or a list of str / (text, weight)."""
    parts = prompts.split("|") if isinstance(prompts, str) else list(prompts)
    parsed = [parse_one_prompt(part) for part in parts]
    if not parsed or not any(prompt.weight > 0 for prompt in parsed):
        raise ValueError(f"prompt {prompts!r} needs at least one text with a positive weight, "
                         "e.g. 'a red star' or 'a red star:1 | blurry:-0.5'.")
    return parsed


def parse_one_prompt(part) -> Prompt:
    """One "text" or "text:weight" (or a (text, weight) pair) -> Prompt; a bad weight names itself."""
    if isinstance(part, (tuple, list)) and len(part) == 2:
        text, weight = part
    elif ":" in str(part):
        text, weight = str(part).rsplit(":", 1)
    else:
        text, weight = part, 1.0
    text = str(text).strip()
    try:
        weight = float(weight)
    except (TypeError, ValueError):
        raise ValueError(f"prompt part {str(part).strip()!r}: the weight {str(weight).strip()!r} is not a number; "
                         "write TEXT or TEXT:WEIGHT, e.g. 'a red star:1' or 'blurry:-0.5'.") from None
    if not text:
        raise ValueError(f"prompt part {str(part).strip()!r} has no text; write TEXT or TEXT:WEIGHT, e.g. "
                         "'a red star', and separate several prompts with '|'.")
    if not math.isfinite(weight):
        raise ValueError(f"prompt part {text!r}: the weight {weight} must be a finite number.")
    return Prompt(text, weight)


# --- settings ---

@dataclass
class GenerationConfig:
    resolution: int = 256  # output side in pixels; a multiple of the VQGAN's downsample factor. Time ~ resolution^2
    steps: int = 300  # Adam steps; more sharpens detail, with diminishing returns after a few hundred
    learning_rate: float = 0.1  # Adam on the latent; 0.05-0.2 is the usual range, higher gets noisy
    cutouts: int = 32  # crops per step; more gives steadier gradients and fewer adversarial pixels, costs time
    min_cut_fraction: float = 0.5  # smallest crop side / image side; small crops add detail, lose the whole
    cut_power: float = 1.0  # crop sizes ~ uniform**cut_power; > 1 favours small crops
    max_rotation: float = 0.15  # radians of random rotation per cutout (augmentation)
    flip: bool = True  # random horizontal flips of cutouts (augmentation)
    noise: float = 0.1  # std of pixel noise added to each cutout, drawn in [0, noise] (augmentation)
    composition: str = ""  # appended to each positive prompt that names no position, e.g. " in the center" (below)
    tv_weight: float = 0.0  # total variation of the pixels: smooth regions, fewer speckles (0 = off)
    spread_weight: float = 0.0  # spatial spread of the colored pixels around their centre: one compact object
    sparsity_weight: float = 0.0  # mean distance from the background color: a plain background (0 = off)
    restarts: int = 1  # candidates from different random codes, optimised side by side; the guiding CLIP picks one
    ranking_cutouts: int = 64  # fresh augmented cutouts per candidate for that choice; more = a steadier choice
    frame_every: int = 10  # keep a frame every N steps for the animation (0 keeps only the last)
    seed: int = 0  # same seed, same models, same device -> the same image

    def plain(self) -> "GenerationConfig":
        """The same settings with a single whole-image cutout and no augmentation (to show CLIP being fooled)."""
        return replace(self, cutouts=1, min_cut_fraction=1.0, max_rotation=0.0, flip=False, noise=0.0)


@dataclass
class Preset:
    config: GenerationConfig
    clip: str  # load_clip name
    vqgan: str  # load_vqgan name
    expected: str  # time and memory, and whether measured here or estimated


# --- the loss: squared great-circle distance between unit vectors ---

def spherical_distance(image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> torch.Tensor:
    """(B, D) and (P, D) -> (B, P) squared geodesic distance 2 * arcsin(|a - b| / 2)^2 on normalised inputs."""
    image_embeddings = F.normalize(image_embeddings, dim=-1)
    text_embeddings = F.normalize(text_embeddings, dim=-1)
    chord = (image_embeddings[:, None, :] - text_embeddings[None, :, :]).norm(dim=-1)  # (B, P)
    return 2 * torch.arcsin(chord.div(2).clamp(max=1)).pow(2)


def prompt_loss(cutout_embeddings: torch.Tensor, text_embeddings: torch.Tensor, weights: torch.Tensor,
                candidates: int) -> torch.Tensor:
    """Weighted mean spherical distance per candidate: (candidates * cutouts, D) -> (candidates,)."""
    distances = spherical_distance(cutout_embeddings, text_embeddings)  # (candidates * cutouts, P)
    distances = distances.reshape(candidates, -1, len(weights)).mean(1)  # (candidates, P)
    return distances @ weights  # (candidates,)


# --- composition: where the object goes ---

def composed(prompt: Prompt, composition: str) -> str:
    """The text CLIP is given: ``prompt`` plus ``composition`` when it is positive and names no place.

    The tiny CLIP learned positions from its captions ("... in the center"). Asked for "a red star" alone it is
    as happy with three small stars as with one, and the optimiser tiles copies; asked for one in the center,
    it draws one. A prompt that already says where ("on the left") keeps its own place.
    """
    from .shapes import POSITIONS

    text = prompt.text
    if not composition or prompt.weight <= 0 or any(place in text.lower() for place in POSITIONS):
        return text
    return text + composition


# --- image priors: what a drawing of one shape looks like, independent of the prompt ---

def image_prior(pixels: torch.Tensor, config: GenerationConfig) -> torch.Tensor:
    """(R, 3, H, W) in [0, 1] -> (R,): weighted total variation, foreground spread and foreground area."""
    total = pixels.new_zeros(pixels.shape[0])
    if config.tv_weight:
        dx = (pixels[..., :, 1:] - pixels[..., :, :-1]).abs().mean((1, 2, 3))
        dy = (pixels[..., 1:, :] - pixels[..., :-1, :]).abs().mean((1, 2, 3))
        total = total + config.tv_weight * (dx + dy)
    if config.spread_weight or config.sparsity_weight:
        background = pixels.flatten(2).median(2).values[..., None, None]  # (R, 3, 1, 1)
        salience = (pixels - background).norm(dim=1)  # (R, H, W)
        total = total + config.sparsity_weight * salience.mean((1, 2))
        if config.spread_weight:
            height, width = salience.shape[1:]
            ys = torch.linspace(0, 1, height, device=pixels.device)[:, None].expand(height, width)
            xs = torch.linspace(0, 1, width, device=pixels.device)[None, :].expand(height, width)
            weights = salience / salience.sum((1, 2), keepdim=True).clamp_min(1e-6)  # (R, H, W)
            centre_y, centre_x = (weights * ys).sum((1, 2)), (weights * xs).sum((1, 2))  # (R,)
            spread = (weights * ((ys - centre_y[:, None, None]) ** 2 + (xs - centre_x[:, None, None]) ** 2)).sum((1, 2))
            total = total + config.spread_weight * spread
    return total


# --- cutouts: random crops, rotated and flipped, resampled to CLIP's input size in one grid_sample ---

def cutout_grids(count: int, cut_size: int, config: GenerationConfig, generator: torch.Generator,
                 device: str) -> torch.Tensor:
    """Sampling grids (count, cut_size, cut_size, 2) in grid_sample's [-1, 1] image coordinates."""
    def uniform(*shape):
        return torch.rand(*shape, generator=generator, device=device)

    scale = config.min_cut_fraction + (1 - config.min_cut_fraction) * uniform(count) ** config.cut_power
    centre = (uniform(count, 2) * 2 - 1) * (1 - scale)[:, None]  # keeps each crop inside the image
    angle = (uniform(count) * 2 - 1) * config.max_rotation
    mirror = torch.where(uniform(count) < 0.5, -1.0, 1.0) if config.flip else torch.ones(count, device=device)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    theta = torch.stack([torch.stack([cos * mirror, -sin, centre[:, 0]], 1),
                         torch.stack([sin * mirror, cos, centre[:, 1]], 1)], 1)  # (count, 2, 3)
    return F.affine_grid(theta, [count, 3, cut_size, cut_size], align_corners=False)


def make_cutouts(pixels: torch.Tensor, cut_size: int, config: GenerationConfig,
                 generator: torch.Generator) -> torch.Tensor:
    """pixels (R, 3, H, W) in [0, 1] -> (R * cutouts, 3, cut_size, cut_size): the same crops of every candidate."""
    candidates, count = pixels.shape[0], config.cutouts
    grids = cutout_grids(count, cut_size, config, generator, pixels.device)  # (count, S, S, 2)
    repeated = pixels.repeat_interleave(count, 0)  # (R * count, 3, H, W)
    cutouts = F.grid_sample(repeated, grids.repeat(candidates, 1, 1, 1), mode="bilinear",
                            padding_mode="reflection", align_corners=False)  # (R * count, 3, S, S)
    sigma = torch.rand(candidates * count, 1, 1, 1, generator=generator, device=pixels.device) * config.noise
    noise = torch.randn(cutouts.shape, generator=generator, device=pixels.device)
    return cutouts + sigma * noise


# --- the latent: random codes or an encoded image; pixels by straight-through quantization ---

def latent_grid_size(vqgan, resolution: int) -> int:
    factor = int(vqgan.downsample_factor)
    if resolution <= 0 or resolution % factor:
        lower, upper = max(factor, resolution // factor * factor), (resolution // factor + 1) * factor
        raise ValueError(f"resolution {resolution} is not a multiple of this VQGAN's downsample factor {factor}; "
                         f"try {lower} or {upper}.")
    return resolution // factor


def random_latents(vqgan, candidates: int, grid: int, generator: torch.Generator) -> torch.Tensor:
    """Start from random codebook entries: (candidates, C, grid, grid)."""
    codebook = vqgan.codebook.detach()  # (K, C)
    indices = torch.randint(codebook.shape[0], (candidates, grid, grid), generator=generator,
                            device=codebook.device)
    return codebook[indices].permute(0, 3, 1, 2).contiguous()  # (candidates, C, grid, grid)


def image_to_pixels(image, resolution: int, device) -> torch.Tensor:
    """A PIL image, path, uint8 (H, W, 3) array or (3, H, W) tensor in [0, 1] -> (1, 3, res, res) in [0, 1].

    Files and PIL images go through images.load_rgb, the course's one loader (EXIF orientation,
    transparency on white, any mode)."""
    if isinstance(image, torch.Tensor):
        pixels = pixel_batch((image[None] if image.ndim == 3 else image).float(), "init_image")
    else:
        rgb = np.asarray(load_rgb(image))  # (H, W, 3) uint8
        pixels = torch.from_numpy(rgb.copy()).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W)
    pixels = F.interpolate(pixels, size=(resolution, resolution), mode="bilinear", antialias=True,
                           align_corners=False)
    return pixels.clamp(0, 1).to(device)


@torch.no_grad()
def image_latents(vqgan, image, resolution: int, candidates: int) -> torch.Tensor:
    """Start from an image: its VQGAN encoding (before quantization), one copy per candidate."""
    pixels = image_to_pixels(image, resolution, vqgan.codebook.device)
    latents = vqgan.encode_to_latents(pixels * 2 - 1)  # the VQGAN works in [-1, 1]
    return latents.repeat(candidates, 1, 1, 1)


class ClampWithGradient(torch.autograd.Function):
    """Clamp to [0, 1], but let through the gradients that would move a clamped pixel back into range.

    A plain clamp gives zero gradient to every pixel the decoder pushes outside [0, 1] (saturated colors,
    black), so those pixels could never change again; the common VQGAN+CLIP notebooks clamp this way too.
    """

    @staticmethod
    def forward(context, pixels):
        context.save_for_backward(pixels)
        return pixels.clamp(0, 1)

    @staticmethod
    def backward(context, gradient):
        (pixels,) = context.saved_tensors
        outside_by = pixels - pixels.clamp(0, 1)  # > 0 above 1, < 0 below 0, 0 inside
        return gradient * (gradient * outside_by >= 0)  # descent moves by -gradient: keep it if it heads inwards


def latents_to_pixels(vqgan, latents: torch.Tensor) -> torch.Tensor:
    """Quantize (straight-through) and decode: latents (R, C, h, w) -> pixels (R, 3, H, W) in [0, 1]."""
    quantized, _ = vqgan.quantize_latents(latents)  # (R, C, h, w), gradients pass straight through
    return ClampWithGradient.apply((vqgan.decode(quantized) + 1) / 2)


# --- the result ---

@dataclass
class GenerationResult:
    prompts: list[Prompt]
    image: object  # PIL image of the chosen candidate (the last good one if the run stopped early)
    pixels: torch.Tensor  # (3, H, W) in [0, 1] on the CPU
    frames: list = field(default_factory=list)  # PIL images every config.frame_every steps, and the last
    frame_steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # the chosen candidate's loss per step
    candidate_scores: list[float] = field(default_factory=list)  # guiding CLIP's score per candidate (higher=better)
    chosen: int = 0
    steps_done: int = 0
    stopped: str | None = None  # None, "interrupted" (Ctrl-C) or "nan"
    seconds: float = 0.0

    @property
    def interrupted(self) -> bool:
        return self.stopped == "interrupted"


def to_pil(pixels: torch.Tensor):
    """(3, H, W) in [0, 1] -> PIL image."""
    from PIL import Image

    array = (pixels.detach().float().cpu().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array)


# --- the loop ---

def resolve_models(clip, vqgan):
    """Names become models: load_clip(name), load_vqgan(name); models pass through."""
    if isinstance(clip, str):
        from .models import load_clip
        clip = load_clip(clip)
    if isinstance(vqgan, (str, Path)):
        from .vqgan import load_vqgan
        vqgan = load_vqgan(vqgan)
    clip_device, vqgan_device = torch.device(clip.device).type, vqgan.codebook.device.type
    if clip_device != vqgan_device:
        raise ValueError(f"CLIP is on {clip_device} but the VQGAN is on {vqgan_device}; load both on one device.")
    return clip, vqgan


def warn_unknown_words(clip, prompts: list[Prompt]) -> None:
    """The tiny CLIP knows only Shapes words; say so rather than silently guiding by <unk>."""
    unknown_words = getattr(getattr(clip, "tokenize", None), "unknown_words", None)
    unknown = sorted({word for prompt in prompts for word in (unknown_words(prompt.text) if unknown_words else [])})
    if unknown:
        print(f"generate: {getattr(clip, 'name', 'this CLIP')} does not know the words {', '.join(unknown)}; "
              "they are ignored. The tiny model knows Shapes words only (colors, shapes, sizes, positions).")


@contextmanager
def frozen(*modules):
    """Evaluation mode and no parameter gradients inside the block; requires_grad is restored after."""
    parameters = [parameter for module in modules for parameter in module.parameters()]
    flags = [parameter.requires_grad for parameter in parameters]
    for module in modules:
        module.eval()
    for parameter in parameters:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in zip(parameters, flags):
            parameter.requires_grad_(flag)


def starting_latents(vqgan, config: GenerationConfig, init_image, generator: torch.Generator) -> torch.Tensor:
    grid = latent_grid_size(vqgan, config.resolution)
    if init_image is None:
        return random_latents(vqgan, config.restarts, grid, generator)
    return image_latents(vqgan, init_image, config.resolution, config.restarts)


@dataclass
class Run:
    """What the loop has made so far; survives Ctrl-C and NaN."""
    good_pixels: torch.Tensor  # (R, 3, H, W): the last pixels whose loss was finite
    good_step: int = 0  # the step that made them
    frames: list = field(default_factory=list)  # (R, 3, H, W) CPU tensors
    frame_steps: list[int] = field(default_factory=list)
    losses: list = field(default_factory=list)  # (R,) CPU tensors, one per step
    stopped: str | None = None

    def keep(self, pixels: torch.Tensor, step: int) -> None:
        self.good_pixels, self.good_step = pixels.detach(), step

    def keep_frame(self) -> None:
        if not self.frame_steps or self.frame_steps[-1] != self.good_step:
            self.frames.append(self.good_pixels.cpu())
            self.frame_steps.append(self.good_step)


def optimise(latents, clip, vqgan, text_embeddings, weights, config: GenerationConfig, generator,
             progress: bool, callback: Callable | None) -> Run:
    """Adam on the latent for config.steps steps; see the module docstring for one step."""
    from tqdm.auto import tqdm

    codebook = vqgan.codebook.detach()  # (K, C)
    low, high = codebook.min(0).values[None, :, None, None], codebook.max(0).values[None, :, None, None]
    optimizer = torch.optim.Adam([latents], lr=config.learning_rate)
    with torch.no_grad():
        run = Run(latents_to_pixels(vqgan, latents))
    step = 0
    try:
        for step in tqdm(range(config.steps), desc="generating", disable=not progress, leave=False):
            pixels = latents_to_pixels(vqgan, latents)  # (R, 3, H, W)
            cutouts = make_cutouts(pixels, clip.image_size, config, generator)  # (R * cutouts, 3, S, S)
            losses = prompt_loss(clip.embed_pixels(cutouts), text_embeddings, weights, config.restarts)  # (R,)
            losses = losses + image_prior(pixels, config)
            if not torch.isfinite(losses).all():
                run.stopped = "nan"
                print(f"generate: the loss became NaN/inf at step {step}; stopping and keeping the last good image. "
                      "Try a lower learning_rate.")
                break
            run.keep(pixels, step)
            if config.frame_every and step % config.frame_every == 0:
                run.keep_frame()
            optimizer.zero_grad()
            losses.sum().backward()  # the candidates are independent: each gets its own gradient
            optimizer.step()
            with torch.no_grad():
                latents.copy_(torch.maximum(torch.minimum(latents, high), low))  # stay where the codes live
            run.losses.append(losses.detach().cpu())
            if callback is not None:
                callback(step, run.good_pixels, losses.detach())
        else:
            with torch.no_grad():
                final = latents_to_pixels(vqgan, latents)
            if torch.isfinite(final).all():
                run.keep(final, config.steps)
    except KeyboardInterrupt:
        run.stopped = "interrupted"
        print(f"generate: interrupted at step {step}; keeping the frames made so far.")
    run.keep_frame()
    return run


def generate(prompts, clip="tiny-shapes", vqgan="tiny-shapes", config: GenerationConfig | None = None,
             init_image=None, progress: bool = True, callback: Callable | None = None,
             frames_dir: str | Path | None = None) -> GenerationResult:
    """Optimise a VQGAN latent so that CLIP matches ``prompts``; see the module docstring.

    ``callback(step, pixels, losses)`` runs after every step (pixels (R, 3, H, W), losses (R,)).
    Ctrl-C stops the run and returns what was made so far (``result.interrupted``); a NaN loss stops
    it with a message and keeps the last good image. ``frames_dir`` also writes the frames as PNGs.
    """
    config = config or GenerationConfig()
    prompts = parse_prompts(prompts)
    if config.cutouts < 1 or config.restarts < 1 or config.steps < 0:
        raise ValueError(f"cutouts ({config.cutouts}) and restarts ({config.restarts}) must be at least 1, "
                         f"steps ({config.steps}) at least 0.")
    clip, vqgan = resolve_models(clip, vqgan)
    warn_unknown_words(clip, prompts)
    start = time.perf_counter()
    generator = torch.Generator(device=vqgan.codebook.device).manual_seed(config.seed)
    texts = [composed(prompt, config.composition) for prompt in prompts]
    text_embeddings = clip.encode_texts(texts).to(vqgan.codebook.device)  # (P, D)
    weights = torch.tensor([prompt.weight for prompt in prompts], device=text_embeddings.device)  # (P,)
    with frozen(clip.torch_model, vqgan):
        latents = starting_latents(vqgan, config, init_image, generator).requires_grad_(True)  # (R, C, h, w)
        run = optimise(latents, clip, vqgan, text_embeddings, weights, config, generator, progress, callback)
        scores = rank_candidates(clip, run.good_pixels, text_embeddings, weights, config, generator)
    chosen = int(torch.argmax(scores))
    best = run.good_pixels[chosen].cpu()
    result = GenerationResult(prompts, to_pil(best), best, [to_pil(frame[chosen]) for frame in run.frames],
                              run.frame_steps, [float(losses[chosen]) for losses in run.losses], scores.tolist(),
                              chosen, len(run.losses), run.stopped, time.perf_counter() - start)
    if frames_dir is not None:
        save_frames(result.frames, frames_dir, result.frame_steps)
    return result


@torch.no_grad()
def rank_candidates(clip, pixels: torch.Tensor, text_embeddings: torch.Tensor, weights: torch.Tensor,
                    config: GenerationConfig, generator: torch.Generator) -> torch.Tensor:
    """The guiding CLIP's score per candidate (R,): minus the weighted loss over fresh augmented cutouts."""
    if pixels.shape[0] == 1:
        return torch.zeros(1)
    cutouts = make_cutouts(pixels, clip.image_size, replace(config, cutouts=config.ranking_cutouts), generator)
    return -prompt_loss(clip.embed_pixels(cutouts), text_embeddings, weights, pixels.shape[0]).cpu()


# --- saving ---

def save_frames(frames: list, folder: str | Path, steps: list[int] | None = None) -> list[Path]:
    """Write frames as frame_<step>.png into ``folder`` (created); returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    steps = steps if steps is not None else list(range(len(frames)))
    paths = [folder / f"frame_{step:05d}.png" for step in steps]
    for frame, path in zip(frames, paths):
        frame.save(path)
    return paths


def save_animation(frames: list, path: str | Path, seconds_per_frame: float = 0.1, scale: int = 1) -> Path:
    """Write PIL frames as a looping GIF (temporary file, then rename); ``scale`` enlarges tiny images."""
    if not frames:
        raise ValueError("save_animation got no frames; run generate() with frame_every > 0.")
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"save_animation writes GIFs; give a path ending in .gif, not {path.name!r}.")
    if scale != 1:
        frames = [frame.resize((frame.width * scale, frame.height * scale), resample=0) for frame in frames]
    return atomic_write(path, lambda handle: frames[0].save(handle, format="GIF", save_all=True,
                                                            append_images=frames[1:], loop=0,
                                                            duration=int(seconds_per_frame * 1000)))


# --- an image can fool the CLIP that guided it ---

@torch.no_grad()
def clip_similarity(clip, pixels: torch.Tensor, text: str) -> float:
    """Cosine similarity between the whole image (3, H, W) and ``text`` under ``clip``."""
    whole = F.interpolate(pixels[None].to(clip.device), size=(clip.image_size,) * 2, mode="bilinear",
                          antialias=True, align_corners=False)
    return float(clip.embed_pixels(whole).cpu() @ clip.encode_texts([text])[0])  # (1, D) @ (D,)


def shapes_prompt(color: str, shape: str) -> str:
    from .shapes import with_article

    return with_article(f"a {color} {shape}")


def fooling_demo(pairs=None, clip="tiny-shapes", vqgan="tiny-shapes", config: GenerationConfig | None = None,
                 progress: bool = False) -> dict:
    """Generate each Shapes prompt twice, with the whole image as the only cutout ("plain") and with
    augmented cutouts ("cutouts"); report the guiding CLIP's similarity, the old judge's and the strict
    measure's success for both.

    ``pairs``: (color, shape) pairs, default every third of the 30 classes (each shape twice).
    """
    from .judge import judge
    from .measure import check_images
    from .shapes import CLASSES

    pairs = list(pairs) if pairs is not None else list(CLASSES[::3])
    config = config or PRESETS["tiny"].config
    clip, vqgan = resolve_models(clip, vqgan)
    report = {}
    for setting, settings in (("plain", config.plain()), ("cutouts", config)):
        rows = []
        for color, shape in pairs:
            prompt = shapes_prompt(color, shape)
            result = generate(prompt, clip, vqgan, settings, progress=progress)
            verdict = judge(result.pixels[None])[0]
            rows.append({"prompt": prompt, "clip_similarity": round(clip_similarity(clip, result.pixels, prompt), 4),
                         "judge": f"{verdict.color} {verdict.shape}",
                         "judge_agrees": (verdict.color, verdict.shape) == (color, shape),
                         "strict_passes": check_images(result.pixels[None], prompt)[0].passed, "image": result.image})
        report[setting] = {"mean_clip_similarity": round(sum(r["clip_similarity"] for r in rows) / len(rows), 4),
                           "judge_success": sum(r["judge_agrees"] for r in rows) / len(rows),
                           "strict_success": sum(r["strict_passes"] for r in rows) / len(rows), "rows": rows}
    return report


# --- which preset suits this machine (the `generate` command is in cli.py) ---

def default_preset() -> str:
    """tiny offline; otherwise by device (cuda memory decides small or large)."""
    from . import config as settings

    if settings.OFFLINE:
        return "tiny"
    device = settings.get_device()
    if device == "cuda":
        memory = torch.cuda.get_device_properties(0).total_memory
        return "large-cuda" if memory >= 15 * 2**30 else "small-cuda"
    return device  # "mps" or "cpu"


# --- presets: settings per machine, with the time and memory each takes ---

# "measured" figures come from bench/generate_*.py on 2 CPU cores (random weights for the real-size models: speed and
# memory do not depend on the weights; bench/RESULTS.md has the runs). No GPU was available, so the GPU figures are
# estimates: FLOPs per step counted by bench/generate_full_size.py --flops, divided by an assumed sustained throughput,
# and memory from the CPU run's peak at the same settings.
PRESETS: dict[str, Preset] = {
    "tiny": Preset(GenerationConfig(resolution=32, steps=150, cutouts=16, min_cut_fraction=0.85, frame_every=10,
                                    composition=" in the center", tv_weight=0.3, spread_weight=3.0),
                   "tiny-shapes", "tiny-shapes",
                   "measured: 7.2 s per image (median of 30 prompts x 3 seeds, 2 CPU cores shared with another job), "
                   "0.74 GB peak RAM for the whole process; one object in most images, but the strict measure passes "
                   "only 8% (7 of 90; the old judge: 90%)"),
    "cpu": Preset(GenerationConfig(resolution=128, steps=150, cutouts=16),
                  "ViT-B-32", "vqgan_imagenet_f16_16384",
                  "measured: 2.1-2.5 s per step, 5-6 min for 150 steps, 2.7 GB peak RAM on 2 CPU cores "
                  "(256 px with 32 cutouts: 5.7 s per step, 4.3 GB)"),
    "mps": Preset(GenerationConfig(resolution=256, steps=300, cutouts=32),
                  "ViT-B-32", "vqgan_imagenet_f16_16384",
                  "estimate, not measured: 1.6 TFLOP per step at ~2 TFLOP/s sustained is ~0.8 s per step, "
                  "~4 min for 300 steps; ~4 GB of unified memory (the CPU run's peak)"),
    "small-cuda": Preset(GenerationConfig(resolution=256, steps=300, cutouts=32),
                         "ViT-B-32", "vqgan_imagenet_f16_16384",
                         "estimate, not measured: 1.6 TFLOP per step at ~5 TFLOP/s sustained is ~0.3 s per step, "
                         "~2 min for 300 steps; ~4-5 GB of GPU memory (fits 8 GB)"),
    "large-cuda": Preset(GenerationConfig(resolution=512, steps=500, cutouts=64),
                         "ViT-B-32", "vqgan_imagenet_f16_16384",
                         "estimate, not measured: 5.2 TFLOP per step at ~20 TFLOP/s sustained is ~0.3 s per step, "
                         "~2-3 min for 500 steps; ~9-10 GB of GPU memory (the CPU run peaked at 9.2 GB; 16 GB+)"),
}
