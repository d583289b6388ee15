"""Tests for the VQGAN+CLIP loop, on tiny random stand-ins (and the bundled tiny models when present)."""
import math
import zlib
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from mmlesson import generate as gen
from mmlesson.config import DATA_DIR
from mmlesson.generate import GenerationConfig, Prompt, generate, parse_prompts


class StandInClip:
    """The parts of a ClipModel that generation uses, with a tiny random image encoder."""

    image_size, device, embed_dim = 16, "cpu", 16

    def __init__(self):
        torch.manual_seed(0)
        self.torch_model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                         nn.Flatten(), nn.Linear(32, self.embed_dim))

    def embed_pixels(self, pixels):
        assert pixels.shape[1:] == (3, self.image_size, self.image_size)
        return F.normalize(self.torch_model(pixels), dim=-1)

    def encode_texts(self, texts):
        rows = [torch.randn(self.embed_dim, generator=torch.Generator().manual_seed(zlib.crc32(t.encode())))
                for t in texts]
        return F.normalize(torch.stack(rows), dim=-1)


class StandInVQGAN(nn.Module):
    """Codebook + straight-through quantizer + a one-layer decoder, downsample factor 4."""

    downsample_factor = 4

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.embedding = nn.Embedding(16, 8)
        self.decoder = nn.ConvTranspose2d(8, 3, 4, stride=4)
        self.encoder = nn.Conv2d(3, 8, 4, stride=4)

    @property
    def codebook(self):
        return self.embedding.weight

    def quantize_latents(self, latents):
        flat = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
        indices = torch.cdist(flat, self.codebook).argmin(1).reshape(latents.shape[0], *latents.shape[2:])
        quantized = self.codebook[indices].permute(0, 3, 1, 2)
        return latents + (quantized - latents).detach(), indices

    def decode(self, quantized):
        return torch.tanh(self.decoder(quantized))

    def encode_to_latents(self, pixels):
        return self.encoder(pixels)


class NaNAfter(StandInClip):
    """Embeds normally for ``good_calls`` calls, then returns NaN."""

    def __init__(self, good_calls):
        super().__init__()
        self.calls, self.good_calls = 0, good_calls

    def embed_pixels(self, pixels):
        self.calls += 1
        embeddings = super().embed_pixels(pixels)
        return embeddings * float("nan") if self.calls > self.good_calls else embeddings


SMALL = GenerationConfig(resolution=16, steps=6, cutouts=3, restarts=2, frame_every=2, seed=3, ranking_cutouts=4)


def small_run(**overrides):
    config = GenerationConfig(**{**SMALL.__dict__, **overrides.pop("config", {})})
    return generate("a red star", overrides.pop("clip", StandInClip()), StandInVQGAN(), config, progress=False,
                    **overrides)


# --- prompts ---

def test_parse_weighted_prompts():
    assert parse_prompts("a red star:1 | blurry:-0.5") == [Prompt("a red star", 1.0), Prompt("blurry", -0.5)]
    assert parse_prompts("a red star") == [Prompt("a red star", 1.0)]
    assert parse_prompts([("a circle", 2), "a cross:0.5"]) == [Prompt("a circle", 2.0), Prompt("a cross", 0.5)]


@pytest.mark.parametrize("bad, words", [("", "no text"), ("   ", "no text"), ("cat:abc", "'abc' is not a number"),
                                        ("a star:", "is not a number"), ("a star | :2", "no text"),
                                        ("blurry:-1", "positive weight"), ("cat:nan", "finite")])
def test_bad_prompts_get_clear_errors(bad, words):
    with pytest.raises(ValueError, match=words):
        parse_prompts(bad)


# --- pieces ---

def test_spherical_distance_known_angles():
    a = torch.tensor([[1.0, 0.0]])
    texts = torch.tensor([[3.0, 0.0], [0.0, 2.0], [-1.0, 0.0]])  # same, orthogonal, opposite (unnormalised)
    distances = gen.spherical_distance(a, texts)
    assert distances.shape == (1, 3)
    assert torch.allclose(distances, torch.tensor([[0.0, math.pi ** 2 / 8, math.pi ** 2 / 2]]), atol=1e-5)


