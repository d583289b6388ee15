"""Tests for mmlesson.zeroshot and the Lesson 2 exercise checkers.

Most tests use FakeClip, which has the ClipModel interface and a rule we can reason about: a text
embeds as a weighted bag of words, and a uniform gray image of level 8 * c embeds as the prompt
"a <class c>", so zero-shot classification of such images must be perfect. One test at the end
checks the same pipeline against the real bundled tiny model when its checkpoint exists.
"""
from __future__ import annotations

import io
import re
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from mmlesson import config, exercises, zeroshot
from mmlesson.exercises import NOT_DONE
from mmlesson.shapes import CLASS_NAMES, with_article

GRAY_STEP = 8  # gray level of class c is GRAY_STEP * c


class FakeClip:
    """The ClipModel interface with a transparent rule (see the module docstring)."""

    name, device, embed_dim, logit_scale, image_size = "fake", "cpu", 48, 100.0, 32

    def __init__(self, class_names=CLASS_NAMES):
        generator = torch.Generator().manual_seed(0)
        self.words = ["<unk>", *sorted({w for n in class_names for w in n.split()} | {"a", "an", "photo", "of"})]
        self.vectors = torch.randn(len(self.words), self.embed_dim, generator=generator)
        self.class_names = list(class_names)
        self.seen_batches = []  # what encode_images received, to check conversion and batching

    def encode_texts(self, texts, batch_size=256):
        texts = [texts] if isinstance(texts, str) else list(texts)
        rows = []
        for text in texts:
            ids = [self.words.index(w) if w in self.words else 0 for w in re.findall(r"[a-z]+", text.lower())]
            weights = torch.tensor([1.0 if self.words[i] in ("a", "an", "photo", "of", "<unk>") else 4.0 for i in ids])
            rows.append((weights[:, None] * self.vectors[ids]).sum(0))
        return F.normalize(torch.stack(rows), dim=-1) if rows else torch.zeros((0, self.embed_dim))

    def encode_images(self, images, batch_size=256, progress=False):
        self.seen_batches.append(len(images))
        if isinstance(images, np.ndarray):
            levels = images.reshape(len(images), -1).mean(1)
        else:
            assert all(image.mode == "RGB" for image in images), "zeroshot must hand RGB images to the model"
            levels = [np.asarray(image, dtype=float).mean() for image in images]
        labels = [int(round(level / GRAY_STEP)) for level in levels]
        return self.encode_texts([f"a {self.class_names[label]}" for label in labels])


def gray_batch(labels, size=8) -> np.ndarray:
    return np.stack([np.full((size, size, 3), GRAY_STEP * label, np.uint8) for label in labels])


@pytest.fixture()
def clip():
    return FakeClip()


# --- templates and prompts ---------------------------------------------------------------------

def test_templates_have_one_placeholder_and_no_repeats():
    for templates in (zeroshot.DEFAULT_TEMPLATES, zeroshot.ENSEMBLE_TEMPLATES, zeroshot.PET_TEMPLATES):
        assert zeroshot.check_templates(templates) == list(templates)
    assert len(zeroshot.ENSEMBLE_TEMPLATES) > 2 * len(zeroshot.DEFAULT_TEMPLATES)


def test_shapes_templates_stay_inside_the_tiny_vocabulary():
    from mmlesson.models import CAPTION_WORDS

    for template in zeroshot.SHAPES_TEMPLATES + zeroshot.DEFAULT_TEMPLATES:
        words = re.findall(r"[a-z]+", template.format("red circle"))
        assert set(words) <= set(CAPTION_WORDS), template


def test_prompts_fix_the_article():
    prompts = zeroshot.ensemble_prompts(["orange star", "red circle"], ["a {}", "a photo of a {}", "{}"])
    assert prompts == [["an orange star", "a photo of an orange star", "orange star"],
                       ["a red circle", "a photo of a red circle", "red circle"]]


@pytest.mark.parametrize("names, problem", [([], "empty"), (["cat", "dog", "cat"], "duplicate"),
                                            (["Cat", "cat "], "duplicate"), (["cat", ""], "non-empty"),
                                            ("cat", "not one string")])
def test_bad_class_names_name_the_problem(clip, names, problem):
    with pytest.raises(ValueError, match=problem):
        zeroshot.ZeroShotClassifier.from_names(clip, names)


