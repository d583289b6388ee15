"""``load_clip(name)``: one interface over real CLIP (through open_clip) and the tiny Shapes CLIP.

Whatever the name, you get a :class:`ClipModel` with ``encode_images``, ``encode_texts``,
``preprocess``, ``tokenize`` and ``logit_scale``, so every lesson works the same with either.

Names: ``"tiny-shapes"`` (bundled, offline), ``"ViT-B-32"`` (OpenAI's weights), any
``"ARCH:PRETRAINED"`` open_clip pair (PRETRAINED may be a file), a checkpoint path, or
``"auto"`` (real when it can be had quickly, else tiny, saying why).

Why open_clip and not OpenAI's ``clip`` package: ``clip`` imports ``pkg_resources``, which
setuptools 81 removed; open_clip loads the identical OpenAI weights and is maintained.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image
import torch
import torch.nn as nn
import torch.nn.functional as F

from tqdm.auto import tqdm

from . import checkpoints, config
from .checks import pixel_batch, positive_int, texts_list
from .contrastive import INIT_TEMPERATURE, clamp_logit_scale
from .images import load_rgb

TINY_NAME = "tiny-shapes"
TINY_CHECKPOINT = "tiny-clip-shapes"
REAL_DEFAULT = ("ViT-B-32", "openai")
CONNECT_TIMEOUT_S = 3.0  # "auto" never waits longer than this to learn that we are offline

# --- the tiny model's tokenizer -------------------------------------------------------------
# A word-level vocabulary, not CLIP's 49k-token BPE: on Shapes the captions use ~30 words, and a
# 49k x width embedding table would dominate the parameters and the optimiser's time (DESIGN.md
# field notes: a BPE ViT reached 55% in 15 minutes; this reaches 95%+ in under a minute).
SPECIAL_TOKENS = ("<pad>", "<sot>", "<eot>", "<unk>")
CAPTION_WORDS = ("a", "an", "photo", "of", "picture", "drawing", "image", "small", "large",
                 "red", "green", "blue", "yellow", "purple", "orange",
                 "circle", "square", "triangle", "star", "cross",
                 "on", "the", "left", "right", "at", "top", "bottom", "in", "center")


class WordTokenizer:
    """Lower-cases, splits on non-letters, maps words to ids; unknown words become <unk>."""

    def __init__(self, vocabulary: Sequence[str], context_length: int = 16):
        self.vocabulary = list(vocabulary)
        self.word_to_id = {word: index for index, word in enumerate(self.vocabulary)}
        self.context_length = context_length
        self.pad_id, self.sot_id, self.eot_id, self.unk_id = (self.word_to_id[t] for t in SPECIAL_TOKENS)
        self._warned_truncation = False

    def words(self, text: str) -> list[str]:
        return re.findall(r"[a-z]+", text.lower())

    def unknown_words(self, text: str) -> list[str]:
        return [word for word in self.words(text) if word not in self.word_to_id]

    def __call__(self, texts: str | Sequence[str]) -> torch.Tensor:
        texts = texts_list(texts)
        tokens = torch.full((len(texts), self.context_length), self.pad_id, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.word_to_id.get(word, self.unk_id) for word in self.words(text)]
            if len(ids) > self.context_length - 2:
                self._warn_truncation(text)
                ids = ids[: self.context_length - 2]
            ids = [self.sot_id, *ids, self.eot_id]
            tokens[row, : len(ids)] = torch.tensor(ids)
        return tokens  # (n_texts, context_length)

    def _warn_truncation(self, text: str) -> None:
        if not self._warned_truncation:
            warnings.warn(f"caption longer than {self.context_length - 2} words was truncated: {text[:60]!r}…"
                          " (further truncations are silent)", stacklevel=3)
            self._warned_truncation = True


# --- the tiny model: a small CNN for images, a small transformer for text ------------------------

def conv_block(in_channels: int, out_channels: int, pool: bool) -> nn.Sequential:
    layers = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
              nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, *([nn.MaxPool2d(2)] if pool else []))


class TinyImageEncoder(nn.Module):
    """32x32 image -> embedding. A stride-2 stem, conv stages with max-pooling, then flatten.

    Flattening the last 4x4 grid (no global pooling) keeps where the shape is ("on the left").
    Channels-last memory layout makes the CPU convolutions about 1.5x faster.
    """

    def __init__(self, channels: Sequence[int], image_size: int, embed_dim: int):
        super().__init__()
        stem = nn.Sequential(nn.Conv2d(3, channels[0], 4, stride=2, padding=1, bias=False),
                             nn.BatchNorm2d(channels[0]), nn.ReLU(inplace=True))
        stages = [conv_block(c_in, c_out, pool=i < len(channels) - 2)
                  for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:]))]
        self.stages = nn.Sequential(stem, *stages).to(memory_format=torch.channels_last)
        grid = image_size // 2 ** (len(channels) - 1)  # the stem and each pooled stage halve the side
        self.projection = nn.Linear(channels[-1] * grid * grid, embed_dim)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        features = self.stages(pixels.contiguous(memory_format=torch.channels_last))  # (n, C, grid, grid)
        return self.projection(features.flatten(1))  # (n, embed_dim)


class TinyTextEncoder(nn.Module):
    """Token ids -> embedding: word + position embeddings, a few transformer layers, read at <eot>."""

    def __init__(self, vocab_size: int, context_length: int, width: int, layers: int, heads: int,
                 embed_dim: int, eot_id: int, pad_id: int):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.randn(context_length, width) * 0.01)
        layer = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.ln_final = nn.LayerNorm(width)
        self.projection = nn.Linear(width, embed_dim, bias=False)
        self.eot_id, self.pad_id = eot_id, pad_id

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden = self.token_embedding(tokens) + self.positional_embedding  # (n, context, width)
        hidden = self.transformer(hidden, src_key_padding_mask=tokens == self.pad_id)
        eot_position = (tokens == self.eot_id).int().argmax(dim=1)  # (n,)
        pooled = self.ln_final(hidden[torch.arange(len(tokens)), eot_position])  # (n, width)
        return self.projection(pooled)  # (n, embed_dim)


@dataclass
class TinyClipConfig:
    image_size: int = 32  # Shapes are drawn at 32x32; bigger costs 4x per doubling on a CPU
    channels: tuple = (32, 64, 128, 128)  # CNN widths; 3 max-pools take 32x32 down to 4x4
    embed_dim: int = 128  # shared embedding size; 64 trains as fast but separates 30 classes less cleanly
    vocabulary: tuple = SPECIAL_TOKENS + CAPTION_WORDS  # word-level: tiny, fast, but knows only these words
    context_length: int = 16  # longest Shapes caption is 11 words + <sot>/<eot>
    text_width: int = 128  # transformer width
    text_layers: int = 2  # 2 layers suffice for "size color shape position" phrases
    text_heads: int = 4
    mean: tuple = (0.5, 0.5, 0.5)  # pixel normalisation applied by preprocess and embed_pixels
    std: tuple = (0.25, 0.25, 0.25)


class TinyClip(nn.Module):
    def __init__(self, cfg: TinyClipConfig):
        super().__init__()
        self.cfg = cfg
        self.tokenizer = WordTokenizer(cfg.vocabulary, cfg.context_length)
        self.visual = TinyImageEncoder(cfg.channels, cfg.image_size, cfg.embed_dim)
        self.text = TinyTextEncoder(len(cfg.vocabulary), cfg.context_length, cfg.text_width, cfg.text_layers,
                                    cfg.text_heads, cfg.embed_dim, self.tokenizer.eot_id, self.tokenizer.pad_id)
        self.logit_scale = nn.Parameter(torch.tensor(np.log(1 / INIT_TEMPERATURE), dtype=torch.float32))  # CLIP's init

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.visual(pixels)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.text(tokens)


class TinyPreprocess:
    """PIL image -> normalised (3, size, size) tensor, the tiny model's own preprocessing."""

    def __init__(self, image_size: int, mean: Sequence[float], std: Sequence[float]):
        self.image_size, self.mean, self.std = image_size, torch.tensor(mean), torch.tensor(std)

    def __call__(self, image) -> torch.Tensor:
        image = image.convert("RGB")
        if image.size != (self.image_size, self.image_size):
            image = image.resize((self.image_size, self.image_size), Image.BICUBIC)
        pixels = torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255  # (3, H, W)
        return (pixels - self.mean[:, None, None]) / self.std[:, None, None]


