"""mmlesson.vqgan: equivalence with taming-transformers, checkpoint loading, errors, the tiny model, the exercise."""
from __future__ import annotations

import importlib
import sys
import types
from dataclasses import replace

import pytest
import torch

from mmlesson import checkpoints, config, downloads, exercises, vqgan, vqgan_training
from mmlesson.vqgan import VQGAN, VQGAN_CONFIGS, VQGANConfig, load_vqgan

F16_16384 = VQGAN_CONFIGS["vqgan_imagenet_f16_16384"]
TAMING_DDCONFIG = dict(double_z=False, z_channels=256, resolution=256, in_channels=3, out_ch=3, ch=128,
                       ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2, attn_resolutions=[16], dropout=0.0)
SMALL = VQGANConfig(resolution=32, ch=32, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(16,),
                    z_channels=8, embed_dim=8, n_embed=16)


# --- the reference modules of taming-transformers (a test-only dependency) ---

def _einops_stand_in() -> types.ModuleType:
    """einops is not installed here; taming's quantizer only calls rearrange with these three patterns."""
    patterns = {"b c h w -> b h w c": (0, 2, 3, 1), "b h w c -> b c h w": (0, 3, 1, 2), "n d -> d n": (1, 0)}
    module = types.ModuleType("einops")
    module.rearrange = lambda tensor, pattern: tensor.permute(*patterns[pattern])
    return module


@pytest.fixture(scope="module")
def taming():
    """taming's Encoder, Decoder and VectorQuantizer2 (imported directly: taming.models needs pytorch_lightning)."""
    pytest.importorskip("taming", reason="taming-transformers-rom1504 (test-only dependency) is not installed")
    added = "einops" not in sys.modules and importlib.util.find_spec("einops") is None
    if added:
        sys.modules["einops"] = _einops_stand_in()
    try:
        model = importlib.import_module("taming.modules.diffusionmodules.model")
        quantize = importlib.import_module("taming.modules.vqvae.quantize")
    finally:
        if added:
            sys.modules.pop("einops")
    return types.SimpleNamespace(Encoder=model.Encoder, Decoder=model.Decoder,
                                 VectorQuantizer=quantize.VectorQuantizer2)


@pytest.fixture(scope="module")
def f16_pair(taming):
    """Full-size f16-16384 modules of taming with random weights, and our VQGAN loaded from their state dict."""
    torch.manual_seed(0)
    encoder, decoder = taming.Encoder(**TAMING_DDCONFIG).eval(), taming.Decoder(**TAMING_DDCONFIG).eval()
    quantizer = taming.VectorQuantizer(16384, 256, beta=0.25, sane_index_shape=True)
    quant_conv, post_quant_conv = torch.nn.Conv2d(256, 256, 1), torch.nn.Conv2d(256, 256, 1)
    state = {}
    for prefix, module in (("encoder", encoder), ("decoder", decoder), ("quantize", quantizer),
                           ("quant_conv", quant_conv), ("post_quant_conv", post_quant_conv)):
        state.update({f"{prefix}.{key}": value for key, value in module.state_dict().items()})
    ours = VQGAN(F16_16384).eval()
    ours.load_state_dict(state, strict=True)  # the same names and shapes as taming's VQModel
    reference = types.SimpleNamespace(encoder=encoder, decoder=decoder, quantizer=quantizer,
                                      quant_conv=quant_conv, post_quant_conv=post_quant_conv)
    return reference, ours


@torch.no_grad()
def test_decoder_matches_taming(f16_pair):
    reference, ours = f16_pair
    quantized = torch.randn(1, 256, 4, 4, generator=torch.Generator().manual_seed(1))
    expected = reference.decoder(reference.post_quant_conv(quantized))
    assert expected.shape == (1, 3, 64, 64)
    torch.testing.assert_close(ours.decode(quantized), expected, rtol=1e-4, atol=3e-5)  # float32 sums in another order: ~1e-5 apart


