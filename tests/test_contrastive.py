"""Tests for mmlesson.contrastive: NumPy == torch == open_clip, multi-positive targets, bad input, ClipLoss."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from open_clip.loss import ClipLoss as OpenClipLoss

from mmlesson import contrastive
from mmlesson.contrastive import (ClipLoss, clip_loss, cosine_similarity_matrix, get_ground_truth, get_logits,
                                  info_nce, multi_positive_targets)

CAPTIONS = ["a red circle", "a blue square", "a red circle", "a green star", "a red circle", "a blue square"]


def random_features(n: int, dim: int, seed: int = 0, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of normalised (image_features, text_features) where pair i is correlated."""
    generator = torch.Generator().manual_seed(seed)
    image_features = torch.randn(n, dim, generator=generator, dtype=dtype)
    text_features = image_features + torch.randn(n, dim, generator=generator, dtype=dtype)
    return F.normalize(image_features, dim=-1), F.normalize(text_features, dim=-1)


def as_numpy(*tensors: torch.Tensor) -> list[np.ndarray]:
    return [tensor.detach().numpy() for tensor in tensors]


# --- NumPy and torch agree ---

def test_cosine_similarity_matrix_numpy_and_torch_agree_and_normalise():
    generator = torch.Generator().manual_seed(1)
    image_embeddings = 3 * torch.randn(5, 8, generator=generator, dtype=torch.float64)  # not normalised
    text_embeddings = torch.randn(3, 8, generator=generator, dtype=torch.float64)
    from_torch = cosine_similarity_matrix(image_embeddings, text_embeddings)
    from_numpy = cosine_similarity_matrix(*as_numpy(image_embeddings, text_embeddings))
    expected = F.cosine_similarity(image_embeddings[:, None], text_embeddings[None, :], dim=-1)  # (5, 3)
    assert from_torch.shape == (5, 3) and isinstance(from_numpy, np.ndarray)
    torch.testing.assert_close(from_torch, expected)
    np.testing.assert_allclose(from_numpy, expected.numpy(), atol=1e-12)


def test_get_logits_numpy_and_torch_agree():
    image_features, text_features = random_features(6, 16)
    logits_per_image, logits_per_text = get_logits(image_features, text_features, 14.3)
    numpy_per_image, numpy_per_text = get_logits(*as_numpy(image_features, text_features), 14.3)
    np.testing.assert_allclose(numpy_per_image, logits_per_image.numpy(), atol=1e-12)
    np.testing.assert_allclose(numpy_per_text, numpy_per_image.T)
    torch.testing.assert_close(logits_per_text, 14.3 * text_features @ image_features.T)


@pytest.mark.parametrize("with_targets", [False, True])
def test_clip_loss_and_info_nce_numpy_and_torch_agree(with_targets):
    image_features, text_features = random_features(len(CAPTIONS), 16, seed=2)
    targets = multi_positive_targets(CAPTIONS) if with_targets else None
    from_torch = clip_loss(image_features, text_features, 10.0, targets)
    from_numpy = clip_loss(*as_numpy(image_features, text_features), 10.0, targets)
    assert isinstance(from_torch, torch.Tensor) and from_torch.ndim == 0
    assert math.isclose(float(from_numpy), float(from_torch), rel_tol=1e-10)

    logits, _ = get_logits(image_features, text_features, 10.0)
    one_direction = targets if with_targets else get_ground_truth(len(CAPTIONS))
    assert math.isclose(float(info_nce(logits.numpy(), one_direction)), float(info_nce(logits, one_direction)),
                        rel_tol=1e-10)


def test_info_nce_matches_torch_cross_entropy():
    logits = torch.randn(7, 7, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    labels = get_ground_truth(7)
    expected = F.cross_entropy(logits, torch.as_tensor(labels))
    assert math.isclose(float(info_nce(logits.numpy(), labels)), float(expected), rel_tol=1e-10)
    assert math.isclose(float(info_nce(logits, np.eye(7))), float(expected), rel_tol=1e-10)


# --- equal to open_clip's ClipLoss (single process) ---

@pytest.mark.parametrize("batch_size", [1, 2, 7, 64, 512, 4096])
def test_clip_loss_equals_open_clip(batch_size):
    dim = 32 if batch_size > 512 else 64
    open_clip_loss = OpenClipLoss()
    for seed, logit_scale in enumerate([1.0, 14.3, 100.0]):
        image_features, text_features = random_features(batch_size, dim, seed=seed)
        ours = clip_loss(image_features, text_features, logit_scale)
        theirs = open_clip_loss(image_features, text_features, logit_scale)
        assert abs(float(ours) - float(theirs)) <= 1e-5, (batch_size, logit_scale, float(ours), float(theirs))


def test_clip_loss_equals_open_clip_in_float32_with_gradients():
    image_features, text_features = random_features(256, 64, seed=4, dtype=torch.float32)
    results = []
    for loss_function in (clip_loss, OpenClipLoss()):
        inputs = [image_features.clone().requires_grad_(), text_features.clone().requires_grad_(),
                  torch.tensor(14.3, requires_grad=True)]
        loss = loss_function(*inputs)
        loss.backward()
        results.append([loss.detach()] + [tensor.grad for tensor in inputs])
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


def test_get_ground_truth():
    np.testing.assert_array_equal(get_ground_truth(4), [0, 1, 2, 3])
    labels = get_ground_truth(3, like=torch.zeros(1))
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 1, 2]
    for bad in (0, -2, 2.5, True):
        with pytest.raises(ValueError, match="positive int"):
            get_ground_truth(bad)