# --- the one interface ---------------------------------------------------------------------

@dataclass
class ClipModel:
    """A CLIP model behind one interface; see the module docstring. Embeddings are L2-normalised."""

    torch_model: nn.Module
    preprocess: Callable
    tokenize: Callable
    name: str
    device: str
    image_size: int
    mean: tuple
    std: tuple
    embed_dim: int
    info: dict = field(default_factory=dict)  # where the weights came from, training metrics, ...

    @property
    def logit_scale(self) -> float:
        """exp of the learned log-scale, clamped at 100 as CLIP does (1 / temperature)."""
        return float(clamp_logit_scale(self.torch_model.logit_scale.detach()))

    @property
    def dtype(self) -> torch.dtype:
        return next(self.torch_model.parameters()).dtype

    @torch.inference_mode()
    def encode_images(self, images, batch_size: int = 256, progress: bool = False) -> torch.Tensor:
        """PIL images, paths, a uint8 array (n, H, W, 3) or a preprocessed tensor -> (n, D) normalised float32."""
        if isinstance(images, torch.Tensor):
            images = pixel_batch(images, "a tensor batch of images")
        elif isinstance(images, (str, Path, Image.Image)):
            images = [images]
        elif hasattr(images, "__iter__") and not isinstance(images, (bytes, dict)):
            images = list(images)
        else:
            raise ValueError(f"encode_images takes a list of PIL images or paths, a uint8 array (n, H, W, 3), or a "
                             f"preprocessed tensor (n, 3, H, W); got a {type(images).__name__}.")
        return encode_in_batches(images, batch_size, self._encode_image_batch, "encoding images", progress,
                                 self.embed_dim)

    @torch.inference_mode()
    def encode_texts(self, texts: str | Sequence[str], batch_size: int = 256, progress: bool = False) -> torch.Tensor:
        """Texts -> (n, D) normalised float32."""
        return encode_in_batches(texts_list(texts), batch_size, self._encode_text_batch, "encoding texts", progress,
                                 self.embed_dim)

    def _encode_image_batch(self, batch) -> torch.Tensor:
        pixels = batch if isinstance(batch, torch.Tensor) else torch.stack([self._preprocess_one(b) for b in batch])
        with config.large_work(enabled=not isinstance(self.torch_model, TinyClip)):  # real CLIP: a large product
            features = self.torch_model.encode_image(pixels.to(self.device, self.dtype))  # (b, D)
        return F.normalize(features.float(), dim=-1).cpu()

    def _encode_text_batch(self, texts: list[str]) -> torch.Tensor:
        features = self.torch_model.encode_text(self.tokenize(texts).to(self.device))  # (b, D)
        return F.normalize(features.float(), dim=-1).cpu()

    def embed_pixels(self, pixels: torch.Tensor) -> torch.Tensor:
        """Differentiable: pixels (B, 3, image_size, image_size) in [0, 1] -> (B, D) normalised embeddings.

        Values are not checked here (it runs at every generation step; generate() stops on a non-finite loss)."""
        if not isinstance(pixels, torch.Tensor) or pixels.ndim != 4 or pixels.shape[1] != 3 \
                or tuple(pixels.shape[-2:]) != (self.image_size,) * 2:
            raise ValueError(f"embed_pixels wants (B, 3, {self.image_size}, {self.image_size}) pixels in [0, 1], "
                             f"got {tuple(pixels.shape) if torch.is_tensor(pixels) else type(pixels).__name__}.")
        mean = torch.tensor(self.mean, device=pixels.device)[:, None, None]
        std = torch.tensor(self.std, device=pixels.device)[:, None, None]
        features = self.torch_model.encode_image(((pixels - mean) / std).to(self.dtype))
        return F.normalize(features.float(), dim=-1)

    def _preprocess_one(self, image) -> torch.Tensor:
        return self.preprocess(to_pil(image))

    def __repr__(self) -> str:
        return f"ClipModel(name={self.name!r}, device={self.device!r}, embed_dim={self.embed_dim})"


