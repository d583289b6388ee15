"""A decoder-only transformer over tokens (a small GPT, nanoGPT style), for lesson 5: visual tokens.

A VQGAN turns an image into a grid of codes; read in raster order (row by row), the grid is a sentence
of 64 "visual words". A GPT learns to predict each token from the ones before it, so it can write an
image code by code, after a prefix: the caption's tokens (mini DALL-E, dalle.py) or one start token
(VQGAN's stage 2, which draws images with no condition).

Three things set it apart from a text GPT:

- **Positions.** The prefix has one learned embedding per position; the code grid has a row embedding
  plus a column embedding (axial, as DALLE-pytorch does), so the code below another shares its column.
- **A vocabulary range for sampling.** Only image codes may be sampled for image positions.
- **A KV cache.** When sampling, each new token attends to the keys and values of all earlier tokens.
  Without a cache the model recomputes them at every step (quadratic work); with one it stores them
  once per layer and computes only the new position. The outputs are the same (tests check it).

Read top-down: the cache, attention, the block, the config, the model, then sampling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


# --- the KV cache ------------------------------------------------------------------------------

class KVCache:
    """The keys and values of every layer for the positions seen so far, preallocated to ``max_length``."""

    def __init__(self, n_layers: int, batch: int, heads: int, max_length: int, head_dim: int,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32):
        shape = (n_layers, batch, heads, max_length, head_dim)
        self.keys = torch.zeros(shape, device=device, dtype=dtype)
        self.values = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0  # positions stored so far (the same for every layer once a forward pass ends)

    def store(self, layer: int, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Write this step's (B, heads, T, head_dim) keys and values after the stored ones; return all so far."""
        start, end = self.length, self.length + keys.shape[2]
        assert end <= self.keys.shape[3], f"cache holds {self.keys.shape[3]} positions, asked for {end}"
        self.keys[layer, :, :, start:end] = keys
        self.values[layer, :, :, start:end] = values
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]  # (B, heads, past + T, head_dim)


def causal_mask(past: int, length: int, device) -> torch.Tensor:
    """(length, past + length) booleans: query i (at position past + i) may see keys 0 .. past + i."""
    return torch.ones(length, past + length, dtype=torch.bool, device=device).tril(diagonal=past)


# --- the blocks --------------------------------------------------------------------------------

class CausalSelfAttention(nn.Module):
    """Multi-head attention where each position sees only itself and earlier positions."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        assert width % heads == 0, f"width {width} must split evenly over {heads} heads"
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, hidden: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        batch, length, width = hidden.shape
        queries, keys, values = self.qkv(hidden).split(width, dim=2)  # each (B, T, width)
        queries, keys, values = (t.view(batch, length, self.heads, width // self.heads).transpose(1, 2)
                                 for t in (queries, keys, values))  # each (B, heads, T, head_dim)
        past = 0
        if cache is not None:
            past = cache.length
            keys, values = cache.store(layer, keys, values)  # (B, heads, past + T, head_dim)
        mask = causal_mask(past, length, hidden.device)  # (T, past + T)
        attended = F.scaled_dot_product_attention(queries, keys, values, attn_mask=mask,
                                                  dropout_p=self.dropout if self.training else 0.0)  # (B, heads, T, hd)
        return self.proj(attended.transpose(1, 2).reshape(batch, length, width))  # (B, T, width)


class MLP(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.expand, self.shrink = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.shrink(F.gelu(self.expand(hidden))))  # (B, T, width)


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.norm_attention, self.norm_mlp = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads, dropout)
        self.mlp = MLP(width, dropout)

    def forward(self, hidden: torch.Tensor, cache: KVCache | None = None, layer: int = 0) -> torch.Tensor:
        hidden = hidden + self.attention(self.norm_attention(hidden), cache, layer)
        return hidden + self.mlp(self.norm_mlp(hidden))


# --- the config and the model ------------------------------------------------------------------

@dataclass
class GPTConfig:
    vocab_size: int  # every token kind in one table (text, padding, codes); the head predicts over all of it
    prefix_length: int = 12  # positions before the grid: a caption (12 fits every Shapes caption) or 1 start token
    grid_size: int = 8  # code grid side; attention cost grows with (prefix + grid_size**2) squared
    n_layers: int = 4  # depth: each layer adds ~12 * width**2 parameters and as much time per token
    n_heads: int = 4  # heads split the width; 4 x 32 dims is nanoGPT's CPU recipe
    width: int = 128  # the residual stream; 128 trains in minutes on 2 cores, 256 costs ~4x per step
    dropout: float = 0.0  # regularisation; Shapes is plentiful (fresh captions each step), so none is needed

    @property
    def block_size(self) -> int:
        """The longest sequence: the prefix and the whole grid."""
        return self.prefix_length + self.grid_size ** 2


class GPT(nn.Module):
    """Token ids (B, T) -> next-token logits (B, T, vocab_size); positions are prefix first, then the grid."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        width = config.width
        self.token_embedding = nn.Embedding(config.vocab_size, width)
        self.prefix_positions = nn.Parameter(torch.randn(config.prefix_length, width) * 0.02)
        self.row_embedding = nn.Parameter(torch.randn(config.grid_size, width) * 0.02)
        self.column_embedding = nn.Parameter(torch.randn(config.grid_size, width) * 0.02)
        self.blocks = nn.ModuleList(Block(width, config.n_heads, config.dropout) for _ in range(config.n_layers))
        self.norm_out = nn.LayerNorm(width)
        self.head = nn.Linear(width, config.vocab_size, bias=False)
        self.apply(_init_weights)

    def position_embeddings(self) -> torch.Tensor:
        """(block_size, width): the prefix's own rows, then row + column for each code in raster order."""
        grid, width = self.config.grid_size, self.config.width
        axial = (self.row_embedding[:, None, :] + self.column_embedding[None, :, :]).reshape(grid * grid, width)
        return torch.cat([self.prefix_positions, axial])  # (prefix + grid*grid, width)

    def forward(self, tokens: torch.Tensor, cache: KVCache | None = None,
                condition: torch.Tensor | None = None) -> torch.Tensor:
        """``condition`` (B, width), optional, is added at position 0 (unCLIP's image embedding, unclip.py)."""
        batch, length = tokens.shape
        past = cache.length if cache is not None else 0
        assert past + length <= self.config.block_size, f"{past + length} positions > block {self.config.block_size}"
        positions = self.position_embeddings()[past:past + length]  # (T, width)
        hidden = self.token_embedding(tokens) + positions  # (B, T, width)
        if condition is not None and past == 0:
            hidden = hidden + F.pad(condition[:, None, :], (0, 0, 0, length - 1))  # (B, T, width), position 0 only
        for layer, block in enumerate(self.blocks):
            hidden = block(hidden, cache, layer)
        if cache is not None:
            cache.length += length
        return self.head(self.norm_out(hidden))  # (B, T, vocab_size)

    def new_cache(self, batch: int) -> KVCache:
        config, parameter = self.config, self.head.weight
        return KVCache(config.n_layers, batch, config.n_heads, config.block_size, config.width // config.n_heads,
                       parameter.device, parameter.dtype)