def test_negative_weight_rewards_distance():
    embeddings = F.normalize(torch.randn(4, 8), dim=-1)
    texts = F.normalize(torch.randn(2, 8), dim=-1)
    losses = gen.prompt_loss(embeddings, texts, torch.tensor([1.0, -0.5]), candidates=2)
    distances = gen.spherical_distance(embeddings, texts).reshape(2, 2, 2).mean(1)
    assert torch.allclose(losses, distances[:, 0] - 0.5 * distances[:, 1])


def test_cutouts_shape_and_gradient():
    pixels = torch.rand(2, 3, 24, 24, requires_grad=True)
    config = GenerationConfig(cutouts=5)
    cutouts = gen.make_cutouts(pixels, 16, config, torch.Generator().manual_seed(0))
    assert cutouts.shape == (10, 3, 16, 16)
    cutouts.sum().backward()
    assert pixels.grad.abs().sum() > 0


def test_plain_config_has_one_unaugmented_cutout_of_the_whole_image():
    pixels = torch.rand(1, 3, 16, 16)
    cutouts = gen.make_cutouts(pixels, 16, GenerationConfig().plain(), torch.Generator().manual_seed(0))
    assert torch.allclose(cutouts, pixels, atol=1e-5)


def test_resolution_must_be_a_multiple_of_the_downsample_factor():
    with pytest.raises(ValueError, match="not a multiple of this VQGAN's downsample factor 4; try 16 or 20"):
        small_run(config={"resolution": 18})


def test_bad_counts_are_refused():
    with pytest.raises(ValueError, match="cutouts"):
        small_run(config={"cutouts": 0})


# --- the loop ---

def test_same_seed_same_image_and_different_seed_differs():
    first, second, other = small_run(), small_run(), small_run(config={"seed": 4})
    assert torch.equal(first.pixels, second.pixels)
    assert first.losses == second.losses
    assert not torch.equal(first.pixels, other.pixels)


def test_result_holds_frames_losses_and_a_chosen_candidate():
    result = small_run()
    assert result.steps_done == 6 and len(result.losses) == 6 and result.stopped is None
    assert result.frame_steps == [0, 2, 4, 6] and len(result.frames) == 4
    assert isinstance(result.image, Image.Image) and result.image.size == (16, 16)
    assert len(result.candidate_scores) == 2 and result.chosen == max(range(2), key=result.candidate_scores.__getitem__)
    assert result.pixels.shape == (3, 16, 16) and 0 <= result.pixels.min() and result.pixels.max() <= 1


def test_optimisation_lowers_the_loss():
    result = small_run(config={"steps": 25, "restarts": 1, "learning_rate": 0.2, "cutouts": 4})
    assert sum(result.losses[-5:]) / 5 < sum(result.losses[:5]) / 5


def test_models_are_left_trainable_after_generation():
    clip = StandInClip()
    small_run(clip=clip)
    assert all(parameter.requires_grad for parameter in clip.torch_model.parameters())


def test_nan_loss_stops_and_keeps_the_last_good_frame(capsys):
    seen = []
    result = small_run(clip=NaNAfter(good_calls=3), callback=lambda step, pixels, losses: seen.append(pixels.clone()))
    assert result.stopped == "nan" and result.steps_done == 3
    assert "NaN" in capsys.readouterr().out
    assert torch.isfinite(result.pixels).all()
    assert torch.equal(result.pixels, seen[-1][result.chosen])
    assert result.frame_steps == [0, 2]


def test_interrupt_keeps_the_frames_made_so_far():
    def interrupt(step, pixels, losses):
        if step == 3:
            raise KeyboardInterrupt

    result = small_run(callback=interrupt)
    assert result.interrupted and result.steps_done == 4
    assert result.frame_steps == [0, 2, 3] and len(result.frames) == 3
    assert isinstance(result.image, Image.Image)


