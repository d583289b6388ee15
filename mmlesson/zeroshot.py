"""Zero-shot classification: turn class names into a classifier with no training.

CLIP embeds images and texts in one space. Write each class name into a few prompt templates
("a photo of a {}"), embed the prompts, average them per class, and you have one weight vector
per class. An image belongs to the class whose vector is most similar to its embedding:

    weights = normalise(mean over templates of normalise(encode_texts(prompts)))  # (n_classes, D)
    probabilities = softmax(logit_scale * image_embeddings @ weights.T)          # (n_images, n_classes)

This module holds the templates, the classifier, its evaluation (top-1, top-5, per-class
accuracy, confusion matrix), and the linear-probe and k-shot baselines trained on the same frozen
embeddings. The lesson's figures are in viz.py and its photos in datasets.py; both are re-exported
here, so the notebook reaches everything of lesson 2 as ``zeroshot.<name>``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from PIL import Image

from . import config
from .contrastive import get_logits
from .datasets import DataUnavailable, oxford_pets, sample_dataset, sample_photos  # noqa: F401  (lesson 2's data)
from .images import MAX_SIDE, load_rgb  # noqa: F401  (load_rgb is part of this lesson's API)
from .models import encode_in_batches
from .shapes import with_article
from .viz import plot_confusion, plot_k_shot, plot_probabilities  # noqa: F401  (lesson 2's figures)

# --- prompt templates (ours) -------------------------------------------------------------
# The tiny Shapes model knows ~30 words (the words of its training captions); any other word becomes
# <unk>. SHAPES_TEMPLATES stay inside that vocabulary; PHOTO_TEMPLATES are written for real CLIP, and to
# the tiny model most of their words are unknown -- which the lesson measures rather than hides.
DEFAULT_TEMPLATES = ("a photo of a {}", "a picture of a {}", "a drawing of a {}", "an image of a {}")
SHAPES_TEMPLATES = (
    "{}", "a {}", "a photo of a {}", "a picture of a {}", "a drawing of a {}", "an image of a {}",
    "a small {}", "a large {}", "a {} on the left", "a {} on the right", "a {} at the top",
    "a {} at the bottom", "a {} in the center", "a drawing of a small {}", "a picture of a large {}",
)
PHOTO_TEMPLATES = (
    "a close-up photo of a {}", "a blurry photo of a {}", "a bright photo of a {}", "a dark photo of a {}",
    "a cropped photo of a {}", "a low resolution photo of a {}", "a black and white photo of a {}",
    "a good photo of a {}", "a bad photo of a {}", "a photo of one {}", "a photo of my {}",
    "a sketch of a {}", "a painting of a {}", "a cartoon of a {}", "a simple drawing of a {}",
    "a 3d rendering of a {}", "a toy {}", "art showing a {}",
)
ENSEMBLE_TEMPLATES = SHAPES_TEMPLATES + PHOTO_TEMPLATES
PET_TEMPLATES = ("a photo of a {}, a kind of pet", "a close-up photo of a {}, a pet", "a photo of my {}",
                 "a photo of a {}, a cat or dog breed")

# --- checking what the learner passes ----------------------------------------------------------

def check_class_names(class_names: Sequence[str]) -> list[str]:
    """A non-empty list of distinct, non-empty strings (CLIP lower-cases, so case does not distinguish)."""
    if isinstance(class_names, str):
        raise ValueError(f"class_names must be a list of names, not one string {class_names!r}; "
                         f"did you mean [{class_names!r}]?")
    names = list(class_names)
    if not names:
        raise ValueError("class_names is empty; give at least one class name, e.g. ['cat', 'dog'].")
    for name in names:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"class name {name!r} is not a non-empty string.")
    seen: dict[str, str] = {}
    duplicates = []
    for name in names:
        key = " ".join(name.lower().split())
        if key in seen:
            duplicates.append(f"{seen[key]!r} and {name!r}" if seen[key] != name else repr(name))
        seen.setdefault(key, name)
    if duplicates:
        raise ValueError(f"duplicate class names: {', '.join(duplicates)}. Each class needs its own name "
                         "(names that differ only in case or spaces give identical prompts).")
    return names


def check_templates(templates: Sequence[str]) -> list[str]:
    """A non-empty list of distinct templates, each with exactly one '{}' where the class name goes."""
    if isinstance(templates, str):
        templates = [templates]
    templates = list(templates)
    if not templates:
        raise ValueError("templates is empty; give at least one, e.g. ['a photo of a {}'].")
    for template in templates:
        if not isinstance(template, str) or template.count("{}") != 1:
            raise ValueError(f"template {template!r} must contain '{{}}' exactly once, where the class name "
                             "goes, e.g. 'a photo of a {}'.")
        try:
            template.format("x")
        except (IndexError, KeyError, ValueError) as error:
            raise ValueError(f"template {template!r} has braces other than '{{}}' ({error}); "
                             "write literal braces as '{{' and '}}'.") from None
    repeated = sorted({template for template in templates if templates.count(template) > 1})
    if repeated:
        raise ValueError(f"templates repeat: {repeated}; each template should appear once.")
    return templates


# --- prompts and classifier weights (the two exercises of the lesson) ----------------------------

def ensemble_prompts(class_names: Sequence[str], templates: Sequence[str]) -> list[list[str]]:
    """One list of prompts per class, one prompt per template, with 'a'/'an' fixed."""
    return [[with_article(template.format(name)) for template in templates] for name in class_names]


def classifier_weights(class_text_embeddings: torch.Tensor) -> torch.Tensor:
    """(n_classes, n_templates, D) text embeddings -> (n_classes, D) unit class vectors.

    Normalise each prompt's embedding (so every template counts equally), average over the
    templates, and normalise again (the mean of unit vectors is shorter than 1).
    """
    if class_text_embeddings.ndim != 3:
        raise ValueError(f"expected text embeddings of shape (n_classes, n_templates, D); got "
                         f"{tuple(class_text_embeddings.shape)}.")
    unit = F.normalize(class_text_embeddings, dim=-1)  # (n_classes, n_templates, D)
    return F.normalize(unit.mean(dim=1), dim=-1)  # (n_classes, D)


def encode_texts(clip, texts: Sequence[str], batch_size: int = 256, progress: bool = False) -> torch.Tensor:
    """Texts -> (n_texts, D) normalised embeddings, in batches with a progress bar."""
    return encode_in_batches(list(texts), batch_size, clip.encode_texts, "encoding prompts", progress, clip.embed_dim)


def build_classifier_weights(clip, class_names: Sequence[str], templates: Sequence[str] = DEFAULT_TEMPLATES,
                             batch_size: int = 256, progress: bool = False) -> torch.Tensor:
    """Class names x templates -> (n_classes, D) zero-shot weights for ``clip``."""
    names, templates = check_class_names(class_names), check_templates(templates)
    prompts = ensemble_prompts(names, templates)
    flat = [prompt for class_prompts in prompts for prompt in class_prompts]
    text_embeddings = encode_texts(clip, flat, batch_size, progress)  # (n_classes * n_templates, D)
    return classifier_weights(text_embeddings.reshape(len(names), len(templates), -1))  # (n_classes, D)


# --- images: any PIL mode, any size, in batches ------------------------------------------------

def _as_image_list(images) -> list | np.ndarray | torch.Tensor:
    """A single image becomes a list of one; a uint8 (n, H, W, 3) array or a tensor batch is kept."""
    if isinstance(images, (str, os.PathLike, Image.Image)):
        return [images]
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"a tensor batch must be preprocessed (n, 3, H, W), got shape {tuple(images.shape)}.")
        return images
    if isinstance(images, np.ndarray):
        if images.ndim == 4 and images.shape[-1] == 3 and images.dtype == np.uint8:
            return images
        if images.ndim == 3 and images.shape[-1] in (3, 4):
            raise ValueError(f"an array of shape {images.shape} looks like one image; pass [image] for one, "
                             "or a uint8 (n, H, W, 3) batch.")
    return list(images)


def encode_images(clip, images, batch_size: int = 256, progress: bool = True) -> torch.Tensor:
    """Images (paths, PIL images of any mode, a uint8 (n, H, W, 3) array, or a preprocessed tensor batch)
    -> (n_images, D) normalised embeddings, encoded in batches with a progress bar (images.load_rgb reads each)."""
    def encode(batch):
        batch = [load_rgb(image) for image in batch] if isinstance(batch, list) else batch
        return clip.encode_images(batch, batch_size=len(batch))  # (b, D)

    return encode_in_batches(_as_image_list(images), batch_size, encode, "encoding images", progress, clip.embed_dim)


def cosine_logits(image_embeddings: torch.Tensor, class_weights: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """logit_scale * cosine similarity, (n_images, D) x (n_classes, D) -> (n_images, n_classes).

    The same scaled cosines as Lesson 1's CLIP loss (contrastive.get_logits), with the classes as texts.
    """
    if len(image_embeddings) == 0:
        return torch.zeros((0, len(class_weights)))
    logits_per_image, _ = get_logits(image_embeddings, class_weights, logit_scale)
    return logits_per_image  # (n_images, n_classes)


# --- evaluation ------------------------------------------------------------------------------

@dataclass
class Evaluation:
    """How well a classifier did on a labelled set."""

    top1: float
    top5: float  # the label is among the 5 highest scores (among all, if there are fewer than 5 classes)
    per_class_accuracy: np.ndarray  # (n_classes,), NaN for a class with no images
    confusion: np.ndarray  # (n_classes, n_classes) counts; row = true class, column = predicted class
    class_names: list[str]
    n_images: int

    @property
    def mean_per_class_accuracy(self) -> float:
        return float(np.nanmean(self.per_class_accuracy))

    def worst_classes(self, n: int = 5) -> list[tuple[str, float]]:
        order = np.argsort(np.nan_to_num(self.per_class_accuracy, nan=np.inf))[:n]
        return [(self.class_names[i], float(self.per_class_accuracy[i])) for i in order]

    def __str__(self) -> str:
        return (f"top-1 {self.top1:.1%}, top-5 {self.top5:.1%}, mean per-class {self.mean_per_class_accuracy:.1%} "
                f"over {self.n_images} images and {len(self.class_names)} classes")


def check_labels(labels, n_items: int, n_classes: int) -> np.ndarray:
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
    if labels.ndim != 1 or len(labels) != n_items:
        raise ValueError(f"labels must be one integer per image: got shape {labels.shape} for {n_items} images.")
    if labels.size and (labels.dtype.kind not in "iu" or labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must be integers in 0..{n_classes - 1} (one per class); "
                         f"got values {labels.min()}..{labels.max()} of dtype {labels.dtype}.")
    return labels.astype(np.int64)


def evaluate_logits(logits: torch.Tensor, labels, class_names: Sequence[str]) -> Evaluation:
    """Top-1, top-5, per-class accuracy and the confusion matrix from (n_images, n_classes) scores."""
    n_images, n_classes = logits.shape
    if n_classes != len(class_names):
        raise ValueError(f"logits have {n_classes} columns but there are {len(class_names)} class names; "
                         "pass one column of scores per class.")
    labels = check_labels(labels, n_images, n_classes)
    top = logits.topk(min(5, n_classes), dim=1).indices.numpy()  # (n_images, k)
    predicted = top[:, 0]
    confusion = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(confusion, (labels, predicted), 1)  # row = true, column = predicted
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.diag(confusion) / confusion.sum(axis=1)  # NaN where a class has no images
    top1 = float((predicted == labels).mean()) if n_images else float("nan")
    top5 = float((top == labels[:, None]).any(axis=1).mean()) if n_images else float("nan")
    return Evaluation(top1, top5, per_class, confusion, list(class_names), n_images)


# --- the zero-shot classifier ---------------------------------------------------------------

@dataclass
class ZeroShotClassifier:
    """Classify images into ``class_names`` by cosine similarity to per-class text embeddings."""

    clip: object  # a ClipModel from mmlesson.models.load_clip
    class_names: list[str]
    weights: torch.Tensor  # (n_classes, D) unit vectors
    templates: list[str] = field(default_factory=lambda: list(DEFAULT_TEMPLATES))
    batch_size: int = 256  # images per encoding batch; larger is faster until memory runs out

    @classmethod
    def from_names(cls, clip, class_names: Sequence[str], templates: Sequence[str] = DEFAULT_TEMPLATES,
                   batch_size: int = 256, progress: bool = False) -> "ZeroShotClassifier":
        weights = build_classifier_weights(clip, class_names, templates, batch_size, progress)
        return cls(clip, list(class_names), weights, check_templates(templates), batch_size)

    def embed(self, images, progress: bool = True) -> torch.Tensor:
        return encode_images(self.clip, images, self.batch_size, progress)  # (n_images, D)

    def logits_from_embeddings(self, image_embeddings: torch.Tensor) -> torch.Tensor:
        return cosine_logits(image_embeddings, self.weights, self.clip.logit_scale)  # (n_images, n_classes)

    def logits(self, images, progress: bool = True) -> torch.Tensor:
        return self.logits_from_embeddings(self.embed(images, progress))

    def predict_proba(self, images, progress: bool = True) -> np.ndarray:
        """(n_images, n_classes) probabilities: softmax of logit_scale x cosine similarity."""
        return self.logits(images, progress).softmax(dim=1).numpy()

    def predict(self, images, progress: bool = True) -> np.ndarray:
        """(n_images,) index of the most likely class for each image."""
        return self.logits(images, progress).argmax(dim=1).numpy()

    def top_k(self, image, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most likely (class name, probability) pairs for one image."""
        probabilities = self.predict_proba([image], progress=False)[0]
        order = np.argsort(-probabilities)[:k]
        return [(self.class_names[i], float(probabilities[i])) for i in order]

    def evaluate(self, images, labels, progress: bool = True) -> Evaluation:
        return self.evaluate_embeddings(self.embed(images, progress), labels)

    def evaluate_embeddings(self, image_embeddings: torch.Tensor, labels) -> Evaluation:
        return evaluate_logits(self.logits_from_embeddings(image_embeddings), labels, self.class_names)