@pytest.mark.parametrize("templates, problem", [(["a photo of a cat"], "exactly once"), ([], "empty"),
                                                (["a {} and a {}"], "exactly once"), (["a {name}{}"], "braces"),
                                                (["a {}", "a {}"], "repeat")])
def test_bad_templates_name_the_problem(clip, templates, problem):
    with pytest.raises(ValueError, match=problem):
        zeroshot.ZeroShotClassifier.from_names(clip, ["cat", "dog"], templates)


# --- classifier weights, prediction, evaluation ---------------------------------------------------

def test_classifier_weights_are_the_renormalised_mean_of_unit_embeddings():
    embeddings = torch.randn(3, 5, 7) * torch.arange(1, 6).reshape(1, 5, 1)  # (n_classes, n_templates, D)
    weights = zeroshot.classifier_weights(embeddings)
    assert weights.shape == (3, 7)
    assert torch.allclose(weights.norm(dim=-1), torch.ones(3), atol=1e-6)
    manual = (embeddings / embeddings.norm(dim=-1, keepdim=True)).mean(1)
    assert torch.allclose(weights, manual / manual.norm(dim=-1, keepdim=True), atol=1e-6)


def test_from_names_encodes_every_prompt_in_batches(clip):
    classifier = zeroshot.ZeroShotClassifier.from_names(clip, CLASS_NAMES, zeroshot.SHAPES_TEMPLATES, batch_size=64)
    assert classifier.weights.shape == (30, clip.embed_dim)
    prompts = zeroshot.ensemble_prompts(CLASS_NAMES, zeroshot.SHAPES_TEMPLATES)  # 30 lists of 15
    expected = zeroshot.classifier_weights(clip.encode_texts(sum(prompts, [])).reshape(30, 15, -1))
    assert torch.allclose(classifier.weights, expected, atol=1e-6)


def test_predict_and_proba_on_a_uint8_batch(clip):
    labels = np.arange(30)
    classifier = zeroshot.ZeroShotClassifier.from_names(clip, CLASS_NAMES, batch_size=7)
    probabilities = classifier.predict_proba(gray_batch(labels), progress=False)
    assert probabilities.shape == (30, 30)
    assert np.allclose(probabilities.sum(1), 1, atol=1e-5)
    assert (classifier.predict(gray_batch(labels), progress=False) == labels).all()
    assert clip.seen_batches[-5:] == [7, 7, 7, 7, 2]  # batched


def test_logits_are_scaled_cosine_similarities(clip):
    classifier = zeroshot.ZeroShotClassifier.from_names(clip, ["red circle", "blue star"])
    image_embeddings = F.normalize(torch.randn(4, clip.embed_dim), dim=-1)
    logits = classifier.logits_from_embeddings(image_embeddings)
    assert torch.allclose(logits, 100.0 * image_embeddings @ classifier.weights.T, atol=1e-5)
    assert logits.abs().max() <= 100.0 + 1e-4


def test_evaluate_reports_top1_top5_per_class_and_confusion(clip):
    labels = np.array([0, 1, 2, 2, 5])
    classifier = zeroshot.ZeroShotClassifier.from_names(clip, CLASS_NAMES)
    result = classifier.evaluate(gray_batch(labels), labels, progress=False)
    assert result.top1 == 1.0 and result.top5 == 1.0 and result.n_images == 5
    assert result.confusion.shape == (30, 30) and result.confusion.sum() == 5 and result.confusion[2, 2] == 2
    assert result.per_class_accuracy[2] == 1.0 and np.isnan(result.per_class_accuracy[3])
    assert "top-1 100.0%" in str(result)


def test_evaluate_logits_counts_mistakes_correctly():
    logits = torch.tensor([[3.0, 2, 1, 0, -1, -2], [0, 3, 2, 1, -1, -2], [5, 4, 3, 2, 1, 0], [0, 1, 2, 3, 4, 5]])
    labels = [0, 2, 5, 5]  # right, second choice, last choice, right
    result = zeroshot.evaluate_logits(logits, labels, list("abcdef"))
    assert result.top1 == 0.5 and result.top5 == 0.75
    assert result.confusion[2, 1] == 1 and result.confusion[5, 0] == 1 and result.confusion[5, 5] == 1
    assert result.per_class_accuracy[5] == 0.5 and result.worst_classes(1) == [("c", 0.0)]


