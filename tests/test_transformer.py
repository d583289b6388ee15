"""mmlesson.transformer: causality, axial positions, the KV cache gives the same outputs, sampling settings."""
from __future__ import annotations

import pytest
import torch

from mmlesson.transformer import GPT, GPTConfig, causal_mask, check_sampling, sample, top_k_filter

CONFIG = GPTConfig(vocab_size=40, prefix_length=3, grid_size=4, n_layers=2, n_heads=2, width=32)
CODES = (8, 40)  # the vocabulary range that image positions may sample


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(CONFIG).eval()


def test_logits_cover_the_vocabulary_and_ignore_the_future(model):
    tokens = torch.randint(0, 40, (2, CONFIG.block_size))
    logits = model(tokens)
    assert logits.shape == (2, CONFIG.block_size, 40)
    changed = tokens.clone()
    changed[:, 10:] = (changed[:, 10:] + 1) % 40
    assert torch.allclose(model(changed)[:, :10], logits[:, :10], atol=1e-6)  # earlier positions cannot see later
    assert not torch.allclose(model(changed)[:, 10:], logits[:, 10:])


def test_causal_mask_lets_each_query_see_the_past_and_itself():
    assert causal_mask(0, 3, "cpu").tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert causal_mask(2, 1, "cpu").tolist() == [[True, True, True]]


def test_grid_positions_are_row_plus_column(model):
    positions = model.position_embeddings()
    assert positions.shape == (CONFIG.block_size, CONFIG.width)
    row, column = 2, 3
    grid_index = CONFIG.prefix_length + row * CONFIG.grid_size + column
    assert torch.allclose(positions[grid_index], model.row_embedding[row] + model.column_embedding[column])
    assert torch.equal(positions[:CONFIG.prefix_length], model.prefix_positions)


def test_cached_forward_matches_the_full_forward(model):
    tokens = torch.randint(0, 40, (3, CONFIG.block_size))
    full = model(tokens)
    cache = model.new_cache(3)
    steps = [model(tokens[:, :5], cache)] + [model(tokens[:, i:i + 1], cache) for i in range(5, CONFIG.block_size)]
    assert cache.length == CONFIG.block_size
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


@pytest.mark.parametrize("top_k", [None, 5])
def test_kv_cache_sampling_gives_exactly_the_same_tokens(model, top_k):
    prefix = torch.randint(0, 8, (6, CONFIG.prefix_length))
    draws = [sample(model, prefix, 16, CODES, temperature=1.0, top_k=top_k,
                    generator=torch.Generator().manual_seed(7), use_cache=use_cache) for use_cache in (True, False)]
    assert draws[0].shape == (6, 16) and torch.equal(draws[0], draws[1])
    assert draws[0].min() >= CODES[0] and draws[0].max() < CODES[1]


def test_top_1_is_greedy_and_guidance_of_1_is_plain_sampling(model):
    prefix = torch.randint(0, 8, (4, CONFIG.prefix_length))
    greedy = sample(model, prefix, 4, CODES, top_k=1)
    logits = model(prefix)[:, -1, CODES[0]:CODES[1]]
    assert torch.equal(greedy[:, 0], logits.argmax(1) + CODES[0])
    plain = sample(model, prefix, 8, CODES, generator=torch.Generator().manual_seed(3))
    guided = sample(model, prefix, 8, CODES, generator=torch.Generator().manual_seed(3),
                    unconditional_prefix=torch.zeros_like(prefix), guidance_scale=1.0)
    assert torch.equal(plain, guided)


def test_bad_sampling_settings_are_named():
    with pytest.raises(ValueError, match="temperature must be a number > 0"):
        check_sampling(0.0, None, 256)
    with pytest.raises(ValueError, match="top_k must be an integer from 1 to 256"):
        check_sampling(1.0, 300, 256)
    with pytest.raises(ValueError, match="top_k"):
        check_sampling(1.0, 0, 256)


def test_top_k_filter_keeps_the_k_largest_logits_per_row():
    logits = torch.tensor([[0.5, 2.0, -1.0, 1.0], [3.0, 0.0, 0.0, -2.0]])
    filtered = top_k_filter(logits, 2)
    assert torch.isinf(filtered).sum() == 3  # two in the first row, one in the second (a tie is kept)
    assert filtered[0].tolist()[1] == 2.0 and filtered[0].tolist()[3] == 1.0
    assert torch.isinf(filtered[0, [0, 2]]).all() and (filtered[0, [0, 2]] < 0).all()
    assert filtered[1, 0] == 3.0 and torch.isinf(filtered[1, 3])
    assert filtered[1, 1] == 0.0 and filtered[1, 2] == 0.0  # a tie with the k-th largest is kept
