"""models.py: the one load_clip interface, the tiny model, and the real-weights code path."""
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from mmlesson import checkpoints, config, models, shapes


@pytest.fixture(scope="module")
def tiny():
    return models.load_clip("tiny-shapes", device="cpu")


def test_tiny_interface_and_normalised_outputs(tiny):
    batch = shapes.make_shapes(5, seed=0)
    image_embeddings = tiny.encode_images(batch.pil_images())
    text_embeddings = tiny.encode_texts(["a red circle", "a blue star"])
    assert image_embeddings.shape == (5, tiny.embed_dim) and image_embeddings.dtype == torch.float32
    assert text_embeddings.shape == (2, tiny.embed_dim)
    for embeddings in (image_embeddings, text_embeddings):
        assert torch.allclose(embeddings.norm(dim=1), torch.ones(len(embeddings)), atol=1e-5)
    assert 1 < tiny.logit_scale <= 100 and tiny.name == "tiny-shapes" and tiny.device == "cpu"


def test_every_image_input_kind_gives_the_same_embedding(tiny, tmp_path):
    batch = shapes.make_shapes(3, seed=1)
    paths = []
    for i, image in enumerate(batch.pil_images()):
        paths.append(tmp_path / f"{i}.png")
        image.save(paths[-1])
    from_pil = tiny.encode_images(batch.pil_images())
    from_paths = tiny.encode_images(paths)
    from_array = tiny.encode_images(batch.images)
    from_tensor = tiny.encode_images(torch.stack([tiny.preprocess(im) for im in batch.pil_images()]))
    for other in (from_paths, from_array, from_tensor):
        assert torch.allclose(from_pil, other, atol=1e-6)


def test_batch_size_does_not_change_results(tiny):
    images = shapes.make_shapes(10, seed=2).images
    assert torch.allclose(tiny.encode_images(images, batch_size=3), tiny.encode_images(images, batch_size=256),
                          atol=1e-5)


def test_embed_pixels_is_differentiable_and_matches_encode_images(tiny):
    batch = shapes.make_shapes(2, seed=3)
    pixels = (torch.from_numpy(batch.images).permute(0, 3, 1, 2).float() / 255).requires_grad_(True)
    embeddings = tiny.embed_pixels(pixels)
    embeddings.sum().backward()
    assert pixels.grad is not None and pixels.grad.abs().sum() > 0
    assert torch.allclose(embeddings.detach(), tiny.encode_images(batch.images), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\)"):
        tiny.embed_pixels(torch.zeros(1, 3, 64, 64))


def test_bundled_model_knows_its_classes(tiny):
    batch = shapes.make_shapes(300, seed=12345)
    prompts = [shapes.with_article(f"a {name}") for name in shapes.CLASS_NAMES]
    predictions = (tiny.encode_images(batch.images) @ tiny.encode_texts(prompts).T).argmax(1).numpy()
    assert (predictions == batch.labels).mean() > 0.9


def test_tokenizer_unknown_words_and_truncation_warning_once(tiny):
    tokenizer = tiny.tokenize
    tokens = tokenizer(["a crimson hexagon"])
    assert (tokens[0, 2:4] == tokenizer.unk_id).all()
    assert tokenizer.unknown_words("a crimson circle") == ["crimson"]
    long_caption = " ".join(["red"] * 40)
    tokenizer._warned_truncation = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tokenizer([long_caption, long_caption])
        tokenizer([long_caption])
    assert len([w for w in caught if "truncated" in str(w.message)]) == 1
    assert tokenizer([long_caption])[0, -1] == tokenizer.eot_id


@pytest.mark.parametrize("name, message", [
    ("", "needs a name"),
    ("resnet-9000", "unknown model name"),
    ("missing/model.safetensors", "does not exist"),
    ("NotAnArch:openai", "unknown open_clip architecture"),
])
def test_bad_names_give_clear_errors(name, message):
    with pytest.raises(ValueError, match=message):
        models.load_clip(name)