@pytest.mark.parametrize("labels, problem", [([0, 1], "one integer per image"), ([0, 1, 40], "0..29"),
                                             ([0.5, 1, 2], "integers")])
def test_bad_labels_are_refused(clip, labels, problem):
    classifier = zeroshot.ZeroShotClassifier.from_names(clip, CLASS_NAMES)
    with pytest.raises(ValueError, match=problem):
        classifier.evaluate(gray_batch([0, 1, 2]), labels, progress=False)


def test_top_k_for_one_image(clip):
    classifier = zeroshot.ZeroShotClassifier.from_names(clip, CLASS_NAMES)
    image = Image.fromarray(gray_batch([4])[0])
    ranked = classifier.top_k(image, k=3)
    assert len(ranked) == 3 and ranked[0][0] == CLASS_NAMES[4]
    assert ranked[0][1] >= ranked[1][1] >= ranked[2][1]


def test_an_unknown_word_collapses_classes(clip):
    """Words the model never saw share one <unk> embedding, so 'pink circle' and 'teal circle' tie."""
    weights = zeroshot.build_classifier_weights(clip, ["pink circle", "teal circle"], ["a {}"])
    assert torch.allclose(weights[0], weights[1])


# --- images of every kind -----------------------------------------------------------------------

def _level_image(mode: str, level: int, size=(12, 9)) -> Image.Image:
    """A uniform image in ``mode`` whose RGB conversion has gray value ``level``."""
    if mode == "I;16":
        return Image.fromarray(np.full(size[::-1], level * 257, np.uint16))
    if mode == "I":
        return Image.fromarray(np.full(size[::-1], level * 257, np.int32), mode="I")
    if mode == "F":
        return Image.fromarray(np.full(size[::-1], level / 255, np.float32), mode="F")
    if mode == "P":
        image = Image.new("P", size, 3)
        image.putpalette([0, 0, 0] * 3 + [level] * 3 + [0, 0, 0] * 252)
        return image
    if mode == "RGBA":
        return Image.new("RGBA", size, (level, level, level, 255))
    if mode == "LA":
        return Image.new("LA", size, (level, 255))
    if mode == "CMYK":
        return Image.new("RGB", size, (level,) * 3).convert("CMYK")
    return Image.new(mode, size, level if mode == "L" else (level,) * 3)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "LA", "P", "I;16", "I", "F", "CMYK"])
def test_every_mode_is_converted_and_classified(clip, mode):
    label = 17
    image = _level_image(mode, GRAY_STEP * label)
    rgb = zeroshot.load_rgb(image)
    assert rgb.mode == "RGB" and rgb.size == image.size
    assert abs(np.asarray(rgb, float).mean() - GRAY_STEP * label) < 1.5
    classifier = zeroshot.ZeroShotClassifier.from_names(clip, CLASS_NAMES)
    assert classifier.predict([image], progress=False).tolist() == [label]


def test_transparency_is_composited_on_white():
    image = Image.new("RGBA", (4, 4), (255, 0, 0, 0))  # fully transparent red
    assert np.asarray(zeroshot.load_rgb(image)).min() == 255
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    palette.info["transparency"] = 1
    assert np.asarray(zeroshot.load_rgb(palette)).min() == 255


def test_bilevel_and_arrays_are_converted():
    assert np.asarray(zeroshot.load_rgb(Image.new("1", (3, 3), 1))).min() == 255
    assert zeroshot.load_rgb(np.ones((5, 6), bool)).size == (6, 5)
    assert zeroshot.load_rgb(np.full((5, 6, 4), 9, np.uint8)).mode == "RGB"
    assert np.asarray(zeroshot.load_rgb(np.full((2, 2), 0.5))).max() == 128
    with pytest.raises(ValueError, match="shape"):
        zeroshot.load_rgb(np.zeros((2, 2, 7), np.uint8))
    with pytest.raises(ValueError, match="cannot use a int"):
        zeroshot.load_rgb(3)


