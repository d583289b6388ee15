"""Checkers for the notebooks' exercise cells.

Each ``check_<name>(fn)`` runs the learner's function against the reference on several cases.
It prints one line and returns the function the notebook should use from then on:

- a pass:              "✅ <name>: passed (N cases)"            -> returns the learner's function;
- a known mistake:     "❌ <name>: <one specific hint>"           -> returns the reference;
- an unfinished stub:  "⏭ <name>: not done yet — using the reference" -> returns the reference.

So a notebook always runs top to bottom, whatever state the exercises are in.
A stub is unfinished when it raises NotImplementedError or returns None.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

NOT_DONE = "not done yet — using the reference"


@dataclass
class Exercise:
    name: str
    reference: Callable
    cases: list[tuple]  # positional argument tuples
    mistakes: list[tuple[Callable, str]] = field(default_factory=list)  # (wrong variant, hint)
    generic_hint: str = "the result differs from the reference; re-read the docstring."
    atol: float = 1e-5


@dataclass
class CheckResult:
    status: str  # "passed", "mistake", "not done", "error"
    message: str
    function: Callable


def _as_array(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _same(answer: Any, expected: Any, atol: float) -> bool:
    try:
        answer, expected = _as_array(answer), _as_array(expected)
    except (TypeError, ValueError):
        return False
    return answer.shape == expected.shape and bool(np.allclose(answer, expected, atol=atol, rtol=1e-4))


def run_check(exercise: Exercise, fn: Callable, verbose: bool = True) -> CheckResult:
    """Compare ``fn`` with the reference on every case; diagnose the first failure."""
    result = _diagnose(exercise, fn)
    if verbose:
        print(result.message)
    return result


def _diagnose(exercise: Exercise, fn: Callable) -> CheckResult:
    name = exercise.name
    for case in exercise.cases:
        try:
            answer = fn(*case)
        except NotImplementedError:
            return CheckResult("not done", f"⏭ {name}: {NOT_DONE}", exercise.reference)
        except Exception as error:  # the learner's code crashed: say where, keep the notebook going
            return CheckResult("error", f"❌ {name}: your function raised {type(error).__name__}: {error} "
                                        "— using the reference for now.", exercise.reference)
        if answer is None:
            return CheckResult("not done", f"⏭ {name}: {NOT_DONE}", exercise.reference)
        expected = exercise.reference(*case)
        if _same(answer, expected, exercise.atol):
            continue
        for wrong, hint in exercise.mistakes:
            if _same(answer, wrong(*case), exercise.atol):
                return CheckResult("mistake", f"❌ {name}: {hint} — using the reference for now.",
                                   exercise.reference)
        shape_note = ""
        if _as_array(answer).shape != _as_array(expected).shape:
            shape_note = f" (shape {_as_array(answer).shape}, expected {_as_array(expected).shape})"
        return CheckResult("mistake", f"❌ {name}: {exercise.generic_hint}{shape_note} — using the reference "
                                      "for now.", exercise.reference)
    return CheckResult("passed", f"✅ {name}: passed ({len(exercise.cases)} cases)", fn)


# --- Lesson 2: zero-shot classification ---

def _text_embedding_cases() -> list[tuple]:
    """(n_classes, n_templates, D) embeddings, not unit length, with n_classes != n_templates,
    so that each known mistake gives an answer of its own."""
    import torch

    generator = torch.Generator().manual_seed(2)
    return [(torch.randn(3, 4, 8, generator=generator) * 3,),
            (torch.randn(5, 2, 16, generator=generator) + 0.5,),
            (torch.rand(4, 6, 12, generator=generator) * torch.arange(1, 7).reshape(1, 6, 1),)]


def check_classifier_weights(fn: Callable) -> Callable:
    """fn(class_text_embeddings (n_classes, n_templates, D)) -> (n_classes, D) zero-shot weights:
    normalise each embedding, average over the templates, normalise again."""
    import torch.nn.functional as F

    from .zeroshot import classifier_weights

    def unit(embeddings):
        return F.normalize(embeddings, dim=-1)

    mistakes = [
        (lambda e: unit(e).mean(dim=1), "the mean of unit vectors is shorter than 1: normalise the averaged "
                                        "class vectors again, so cosine similarity stays a dot product"),
        (lambda e: unit(unit(e).mean(dim=0)), "you averaged over the classes (axis 0); average over the "
                                              "templates (axis 1) so that each class keeps one vector: (n_classes, D)"),
        (lambda e: unit(unit(e).mean(dim=2)), "you averaged over the embedding dimensions (the last axis); average "
                                              "over the templates (axis 1): the result is (n_classes, D)"),
        (lambda e: unit(e.mean(dim=1)), "normalise each template's embedding before averaging, so that every "
                                        "template counts equally however long its raw vector is"),
    ]
    exercise = Exercise("classifier_weights", classifier_weights, _text_embedding_cases(), mistakes,
                        generic_hint="the weights differ from the reference: normalise each embedding, average "
                                     "over the templates (axis 1), then normalise each class's mean; the result "
                                     "is (n_classes, D)")
    return run_check(exercise, fn).function


ENSEMBLE_CASES = [(["red circle", "orange star", "blue square"], ["a {}", "a photo of a {}"]),
                  (["cat", "owl"], ["a photo of a {}", "a drawing of an {}", "{}"])]


def _prompt_codes(prompts: Any, vocabulary: dict[str, int]) -> np.ndarray | None:
    """Nested lists of prompts -> an array of the same shape holding each prompt's index (-1: unknown),
    so that run_check can compare prompt lists like arrays."""
    if prompts is None:
        return None
    if isinstance(prompts, str):
        raise ValueError("the result is one string, not a list with one list of prompts per class")

    def code(item):
        if isinstance(item, str):
            return vocabulary.get(" ".join(item.split()), -1)
        return [code(inner) for inner in item]

    try:
        return np.array(code(prompts), dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("the result is not a list of equal-length lists of strings (one list per class, "
                         "one prompt per template)") from None


def check_ensemble_templates(fn: Callable) -> Callable:
    """fn(class_names, templates) -> one list of prompts per class, one prompt per template, 'a'/'an' fixed."""
    from .shapes import with_article
    from .zeroshot import ensemble_prompts

    flat_hint = "you returned one flat list; return a list of lists, one inner list of prompts per class"
    mistakes = [
        (lambda names, templates: [[with_article(t.format(n)) for n in names] for t in templates],
         "you made one list per template; make one list per class (outer), holding that class's prompt for "
         "every template (inner)"),
        (lambda names, templates: [with_article(t.format(n)) for n in names for t in templates],
         flat_hint),
        (lambda names, templates: [with_article(t.format(n)) for t in templates for n in names],
         flat_hint),
        (lambda names, templates: [[t.format(n) for t in templates] for n in names],
         "'a orange star' should read 'an orange star': pass each prompt through with_article "
         "(from mmlesson.shapes)"),
    ]
    variants = [ensemble_prompts, *(wrong for wrong, _ in mistakes)]
    texts = {" ".join(str(text).split()) for variant in variants for case in ENSEMBLE_CASES
             for text in np.ravel(np.array(variant(*case), dtype=object))}
    vocabulary = {text: index for index, text in enumerate(sorted(texts))}

    def encoded(function: Callable) -> Callable:
        return lambda *case: _prompt_codes(function(*case), vocabulary)

    exercise = Exercise("ensemble_templates", encoded(ensemble_prompts), ENSEMBLE_CASES,
                        [(encoded(wrong), hint) for wrong, hint in mistakes],
                        generic_hint="the prompts differ from the expected ones: with the templates "
                                     "['a {}', 'a photo of a {}'], the list for 'orange star' should be "
                                     "['an orange star', 'a photo of an orange star']")
    result = run_check(exercise, encoded(fn))
    return fn if result.status == "passed" else ensemble_prompts


# --- Lesson 4: guided generation ---

def _spherical_cases() -> list[tuple]:
    """(image_embeddings (B, D), text_embeddings (P, D)) with norms 0.2-0.6, deliberately not normalised."""
    import torch

    generator = torch.Generator().manual_seed(4)
    cases = []
    for n_images, n_texts, dim in ((4, 3, 8), (1, 1, 5), (6, 2, 16)):
        images, texts = torch.randn(n_images, dim, generator=generator), torch.randn(n_texts, dim, generator=generator)
        images = images / images.norm(dim=-1, keepdim=True) * (0.2 + 0.4 * torch.rand(n_images, 1, generator=generator))
        texts = texts / texts.norm(dim=-1, keepdim=True) * (0.2 + 0.4 * torch.rand(n_texts, 1, generator=generator))
        cases.append((images, texts))
    return cases


def check_spherical_distance_loss(fn: Callable) -> Callable:
    """fn(image_embeddings (B, D), text_embeddings (P, D)) -> (B, P): 2 * arcsin(|a - b| / 2)^2 on unit vectors."""
    import torch
    import torch.nn.functional as F

    from .generate import spherical_distance

    def chord(images, texts):
        return (images[:, None, :] - texts[None, :, :]).norm(dim=-1)  # (B, P)

    mistakes = [
        (lambda images, texts: 2 * torch.arcsin(chord(images, texts) / 2) ** 2,
         "normalise both inputs to unit length first (F.normalize(x, dim=-1)): the formula holds on the sphere"),
        (lambda images, texts: 1 - F.normalize(images, dim=-1) @ F.normalize(texts, dim=-1).T,
         "that is the cosine distance 1 - cos; VQGAN+CLIP uses the squared great-circle distance "
         "2 * arcsin(|a - b| / 2) ** 2"),
        (lambda images, texts: 2 * torch.arcsin(chord(F.normalize(images, dim=-1), F.normalize(texts, dim=-1)) / 2),
         "square the arcsin: 2 * arcsin(|a - b| / 2) ** 2 (the square makes it smooth where a = b)"),
    ]
    exercise = Exercise("spherical_distance_loss", spherical_distance, _spherical_cases(), mistakes,
                        generic_hint="expected 2 * arcsin(|a - b| / 2) ** 2 for every (image, text) pair of "
                                     "normalised embeddings, shape (n_images, n_texts)")
    return run_check(exercise, fn).function


# --- Lesson 3: image search ---

def _top_k_cases() -> list[tuple]:
    """(query (D,), image_embeddings (N, D), k): unit vectors with distinct scores; k >= 2 first, so that
    'right images, wrong order' and 'off by one' differ from the answer."""
    rng = np.random.default_rng(3)
    cases = []
    for n_images, dim, k in ((12, 8, 3), (30, 16, 5), (7, 4, 1)):
        images = rng.standard_normal((n_images, dim))
        images /= np.linalg.norm(images, axis=1, keepdims=True)
        query = rng.standard_normal(dim)
        cases.append((query / np.linalg.norm(query), images, k))
    return cases


def check_top_k(fn: Callable) -> Callable:
    """fn(query_embedding (D,), image_embeddings (N, D), k) -> indices of the k best images, best first."""
    from .search import top_k_indices

    def scores(query, images):
        return np.asarray(images) @ np.asarray(query)  # (N,)

    off_by_one = "off by one: return exactly k indices, starting from the best one (position 0)"
    mistakes = [
        (lambda q, e, k: np.argsort(scores(q, e))[:k], "those are the k worst images: np.argsort sorts ascending, "
                                                       "so sort by -scores (or reverse) to put the best first"),
        (lambda q, e, k: np.argsort(scores(q, e))[-k:], "the right images in the wrong order: np.argsort is "
                                                        "ascending, so reverse it: best first"),
        (lambda q, e, k: np.sort(scores(q, e))[::-1][:k], "you returned the scores; return the indices of the "
                                                          "images (np.argsort gives positions, np.sort values)"),
        (lambda q, e, k: np.argsort(-scores(q, e))[:k + 1], off_by_one),
        (lambda q, e, k: np.argsort(-scores(q, e))[:k - 1], off_by_one),
        (lambda q, e, k: np.argsort(-scores(q, e))[1:k + 1], off_by_one),
    ]
    exercise = Exercise("top_k", top_k_indices, _top_k_cases(), mistakes,
                        generic_hint="expected the indices of the k largest image_embeddings @ query_embedding, "
                                     "best first, shape (k,)")
    return run_check(exercise, fn).function


RECALL_CASES = [  # (retrieved, relevant sets, k): more columns than k, relevant sets of other sizes than k
    (np.array([[4, 1, 7, 2, 9], [0, 3, 5, 8, 6], [2, 6, 1, 0, 4]]), [{1, 2}, {3, 8, 9, 11}, {6}], 3),
    ([[5, 0, 2, 8], [1, 9, 4, 7]], [{0, 7, 3}, {4, 9}], 2),
    (np.array([[3, 2, 1, 0]]), [{0, 1, 2, 3, 4, 5}], 4),
]


def check_recall_at_k(fn: Callable) -> Callable:
    """fn(retrieved (Q, >= k) indices best first, relevant (one set per query), k) -> mean recall@k."""
    from .search import precision_at_k, recall_at_k

    def hits(retrieved, relevant, k, columns=None):
        return np.array([len(set(list(row)[:columns or k]) & set(truth)) for row, truth in zip(retrieved, relevant)])

    sizes = lambda relevant: np.array([len(truth) for truth in relevant])  # noqa: E731
    mistakes = [
        (precision_at_k, "that is precision@k (hits / k); recall@k divides the hits by the number of relevant "
                         "items of that query"),
        (lambda r, t, k: hits(r, t, k) / sizes(t), "return one number: the mean of the per-query recalls"),
        (lambda r, t, k: np.mean(hits(r, t, k, columns=len(list(r)[0])) / sizes(t)),
         "count only the first k retrieved items of each row, not all of them"),
    ]
    exercise = Exercise("recall_at_k", recall_at_k, RECALL_CASES, mistakes,
                        generic_hint="expected mean over queries of |top-k ∩ relevant| / |relevant|, one number")
    return run_check(exercise, fn).function


# --- Lesson 1: the contrastive loss ---
# Cases are NumPy inputs from fixed seeds; each mistake is a typical wrong solution written out,
# so that a learner's answer that equals it gets that mistake's hint.

from mmlesson import contrastive as _contrastive  # noqa: E402  (this section's reference code)

_LESSON1_CAPTIONS = ("a red circle", "a blue square", "a green star", "a yellow cross", "a circle")


def _lesson1_embeddings(seed: int, n: int, dim: int, normalise: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(n, dim))  # (n, dim)
    if normalise:
        return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    return embeddings * rng.uniform(0.3, 3.0, size=(n, 1))  # rows of varied length


def _lesson1_pairs(seed: int, n: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised (image_features, text_features) where pair i is correlated, as after some training."""
    image_features = _lesson1_embeddings(seed, n, dim, normalise=True)
    text_features = image_features + 0.8 * _lesson1_embeddings(seed + 100, n, dim, normalise=True)
    return image_features, text_features / np.linalg.norm(text_features, axis=1, keepdims=True)