def to_pil(image):
    """A PIL image (any mode), a path, or an array -> an RGB PIL image; a bad file names itself."""
    if isinstance(image, Image.Image) and image.mode == "RGB":
        return image
    return load_rgb(image)


def encode_in_batches(items, batch_size: int, encode: Callable, desc: str, progress: bool = False,
                      dim: int = 0) -> torch.Tensor:
    """``encode(batch) -> (b, D)`` over consecutive slices of ``items``, under one progress bar; (n, D) rows.

    The one batching loop of the course: models, zero-shot and the search index all encode through it.
    """
    batch_size = positive_int(batch_size, "batch_size")
    outputs = []
    with tqdm(total=len(items), desc=desc, disable=not progress, leave=False) as bar:
        for start in range(0, len(items), batch_size):
            batch = items[start: start + batch_size]
            outputs.append(torch.as_tensor(encode(batch)))  # (b, D); b may be smaller if encode skips items
            bar.update(len(batch))
    outputs = [output for output in outputs if len(output)]
    return torch.cat(outputs) if outputs else torch.zeros((0, dim))  # (n, D)


# --- loading -------------------------------------------------------------------------------

def build_tiny(cfg: TinyClipConfig, device: str = "cpu", name: str = TINY_NAME, info: dict | None = None) -> ClipModel:
    torch_model = TinyClip(cfg).to(device)
    return ClipModel(torch_model, TinyPreprocess(cfg.image_size, cfg.mean, cfg.std), torch_model.tokenizer, name,
                     device, cfg.image_size, tuple(cfg.mean), tuple(cfg.std), cfg.embed_dim, info or {})