def _init_weights(module: nn.Module) -> None:
    """GPT-2's initialisation: normal(0, 0.02) weights, zero biases."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def count_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


# --- sampling ----------------------------------------------------------------------------------

def check_sampling(temperature: float, top_k: int | None, choices: int) -> None:
    """Clear errors for sampling settings (``choices``: how many tokens may be sampled, e.g. the codebook size)."""
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a number > 0 (1.0 samples the model as trained, lower is more "
                         f"conservative); got {temperature!r}.")
    if top_k is not None and (not isinstance(top_k, int) or not 1 <= top_k <= choices):
        raise ValueError(f"top_k must be an integer from 1 to {choices} (the number of tokens that can be sampled "
                         f"here), or None for no cut; got {top_k!r}.")


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """(B, V) logits -> (B, V): each row keeps its k largest logits, the others become -inf (never sampled).
    Ties with the k-th largest are kept."""
    kth_best = torch.topk(logits, k, dim=-1).values[..., -1:]  # (B, 1)
    return logits.masked_fill(logits < kth_best, float("-inf"))


def pick_tokens(logits: torch.Tensor, temperature: float, top_k: int | None,
                generator: torch.Generator | None) -> torch.Tensor:
    """Sample one token per row of (B, choices) logits after temperature and a top-k cut."""
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[1]:
        logits = top_k_filter(logits, top_k)
    probabilities = torch.softmax(logits, dim=1)  # (B, choices)
    return torch.multinomial(probabilities, 1, generator=generator).squeeze(1)  # (B,)


def guided_logits(logits: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """Classifier-free guidance: the batch holds conditional rows then unconditional rows (2B, V) -> (B, V)."""
    conditional, unconditional = logits.chunk(2)
    return unconditional + guidance_scale * (conditional - unconditional)


@torch.no_grad()
def sample(model: GPT, prefix: torch.Tensor, n_new: int, vocab_range: tuple[int, int], temperature: float = 1.0,
           top_k: int | None = None, generator: torch.Generator | None = None, use_cache: bool = True,
           unconditional_prefix: torch.Tensor | None = None, guidance_scale: float = 1.0,
           condition: torch.Tensor | None = None) -> torch.Tensor:
    """Continue ``prefix`` (B, P) by ``n_new`` tokens drawn from ``vocab_range`` = [low, high); returns (B, n_new).

    ``use_cache=False`` recomputes the whole sequence each step (the slow reference). With an
    ``unconditional_prefix`` (B, P), logits are pushed away from it by ``guidance_scale`` (classifier-free guidance).
    ``condition`` (B, width) is passed to the model (added at position 0); not combined with guidance.
    """
    assert condition is None or unconditional_prefix is None, "guidance with a condition vector is not supported"
    low, high = vocab_range
    check_sampling(temperature, top_k, high - low)
    if prefix.shape[1] + n_new > model.config.block_size:
        raise ValueError(f"{prefix.shape[1]} prefix tokens + {n_new} new exceed the model's {model.config.block_size}.")
    batch = len(prefix)
    if unconditional_prefix is not None:
        assert unconditional_prefix.shape == prefix.shape, "the unconditional prefix must match the prefix"
        prefix = torch.cat([prefix, unconditional_prefix])  # (2B, P): one forward pass serves both
    cache = model.new_cache(len(prefix)) if use_cache else None
    sequence, new_tokens = prefix, []
    logits = model(prefix, cache, condition)[:, -1, low:high]  # (B or 2B, high - low)
    for step in range(n_new):
        if unconditional_prefix is not None:
            logits = guided_logits(logits, guidance_scale)  # (B, high - low)
        token = pick_tokens(logits, temperature, top_k, generator) + low  # (B,)
        new_tokens.append(token)
        if step == n_new - 1:
            break
        fed = token.repeat(len(prefix) // batch)[:, None]  # (B or 2B, 1): the same token for both halves
        if use_cache:
            logits = model(fed, cache)[:, -1, low:high]
        else:
            sequence = torch.cat([sequence, fed], dim=1)  # (B or 2B, P + step + 1)
            logits = model(sequence, condition=condition)[:, -1, low:high]
    return torch.stack(new_tokens, dim=1)  # (B, n_new)