def _unit_rows(embeddings: np.ndarray) -> np.ndarray:
    return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)


def check_cosine_similarity(fn: Callable) -> Callable:
    """fn(image_embeddings (n_images, d), text_embeddings (n_texts, d)) -> (n_images, n_texts) cosines."""
    cases = [(_lesson1_embeddings(1, 4, 6, False), _lesson1_embeddings(2, 4, 6, False)),
             (_lesson1_embeddings(3, 5, 8, False), _lesson1_embeddings(4, 3, 8, False)),
             (_lesson1_embeddings(5, 16, 32, False), _lesson1_embeddings(6, 16, 32, False))]
    mistakes = [
        (lambda images, texts: images @ texts.T,
         "these are raw dot products: you forgot to normalise. Divide each embedding by its L2 norm "
         "(np.linalg.norm(x, axis=1, keepdims=True)) first, so only the angle counts"),
        (lambda images, texts: _unit_rows(images) @ texts.T,
         "only the image embeddings were normalised: normalise the text embeddings too"),
        (lambda images, texts: images @ _unit_rows(texts).T,
         "only the text embeddings were normalised: normalise the image embeddings too"),
        (lambda images, texts: (images / np.linalg.norm(images, axis=0)) @ (texts / np.linalg.norm(texts, axis=0)).T,
         "you normalised each column (axis=0); each row is one embedding, so normalise along axis=1"),
        (lambda images, texts: _unit_rows(texts) @ _unit_rows(images).T,
         "rows must be images and columns texts: compute images @ texts.T, shape (n_images, n_texts)"),
    ]
    exercise = Exercise("cosine_similarity", _contrastive.cosine_similarity_matrix, cases, mistakes,
                        "the matrix differs from the cosines: normalise both sides' rows, then take "
                        "image_embeddings @ text_embeddings.T")
    return run_check(exercise, fn).function


