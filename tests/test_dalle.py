"""mmlesson.dalle: token layout, segment masks, weighted losses, determinism, prompts, sampling, checkpoints."""
from __future__ import annotations

import warnings
from dataclasses import replace

import pytest
import torch

from mmlesson import checkpoints, dalle, vqgan
from mmlesson.shapes import make_shapes

SMALL = dict(n_layers=1, width=32, n_heads=2, steps=3, batch_size=4, train_images=24)


@pytest.fixture(scope="module")
def random_vqgan():
    torch.manual_seed(0)
    return vqgan.VQGAN(vqgan.VQGAN_CONFIGS["tiny-shapes-8x8"]).eval()


@pytest.fixture(scope="module")
def small_model(random_vqgan):
    model, summary = dalle.train_dalle(dalle.DalleConfig(**SMALL), seed=0, progress=False, vqgan=random_vqgan)
    return model


def test_each_text_position_has_its_own_pad_token():
    layout = dalle.layout_for(dalle.DalleConfig())
    text = layout.text_tokens(["a red star", "a large blue circle on the left"])
    assert text.shape == (2, 12)
    assert text[0, 5:].tolist() == [layout.pad_start + i for i in range(5, 12)]  # <sot> a red star <eot> then pads
    assert text[1, 9:].tolist() == [layout.pad_start + i for i in range(9, 12)]
    assert layout.code_start == layout.pad_start + 12 and layout.vocab_size == layout.code_start + 256


def test_targets_are_masked_by_segment():
    layout = dalle.layout_for(dalle.DalleConfig())
    masks = layout.target_masks(12 + 64 - 1)
    assert masks[:11, :layout.code_start].all() and not masks[:11, layout.code_start:].any()  # text predicts text
    assert masks[11:, layout.code_start:].all() and not masks[11:, :layout.code_start].any()  # then codes


def test_losses_are_logged_separately_and_weighted_seven_to_one(small_model):
    codes = torch.randint(0, 256, (2, 64))
    stream = small_model.layout.stream(small_model.layout.text_tokens(["a red star", "a cross"]), codes)
    text_loss, image_loss = small_model.losses(stream)
    assert text_loss.item() > 0 and image_loss.item() > 0
    weighted = small_model.weighted_loss(text_loss, image_loss)
    assert torch.isclose(weighted, text_loss / 8 + image_loss * 7 / 8)


def test_training_is_deterministic_under_a_seed(random_vqgan, small_model):
    again, summary = dalle.train_dalle(dalle.DalleConfig(**SMALL), seed=0, progress=False, vqgan=random_vqgan)
    for (name, first), second in zip(small_model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(first, second), name
    assert {"text_loss", "image_loss"} <= set(summary["history"][0])


def test_bad_prompts_are_named(small_model):
    with pytest.raises(ValueError, match="non-empty"):
        dalle.prompt_tokens(small_model.layout, ["  "])
    with pytest.warns(UserWarning, match="'zebra'"):
        dalle.prompt_tokens(small_model.layout, ["a red zebra"])
    with pytest.warns(UserWarning, match="truncated"):
        text = dalle.prompt_tokens(small_model.layout, ["a photo of a large red star on the left at the top"])
    assert text.shape == (1, 12)


def test_candidates_must_be_positive(small_model, random_vqgan):
    with pytest.raises(ValueError, match="1 or more"):
        dalle.generate_images(small_model, random_vqgan, None, ["a red star"], candidates=0)


def test_cached_and_uncached_sampling_agree(small_model):
    text = dalle.prompt_tokens(small_model.layout, ["a red star", "a blue cross"])
    draws = [dalle.sample_codes(small_model, text, 64, dalle.SamplingConfig(use_cache=use_cache, guidance_scale=2.0),
                                torch.Generator().manual_seed(1)) for use_cache in (True, False)]
    assert torch.equal(draws[0], draws[1]) and draws[0].shape == (2, 64) and draws[0].max() < 256


def test_lower_half_completion_and_stage_2(random_vqgan):
    stage2, _ = dalle.train_dalle(dalle.DalleConfig(conditional=False, text_length=1, **SMALL), progress=False,
                                  vqgan=random_vqgan)
    images = make_shapes(3, seed=5).images
    completed = dalle.complete_lower_half(stage2, random_vqgan, images)
    assert completed.shape == (3, 3, 32, 32) and 0 <= completed.min() and completed.max() <= 1
    assert dalle.sample_unconditional(stage2, random_vqgan, 2).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="text_length must be 1"):
        dalle.DalleConfig(conditional=False)