def test_very_large_images_shrink_and_classify(clip, tmp_path):
    big = Image.new("L", (6000, 300), GRAY_STEP * 9)
    assert zeroshot.load_rgb(big).size == (4096, 205)
    path = tmp_path / "big.jpg"
    big.save(path, quality=95)
    assert max(zeroshot.load_rgb(path).size) <= 4096
    classifier = zeroshot.ZeroShotClassifier.from_names(clip, CLASS_NAMES)
    assert classifier.predict([path, big], progress=False).tolist() == [9, 9]


@pytest.mark.parametrize("mode, suffix", [("L", ".png"), ("I;16", ".png"), ("RGBA", ".png"), ("P", ".gif"),
                                          ("RGB", ".jpg")])
def test_files_of_every_mode_load(clip, tmp_path, mode, suffix):
    path = tmp_path / f"image{suffix}"
    _level_image(mode, GRAY_STEP * 5).save(path)
    assert zeroshot.ZeroShotClassifier.from_names(clip, CLASS_NAMES).predict(str(path), progress=False).tolist() == [5]


def test_corrupt_and_missing_files_name_the_file(tmp_path):
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"this is not an image")
    with pytest.raises(ValueError, match="garbage.jpg"):
        zeroshot.load_rgb(garbage)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, "PNG")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(buffer.getvalue()[:60])
    with pytest.raises(ValueError, match="truncated.png"):
        zeroshot.load_rgb(truncated)
    with pytest.raises(FileNotFoundError, match="nowhere.png"):
        zeroshot.load_rgb(tmp_path / "nowhere.png")


def test_one_image_array_is_not_mistaken_for_a_batch(clip):
    classifier = zeroshot.ZeroShotClassifier.from_names(clip, CLASS_NAMES)
    with pytest.raises(ValueError, match="one image"):
        classifier.predict(np.zeros((32, 32, 3), np.uint8), progress=False)


# --- linear probe and k-shot ------------------------------------------------------------------

def _clusters(n_per_class: int, n_classes: int = 6, dim: int = 16, noise: float = 0.6, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(n_classes, dim, generator=torch.Generator().manual_seed(99)), dim=-1)
    labels = torch.arange(n_classes).repeat_interleave(n_per_class)
    points = centres[labels] + noise * torch.randn(len(labels), dim, generator=generator) / dim**0.5
    return F.normalize(points, dim=-1), labels.numpy()


def test_linear_probe_learns_separable_clusters():
    train, train_labels = _clusters(40)
    test, test_labels = _clusters(40, seed=1)
    probe = zeroshot.linear_probe(train, train_labels)
    assert probe.weight.shape == (6, 16) and probe.bias.shape == (6,)
    assert probe.evaluate(test, test_labels).top1 > 0.95


def test_linear_probe_is_deterministic_and_checks_input():
    train, labels = _clusters(10)
    first, second = zeroshot.linear_probe(train, labels), zeroshot.linear_probe(train, labels)
    assert torch.equal(first.weight, second.weight)
    with pytest.raises(ValueError, match="one integer per image"):
        zeroshot.linear_probe(train, labels[:-1])
    with pytest.raises(ValueError, match="at least one"):
        zeroshot.linear_probe(torch.zeros(0, 16), [])


def test_k_shot_improves_with_more_shots():
    train, train_labels = _clusters(30, noise=1.6)
    test, test_labels = _clusters(50, noise=1.6, seed=1)
    curve = zeroshot.k_shot_accuracy(train, train_labels, test, test_labels, ks=(1, 16), seeds=(0, 1, 2))
    assert curve.accuracies.shape == (2, 3)
    assert curve.mean[1] > curve.mean[0]
    assert set(curve.as_dict()) == {1, 16}
    with pytest.raises(ValueError, match="fewer than k=31"):
        zeroshot.k_shot_accuracy(train, train_labels, test, test_labels, ks=(31,))


def test_plots_have_titles_and_labelled_axes(clip):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classifier = zeroshot.ZeroShotClassifier.from_names(clip, CLASS_NAMES[:5])
    labels = np.array([0, 1, 2, 3, 4, 4])
    evaluation = classifier.evaluate(gray_batch(labels), labels, progress=False)
    curve = zeroshot.KShotCurve([1, 4, 16], np.array([[0.5, 0.6], [0.8, 0.8], [0.9, 1.0]]))
    figures = [zeroshot.plot_probabilities(CLASS_NAMES[:5], [0.1, 0.6, 0.1, 0.1, 0.1], gray_batch([1])[0]),
               zeroshot.plot_confusion(evaluation), zeroshot.plot_k_shot(curve, 0.95, 0.99)]
    for figure in figures:
        axis = figure.axes[-1] if figure is figures[0] else figure.axes[0]
        assert axis.get_title() and axis.get_xlabel() and axis.get_ylabel()
        plt.close(figure)