def tiny_from_state(tensors: dict, metadata: dict, device: str, name: str) -> ClipModel:
    cfg_dict = dict(metadata["config"])
    cfg = TinyClipConfig(**{key: tuple(value) if isinstance(value, list) else value for key, value in cfg_dict.items()})
    model = build_tiny(cfg, device, name, {"source": name, **metadata})
    try:
        model.torch_model.load_state_dict(tensors)
    except RuntimeError as error:  # missing, unexpected or mis-shaped tensors
        raise checkpoints.CheckpointError(f"{name} does not fit the tiny CLIP its metadata describes: "
                                          f"{str(error)[:300]}") from None
    model.torch_model.eval()
    return model


def load_tiny(device: str | None = None) -> ClipModel:
    tensors, metadata = checkpoints.load_bundled(TINY_CHECKPOINT)
    return tiny_from_state(tensors, metadata, config.get_device(device), TINY_NAME)


def _is_tiny_checkpoint(path: Path) -> bool:
    return path.suffix == ".safetensors" and checkpoints.read_metadata(path).get("kind") == "tiny-clip"


# open_clip architectures we can recognise from a bare state dict: (vision width, layers, patch) -> name
KNOWN_VIT_ARCHS = {(768, 12, 32): "ViT-B-32", (768, 12, 16): "ViT-B-16", (1024, 24, 14): "ViT-L-14"}


def guess_open_clip_arch(state_dict: dict) -> str:
    """Recognise the open_clip ViT architecture of a bare checkpoint from its tensor shapes."""
    try:
        width, _, patch, _ = state_dict["visual.conv1.weight"].shape
        layers = len({key.split(".")[3] for key in state_dict if key.startswith("visual.transformer.resblocks.")})
    except (KeyError, ValueError):
        raise ValueError("cannot tell this checkpoint's architecture; name it as 'ARCH:PATH', "
                         "e.g. 'ViT-B-32:/path/model.pt'.") from None
    if (width, layers, patch) not in KNOWN_VIT_ARCHS:
        raise ValueError(f"unknown ViT (width {width}, {layers} layers, patch {patch}); name it as 'ARCH:PATH'. "
                         f"Recognised: {', '.join(KNOWN_VIT_ARCHS.values())}.")
    return KNOWN_VIT_ARCHS[(width, layers, patch)]