def test_checkpoint_round_trip_and_clear_errors(small_model, tmp_path):
    path = tmp_path / "dalle.safetensors"
    dalle.save_dalle(small_model, path, {"note": "test"})
    loaded = dalle.load_dalle(path)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), small_model.state_dict().values()))
    other = tmp_path / "other.safetensors"
    checkpoints.save_state({"weight": torch.ones(2)}, other, {"kind": "tiny-clip"})
    with pytest.raises(checkpoints.CheckpointError, match="not a mini DALL-E"):
        dalle.load_dalle(other)
    state = dict(small_model.state_dict())
    state.pop("gpt.head.weight")
    config = small_model.config.__dict__ | {"holdout": []}
    checkpoints.save_state(state, other, {"kind": "mini-dalle", "config": config})
    with pytest.raises(checkpoints.CheckpointError, match="does not fit"):
        dalle.load_dalle(other)
    with pytest.raises(checkpoints.CheckpointError, match="does not exist"):
        dalle.load_dalle(tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="unknown mini DALL-E"):
        dalle.load_dalle("dall-e-3")


def test_a_tokenizer_with_another_codebook_size_is_named_with_both_sizes(small_model):
    other = vqgan.VQGAN(replace(vqgan.VQGAN_CONFIGS["tiny-shapes-8x8"], n_embed=small_model.config.n_codes * 2)).eval()
    expected = f"{small_model.config.n_codes}-code tokenizer.*has {small_model.config.n_codes * 2} codes"
    with pytest.raises(checkpoints.CheckpointError, match=expected):
        dalle.generate_images(small_model, other, None, ["a red star"], candidates=1)
    with pytest.raises(checkpoints.CheckpointError, match=expected):
        dalle.complete_lower_half(small_model, other, make_shapes(1, seed=5).images)
    with pytest.raises(checkpoints.CheckpointError, match=expected):
        dalle.train_dalle(dalle.DalleConfig(**SMALL), progress=False, vqgan=other)


def test_candidates_report_separates_one_sample_pick_any_and_held_out(small_model):
    rows = [("a red star", "red", "star"), ("a green star", "green", "star")]
    blank = torch.zeros(2, 3, 3, 32, 32)  # (P, N, 3, H, W): nothing drawn, so nothing passes
    real = torch.from_numpy(make_shapes(400, seed=3, only=[("red", "star")]).images[:1]).permute(0, 3, 1, 2) / 255
    blank[0, 2] = real[0]  # the third candidate of the first prompt is a real red star
    report = dalle.candidates_report(blank, StandInClip(pick=2), rows, holdout=(("green", "star"),))
    assert report["one_sample"] == 0 and report["any_of_n"] == 0.5 and report["clip_pick"] == 0.5
    assert report["random_candidate"] == round(1 / 6, 3) and report["any_of_n_held_out"] == 0
    assert report["images"] == 2 and report["candidates"] == 3


class StandInClip:
    """Scores candidate ``pick`` highest for every prompt."""

    def __init__(self, pick: int):
        self.pick = pick

    def embed_pixels(self, images):
        embeddings = torch.zeros(len(images), 2)
        embeddings[:, 1] = 1
        embeddings[self.pick] = torch.tensor([1.0, 0.0])
        return embeddings

    def encode_texts(self, texts):
        return torch.tensor([[1.0, 0.0]])
