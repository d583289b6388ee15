"""The strict measure: fresh Shapes pass, nonsense fails, bad input gets a clear message."""
import numpy as np
import pytest
import torch

from mmlesson import controls
from mmlesson.measure import (ANYTHING, check_image, check_images, parse_target, pass_rate, shows_any_shape,
                              Target)
from mmlesson.shapes import make_shapes
from mmlesson.vqgan import load_vqgan

N = 40  # images per set: enough for a rate, small enough for a unit test


@pytest.fixture(scope="module")
def vqgan():
    return load_vqgan("tiny-shapes", "cpu")


def test_fresh_shapes_pass_with_their_color_and_shape():
    batch = make_shapes(N, seed=8_080_808)
    verdicts = check_images(batch.images, [f"a {a.color} {a.shape}" for a in batch.attributes])
    assert pass_rate(verdicts) >= 0.97, [v.reason for v in verdicts if not v.passed]
    assert all(v.color == a.color and v.shape == a.shape for v, a in zip(verdicts, batch.attributes) if v.passed)


def test_full_captions_check_size_and_position():
    batch = make_shapes(N, seed=8_080_809)
    right = [f"a {a.size} {a.color} {a.shape} {a.position}" for a in batch.attributes]
    assert pass_rate(check_images(batch.images, right)) >= 0.97
    other_size = {"small": "large", "large": "small"}
    wrong = [f"a {other_size[a.size]} {a.color} {a.shape}" for a in batch.attributes]
    assert pass_rate(check_images(batch.images, wrong)) <= 0.05


def test_wrong_color_or_shape_fails():
    batch = make_shapes(N, seed=8_080_810)
    wrong_color = ["a " + ("blue" if a.color != "blue" else "red") + f" {a.shape}" for a in batch.attributes]
    wrong_shape = [f"a {a.color} " + ("cross" if a.shape != "cross" else "circle") for a in batch.attributes]
    assert pass_rate(check_images(batch.images, wrong_color)) == 0
    assert pass_rate(check_images(batch.images, wrong_shape)) <= 0.05


@pytest.mark.parametrize("name", ["random codes", "step-0 frames", "shuffled codes", "two shapes, same color",
                                  "two shapes, two colors", "fragments", "color blobs"])
def test_negative_controls_fail_for_every_prompt(vqgan, name):
    images = controls.all_controls(vqgan, N, seed=4242)[name]
    assert pass_rate(shows_any_shape(images)) <= 0.05


def test_prompt_without_a_shape_is_not_scorable():
    image = make_shapes(1, seed=1).images[0]
    verdict = check_image(image, "a lighthouse at dusk")
    assert not verdict.scorable and not verdict.passed and "not scorable" in str(verdict)
    assert not check_image(image, "a red star and a blue circle").scorable
    assert np.isnan(pass_rate([verdict]))


def test_parse_target():
    assert parse_target("a large red star on the left") == Target("red", "star", "large", "on the left")
    assert parse_target("A photo of a GREEN cross") == Target("green", "cross")
    assert parse_target(ANYTHING) == Target(None, None)
    with pytest.raises(ValueError, match="string"):
        parse_target(3)


def test_accepts_floats_and_rejects_bad_images():
    batch = make_shapes(2, seed=5)
    as_floats = torch.from_numpy(batch.images).permute(0, 3, 1, 2).float() / 255  # (2, 3, 32, 32)
    prompts = [f"a {a.color} {a.shape}" for a in batch.attributes]
    assert [v.passed for v in check_images(as_floats, prompts)] == [v.passed for v in check_images(batch.images, prompts)]
    with pytest.raises(ValueError, match="32x32"):
        check_images(np.zeros((1, 64, 64, 3), np.uint8), "a red star")
    with pytest.raises(ValueError, match="uint8"):
        check_images(np.zeros((1, 32, 32, 3), np.int32), "a red star")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        check_images(as_floats * 255, prompts)
    with pytest.raises(ValueError, match="NaN"):
        check_images(as_floats * float("nan"), prompts)
    with pytest.raises(ValueError, match="one per image"):
        check_images(batch.images, ["a red star"] * 3)