def load_open_clip(arch: str, pretrained: str | None, device: str, name: str) -> ClipModel:
    """Build an open_clip model with its own preprocessing; fp16 only on a GPU."""
    import open_clip

    if arch not in open_clip.list_models():
        close = [m for m in open_clip.list_models() if arch.lower().split("-")[0] in m.lower()][:8]
        raise ValueError(f"unknown open_clip architecture {arch!r}; similar: {', '.join(close) or 'see open_clip.list_models()'}.")
    if pretrained and config.OFFLINE and not Path(pretrained).is_file() and not real_weights_cached(arch, pretrained):
        raise ValueError(f"MMLESSON_OFFLINE=1 and the weights {arch}:{pretrained} are not in the cache; "
                         "use 'tiny-shapes', or run once online to download them.")
    precision = "fp16" if device.startswith("cuda") else "fp32"
    torch_model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=pretrained, device=device,
                                                                       precision=precision)
    torch_model.eval()
    visual = torch_model.visual
    image_size = visual.image_size[0] if isinstance(visual.image_size, (tuple, list)) else visual.image_size
    return ClipModel(torch_model, preprocess, open_clip.get_tokenizer(arch), name, device, int(image_size),
                     tuple(visual.image_mean), tuple(visual.image_std), int(visual.output_dim),
                     {"source": f"{arch}:{pretrained or 'random weights'}"})


def real_weights_cached(arch: str = REAL_DEFAULT[0], tag: str = REAL_DEFAULT[1]) -> bool:
    """True if open_clip's weights for (arch, tag) are already in the Hugging Face cache (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
        from open_clip.pretrained import get_pretrained_cfg

        hub = get_pretrained_cfg(arch, tag).get("hf_hub", "")
        repo = hub.rstrip("/")
        return bool(repo) and any(isinstance(try_to_load_from_cache(repo, filename), str)
                                  for filename in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"))
    except Exception:
        return False


def network_reachable(host: str = "huggingface.co", port: int = 443, timeout: float = CONNECT_TIMEOUT_S) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def choose_auto() -> tuple[str, str]:
    """(name, reason) for load_clip("auto"): real CLIP if cached or reachable, else the tiny model."""
    if real_weights_cached():
        return "ViT-B-32", "OpenAI ViT-B-32 weights are in the cache"
    if config.OFFLINE:
        return TINY_NAME, "offline mode (MMLESSON_OFFLINE=1) and no cached real weights"
    if network_reachable():
        return "ViT-B-32", "the weights host answered; downloading OpenAI ViT-B-32 (~600 MB, once)"
    return TINY_NAME, f"no cached real weights and no network within {CONNECT_TIMEOUT_S:.0f} s"


def load_clip(name: str = TINY_NAME, device: str | None = None) -> ClipModel:
    """Load a CLIP by name; see the module docstring for the names it understands."""
    if not isinstance(name, (str, Path)) or not str(name).strip():
        raise ValueError("load_clip needs a name: 'tiny-shapes', 'ViT-B-32', 'ARCH:PRETRAINED', a path, or 'auto'.")
    name, device = str(name).strip(), config.get_device(device)
    if name == "auto":
        name, reason = choose_auto()
        print(f"load_clip('auto'): using {name} because {reason}.")
    if name == TINY_NAME:
        return load_tiny(device)
    if Path(name).is_file():
        return _load_path(Path(name), device)
    if name == "ViT-B-32":
        return load_open_clip(*REAL_DEFAULT, device, name)
    if ":" in name:
        arch, pretrained = name.split(":", 1)
        return load_open_clip(arch, pretrained, device, name)
    if Path(name).suffix or "/" in name:
        raise ValueError(f"checkpoint file {name} does not exist.")
    raise ValueError(f"unknown model name {name!r}; use 'tiny-shapes', 'ViT-B-32', 'ARCH:PRETRAINED' "
                     "(e.g. 'ViT-B-16:laion2b_s34b_b88k'), a checkpoint path, or 'auto'.")


def _load_path(path: Path, device: str) -> ClipModel:
    if _is_tiny_checkpoint(path):
        tensors, metadata = checkpoints.load_state(path)
        return tiny_from_state(tensors, metadata, device, str(path.resolve()))
    state, _ = checkpoints.read_state_dict(path)
    arch = guess_open_clip_arch(state)
    return load_open_clip(arch, str(path), device, str(path.resolve()))


def tiny_config_dict(cfg: TinyClipConfig) -> dict:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(cfg).items()}
