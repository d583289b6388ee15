"""Tests for the independent Shapes judge."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from mmlesson import checkpoints, judge as judge_module
from mmlesson.cli import train_judge_command
from mmlesson.judge import COLOR_NAMES, JudgeConfig, ShapesJudge, Verdict, as_pixels, augment, judge
from mmlesson.shapes import SHAPES, make_shapes

BUNDLED = judge_module.CHECKPOINT_NAME in checkpoints.registry()


def test_inputs_of_every_kind_become_32px_batches():
    images = make_shapes(3, seed=1).images  # (3, 32, 32, 3) uint8
    from_array = as_pixels(images)
    assert from_array.shape == (3, 3, 32, 32) and from_array.dtype == torch.float32
    assert torch.allclose(as_pixels([Image.fromarray(image) for image in images]), from_array)
    assert torch.allclose(as_pixels(Image.fromarray(images[0])), from_array[:1])
    assert torch.allclose(as_pixels(from_array[0]), from_array[:1])
    assert as_pixels(make_shapes(2, seed=1, image_size=64).images).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("bad, words", [(np.zeros((2, 32, 32, 3), np.float32), "uint8"),
                                        (torch.zeros(2, 1, 32, 32), "(batch, 3, height, width)"), ([], "empty"),
                                        ("image.png", "takes a tensor")])
def test_bad_inputs_get_clear_errors(bad, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        as_pixels(bad)


def test_augmentation_keeps_range_and_repeats_under_a_seed():
    pixels = as_pixels(make_shapes(8, seed=2).images)
    first = augment(pixels, JudgeConfig(), torch.Generator().manual_seed(0))
    second = augment(pixels, JudgeConfig(), torch.Generator().manual_seed(0))
    assert first.shape == pixels.shape and 0 <= first.min() and first.max() <= 1
    assert torch.equal(first, second) and not torch.allclose(first, pixels)


def test_blur_with_zero_sigma_changes_nothing():
    pixels = torch.rand(2, 3, 8, 8)
    assert torch.allclose(judge_module.gaussian_blur(pixels, torch.zeros(2)), pixels, atol=1e-6)


def test_two_heads_and_verdicts():
    model = ShapesJudge(width=4)
    color_logits, shape_logits = model(torch.rand(5, 3, 32, 32))
    assert color_logits.shape == (5, len(COLOR_NAMES)) and shape_logits.shape == (5, len(SHAPES))
    verdicts = judge(make_shapes(5, seed=3).images, model=model)
    assert len(verdicts) == 5 and all(isinstance(v, Verdict) for v in verdicts)
    assert all(v.color in COLOR_NAMES and v.shape in SHAPES and 0 < v.confidence <= 1 for v in verdicts)


def test_training_command_saves_a_loadable_judge(tmp_path, monkeypatch):
    monkeypatch.setattr(judge_module, "JudgeConfig", lambda: JudgeConfig(width=4, steps=3, batch_size=8, pool_size=64))
    monkeypatch.setattr(judge_module, "accuracy", lambda model: {"color": 0.0, "shape": 0.0, "joint": 0.0})
    out = tmp_path / "judge.safetensors"
    assert train_judge_command(SimpleNamespace(seed=1, out=str(out), register=False)) == 0
    loaded = judge_module.load_judge(str(out))
    assert loaded.width == 4
    tensors, metadata = checkpoints.load_state(out)
    assert metadata["seed"] == 1 and metadata["config"]["steps"] == 3
    pixels = torch.rand(2, 3, 32, 32)
    assert torch.isfinite(torch.cat(loaded(pixels), 1)).all()


@pytest.mark.skipif(not BUNDLED, reason="data/shapes-judge.safetensors is not trained/registered yet "
                                        "(python -m mmlesson train-judge --register)")
def test_bundled_judge_is_accurate_on_fresh_shapes():
    batch = make_shapes(600, seed=424_242)
    verdicts = judge(batch.images)
    right = [(v.color, v.shape) == (a.color, a.shape) for v, a in zip(verdicts, batch.attributes)]
    assert np.mean(right) >= 0.95
    assert judge_module.parameter_count(judge_module.load_judge()) < 250_000  # stays well under 1 MB


@pytest.mark.skipif(not BUNDLED, reason="data/shapes-judge.safetensors is not trained/registered yet")
def test_bundled_judge_survives_noise_and_blur():
    batch = make_shapes(300, seed=515_151)
    pixels = as_pixels(batch.images)
    noisy = (judge_module.gaussian_blur(pixels, torch.full((300,), 0.8)) + 0.06 * torch.randn(pixels.shape)).clamp(0, 1)
    verdicts = judge(noisy)
    right = [(v.color, v.shape) == (a.color, a.shape) for v, a in zip(verdicts, batch.attributes)]
    assert np.mean(right) >= 0.9


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    checkpoints.save_state({"weight": torch.zeros(2, 2)}, path, {"kind": "something else"})
    with pytest.raises(checkpoints.CheckpointError, match="not a Shapes judge"):
        judge_module.load_judge(str(path))