# --- data -------------------------------------------------------------------------------------

def test_sample_photos_are_bundled_rgb_images():
    photos = zeroshot.sample_photos()
    names = [name for name, _ in photos]
    assert {"astronaut", "cat", "cup of coffee", "rocket"} <= set(names)
    assert all(image.mode == "RGB" for _, image in photos)


def _fake_pets(base, image_ids, present):
    (base / "annotations").mkdir(parents=True)
    (base / "images").mkdir()
    lines = [f"{image_id} {i + 1} 1 1" for i, image_id in enumerate(image_ids)]
    (base / "annotations" / "test.txt").write_text("\n".join(lines) + "\n")
    for image_id in present:
        Image.new("RGB", (20, 20), (200, 100, 50)).save(base / "images" / f"{image_id}.jpg")


def test_pets_offline_without_cache_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "OFFLINE", True)
    with pytest.raises(zeroshot.DataUnavailable, match="MMLESSON_OFFLINE=1"):
        zeroshot.oxford_pets("test", root=tmp_path)


def test_pets_reuses_the_cache_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "OFFLINE", True)
    _fake_pets(tmp_path / "oxford-iiit-pet", ["Abyssinian_1", "great_pyrenees_2"], ["Abyssinian_1", "great_pyrenees_2"])
    dataset = zeroshot.oxford_pets("test", root=tmp_path)
    assert len(dataset) == 2 and dataset.classes == ["Abyssinian", "Great Pyrenees"]
    images, labels = zeroshot.sample_dataset(dataset, 5, seed=0)
    assert len(images) == 2 and sorted(labels.tolist()) == [0, 1]


def test_pets_incomplete_cache_offline_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "OFFLINE", True)
    _fake_pets(tmp_path / "oxford-iiit-pet", ["Abyssinian_1", "Bengal_2"], ["Abyssinian_1"])
    with pytest.raises(zeroshot.DataUnavailable, match="1 of 2 images missing"):
        zeroshot.oxford_pets("test", root=tmp_path)


def test_pets_downloads_once_then_reuses_the_cache(tmp_path, monkeypatch):
    import torchvision.datasets

    downloads = []
    real_class = torchvision.datasets.OxfordIIITPet

    def fake_pets(root, split, target_types="category", transform=None, download=False):
        if download:  # stands in for the network: torchvision would fetch and md5-check the archives
            downloads.append(root)
            _fake_pets(tmp_path / "oxford-iiit-pet", ["Bengal_1"], ["Bengal_1"])
        return real_class(root, split=split, target_types=target_types, transform=transform)

    monkeypatch.setattr(config, "OFFLINE", False)
    monkeypatch.setattr(torchvision.datasets, "OxfordIIITPet", fake_pets)
    assert len(zeroshot.oxford_pets("test", root=tmp_path)) == 1
    assert len(zeroshot.oxford_pets("test", root=tmp_path)) == 1
    assert downloads == [str(tmp_path)]


def test_pets_bad_split_lists_the_choices(tmp_path):
    with pytest.raises(ValueError, match="trainval, test"):
        zeroshot.oxford_pets("train", root=tmp_path)


# --- the Lesson 2 exercise checkers ------------------------------------------------------------

def _weights_right(embeddings):
    unit = embeddings / embeddings.norm(dim=-1, keepdim=True)
    mean = unit.mean(dim=1)
    return mean / mean.norm(dim=-1, keepdim=True)


def _weights_not_renormalised(embeddings):
    return (embeddings / embeddings.norm(dim=-1, keepdim=True)).mean(dim=1)


def _weights_wrong_axis(embeddings):
    mean = (embeddings / embeddings.norm(dim=-1, keepdim=True)).mean(dim=0)
    return mean / mean.norm(dim=-1, keepdim=True)