def test_corrupt_bundled_checkpoint_is_refused(monkeypatch):
    entries = checkpoints.registry()
    entries["tiny-clip-shapes"] = {**entries["tiny-clip-shapes"], "sha256": "f" * 64}
    monkeypatch.setattr(checkpoints, "registry", lambda: entries)
    with pytest.raises(checkpoints.CheckpointError, match="corrupt or was changed"):
        models.load_clip("tiny-shapes")


def test_auto_falls_back_to_tiny_offline_and_says_why(monkeypatch, capsys):
    monkeypatch.setattr(config, "OFFLINE", True)
    monkeypatch.setattr(models, "real_weights_cached", lambda *args: False)
    model = models.load_clip("auto")
    assert model.name == "tiny-shapes"
    assert "offline mode" in capsys.readouterr().out


def test_auto_without_network_is_quick(monkeypatch, capsys):
    monkeypatch.setattr(config, "OFFLINE", False)
    monkeypatch.setattr(models, "real_weights_cached", lambda *args: False)
    monkeypatch.setattr(models, "network_reachable", lambda *args, **kwargs: False)
    assert models.load_clip("auto").name == "tiny-shapes"
    assert "no network" in capsys.readouterr().out


def test_tiny_checkpoint_path_loads_like_the_bundled_name(tiny):
    from mmlesson.config import DATA_DIR

    by_path = models.load_clip(str(DATA_DIR / "tiny-clip-shapes.safetensors"))
    texts = ["a small red circle on the left"]
    assert torch.allclose(by_path.encode_texts(texts), tiny.encode_texts(texts))


# --- the real-weights path, proven without a network: random ViT-B-32 weights through our loader ---

@pytest.fixture(scope="module")
def random_vit_b_32(tmp_path_factory):
    import open_clip

    torch.manual_seed(0)
    reference, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    reference.eval()
    path = tmp_path_factory.mktemp("weights") / "vit_b_32_random.pt"
    torch.save(reference.state_dict(), path)
    return reference, preprocess, path


@pytest.mark.parametrize("as_name", [False, True])
def test_real_weights_path_matches_open_clip_exactly(random_vit_b_32, as_name, monkeypatch):
    import open_clip

    reference, preprocess, path = random_vit_b_32
    monkeypatch.setattr(config, "_APPLIED", None)  # both on the same thread count: another count sums in another order
    model = models.load_clip(f"ViT-B-32:{path}" if as_name else str(path), device="cpu")
    images = [Image.fromarray(image).resize((64, 48)) for image in shapes.make_shapes(2, seed=0, image_size=64).images]
    texts = ["a photo of a cat", "a diagram"]
    with torch.no_grad():
        expected_images = reference.encode_image(torch.stack([preprocess(im) for im in images]))
        expected_texts = reference.encode_text(open_clip.get_tokenizer("ViT-B-32")(texts))
    assert torch.equal(model.encode_images(images), torch.nn.functional.normalize(expected_images, dim=-1))
    assert torch.equal(model.encode_texts(texts), torch.nn.functional.normalize(expected_texts, dim=-1))
    assert model.image_size == 224 and model.embed_dim == 512
    assert model.logit_scale == pytest.approx(float(reference.logit_scale.detach().exp().clamp(max=100)))


def test_unrecognised_bare_checkpoint_asks_for_arch(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"something.weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="ARCH:PATH"):
        models.load_clip(str(path))


def test_sixteen_bit_and_transparent_images_keep_their_content(tiny):
    gradient = np.tile(np.linspace(0, 65535, 32, dtype=np.uint16), (32, 1))
    sixteen_bit = models.to_pil(Image.fromarray(gradient))
    assert sixteen_bit.mode == "RGB" and 0 < np.asarray(sixteen_bit).mean() < 255
    rgba = np.zeros((32, 32, 4), np.uint8)  # fully transparent black: shows the white it is composited on
    assert np.asarray(models.to_pil(Image.fromarray(rgba))).min() == 255
    assert tiny.encode_images([Image.fromarray(gradient)]).shape == (1, tiny.embed_dim)