@torch.no_grad()
def test_encoder_and_quantizer_match_taming(f16_pair):
    reference, ours = f16_pair
    pixels = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2)) * 2 - 1
    latents = reference.quant_conv(reference.encoder(pixels))
    torch.testing.assert_close(ours.encode_to_latents(pixels), latents, rtol=1e-4, atol=1e-5)
    expected_quantized, expected_loss, (_, _, expected_indices) = reference.quantizer(latents)
    quantized, loss, indices = ours.encode(pixels)
    assert torch.equal(indices, expected_indices)  # (1, 4, 4): the same codes picked
    torch.testing.assert_close(quantized, expected_quantized, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(loss, expected_loss, rtol=1e-4, atol=1e-6)
    assert indices.shape == (1, 4, 4) and ours.downsample_factor == 16


# --- loading checkpoint files ---

class ModelCheckpoint:  # pickled under pytorch_lightning's name, as in the official .ckpt files
    pass


def _save_official_style(state: dict, path) -> None:
    """A taming/Lightning-style .ckpt: state_dict with loss.* entries, a callback class as a dict key."""
    module_name = "pytorch_lightning.callbacks.model_checkpoint"
    fake_module = types.ModuleType(module_name)
    ModelCheckpoint.__module__, ModelCheckpoint.__qualname__ = module_name, "ModelCheckpoint"
    fake_module.ModelCheckpoint = ModelCheckpoint
    state = {**state, "loss.discriminator.main.0.weight": torch.zeros(2, 3, 4, 4), "loss.logvar": torch.zeros(())}
    saved_modules = {name: sys.modules.get(name) for name in ("pytorch_lightning", module_name)}
    sys.modules.update({"pytorch_lightning": types.ModuleType("pytorch_lightning"), module_name: fake_module})
    try:
        torch.save({"state_dict": state, "global_step": 7, "epoch": 1,
                    "callbacks": {ModelCheckpoint: {"best_model_path": "x.ckpt"}}}, path)
    finally:
        for name, module in saved_modules.items():
            if module is None:
                del sys.modules[name]
            else:
                sys.modules[name] = module


def _lean_state(model_config: VQGANConfig, seed: int = 3) -> dict:
    """A full-shape state dict whose tensors are broadcast views of one value each: tiny on disk."""
    generator = torch.Generator().manual_seed(seed)
    shapes = {key: value.shape for key, value in VQGAN(model_config).state_dict().items()}
    return {key: (torch.randn(1, generator=generator) * 0.02).expand(shape) for key, shape in shapes.items()}


def test_official_style_ckpt_loads_strictly(tmp_path):
    state = {key: value.contiguous() for key, value in VQGAN(SMALL).state_dict().items()}
    path = tmp_path / "last.ckpt"
    _save_official_style(state, path)
    model = load_vqgan(path, device="cpu", config=SMALL)
    assert not any(key.startswith("loss.") for key in model.state_dict())
    torch.testing.assert_close(model.codebook, state["quantize.embedding.weight"])
    assert not model.training


def test_official_f16_architecture_is_inferred_from_the_codebook(tmp_path):
    path = tmp_path / "vqgan_imagenet_f16_16384.ckpt"
    _save_official_style(_lean_state(F16_16384), path)
    model = load_vqgan(path, device="cpu")
    assert model.config == F16_16384 and model.codebook.shape == (16384, 256)


def test_wrong_architecture_lists_the_keys(tmp_path):
    path = tmp_path / "other.ckpt"
    _save_official_style({key: value.contiguous() for key, value in VQGAN(SMALL).state_dict().items()}, path)
    with pytest.raises(checkpoints.CheckpointError) as caught:
        load_vqgan(path, device="cpu")  # codebook (16, 8) -> loaded as an f16 VQGAN with 16 codes: wrong
    message = str(caught.value)
    assert "mismatched shapes" in message and "encoder.conv_in.weight" in message
    assert "missing keys" in message and "expected config" in message and "ch_mult" in message


def test_missing_and_corrupt_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_vqgan(tmp_path / "nowhere.ckpt", device="cpu")
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(checkpoints.CheckpointError, match="not a readable PyTorch checkpoint"):
        load_vqgan(corrupt, device="cpu")
    truncated = tmp_path / "truncated.safetensors"
    checkpoints.save_state(VQGAN(SMALL).state_dict(), truncated, {"config": {}})
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(checkpoints.CheckpointError):
        load_vqgan(truncated, device="cpu")
    with pytest.raises(ValueError, match="unknown VQGAN"):
        load_vqgan("vqgan_imagenet_f16_9999", device="cpu")


def test_safetensors_round_trip_keeps_the_config(tmp_path):
    from dataclasses import asdict

    model = VQGAN(SMALL)
    path = tmp_path / "small.safetensors"
    checkpoints.save_state(model.state_dict(), path, {"config": asdict(SMALL)})
    loaded = load_vqgan(path, device="cpu")
    assert loaded.config == SMALL
    torch.testing.assert_close(loaded.codebook, model.codebook)


# --- downloading never hangs and says what to do ---

def test_offline_download_raises_without_touching_the_network(monkeypatch, tmp_path):
    import urllib.request

    monkeypatch.setattr(config, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(config, "OFFLINE", True)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("the network was touched"))
    with pytest.raises(FileNotFoundError) as caught:
        load_vqgan("vqgan_imagenet_f16_16384", device="cpu")
    assert "MMLESSON_OFFLINE" in str(caught.value)
    assert str(tmp_path / "vqgan" / "vqgan_imagenet_f16_16384.ckpt") in str(caught.value)


def test_failed_download_names_the_mirrors_and_the_path(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(config, "OFFLINE", False)
    dead = ("http://127.0.0.1:9/official.ckpt", "http://127.0.0.1:9/mirror.ckpt")
    official = downloads.OfficialCheckpoint(dead, ("http://127.0.0.1:9/model.yaml",), min_bytes=10)
    monkeypatch.setitem(downloads.OFFICIAL_CHECKPOINTS, "vqgan_imagenet_f16_1024", official)
    with pytest.raises(FileNotFoundError) as caught:
        downloads.download_checkpoint("vqgan_imagenet_f16_1024", progress=False)
    message = str(caught.value)
    assert dead[1] in message and str(tmp_path / "vqgan" / "vqgan_imagenet_f16_1024.ckpt") in message
    assert not list((tmp_path / "vqgan").iterdir())  # no partial file or temporary is left behind


# --- behaviour of the model ---

def test_straight_through_gradient_reaches_the_latents():
    model = VQGAN(SMALL)
    latents = torch.randn(2, SMALL.embed_dim, 3, 3, requires_grad=True)
    quantized, indices = model.quantize_latents(latents)
    torch.testing.assert_close(quantized, model.codebook[indices].permute(0, 3, 1, 2))
    weights = torch.randn_like(quantized)
    (quantized * weights).sum().backward()
    torch.testing.assert_close(latents.grad, weights)


def test_bad_inputs_give_clear_errors():
    model = VQGAN(SMALL)  # downsample factor 2
    with pytest.raises(ValueError, match="not a multiple of the VQGAN's downsampling factor 2"):
        model.encode(torch.zeros(1, 3, 31, 32))
    with pytest.raises(ValueError, match=r"\(batch, 3, height, width\)"):
        model.encode(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 16\)"):
        model.decode_indices(torch.full((1, 2, 2), 16))
    assert model.decode_indices(torch.zeros(1, 4, 4, dtype=torch.long)).shape == (1, 3, 8, 8)


def test_config_rejects_widths_the_norm_cannot_split():
    with pytest.raises(ValueError, match="norm_groups"):
        VQGANConfig(ch=20, norm_groups=32)


# --- the tiny VQGAN for Shapes ---

def test_tiny_training_runs_and_uses_the_codebook():
    settings = vqgan.TinyTrainingConfig(steps=6, batch_size=4, train_images=32, warmup_steps=2, restart_every=2,
                                        disc_start_fraction=0.5)
    model, summary = vqgan.train_tiny_vqgan(settings, seed=0, progress=False)
    metrics = vqgan.reconstruction_metrics(model, n_images=8, seed=1)
    assert set(metrics) == {"psnr_db", "perplexity", "codes_used"} and metrics["codes_used"] >= 1
    assert set(summary) == {"codes_restarted", "train_seconds", "loss_curve"}
    assert [row["step"] for row in summary["loss_curve"]] == [6]  # one point per 50 steps, and the last step
    assert not torch.equal(model.codebook, VQGAN(settings.model).codebook)  # k-means and training moved the codes


def test_cosine_lookup_picks_by_angle_and_decodes_unit_codes():
    codes = torch.tensor([[10.0, 0.0], [0.1, 0.1]])  # a long code along x, a short one at 45 degrees
    latents = torch.tensor([0.3, 0.05])[None, :, None, None]  # (1, 2, 1, 1): near the short code, at ~9 degrees
    by_distance, by_angle = (vqgan.VectorQuantizer(2, 2, 0.25, lookup) for lookup in ("euclidean", "cosine"))
    for quantizer in (by_distance, by_angle):
        quantizer.embedding.weight.data.copy_(codes)
    assert int(by_distance(latents)[2]) == 1 and int(by_angle(latents)[2]) == 0
    assert torch.allclose(by_angle(latents)[0].flatten(), torch.tensor([1.0, 0.0]))  # the unit code, not (10, 0)
    model = VQGAN(replace(SMALL, codebook_lookup="cosine")).eval()
    assert torch.allclose(model.code_vectors.norm(dim=1), torch.ones(SMALL.n_embed), atol=1e-5)
    grid = torch.zeros(1, 2, 2, dtype=torch.long)
    expected = model.decode(model.code_vectors[0][None, :, None, None].expand(1, -1, 2, 2))
    assert torch.allclose(model.decode_indices(grid), expected)
    with pytest.raises(ValueError, match="codebook_lookup.*euclidean, cosine"):
        replace(SMALL, codebook_lookup="manhattan")


def test_pixel_weights_favour_the_shape_its_outline_and_small_shapes():
    pixels = torch.full((2, 3, 32, 32), -0.9)  # a dark background
    pixels[0, :, 8:24, 8:24] = 0.9  # a large bright square (256 px)
    pixels[1, :, 14:18, 14:18] = 0.9  # a small one (16 px)
    plain = vqgan.pixel_weights(pixels, 9.0)
    assert plain[0, 0, 0, 0] == 1 and plain[0, 0, 16, 16] == 10 and plain[0, 0, 7, 7] == 1
    edged = vqgan.pixel_weights(pixels, 9.0, edge_weight=6.0)
    assert edged[0, 0, 16, 16] == 10 and edged[0, 0, 8, 8] == 16  # inside; on the outline's inner side
    assert edged[0, 0, 7, 7] == 7 and edged[0, 0, 0, 0] == 1  # just outside; far away
    scaled = vqgan.pixel_weights(pixels, 9.0, 6.0, small_shape_area=100.0, area_scale_range=(0.5, 4.0))
    assert scaled[0, 0, 16, 16] == 1 + 9 * 0.5  # 100 / 256 px, raised to the floor 0.5
    assert scaled[1, 0, 14, 14] == 1 + 15 * 4.0 and scaled[1, 0, 15, 15] == 1 + 9 * 4.0  # 100 / 16 px, capped at 4
    assert scaled[1, 0, 0, 0] == 1  # the background keeps weight 1


@pytest.mark.parametrize("option, value, message", [("edge_weight", -1.0, "0 \\(off\\) or more"),
                                                    ("small_shape_area", -5.0, "0 \\(off\\) or more"),
                                                    ("area_scale_range", (2.0, 1.0), "0 < low <= high")])
def test_training_settings_refuse_bad_loss_weights(option, value, message):
    with pytest.raises(ValueError, match=f"{option}.*{message}"):
        vqgan.TinyTrainingConfig(**{option: value})


def test_tiny_training_restarts_on_schedule_and_counts_the_codes(monkeypatch):
    calls = []

    def restart(model, usage, latents):
        calls.append(float(usage.sum()))  # codes picked since the last restart
        return 5

    monkeypatch.setattr(vqgan_training, "restart_dead_codes", restart)
    settings = vqgan.TinyTrainingConfig(steps=9, batch_size=2, train_images=16, warmup_steps=2, restart_every=3,
                                        discriminator=False)
    _, summary = vqgan.train_tiny_vqgan(settings, seed=0, progress=False)
    positions = 2 * 16 * 16  # batch x a 16x16 code grid
    assert calls == [4 * positions, 3 * positions]  # steps 5 (steps 2-5 counted) and 8 (steps 6-8)
    assert summary["codes_restarted"] == 10


@pytest.mark.parametrize("option", ["steps", "batch_size", "train_images", "restart_every"])
@pytest.mark.parametrize("value", [0, -1])
def test_training_settings_refuse_non_positive_counts(option, value):
    with pytest.raises(ValueError, match=f"{option}.*(must be 1 or more|must exceed)"):
        vqgan.TinyTrainingConfig(**{option: value})


def test_training_needs_steps_after_the_warm_up():
    with pytest.raises(ValueError, match="must exceed warmup_steps"):
        vqgan.train_tiny_vqgan(vqgan.TinyTrainingConfig(steps=0), progress=False)


def test_patch_discriminator_gives_one_logit_per_local_patch():
    discriminator = vqgan.PatchDiscriminator()
    pixels = torch.zeros(1, 3, 32, 32, requires_grad=True)
    logits = discriminator(pixels)
    assert logits.shape == (1, 1, 8, 8)
    logits[0, 0, 4, 4].backward()
    rows, columns = (pixels.grad.abs().sum((0, 1)) > 0).nonzero().unbind(1)
    assert (rows.min(), rows.max(), columns.min(), columns.max()) == (13, 22, 13, 22)  # a 10x10 patch only
    real, fake = torch.full((2, 1, 8, 8), 2.0), torch.full((2, 1, 8, 8), -2.0)
    assert vqgan.hinge_discriminator_loss(real, fake) == 0  # confident and right: no loss


def test_codebook_starts_on_the_data_and_dead_codes_restart_there():
    model = VQGAN(SMALL)
    latents = torch.randn(4, SMALL.embed_dim, 4, 4) + 5  # far from the initial codebook near 0
    vectors = latents.permute(0, 2, 3, 1).reshape(-1, SMALL.embed_dim)
    vqgan.init_codebook_from_latents(model, latents)
    assert torch.cdist(model.codebook, vectors).min(1).values.max() < torch.cdist(vectors, vectors).max()
    usage = torch.ones(SMALL.n_embed)
    usage[[3, 7]] = 0
    before = model.codebook.detach().clone()
    assert vqgan.restart_dead_codes(model, usage, latents) == 2
    exact = torch.cdist(model.codebook[[3, 7]], vectors, compute_mode="donot_use_mm_for_euclid_dist")  # no mm shortcut
    assert exact.min(1).values.max() < 1e-5  # moved onto data points
    assert torch.equal(model.codebook[usage > 0], before[usage > 0])


@pytest.mark.parametrize("name", ["tiny-shapes", "tiny-shapes-nodisc"])
def test_bundled_tiny_vqgan_reconstructs_fresh_shapes(name):
    if vqgan.BUNDLED_VQGANS[name] not in checkpoints.registry():
        pytest.skip(f"{name} is not bundled yet (python -m mmlesson train-vqgan --register)")
    model = load_vqgan(name, device="cpu")
    metrics = vqgan.reconstruction_metrics(model, n_images=100, seed=99)
    assert metrics["psnr_db"] > 25 and metrics["codes_used"] > 32


def test_tokenizer_report_splits_small_large_and_reads_shapes_with_clip():
    from mmlesson.models import load_clip
    from mmlesson.shapes import make_shapes

    clip = load_clip("tiny-shapes", device="cpu")
    report = vqgan.tokenizer_report(VQGAN(VQGAN_CONFIGS["tiny-shapes-8x8"]).eval(), clip, n_images=20, seed=5)
    assert {"strict", "strict_small", "strict_large", "strict_star", "strict_originals", "psnr_db", "codes_used",
            "clip_reads_shape"} <= set(report)
    assert report["strict"] == 0 and report["strict_originals"] >= 0.9  # an untrained tokenizer keeps nothing
    originals = make_shapes(40, seed=6)
    images = torch.from_numpy(originals.images).permute(0, 3, 1, 2).float() / 255
    assert vqgan.clip_shape_reading(clip, images, originals.attributes) >= 0.9  # real Shapes: CLIP reads them


# --- the exercise ---

def test_exercise_straight_through_quantizer(capsys):
    from mmlesson.vqgan import lookup_codes, nearest_codes, straight_through_quantize

    def correct(latents, codebook):
        flat = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
        indices = torch.cdist(flat, codebook).argmin(1).reshape(latents.shape[0], *latents.shape[2:])
        quantized = codebook[indices].permute(0, 3, 1, 2)
        return latents + (quantized - latents).detach()

    assert exercises.check_straight_through_quantizer(correct) is correct
    assert "passed" in capsys.readouterr().out

    def no_straight_through(latents, codebook):
        return lookup_codes(nearest_codes(latents, codebook), codebook)

    assert exercises.check_straight_through_quantizer(no_straight_through) is straight_through_quantize
    assert "no gradient reaches the latents" in capsys.readouterr().out

    def wrong_axis(latents, codebook):
        flat = latents.reshape(-1, latents.shape[1])
        return latents + (codebook[torch.cdist(flat, codebook).argmin(1)].reshape(latents.shape) - latents).detach()

    exercises.check_straight_through_quantizer(wrong_axis)
    assert "move channels last" in capsys.readouterr().out

    exercises.check_straight_through_quantizer(nearest_codes)
    assert "you returned the code indices" in capsys.readouterr().out

    def stub(latents, codebook):
        raise NotImplementedError

    assert exercises.check_straight_through_quantizer(stub) is straight_through_quantize
    assert "not done yet — using the reference" in capsys.readouterr().out


# --- the 8x8-code tiny VQGAN for lesson 5 ---

def test_8x8_recipe_makes_an_8x8_code_grid():
    settings = vqgan.TINY_RECIPES["tiny-shapes-8x8"]
    model = VQGAN(settings.model)
    _, _, indices = model(torch.zeros(2, 3, 32, 32))
    assert indices.shape == (2, 8, 8) and model.downsample_factor == 4
    assert vqgan.BUNDLED_VQGANS["tiny-shapes-8x8"] == vqgan.TINY_8X8_CHECKPOINT


def test_color_fidelity_reports_every_shapes_color():
    from mmlesson.shapes import COLORS

    report = vqgan.color_fidelity(VQGAN(vqgan.VQGAN_CONFIGS["tiny-shapes-8x8"]).eval(), n_images=60, seed=3)
    assert set(report) == set(COLORS)
    assert all(row["images"] > 0 and 0 <= row["kept"] <= 1 and row["rgb_error"] > 20 for row in report.values())


def test_bundled_8x8_vqgan_keeps_every_color_and_outline():
    if vqgan.TINY_8X8_CHECKPOINT not in checkpoints.registry():
        pytest.skip("tiny-shapes-8x8 is not bundled yet (python -m mmlesson train-vqgan --model tiny-shapes-8x8)")
    model = load_vqgan("tiny-shapes-8x8", device="cpu")
    report = vqgan.color_fidelity(model, n_images=300, seed=99)
    assert all(row["kept"] >= 0.95 for row in report.values()), report  # purple stays purple
    metrics = vqgan.reconstruction_metrics(model, n_images=100, seed=99)
    assert metrics["psnr_db"] > 20 and metrics["codes_used"] > 100