# --- multi-positive targets ---

def test_multi_positive_targets_spread_over_identical_captions():
    targets = multi_positive_targets(CAPTIONS)
    assert targets.shape == (6, 6)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0)
    np.testing.assert_allclose(targets[0], [1 / 3, 0, 1 / 3, 0, 1 / 3, 0])  # three "a red circle"
    np.testing.assert_allclose(targets[1], [0, 0.5, 0, 0, 0, 0.5])
    np.testing.assert_allclose(targets[3], [0, 0, 0, 1, 0, 0])
    np.testing.assert_allclose(targets, targets.T)


def test_multi_positive_targets_from_ids_strings_and_tensors_agree():
    ids = [7, 3, 7, 1, 7, 3]  # the same grouping as CAPTIONS
    from_tensor = multi_positive_targets(torch.tensor(ids))
    assert from_tensor.dtype == torch.float32
    np.testing.assert_allclose(multi_positive_targets(ids), multi_positive_targets(CAPTIONS))
    np.testing.assert_allclose(from_tensor.numpy(), multi_positive_targets(CAPTIONS), rtol=1e-6)


def test_multi_positive_targets_with_distinct_captions_is_identity_and_plain_clip():
    captions = ["a red circle", "a blue square", "a green star", "a circle", "a small red circle"]
    np.testing.assert_array_equal(multi_positive_targets(captions), np.eye(5))
    image_features, text_features = random_features(5, 16, seed=5)
    plain = clip_loss(image_features, text_features, 14.3)
    torch.testing.assert_close(clip_loss(image_features, text_features, 14.3, multi_positive_targets(captions)), plain)
    torch.testing.assert_close(ClipLoss()(image_features, text_features, caption_ids=captions),
                               ClipLoss()(image_features, text_features))


def test_multi_positive_equals_plain_loss_when_duplicates_embed_identically():
    """Tied rows and columns average out: same value and same gradient to a shared text encoder."""
    caption_ids = torch.tensor([0, 1, 0, 2, 0, 1])
    generator = torch.Generator().manual_seed(6)
    text_table = torch.randn(3, 16, generator=generator, dtype=torch.float64, requires_grad=True)
    image_weights = torch.randn(6, 16, generator=generator, dtype=torch.float64, requires_grad=True)
    results = []
    for targets in (None, multi_positive_targets(caption_ids)):
        text_table.grad = image_weights.grad = None
        text_features = F.normalize(text_table[caption_ids], dim=-1)  # a deterministic "text encoder"
        loss = clip_loss(F.normalize(image_weights, dim=-1), text_features, 14.3, targets)
        loss.backward()
        results.append([loss.detach(), text_table.grad.clone(), image_weights.grad.clone()])
    for plain, multi in zip(*results):
        torch.testing.assert_close(plain, multi)


def test_multi_positive_loss_ignores_which_duplicate_caption_goes_with_which_image():
    """When two "a red circle" captions embed differently, swapping them must not matter; plain CLIP minds."""
    image_features, text_features = random_features(4, 16, seed=6)
    swapped = text_features[[2, 1, 0, 3]]  # pairs 0 and 2 share a caption
    targets = multi_positive_targets(["a red circle", "a blue star", "a red circle", "a cross"])
    torch.testing.assert_close(clip_loss(image_features, swapped, 14.3, targets),
                               clip_loss(image_features, text_features, 14.3, targets))
    assert abs(float(clip_loss(image_features, swapped, 14.3)) - float(clip_loss(image_features, text_features, 14.3))) > 0.1


# --- bad input gives a clear error ---