# --- baselines on the same frozen embeddings: linear probe and k-shot --------------------------

@dataclass
class ProbeConfig:
    weight_decay: float = 1e-4  # L2 on the weights: 1e-2 helps 1-shot a little but costs 30 points on a full pool
    max_iter: int = 200  # L-BFGS iterations; full batch on a few thousand embeddings converges well before
    history_size: int = 20  # L-BFGS memory; more is steadier, each step costs a little more


@dataclass
class LinearProbe:
    """Multinomial logistic regression on normalised embeddings."""

    weight: torch.Tensor  # (n_classes, D)
    bias: torch.Tensor  # (n_classes,)
    class_names: list[str]

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        return F.normalize(embeddings.float(), dim=-1) @ self.weight.T + self.bias  # (n_images, n_classes)

    def predict(self, embeddings: torch.Tensor) -> np.ndarray:
        return self.logits(embeddings).argmax(dim=1).numpy()

    def evaluate(self, embeddings: torch.Tensor, labels) -> Evaluation:
        return evaluate_logits(self.logits(embeddings), labels, self.class_names)


def linear_probe(train_embeddings: torch.Tensor, train_labels, n_classes: int | None = None,
                 class_names: Sequence[str] | None = None, probe_config: ProbeConfig | None = None) -> LinearProbe:
    """Fit logistic regression (full-batch L-BFGS, cross-entropy + L2) on frozen embeddings."""
    probe_config = probe_config or ProbeConfig()
    features = F.normalize(torch.as_tensor(train_embeddings).float(), dim=-1).detach()  # (n, D)
    if len(features) == 0:
        raise ValueError("linear_probe needs at least one training embedding.")
    if n_classes is None:
        n_classes = len(class_names) if class_names is not None else int(np.max(np.asarray(train_labels))) + 1
    labels = torch.from_numpy(check_labels(train_labels, len(features), n_classes))
    weight = torch.zeros(n_classes, features.shape[1], requires_grad=True)
    bias = torch.zeros(n_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=probe_config.max_iter,
                                  history_size=probe_config.history_size, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        logits = features @ weight.T + bias  # (n, n_classes)
        loss = F.cross_entropy(logits, labels) + probe_config.weight_decay / 2 * weight.square().sum()
        loss.backward()
        return loss

    with config.limit_threads(1):  # small full-batch problem: thread hand-offs cost more than the maths (35x on a busy 2-core CPU)
        optimizer.step(closure)
    names = list(class_names) if class_names is not None else [str(i) for i in range(n_classes)]
    return LinearProbe(weight.detach(), bias.detach(), names)


def sample_k_per_class(labels: np.ndarray, k: int, n_classes: int, seed: int) -> np.ndarray:
    """Indices of ``k`` random examples of every class (a seeded draw without replacement)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in range(n_classes):
        members = np.flatnonzero(labels == label)
        if len(members) < k:
            raise ValueError(f"class {label} has only {len(members)} training examples, fewer than k={k}; "
                             "use a larger training pool or a smaller k.")
        chosen.append(rng.choice(members, size=k, replace=False))
    return np.concatenate(chosen)


@dataclass
class KShotCurve:
    ks: list[int]
    accuracies: np.ndarray  # (len(ks), n_seeds) top-1 on the test set

    @property
    def mean(self) -> np.ndarray:
        return self.accuracies.mean(axis=1)

    @property
    def std(self) -> np.ndarray:
        return self.accuracies.std(axis=1)

    def as_dict(self) -> dict[int, float]:
        return {k: float(mean) for k, mean in zip(self.ks, self.mean)}


def k_shot_accuracy(train_embeddings: torch.Tensor, train_labels, test_embeddings: torch.Tensor, test_labels,
                    ks: Sequence[int] = (1, 4, 16), seeds: Sequence[int] = (0, 1, 2), n_classes: int | None = None,
                    probe_config: ProbeConfig | None = None, progress: bool = False) -> KShotCurve:
    """Top-1 of a linear probe trained on ``k`` examples per class, for each k, averaged over seeds."""
    from tqdm.auto import tqdm

    train_labels = np.asarray(train_labels)
    n_classes = n_classes or int(train_labels.max()) + 1
    if not ks or min(ks) < 1:
        raise ValueError(f"ks must be positive shot counts, e.g. (1, 4, 16); got {tuple(ks)}.")
    accuracies = np.zeros((len(ks), len(seeds)))
    runs = [(i, j) for i in range(len(ks)) for j in range(len(seeds))]
    for i, j in tqdm(runs, desc="k-shot probes", disable=not progress, leave=False):
        chosen = sample_k_per_class(train_labels, ks[i], n_classes, seeds[j])
        probe = linear_probe(train_embeddings[chosen], train_labels[chosen], n_classes, probe_config=probe_config)
        accuracies[i, j] = probe.evaluate(test_embeddings, test_labels).top1
    return KShotCurve(list(ks), accuracies)


def add_pixel_noise(images: np.ndarray, sigma: float = 40.0, seed: int = 0) -> np.ndarray:
    """uint8 images plus Gaussian pixel noise: a distribution shift that zero-shot cannot adapt to,
    while a probe trained on a few noisy examples can."""
    if images.dtype != np.uint8:
        raise ValueError(f"add_pixel_noise expects uint8 images, got {images.dtype}.")
    noise = np.random.default_rng(seed).normal(0.0, sigma, images.shape)
    return np.clip(np.rint(images + noise), 0, 255).astype(np.uint8)