def _lesson1_cross_entropies(image_features, text_features, logit_scale) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair cross-entropies (image->text, text->image), for writing out the wrong variants."""
    logits_per_image = logit_scale * image_features @ text_features.T  # (n, n)
    image_to_text = -np.diag(_contrastive._log_softmax(logits_per_image))  # (n,)
    text_to_image = -np.diag(_contrastive._log_softmax(logits_per_image.T))  # (n,)
    return image_to_text, text_to_image


def _wrong_scale(scale_of) -> Callable:
    """The symmetric loss computed with a wrong logit scale: ``scale_of(logit_scale)``."""
    return lambda images, texts, logit_scale: _contrastive.clip_loss(images, texts, scale_of(logit_scale))


def check_clip_loss(fn: Callable) -> Callable:
    """fn(image_features, text_features, logit_scale) -> the symmetric CLIP loss (a number)."""
    cases = [(*_lesson1_pairs(10, 5, 8), 10.0), (*_lesson1_pairs(11, 8, 16), 100.0),
             (*_lesson1_pairs(12, 16, 32), 14.3), (*_lesson1_pairs(13, 3, 4), 1.0)]

    def one_direction(pick: int) -> Callable:
        return lambda *case: _lesson1_cross_entropies(*case)[pick].mean()

    mistakes = [
        (one_direction(0), "only one direction: you computed image->text. CLIP's loss is symmetric: also take "
                           "the text->image cross-entropy (on the transposed logits) and average the two"),
        (one_direction(1), "only one direction: you computed text->image. CLIP's loss is symmetric: also take "
                           "the image->text cross-entropy and average the two"),
        (_wrong_scale(lambda logit_scale: 1.0),
         "the cosines were not scaled: multiply them by logit_scale before the softmax"),
        (_wrong_scale(lambda logit_scale: 1.0 / logit_scale),
         "the temperature is used the wrong way round: logit_scale is 1/temperature, so multiply the cosines "
         "by logit_scale (dividing by it is dividing by 1/temperature)"),
        (lambda *case: sum(direction.sum() for direction in _lesson1_cross_entropies(*case)) / 2,
         "you summed over the batch: take the mean over the n pairs, so the loss does not grow with batch size"),
        (lambda *case: sum(direction.mean() for direction in _lesson1_cross_entropies(*case)),
         "you added the two directions: average them, (image->text + text->image) / 2"),
        (lambda *case: -_contrastive.clip_loss(*case),
         "the sign is flipped: cross-entropy is minus the log-probability of the right match, so the loss is >= 0"),
    ]
    exercise = Exercise("clip_loss", _contrastive.clip_loss, cases, mistakes,
                        "the loss differs from the reference: logits = logit_scale * image_features @ "
                        "text_features.T, cross-entropy against the diagonal, both directions, averaged")
    return run_check(exercise, fn).function


def _lesson1_captions(seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [_LESSON1_CAPTIONS[index] for index in rng.integers(0, 3, size=n)]  # 3 captions: many duplicates


def _same_caption(captions) -> np.ndarray:
    return np.array([[first == second for second in captions] for first in captions], dtype=np.float64)  # (n, n)


def check_multi_positive_targets(fn: Callable) -> Callable:
    """fn(captions: list of n strings) -> (n, n) targets; each row spreads 1 over the identical captions."""
    cases = [(["a red circle", "a blue square", "a red circle", "a green star", "a red circle", "a blue square"],),
             (_lesson1_captions(20, 12),), (list(_LESSON1_CAPTIONS[:3]),), (["a circle"] * 4,)]
    mistakes = [
        (lambda captions: np.eye(len(captions)),
         "you used the identity, which ignores duplicates: every j whose caption equals caption i is a positive "
         "for row i"),
        (_same_caption, "each row must sum to 1 (a probability distribution): divide each row of the 0/1 "
                        "match matrix by its row sum"),
        (lambda captions: _same_caption(captions) / len(captions),
         "divide each row by its own number of matches (its row sum), not by the batch size"),
        (lambda captions: _same_caption(captions) / _same_caption(captions).sum(),
         "divide each row by its own row sum, not by the total of the whole matrix"),
    ]
    exercise = Exercise("multi_positive_targets", _contrastive.multi_positive_targets, cases, mistakes,
                        "the targets differ from the reference: target[i, j] = 1/k when caption j equals "
                        "caption i (k such j, including i itself), else 0")
    return run_check(exercise, fn).function


# --- Lesson 4: VQGAN ---

def _quantizer_cases() -> list[tuple]:
    """(latents (B, C, H, W), codebook (K, C)); code lengths vary so a dot product picks other codes."""
    import torch

    generator = torch.Generator().manual_seed(44)
    cases = []
    for batch, channels, side, n_codes in ((2, 4, 3, 10), (1, 3, 2, 6), (3, 8, 4, 16)):
        latents = torch.randn(batch, channels, side, side, generator=generator)
        codebook = torch.randn(n_codes, channels, generator=generator) * torch.linspace(0.3, 2.5, n_codes)[:, None]
        cases.append((latents, codebook))
    return cases


def _quantizer_probe(function: Callable) -> Callable:
    """Run ``function`` and return its output values followed by d(sum(weights * output))/d(latents),
    so that a checker comparing arrays also sees whether the gradient reaches the latents."""
    import torch

    def probe(latents, codebook):
        latents = latents.clone().requires_grad_(True)
        quantized = function(latents, codebook)
        if quantized is None:
            return None
        quantized = torch.as_tensor(quantized)
        weights = torch.linspace(-1, 1, quantized.numel()).reshape(quantized.shape)
        gradient = torch.zeros_like(latents)
        if quantized.requires_grad:
            gradient = torch.autograd.grad((quantized * weights).sum(), latents, allow_unused=True)[0]
        gradient = torch.zeros_like(latents) if gradient is None else gradient
        return torch.cat([quantized.detach().double().flatten(), gradient.double().flatten()])

    return probe


def check_straight_through_quantizer(fn: Callable) -> Callable:
    """fn(latents (B, C, H, W), codebook (K, C)) -> (B, C, H, W): each C-vector replaced by its nearest
    codebook row (Euclidean), with the gradient passed straight through to the latents."""
    import torch

    from .vqgan import lookup_codes, nearest_codes, straight_through_quantize

    def by_dot_product(latents, codebook):
        scores = latents.permute(0, 2, 3, 1) @ codebook.T  # (B, H, W, K)
        quantized = lookup_codes(scores.argmax(-1), codebook)
        return latents + (quantized - latents).detach()

    def channels_not_moved_last(latents, codebook):
        flat = latents.reshape(-1, latents.shape[1])  # mixes channels with positions
        indices = torch.cdist(flat, codebook).argmin(1)
        quantized = codebook[indices].reshape(latents.shape)
        return latents + (quantized - latents).detach()

    mistakes = [
        (lambda latents, codebook: lookup_codes(nearest_codes(latents, codebook), codebook),
         "the values are right but no gradient reaches the latents: return latents + (quantized - latents).detach() "
         "so the backward pass skips the non-differentiable lookup"),
        (by_dot_product, "nearest means the smallest Euclidean distance ||z - e||, not the largest dot product z.e: "
                         "codebook rows have different lengths"),
        (channels_not_moved_last, "each latent vector is the C channels at one (h, w) position: move channels last "
                                  "(permute(0, 2, 3, 1)) before flattening to (B*H*W, C), and back afterwards"),
        (lambda latents, codebook: nearest_codes(latents, codebook),
         "you returned the code indices; return the codebook vectors at those indices, shape (B, C, H, W)"),
    ]
    exercise = Exercise("straight_through_quantizer", _quantizer_probe(straight_through_quantize), _quantizer_cases(),
                        [(_quantizer_probe(wrong), hint) for wrong, hint in mistakes],
                        generic_hint="expected the nearest codebook vector at every position, shape (B, C, H, W), "
                                     "with gradient d output / d latents = identity")
    result = run_check(exercise, _quantizer_probe(fn))
    return fn if result.status == "passed" else straight_through_quantize