def _weights_raw_mean(embeddings):
    mean = embeddings.mean(dim=1)
    return mean / mean.norm(dim=-1, keepdim=True)


def _stub(*args):
    raise NotImplementedError


def _check_checker(check, right, wrong_and_hints, reference, capsys):
    """A checker passes ``right``, gives each wrong variant its hint, and reports a stub as not done and a missing return as such."""
    assert check(right) is right
    assert "passed" in capsys.readouterr().out
    for wrong, hint in wrong_and_hints:
        assert check(wrong) is reference
        assert hint in capsys.readouterr().out
    assert check(_stub) is reference
    assert NOT_DONE in capsys.readouterr().out
    assert check(lambda *args: None) is reference
    assert "did you forget `return`?" in capsys.readouterr().out


def test_check_classifier_weights(capsys):
    _check_checker(exercises.check_classifier_weights, _weights_right,
                   [(_weights_not_renormalised, "normalise the averaged"), (_weights_wrong_axis, "axis 0"),
                    (_weights_raw_mean, "before averaging")], zeroshot.classifier_weights, capsys)


def _prompts_right(class_names, templates):
    return [[with_article(template.format(name)) for template in templates] for name in class_names]


def _prompts_swapped(class_names, templates):
    return [[with_article(template.format(name)) for name in class_names] for template in templates]


def _prompts_flat(class_names, templates):
    return [with_article(template.format(name)) for name in class_names for template in templates]


def _prompts_no_article(class_names, templates):
    return [[template.format(name) for template in templates] for name in class_names]


def test_check_ensemble_templates(capsys):
    _check_checker(exercises.check_ensemble_templates, _prompts_right,
                   [(_prompts_swapped, "one list per template"), (_prompts_flat, "one flat list"),
                    (_prompts_no_article, "with_article")], zeroshot.ensemble_prompts, capsys)
    exercises.check_ensemble_templates(lambda names, templates: [["x"], ["y", "z"]])
    assert "equal-length" in capsys.readouterr().out


# --- the real tiny model, when its checkpoint is bundled ----------------------------------------

def _tiny_or_skip():
    from mmlesson import checkpoints

    if "tiny-clip-shapes" not in checkpoints.registry():
        pytest.skip("data/tiny-clip-shapes.safetensors is not bundled yet")
    from mmlesson.models import load_clip

    return load_clip("tiny-shapes", device="cpu")


def test_tiny_model_zero_shot_on_shapes():
    from mmlesson.shapes import make_shapes

    clip = _tiny_or_skip()
    batch = make_shapes(300, seed=4242)
    classifier = zeroshot.ZeroShotClassifier.from_names(clip, CLASS_NAMES, zeroshot.DEFAULT_TEMPLATES)
    result = classifier.evaluate(batch.images, batch.labels, progress=False)
    assert result.top1 > 0.85, str(result)
    pil_modes = [image.convert("L") for image in batch.pil_images()[:4]] + [image.convert("RGBA") for image in
                                                                            batch.pil_images()[:4]]
    assert classifier.predict_proba(pil_modes, progress=False).shape == (8, 30)


def test_tiny_model_probe_beats_chance_on_few_shots():
    from mmlesson.shapes import make_shapes

    clip = _tiny_or_skip()
    train, test = make_shapes(600, seed=11), make_shapes(200, seed=12)
    train_embeddings, test_embeddings = (clip.encode_images(b.images) for b in (train, test))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        curve = zeroshot.k_shot_accuracy(train_embeddings, train.labels, test_embeddings, test.labels, ks=(1,),
                                         seeds=(0,), n_classes=30)
    assert curve.mean[0] > 0.2  # chance is 1/30


def test_pixel_noise_is_seeded_and_stays_uint8():
    images = np.full((2, 8, 8, 3), 128, np.uint8)
    noisy = zeroshot.add_pixel_noise(images, sigma=40, seed=1)
    assert noisy.dtype == np.uint8 and noisy.shape == images.shape
    assert np.array_equal(noisy, zeroshot.add_pixel_noise(images, sigma=40, seed=1))
    assert 25 < np.abs(noisy.astype(float) - 128).mean() < 40  # E|N(0, 40)| = 32
    with pytest.raises(ValueError, match="uint8"):
        zeroshot.add_pixel_noise(images.astype(float))