def test_init_image_starts_from_its_encoding():
    image = Image.fromarray((torch.rand(20, 20, 3) * 255).byte().numpy())
    result = small_run(config={"steps": 0, "restarts": 1}, init_image=image)
    vqgan = StandInVQGAN()
    with torch.no_grad():
        expected = gen.latents_to_pixels(vqgan, gen.image_latents(vqgan, image, 16, 1))[0]
    assert torch.allclose(result.pixels, expected)


def test_missing_init_image_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png does not exist"):
        small_run(init_image=tmp_path / "missing.png")


def test_animation_and_frames_are_written(tmp_path):
    result = small_run(frames_dir=tmp_path / "frames")
    assert len(list((tmp_path / "frames").glob("frame_*.png"))) == len(result.frames)
    frames = [Image.new("RGB", (16, 16), color) for color in ("red", "green", "blue")]  # GIF merges equal frames
    path = gen.save_animation(frames, tmp_path / "run.gif", scale=4)
    with Image.open(path) as gif:
        assert gif.n_frames == 3 and gif.size == (64, 64)
    with pytest.raises(ValueError, match=".gif"):
        gen.save_animation(result.frames, tmp_path / "run.mp4")


def test_presets_state_time_memory_and_valid_sizes():
    for name, preset in gen.PRESETS.items():
        assert preset.config.resolution % 16 == 0 or name == "tiny", name  # the official VQGANs have f = 16
        assert preset.expected.startswith(("measured", "estimate")), f"{name}: say whether the figure was measured"
        assert " s per " in preset.expected and " GB" in preset.expected and "?" not in preset.expected, name
    assert gen.PRESETS["tiny"].clip == "tiny-shapes" and gen.PRESETS["tiny"].config.resolution == 32


# --- exercise: the spherical distance loss ---

def test_exercise_correct_answer_passes(capsys):
    from mmlesson.exercises import check_spherical_distance_loss

    def mine(image_embeddings, text_embeddings):
        a, b = F.normalize(image_embeddings, dim=-1), F.normalize(text_embeddings, dim=-1)
        return 2 * torch.arcsin(torch.cdist(a, b) / 2) ** 2

    assert check_spherical_distance_loss(mine) is mine
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda a, b: 2 * torch.arcsin(torch.cdist(a, b) / 2) ** 2, "normalise"),
    (lambda a, b: 1 - F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T, "cosine distance"),
    (lambda a, b: 2 * torch.arcsin(torch.cdist(F.normalize(a, dim=-1), F.normalize(b, dim=-1)) / 2), "square"),
])
def test_exercise_mistakes_get_their_hint(capsys, wrong, hint):
    from mmlesson.exercises import check_spherical_distance_loss

    assert check_spherical_distance_loss(wrong) is gen.spherical_distance
    assert hint in capsys.readouterr().out


def test_exercise_stub_uses_the_reference(capsys):
    from mmlesson.exercises import check_spherical_distance_loss

    def stub(image_embeddings, text_embeddings):
        raise NotImplementedError

    assert check_spherical_distance_loss(stub) is gen.spherical_distance
    assert "not done yet — using the reference" in capsys.readouterr().out


# --- with the real model classes ---

def test_works_with_a_random_tiny_vqgan_of_the_real_class():
    vqgan_module = pytest.importorskip("mmlesson.vqgan")
    config = vqgan_module.VQGANConfig(resolution=16, ch=8, ch_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(),
                                      z_channels=8, embed_dim=8, n_embed=16, norm_groups=4)
    torch.manual_seed(0)
    vqgan = vqgan_module.VQGAN(config).eval()
    result = generate("a red star", StandInClip(), vqgan, GenerationConfig(resolution=16, steps=2, cutouts=2),
                      progress=False)
    assert result.pixels.shape == (3, 16, 16) and result.steps_done == 2


