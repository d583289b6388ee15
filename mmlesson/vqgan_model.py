"""The VQGAN model, compatible with taming-transformers' checkpoints: an image autoencoder whose bottleneck
is a grid of codes from a learned codebook.

The encoder shrinks an image by ``downsample_factor`` (16 for the official ImageNet models) into a
grid of latent vectors; each vector is replaced by its nearest entry in the codebook (vector
quantization); the decoder turns the grid of codebook vectors back into pixels. VQGAN trains this
with a *patch discriminator* on top of the reconstruction loss (vqgan_quality.py), which keeps
textures sharp; the tiny models' training loop is vqgan_training.py.

Parameter names follow taming-transformers' ``VQModel`` exactly (``encoder.*``, ``decoder.*``,
``quantize.embedding.weight``, ``quant_conv.*``, ``post_quant_conv.*``), so the official
checkpoints load with ``strict=True`` once their training-only ``loss.*`` entries are dropped.
There is no runtime dependency on taming-transformers, pytorch-lightning or omegaconf.

Pixels are in [-1, 1], as taming uses: from images in [0, 1], ``pixels = images * 2 - 1``
(``to_vqgan_range``); back with ``images = (pixels + 1) / 2`` clamped (``from_vqgan_range``).

Read top-down: building blocks, the quantizer, the config, the model, loading checkpoints.
Downloading the official checkpoints (mirrors, sizes, recorded sha256) is in downloads.py.
Over 500 lines because taming's building blocks (~160 lines), the quantizer, the model and the loader that checks a
checkpoint against it are one interface, the one the official weights fit; training and measures are split off.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import checkpoints, config as mmconfig
from .checks import pixel_batch
from .downloads import OFFICIAL_CHECKPOINTS, cached_checkpoint_path, download_checkpoint, verify_recorded_sha256

# --- building blocks -------------------------------------------------------------------------

def swish(hidden: torch.Tensor) -> torch.Tensor:
    return hidden * torch.sigmoid(hidden)


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=groups, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    """norm -> swish -> conv, twice, plus a skip (a 1x1 conv ``nin_shortcut`` when widths differ)."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float, groups: int):
        super().__init__()
        self.norm1 = group_norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = group_norm(out_channels, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        residual = self.conv1(swish(self.norm1(hidden)))
        residual = self.conv2(self.dropout(swish(self.norm2(residual))))
        skip = self.nin_shortcut(hidden) if hasattr(self, "nin_shortcut") else hidden
        return skip + residual


class AttnBlock(nn.Module):
    """Single-head self-attention over all positions of a feature map, with a skip connection."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm = group_norm(channels, groups)
        self.q, self.k, self.v = (nn.Conv2d(channels, channels, 1) for _ in range(3))
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = hidden.shape
        normed = self.norm(hidden)
        queries = self.q(normed).flatten(2).transpose(1, 2)  # (batch, positions, channels)
        keys = self.k(normed).flatten(2)  # (batch, channels, positions)
        values = self.v(normed).flatten(2)  # (batch, channels, positions)
        weights = torch.softmax(queries @ keys / math.sqrt(channels), dim=2)  # (batch, query, key)
        attended = values @ weights.transpose(1, 2)  # (batch, channels, query positions)
        return hidden + self.proj_out(attended.reshape(batch, channels, height, width))  # back to (B, C, H, W)


class Downsample(nn.Module):
    """Halve the resolution: pad right and bottom by one, then a stride-2 3x3 conv (taming's choice)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(hidden, (0, 1, 0, 1)))


class Upsample(nn.Module):
    """Double the resolution: nearest-neighbour upsampling, then a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(hidden, scale_factor=2.0, mode="nearest"))


class Level(nn.Module):
    """One resolution of the encoder or decoder: res blocks (each followed by attention where the
    config asks for it), then an optional ``downsample`` or ``upsample`` (the name taming uses)."""

    def __init__(self, in_channels: int, out_channels: int, n_blocks: int, attention: bool,
                 resample: str | None, dropout: float, groups: int):
        super().__init__()
        widths = [in_channels] + [out_channels] * n_blocks
        self.block = nn.ModuleList(ResnetBlock(widths[i], out_channels, dropout, groups) for i in range(n_blocks))
        self.attn = nn.ModuleList(AttnBlock(out_channels, groups) for _ in range(n_blocks if attention else 0))
        self.resample = resample
        if resample == "downsample":
            self.downsample = Downsample(out_channels)
        elif resample == "upsample":
            self.upsample = Upsample(out_channels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.block):
            hidden = block(hidden)
            if len(self.attn):
                hidden = self.attn[i](hidden)
        return getattr(self, self.resample)(hidden) if self.resample else hidden


class Middle(nn.Module):
    """Res block, attention, res block at the lowest resolution."""

    def __init__(self, channels: int, dropout: float, groups: int):
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, dropout, groups)
        self.attn_1 = AttnBlock(channels, groups)
        self.block_2 = ResnetBlock(channels, channels, dropout, groups)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(hidden)))


class Encoder(nn.Module):
    """Pixels (B, 3, H, W) -> latents (B, z_channels, H/f, W/f)."""

    def __init__(self, config: "VQGANConfig"):
        super().__init__()
        widths = [config.ch * multiplier for multiplier in config.ch_mult]
        n_levels = len(widths)
        self.conv_in = nn.Conv2d(config.in_channels, config.ch, 3, padding=1)
        self.down = nn.ModuleList(
            Level([config.ch, *widths][i], widths[i], config.num_res_blocks,
                  attention=config.resolution // 2**i in config.attn_resolutions,
                  resample="downsample" if i < n_levels - 1 else None,
                  dropout=config.dropout, groups=config.norm_groups)
            for i in range(n_levels))
        self.mid = Middle(widths[-1], config.dropout, config.norm_groups)
        self.norm_out = group_norm(widths[-1], config.norm_groups)
        self.conv_out = nn.Conv2d(widths[-1], config.z_channels, 3, padding=1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        hidden = self.conv_in(pixels)
        for level in self.down:
            hidden = level(hidden)
        return self.conv_out(swish(self.norm_out(self.mid(hidden))))


class Decoder(nn.Module):
    """Latents (B, z_channels, h, w) -> pixels (B, 3, h*f, w*f). ``up[0]`` is the highest resolution,
    as in taming, so the levels run in reverse order."""

    def __init__(self, config: "VQGANConfig"):
        super().__init__()
        widths = [config.ch * multiplier for multiplier in config.ch_mult]
        n_levels = len(widths)
        self.conv_in = nn.Conv2d(config.z_channels, widths[-1], 3, padding=1)
        self.mid = Middle(widths[-1], config.dropout, config.norm_groups)
        self.up = nn.ModuleList(
            Level([*widths, widths[-1]][i + 1], widths[i], config.num_res_blocks + 1,
                  attention=config.resolution // 2**i in config.attn_resolutions,
                  resample="upsample" if i > 0 else None,
                  dropout=config.dropout, groups=config.norm_groups)
            for i in range(n_levels))
        self.norm_out = group_norm(widths[0], config.norm_groups)
        self.conv_out = nn.Conv2d(widths[0], config.out_ch, 3, padding=1)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        hidden = self.mid(self.conv_in(latents))
        for level in reversed(self.up):
            hidden = level(hidden)
        return self.conv_out(swish(self.norm_out(hidden)))


# --- vector quantization ---------------------------------------------------------------------

def nearest_codes(latents: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codebook vector (Euclidean) for each latent vector: (B, C, H, W) -> (B, H, W)."""
    batch, channels, height, width = latents.shape
    if codebook.shape[1] != channels:
        raise ValueError(f"codebook vectors have {codebook.shape[1]} dims but the latents have {channels} channels; "
                         "latents are (B, C, H, W) and the codebook (K, C).")
    flat = latents.permute(0, 2, 3, 1).reshape(-1, channels)  # (B*H*W, C): one vector per position
    # ||z - e||^2 = ||z||^2 + ||e||^2 - 2 z.e, for every (latent, code) pair: (B*H*W, K)
    distances = flat.pow(2).sum(1, keepdim=True) + codebook.pow(2).sum(1) - 2 * flat @ codebook.t()  # (B*H*W, K)
    return distances.argmin(dim=1).reshape(batch, height, width)  # (B, H, W)


def lookup_codes(indices: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Codebook vectors for a grid of indices: (B, H, W) -> (B, C, H, W)."""
    return codebook[indices].permute(0, 3, 1, 2).contiguous()


def straight_through_quantize(latents: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Replace each latent vector by its nearest codebook vector, passing gradients straight through.

    The forward value is the codebook vector; the backward pass treats quantization as the identity,
    so the gradient with respect to the output reaches ``latents`` unchanged.
    """
    quantized = lookup_codes(nearest_codes(latents, codebook), codebook)
    return latents + (quantized - latents).detach()


CODEBOOK_LOOKUPS = ("euclidean", "cosine")


class VectorQuantizer(nn.Module):
    """The codebook (``embedding``, K x C) and the lookup. Returns the straight-through quantized
    latents, the codebook loss, and the (B, h, w) code indices.

    The loss is taming's "legacy" form, kept so outputs match the official models:
    ``mean((sg[q] - z)^2) + beta * mean((q - sg[z])^2)`` (sg = stop-gradient). The first term pulls the
    encoder towards its codes, the second the codes towards the encoder outputs.

    ``lookup="cosine"`` (ViT-VQGAN's choice) l2-normalises the latents and the codes first, so the nearest
    code is the one at the smallest angle and every code lies on the unit sphere where the latents are:
    no code can drift away from the data and die, and a code's length cannot hide a wrong direction.
    """

    def __init__(self, n_embed: int, embed_dim: int, beta: float, lookup: str = "euclidean"):
        super().__init__()
        assert lookup in CODEBOOK_LOOKUPS, lookup
        self.beta, self.lookup = beta, lookup
        self.embedding = nn.Embedding(n_embed, embed_dim)
        self.embedding.weight.data.uniform_(-1.0 / n_embed, 1.0 / n_embed)

    def project(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents (B, C, h, w) where the lookup compares them: unchanged, or unit length per position."""
        return F.normalize(latents, dim=1) if self.lookup == "cosine" else latents

    @property
    def code_vectors(self) -> torch.Tensor:
        """(K, C): the vectors the decoder receives, one per code (unit length for the cosine lookup)."""
        codebook = self.embedding.weight
        return F.normalize(codebook, dim=1) if self.lookup == "cosine" else codebook

    def forward(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        latents, codebook = self.project(latents), self.code_vectors
        indices = nearest_codes(latents, codebook)
        quantized = lookup_codes(indices, codebook)
        commitment = torch.mean((quantized.detach() - latents) ** 2)  # moves the encoder
        codebook_term = torch.mean((quantized - latents.detach()) ** 2)  # moves the codes
        loss = commitment + self.beta * codebook_term
        return latents + (quantized - latents).detach(), loss, indices


# --- the model -------------------------------------------------------------------------------

@dataclass
class VQGANConfig:
    """Field names follow taming's ``ddconfig`` plus ``embed_dim`` and ``n_embed``."""
    resolution: int = 256  # training image side; only places attention (attn_resolutions), inputs may differ
    in_channels: int = 3  # RGB in
    out_ch: int = 3  # RGB out
    ch: int = 128  # base width: compute grows with its square, detail with it
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)  # width per level; len-1 halvings, so f = 2**(len-1)
    num_res_blocks: int = 2  # res blocks per encoder level (decoder: one more); depth vs speed
    attn_resolutions: tuple[int, ...] = (16,)  # sides where attention runs: global context, quadratic cost
    dropout: float = 0.0  # regularisation; 0 for the official models
    z_channels: int = 256  # encoder output width, before quant_conv
    embed_dim: int = 256  # codebook vector size: richer codes vs a harder nearest-neighbour search
    n_embed: int = 1024  # codebook size K: more detail per code vs more codes that go unused
    beta: float = 0.25  # codebook-loss weight (taming legacy form, see VectorQuantizer)
    norm_groups: int = 32  # GroupNorm groups; must divide every width
    codebook_lookup: str = "euclidean"  # "cosine": unit-length codes and latents (no dead codes; not taming's)

    def __post_init__(self):
        self.ch_mult, self.attn_resolutions = tuple(self.ch_mult), tuple(self.attn_resolutions)
        if self.codebook_lookup not in CODEBOOK_LOOKUPS:
            raise ValueError(f"codebook_lookup={self.codebook_lookup!r} is not known; choose one of "
                             f"{', '.join(CODEBOOK_LOOKUPS)}.")
        for width in [self.ch * m for m in self.ch_mult]:
            if width % self.norm_groups:
                raise ValueError(f"norm_groups={self.norm_groups} must divide every width; {width} is not a multiple.")

    @classmethod
    def from_taming(cls, ddconfig: dict, embed_dim: int, n_embed: int) -> "VQGANConfig":
        """From the ``params`` of a taming model.yaml (``ddconfig``, ``embed_dim``, ``n_embed``)."""
        ddconfig = dict(ddconfig)
        if ddconfig.pop("double_z", False):
            raise ValueError("double_z=True is a KL autoencoder setting, not a VQGAN; this loader supports VQ models.")
        return cls(**ddconfig, embed_dim=embed_dim, n_embed=n_embed)


VQGAN_CONFIGS = {
    "vqgan_imagenet_f16_1024": VQGANConfig(n_embed=1024),
    "vqgan_imagenet_f16_16384": VQGANConfig(n_embed=16384),
    # 32x32 Shapes -> 16x16 codes (f=2); widths 16/32, one res block per level; 0.19M parameters.
    # Measured side by side on CPU: an f=4 version (8x8 codes) learned far slower (21 vs 26 dB as a plain
    # autoencoder after 300 steps; 23 dB after 600 VQ steps), while f=2 passes 28 dB in ~4 minutes.
    # 16x16 codes (factor 2), not DESIGN.md's 8x8: at 8x8 the tiny model stayed under 23 dB in the CPU budget,
    # at 16x16 it reaches 28.9 dB (bench/vqgan_reconstruction.py).
    "tiny-shapes": VQGANConfig(resolution=32, ch=16, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(),
                               z_channels=32, embed_dim=32, n_embed=128, norm_groups=8),
    # 32x32 Shapes -> 8x8 codes (f=4) for lesson 5: 64 tokens per image, short enough for a transformer on a
    # CPU. Widths 16/32/64 (the 8x8 level is the widest) and 256 codes, so that color x outline survives the
    # coarser grid; PSNR is secondary. 0.72M parameters.
    "tiny-shapes-8x8": VQGANConfig(resolution=32, ch=16, ch_mult=(1, 2, 4), num_res_blocks=1, attn_resolutions=(),
                                   z_channels=32, embed_dim=32, n_embed=256, norm_groups=8),
    # The same encoder and decoder with 1,024 codes of 8 dims looked up by angle (ViT-VQGAN): more, smaller
    # codes in use keep small shapes' outlines that 256 codes of 32 dims blurred together.
    "tiny-shapes-8x8-cosine": VQGANConfig(resolution=32, ch=16, ch_mult=(1, 2, 4), num_res_blocks=1,
                                          attn_resolutions=(), z_channels=32, embed_dim=8, n_embed=1024,
                                          norm_groups=8, codebook_lookup="cosine"),
}


def to_vqgan_range(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> VQGAN pixels in [-1, 1]."""
    return images * 2 - 1


def from_vqgan_range(pixels: torch.Tensor) -> torch.Tensor:
    """VQGAN pixels in [-1, 1] -> images in [0, 1], clamped."""
    return ((pixels + 1) / 2).clamp(0, 1)


class VQGAN(nn.Module):
    """Encoder -> quant_conv -> codebook lookup -> post_quant_conv -> decoder. Pixels in [-1, 1]."""

    def __init__(self, config: VQGANConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantize = VectorQuantizer(config.n_embed, config.embed_dim, config.beta, config.codebook_lookup)
        self.quant_conv = nn.Conv2d(config.z_channels, config.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, config.z_channels, 1)

    @property
    def codebook(self) -> torch.Tensor:
        """(n_embed, embed_dim): one row per code, as learned (``code_vectors``: as the decoder receives them)."""
        return self.quantize.embedding.weight

    @property
    def code_vectors(self) -> torch.Tensor:
        """(n_embed, embed_dim): the vector the decoder receives for each code (unit length for a cosine lookup)."""
        return self.quantize.code_vectors

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.config.ch_mult) - 1)

    def check_pixels(self, pixels: torch.Tensor) -> None:
        """A clear error for a batch the encoder cannot take."""
        pixel_batch(pixels, "VQGAN pixels (in [-1, 1])", self.config.in_channels)
        factor, (height, width) = self.downsample_factor, pixels.shape[2:]
        if height % factor or width % factor:
            raise ValueError(f"resolution {height}x{width} is not a multiple of the VQGAN's downsampling factor "
                             f"{factor}; use e.g. {max(factor, height // factor * factor)}x"
                             f"{max(factor, width // factor * factor)}.")

    def encode_to_latents(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels (B, 3, H, W) in [-1, 1] -> latents before quantization (B, embed_dim, H/f, W/f)."""
        self.check_pixels(pixels)
        return self.quant_conv(self.encoder(pixels))

    def quantize_latents(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Latents -> (nearest codebook vectors with a straight-through gradient, indices (B, h, w))."""
        quantized, _, indices = self.quantize(latents)
        return quantized, indices

    def encode(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pixels -> (quantized latents, codebook loss, indices (B, h, w)), as taming's VQModel.encode."""
        return self.quantize(self.encode_to_latents(pixels))

    def decode(self, quantized: torch.Tensor) -> torch.Tensor:
        """Quantized latents (B, embed_dim, h, w) -> pixels (B, 3, h*f, w*f) in about [-1, 1]."""
        if quantized.dim() != 4 or quantized.shape[1] != self.config.embed_dim:
            raise ValueError(f"decode expects latents of shape (batch, {self.config.embed_dim}, h, w); "
                             f"got {tuple(quantized.shape)}.")
        return self.decoder(self.post_quant_conv(quantized))

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """A grid of code indices (B, h, w) -> pixels."""
        if indices.dim() != 3 or indices.dtype not in (torch.int32, torch.int64):
            raise ValueError(f"indices must be an integer tensor (batch, h, w); got {indices.dtype} "
                             f"{tuple(indices.shape)}.")
        if indices.numel() and (indices.min() < 0 or indices.max() >= self.config.n_embed):
            raise ValueError(f"indices must lie in [0, {self.config.n_embed}); got {int(indices.min())}.."
                             f"{int(indices.max())}.")
        return self.decode(lookup_codes(indices.long(), self.code_vectors))

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Pixels -> (reconstruction, codebook loss, indices)."""
        quantized, codebook_loss, indices = self.encode(pixels)
        return self.decode(quantized), codebook_loss, indices


# --- loading checkpoints ---------------------------------------------------------------------

# The bundled tiny VQGANs: load_vqgan name -> checkpoint name in data/checkpoints.json.
TINY_CHECKPOINT = "tiny-vqgan-shapes"
TINY_NODISC_CHECKPOINT = "tiny-vqgan-shapes-nodisc"
TINY_8X8_CHECKPOINT = "tiny-vqgan-shapes-8x8"
TINY_8X8_COSINE_CHECKPOINT = "tiny-vqgan-shapes-8x8-cosine"
BUNDLED_VQGANS = {"tiny-shapes": TINY_CHECKPOINT, "tiny-shapes-nodisc": TINY_NODISC_CHECKPOINT,  # load_vqgan names
                  "tiny-shapes-8x8": TINY_8X8_CHECKPOINT, "tiny-shapes-8x8-cosine": TINY_8X8_COSINE_CHECKPOINT}


def check_state_dict(model: nn.Module, state: dict, described_as: str) -> None:
    """Raise a CheckpointError listing missing, unexpected and mismatched keys (the first few of each)."""
    expected = model.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    mismatched = [f"{key}: file {tuple(state[key].shape)}, model {tuple(expected[key].shape)}"
                  for key in expected if key in state and tuple(state[key].shape) != tuple(expected[key].shape)]
    if not (missing or unexpected or mismatched):
        return
    lines = [f"{described_as} does not fit the VQGAN architecture it was loaded as."]
    for title, keys in (("mismatched shapes", mismatched), ("missing keys", missing), ("unexpected keys", unexpected)):
        if keys:
            more = f" (+{len(keys) - 5} more)" if len(keys) > 5 else ""
            lines.append(f"  {len(keys)} {title}: {'; '.join(keys[:5])}{more}")
    lines.append(f"  expected config: {asdict(model.config)}")
    lines.append("  Pass the right one with load_vqgan(path, config=VQGANConfig(...)) "
                 "(VQGANConfig.from_taming(ddconfig, embed_dim, n_embed) reads a taming model.yaml's params).")
    raise checkpoints.CheckpointError("\n".join(lines))


def read_state_dict(path: str | Path) -> tuple[dict, dict]:
    """(tensors, metadata) from a .safetensors file or a taming .ckpt (``state_dict`` taken, ``loss.*`` dropped)."""
    state, metadata = checkpoints.read_state_dict(path)
    return {key: value for key, value in state.items() if not key.startswith("loss.")}, metadata


def _config_for_state(state: dict, metadata: dict, path: Path) -> VQGANConfig:
    """The architecture to load ``state`` into: from our metadata, else the official preset whose codebook fits."""
    if "config" in metadata:
        return VQGANConfig(**metadata["config"])
    codebook = state.get("quantize.embedding.weight")
    if codebook is None:
        raise checkpoints.CheckpointError(f"{path.name} is not a VQGAN checkpoint: it has no quantize.embedding.weight "
                                          f"(its first keys: {', '.join(list(state)[:5])}).")
    n_embed, embed_dim = codebook.shape
    for preset in ("vqgan_imagenet_f16_1024", "vqgan_imagenet_f16_16384"):
        if (VQGAN_CONFIGS[preset].n_embed, VQGAN_CONFIGS[preset].embed_dim) == (n_embed, embed_dim):
            return VQGAN_CONFIGS[preset]
    return replace(VQGAN_CONFIGS["vqgan_imagenet_f16_16384"], n_embed=n_embed, embed_dim=embed_dim)


def vqgan_from_state(state: dict, config: VQGANConfig, described_as: str) -> VQGAN:
    model = VQGAN(config)
    check_state_dict(model, state, described_as)
    model.load_state_dict(state, strict=True)
    return model


def load_vqgan(name_or_path: str | Path = "tiny-shapes", device: str | None = None,
               config: VQGANConfig | str | None = None) -> VQGAN:
    """A VQGAN in eval mode on ``device``.

    ``name_or_path``: ``"tiny-shapes"``, ``"tiny-shapes-nodisc"`` or ``"tiny-shapes-8x8"`` (bundled,
    sha256-verified; the second trained without the patch discriminator, the third with 8x8 codes for
    lesson 5), an official name
    (``vqgan_imagenet_f16_1024``, ``vqgan_imagenet_f16_16384``: read from the cache, downloaded when online),
    or a path to a taming ``.ckpt`` or a ``.safetensors`` file. ``config`` overrides the architecture
    (a VQGANConfig or a preset name) for checkpoints that are neither.
    """
    device = mmconfig.get_device(device)
    if isinstance(config, str):
        config = VQGAN_CONFIGS[_check_name(config)]
    name = str(name_or_path)
    if name in BUNDLED_VQGANS:
        state, metadata = checkpoints.load_bundled(BUNDLED_VQGANS[name])
        model = vqgan_from_state(state, config or VQGANConfig(**metadata["config"]), f"bundled {name}")
    elif name in OFFICIAL_CHECKPOINTS:
        path = cached_checkpoint_path(name)
        if not path.exists():
            download_checkpoint(name)
        verify_recorded_sha256(path)
        state, _ = read_state_dict(path)
        model = vqgan_from_state(state, config or VQGAN_CONFIGS[name], str(path))
    elif Path(name).suffix in (".ckpt", ".pt", ".pth", ".safetensors"):
        path = Path(name).expanduser()
        state, metadata = read_state_dict(path)
        model = vqgan_from_state(state, config or _config_for_state(state, metadata, path), str(path))
    else:
        raise _unknown_name(name)
    return model.eval().to(device)


def _unknown_name(name: str) -> ValueError:
    return ValueError(f"unknown VQGAN {name!r}; choose one of {', '.join({**BUNDLED_VQGANS, **OFFICIAL_CHECKPOINTS})}, "
                      "or give a path to a .ckpt or .safetensors file.")


def _check_name(name: str) -> str:
    if name not in VQGAN_CONFIGS:
        raise _unknown_name(name)
    return name
