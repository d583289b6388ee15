"""mmlesson.unclip: the prior stays on the sphere, the decoder's cache, variations, the prior's measure, loading."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from mmlesson import checkpoints, unclip, vqgan
from mmlesson.models import load_clip
from mmlesson.shapes import make_shapes

SMALL = dict(prior_steps=5, decoder_steps=3, train_images=40, n_layers=1, width=32, n_heads=2)


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    clip = load_clip("tiny-shapes", device="cpu")
    codes_model = vqgan.VQGAN(vqgan.VQGAN_CONFIGS["tiny-shapes-8x8"]).eval()
    model, summary = unclip.train_unclip(unclip.UnclipConfig(**SMALL), progress=False, clip=clip, vqgan=codes_model)
    return model, summary, clip, codes_model


def test_prior_maps_onto_the_unit_sphere(parts):
    model = parts[0]
    predicted = model.prior(torch.nn.functional.normalize(torch.randn(5, 128), dim=1))
    assert predicted.shape == (5, 128) and torch.allclose(predicted.norm(dim=1), torch.ones(5), atol=1e-5)


def test_decoder_cache_gives_the_same_codes(parts):
    decoder = parts[0].decoder
    embeddings = torch.nn.functional.normalize(torch.randn(3, 128), dim=1)
    draws = [decoder.sample_codes(embeddings, generator=torch.Generator().manual_seed(4), use_cache=use_cache)
             for use_cache in (True, False)]
    assert torch.equal(draws[0], draws[1]) and draws[0].shape == (3, 64) and draws[0].max() < 256


def test_prior_measure_reports_the_text_baseline(parts):
    model, _, clip, _ = parts
    report = unclip.prior_cosines(model, clip, n_images=60, seed=3)
    assert {"prior", "text_baseline", "prior_held_out", "text_baseline_held_out"} <= set(report)
    assert all(-1 <= value <= 1 for key, value in report.items() if key != "images")


def test_variations_and_generation(parts):
    model, _, clip, codes_model = parts
    images = unclip.variations(model, clip, codes_model, make_shapes(1, seed=2).images[0], n=3)
    assert images.shape == (3, 3, 32, 32)
    best, scores = unclip.generate_images(model, codes_model, clip, ["a red star"], candidates=2)
    assert best.shape == (1, 3, 32, 32) and scores.shape == (1,)
    with pytest.raises(ValueError, match="1 or more"):
        unclip.variations(model, clip, codes_model, make_shapes(1, seed=2).images[0], n=0)
    with pytest.raises(ValueError, match="1 or more"):
        unclip.generate_images(model, codes_model, clip, ["a red star"], candidates=0)


def test_checkpoints_round_trip_and_refuse_other_kinds(parts, tmp_path):
    model = parts[0]
    path = tmp_path / "unclip.safetensors"
    unclip.save_unclip(model, path, {})
    assert all(torch.equal(a, b) for a, b in zip(unclip.load_unclip(path).state_dict().values(),
                                                 model.state_dict().values()))
    other = tmp_path / "other.safetensors"
    checkpoints.save_state({"weight": torch.ones(1)}, other, {"kind": "mini-dalle"})
    with pytest.raises(checkpoints.CheckpointError, match="not an unCLIP"):
        unclip.load_unclip(other)
    with pytest.raises(ValueError, match="unknown unCLIP"):
        unclip.load_unclip("dall-e-2")


def test_a_tokenizer_with_another_codebook_size_is_named_with_both_sizes(parts):
    model, _, clip, codes_model = parts
    other = vqgan.VQGAN(replace(codes_model.config, n_embed=model.config.n_codes * 2)).eval()
    expected = f"{model.config.n_codes}-code tokenizer.*has {model.config.n_codes * 2} codes"
    with pytest.raises(checkpoints.CheckpointError, match=expected):
        unclip.generate_images(model, other, clip, ["a red star"], candidates=1)
    with pytest.raises(checkpoints.CheckpointError, match=expected):
        unclip.variations(model, clip, other, make_shapes(1, seed=2).images[0], n=1)