BUNDLED = [DATA_DIR / "tiny-clip-shapes.safetensors", DATA_DIR / "tiny-vqgan-shapes.safetensors",
           DATA_DIR / "shapes-judge.safetensors"]


@pytest.mark.skipif(not all(path.exists() for path in BUNDLED), reason="bundled tiny CLIP / VQGAN / judge not in data/")
def test_command_line_makes_an_image_and_a_gif(tmp_path, capsys):
    from mmlesson.cli import main

    assert main(["generate", "a red star", "--preset", "tiny", "--steps", "3", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "a_red_star.png").exists() and (tmp_path / "a_red_star.gif").exists()
    assert "strict measure ('a red star'): " in capsys.readouterr().out


@pytest.mark.skipif(not BUNDLED[2].exists(), reason="the judge is not in data/")
def test_fooling_demo_reports_both_settings():
    config = GenerationConfig(resolution=32, steps=2, cutouts=2, frame_every=0)
    report = gen.fooling_demo([("red", "star")], StandInClip(), StandInVQGAN(), config)
    assert set(report) == {"plain", "cutouts"}
    for setting in report.values():
        assert -1 <= setting["mean_clip_similarity"] <= 1 and setting["judge_success"] in (0.0, 1.0)
        assert setting["strict_success"] in (0.0, 1.0)
        assert setting["rows"][0]["prompt"] == "a red star" and isinstance(setting["rows"][0]["image"], Image.Image)


def test_clamp_keeps_only_gradients_that_point_back_into_range():
    pixels = torch.tensor([-0.5, 0.5, 1.5, -0.5, 1.5], requires_grad=True)
    clamped = gen.ClampWithGradient.apply(pixels)
    assert torch.equal(clamped, torch.tensor([0.0, 0.5, 1.0, 0.0, 1.0]))
    # descent moves by -gradient: -1 raises the pixel at -0.5 (kept), +1 lowers the one at 1.5 (kept),
    # +1 would lower the pixel at -0.5 further and -1 raise the one at 1.5 further (both dropped)
    clamped.backward(torch.tensor([-1.0, 2.0, 1.0, 1.0, -1.0]))
    assert torch.equal(pixels.grad, torch.tensor([-1.0, 2.0, 1.0, 0.0, 0.0]))


def test_words_the_tiny_clip_does_not_know_are_named(capsys):
    clip = StandInClip()
    clip.tokenize = SimpleNamespace(unknown_words=lambda text: [w for w in text.split() if w not in ("a", "red", "star")])
    generate("a red dragon", clip, StandInVQGAN(), GenerationConfig(resolution=16, steps=1, cutouts=1), progress=False)
    assert "does not know the words dragon" in capsys.readouterr().out


def test_composition_is_added_only_where_the_prompt_names_no_place():
    assert gen.composed(gen.Prompt("a red star", 1.0), " in the center") == "a red star in the center"
    assert gen.composed(gen.Prompt("a red star on the left", 1.0), " in the center") == "a red star on the left"
    assert gen.composed(gen.Prompt("blurry", -0.5), " in the center") == "blurry"
    assert gen.composed(gen.Prompt("a red star", 1.0), "") == "a red star"


def test_image_prior_prefers_one_compact_smooth_object():
    one = torch.zeros(1, 3, 32, 32)
    one[:, 0, 12:20, 12:20] = 1  # one red square in the middle
    two = torch.zeros(1, 3, 32, 32)
    two[:, 0, 2:8, 2:8] = two[:, 0, 24:30, 24:30] = 1  # two red squares in the corners
    speckled = (torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    spread, smooth = GenerationConfig(spread_weight=1.0), GenerationConfig(tv_weight=1.0)
    assert gen.image_prior(one, spread) < gen.image_prior(two, spread)
    assert gen.image_prior(one, smooth) < gen.image_prior(speckled, smooth)
    assert gen.image_prior(two, GenerationConfig()).item() == 0
