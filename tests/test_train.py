"""train.py: the tiny-CLIP training loop, its schedule, its settings, and the train-clip command."""
import math

import numpy as np
import pytest
import torch

from mmlesson import config, shapes, train
from mmlesson.cli import main
from mmlesson.models import TinyClipConfig, build_tiny

SMALL = dict(steps=4, batch_size=16, train_images=64, eval_images=30, eval_every=2)
SMALL_MODEL = TinyClipConfig(channels=(8, 8, 8, 8), embed_dim=16, text_width=16, text_layers=1, text_heads=2)


def test_schedule_warms_up_linearly_then_decays_to_zero():
    factors = [train.learning_rate_factor(step, 100, 0.1) for step in range(100)]
    assert factors[:10] == pytest.approx([(step + 1) / 10 for step in range(10)])
    assert factors[10] == pytest.approx(1.0) and factors[-1] < 0.01
    assert all(later <= earlier for earlier, later in zip(factors[10:], factors[11:]))


def test_pixels_are_normalised_like_preprocess():
    model = build_tiny(SMALL_MODEL)
    batch = shapes.make_shapes(3, seed=0)
    expected = torch.stack([model.preprocess(image) for image in batch.pil_images()])
    torch.testing.assert_close(train.pixels_from_uint8(batch.images, model), expected)


def test_training_records_history_and_repeats_under_a_seed(monkeypatch):
    asked = []  # how often a run asks for its thread count: once, so a load change mid-run cannot change it
    monkeypatch.setattr(config, "large_work_threads", lambda: asked.append(1) or 1)
    cfg = train.TrainConfig(**SMALL, seed=3)
    first = train.train_clip(cfg, SMALL_MODEL, progress=False)
    again = train.train_clip(cfg, SMALL_MODEL, progress=False)
    assert first.threads == again.threads == 1 and len(asked) == 2
    assert [row["step"] for row in first.history] == [2, 4] and len(first.losses) == 4
    assert all(math.isfinite(loss) for loss in first.losses)
    assert {"zero_shot", "held_out", "loss", "seconds"} <= set(first.history[-1])
    assert first.losses == again.losses  # deterministic under the seed
    assert not first.model.torch_model.training  # returned ready to use


def test_a_training_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = build_tiny(SMALL_MODEL)
    batch = shapes.make_shapes(32, seed=1)
    pixels = train.pixels_from_uint8(batch.images, model)
    optimizer = torch.optim.AdamW(model.torch_model.parameters(), lr=3e-3)
    losses = [train.training_step(model, pixels, batch.captions, optimizer) for _ in range(15)]
    assert losses[-1] < losses[0] - 0.1


@pytest.mark.parametrize("option", ["steps", "batch_size", "train_images", "eval_images", "eval_every"])
@pytest.mark.parametrize("value", [0, -1])
def test_settings_refuse_non_positive_counts(option, value):
    with pytest.raises(ValueError, match=f"{option} must be 1 or more"):
        train.TrainConfig(**{option: value})


def test_settings_refuse_a_batch_larger_than_the_pool_and_bad_seconds():
    with pytest.raises(ValueError, match="larger than train_images"):
        train.TrainConfig(batch_size=64, train_images=32)
    with pytest.raises(ValueError, match="seconds must be a positive"):
        train.steps_for_seconds(-5, train.TrainConfig())


@pytest.mark.parametrize("command", ["train-clip", "train-vqgan", "train-judge"])
@pytest.mark.parametrize("option", ["--steps", "--batch-size"])
@pytest.mark.parametrize("value", ["-1", "0", "two"])
def test_training_commands_refuse_bad_counts_before_training(command, option, value, tmp_path, capsys):
    out = tmp_path / "model.safetensors"
    with pytest.raises(SystemExit) as exited:
        main([command, option, value, "--out", str(out)])
    assert exited.value.code == 2 and not out.exists()  # nothing trained, nothing saved
    assert option in capsys.readouterr().err


def test_train_clip_command_trains_and_saves(tmp_path, monkeypatch, capsys):
    original = train.TrainConfig
    monkeypatch.setattr(train, "TrainConfig", lambda **options: original(**{**SMALL, **options}))
    out = tmp_path / "clip.safetensors"
    assert main(["train-clip", "--steps", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.exists() and "step     2" in printed and "saved" in printed


def test_true_captions_accept_every_caption_that_fits_the_image():
    attributes = [shapes.ShapeAttributes("circle", "red", "small", "on the left"),
                  shapes.ShapeAttributes("circle", "blue", "large", "at the top"),
                  shapes.ShapeAttributes("star", "red", "small", "on the left")]
    captions = ["a circle", "a photo of a large blue circle at the top", "a small red star on the left"]
    matches = train.true_captions(attributes, captions)
    assert matches.tolist() == [[True, False, False], [True, True, False], [False, False, True]]


def test_hard_negatives_pair_each_anchor_with_the_same_color_and_another_shape():
    pool = shapes.make_shapes(400, seed=5, holdout=shapes.DEFAULT_HOLDOUT)
    cfg = train.TrainConfig(batch_size=64, train_images=400, hard_negative_fraction=0.25)
    draw = train.BatchSampler(pool.attributes, cfg, np.random.default_rng(0))
    index = draw()
    assert len(index) == 64 and len(set(index[:48])) == 48  # anchors are distinct pool images
    for anchor, partner in zip(index[:16], index[48:]):
        assert pool.attributes[partner].color == pool.attributes[anchor].color
        assert pool.attributes[partner].shape != pool.attributes[anchor].shape


def test_plain_batches_draw_like_before():
    cfg = train.TrainConfig(batch_size=32, train_images=100)
    pool = shapes.make_shapes(100, seed=0)
    drawn = train.BatchSampler(pool.attributes, cfg, np.random.default_rng(7))()
    assert drawn.tolist() == np.random.default_rng(7).choice(100, size=32, replace=False).tolist()


@pytest.mark.parametrize("image_bfloat16", [False, True])
def test_true_caption_loss_and_bfloat16_images_still_learn(image_bfloat16):
    torch.manual_seed(0)
    model = build_tiny(SMALL_MODEL)
    batch = shapes.make_shapes(32, seed=1)
    pixels = train.pixels_from_uint8(batch.images, model)
    optimizer = torch.optim.AdamW(model.torch_model.parameters(), lr=3e-3)
    matches = train.true_captions(batch.attributes, batch.captions)
    losses = [train.training_step(model, pixels, batch.captions, optimizer, image_bfloat16, matches) for _ in range(15)]
    assert losses[-1] < losses[0] - 0.1


def test_true_caption_loss_equals_the_clip_loss_when_captions_are_distinct():
    torch.manual_seed(0)
    image_features = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    text_features = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    expected = train.clip_loss(image_features, text_features, 10.0)
    torch.testing.assert_close(train.true_caption_loss(image_features, text_features, 10.0, torch.eye(6)), expected)


@pytest.mark.parametrize("options, message", [(dict(positives="all"), "positives 'all' is not one of"),
                                              (dict(hard_negative_fraction=0.6), "hard_negative_fraction must be")])
def test_settings_refuse_unknown_positives_and_too_many_hard_negatives(options, message):
    with pytest.raises(ValueError, match=message):
        train.TrainConfig(**options)