def test_bad_inputs_name_the_problem():
    image_features, text_features = random_features(4, 8)
    cases = [
        ((image_features, text_features[:3], 10.0), "mismatched batch sizes: 4 images but 3 texts"),
        ((image_features[0], text_features, 10.0), r"image_features must be 2-D .* got shape \(8,\)"),
        ((image_features, text_features[None], 10.0), "text_features must be 2-D"),
        ((image_features, text_features[:, :6], 10.0), r"different embedding dims \(8 vs 6\)"),
        ((image_features[:0], text_features[:0], 10.0), "image_features is an empty batch"),
        ((image_features.numpy(), text_features, 10.0), "pass both as NumPy arrays or both as torch tensors"),
        ((2 * image_features, text_features, 10.0), "image_features must be L2-normalised"),
        ((image_features, text_features, -1.0), "logit_scale must be a positive finite number"),
        ((image_features, text_features, torch.ones(2)), "logit_scale must be a single number"),
        ((image_features, text_features, [1.0, 2.0]), "logit_scale must be a single number"),
    ]
    for arguments, message in cases:
        with pytest.raises((ValueError, TypeError), match=message):
            clip_loss(*arguments)


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf")])
def test_non_finite_embeddings_are_refused(bad_value):
    image_features, text_features = random_features(4, 8)
    text_features = text_features.clone()
    text_features[2, 1] = bad_value
    for function in (clip_loss, get_logits):
        with pytest.raises(ValueError, match=r"text_features contains NaN or inf in 1 of 4 rows \(first bad row: 2\)"):
            function(image_features, text_features, 10.0)
    with pytest.raises(ValueError, match="text_embeddings contains NaN or inf"):
        cosine_similarity_matrix(image_features.numpy(), text_features.numpy())


def test_cosine_similarity_refuses_zero_rows_and_integer_tensors():
    with pytest.raises(ValueError, match="text_embeddings row 1 is all zeros"):
        cosine_similarity_matrix(np.ones((2, 3)), np.array([[1.0, 0, 0], [0, 0, 0]]))
    with pytest.raises(TypeError, match="must be a float tensor"):
        cosine_similarity_matrix(torch.ones(2, 3, dtype=torch.int64), torch.ones(2, 3))


def test_bad_targets_name_the_problem():
    image_features, text_features = random_features(4, 8)
    logits, _ = get_logits(image_features, text_features, 10.0)
    with pytest.raises(ValueError, match="every row summing to 1"):
        info_nce(logits, np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\)"):
        info_nce(logits, np.array([0, 1, 2, 4]))
    with pytest.raises(ValueError, match=r"got shape \(3, 3\)"):
        clip_loss(image_features, text_features, 10.0, np.eye(3))
    with pytest.raises(ValueError, match="must be an \\(n, n\\) matrix"):
        clip_loss(image_features, text_features, 10.0, np.arange(4))
    with pytest.raises(TypeError, match="not a single string"):
        multi_positive_targets("a red circle")
    with pytest.raises(ValueError, match="non-empty"):
        multi_positive_targets([])
    with pytest.raises(ValueError, match="caption_ids has 3 entries but the batch has 4"):
        ClipLoss()(image_features, text_features, caption_ids=["a", "b", "c"])


# --- the learnable temperature ---

def test_clip_loss_module_starts_at_clip_temperature_and_gets_gradient():
    loss_module = ClipLoss()
    assert math.isclose(float(loss_module.logit_scale.detach()), math.log(1 / 0.07), rel_tol=1e-6)
    assert math.isclose(loss_module.temperature, 0.07, rel_tol=1e-6)
    image_features, text_features = random_features(8, 16, seed=7, dtype=torch.float32)
    loss = loss_module(image_features, text_features, caption_ids=["a", "b", "a", "c", "d", "e", "f", "g"])
    loss.backward()
    gradient = loss_module.logit_scale.grad
    assert gradient is not None and torch.isfinite(gradient) and float(gradient) != 0.0
    expected = clip_loss(image_features, text_features, 1 / 0.07,
                         multi_positive_targets(["a", "b", "a", "c", "d", "e", "f", "g"]))
    torch.testing.assert_close(loss.detach(), expected.float())


def test_clip_loss_module_clamps_the_scale_at_100():
    loss_module = ClipLoss()
    with torch.no_grad():
        loss_module.logit_scale.fill_(math.log(1000.0))
    assert float(loss_module.scale().detach()) == pytest.approx(100.0)
    image_features, text_features = random_features(8, 16, seed=8, dtype=torch.float32)
    loss = loss_module(image_features, text_features)
    torch.testing.assert_close(loss.detach(), clip_loss(image_features, text_features, 100.0))
    loss.backward()
    assert float(loss_module.logit_scale.grad) == 0.0  # beyond the clamp the scale stops learning, as in CLIP


def test_clip_loss_module_refuses_numpy_and_bad_settings():
    with pytest.raises(TypeError, match="ClipLoss takes torch tensors"):
        ClipLoss()(*as_numpy(*random_features(2, 4)))
    with pytest.raises(ValueError, match="must be positive"):
        ClipLoss(temperature=0.0)


def test_module_constants_match_clip():
    assert contrastive.MAX_LOGIT_SCALE == 100.0 and contrastive.INIT_TEMPERATURE == 0.07
