"""Lesson 2 exercises: classifier weights from template embeddings, prompt ensembles."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..shapes import with_article
from ..zeroshot import classifier_weights, ensemble_prompts
from ._checking import Exercise, run_check
from ._report import Hint


def _text_embedding_cases() -> list[tuple]:
    """(n_classes, n_templates, D) embeddings, not unit length, with n_classes != n_templates,
    so that each known mistake gives an answer of its own."""
    generator = torch.Generator().manual_seed(2)
    return [(torch.randn(3, 4, 8, generator=generator) * 3,),
            (torch.randn(5, 2, 16, generator=generator) + 0.5,),
            (torch.rand(4, 6, 12, generator=generator) * torch.arange(1, 7).reshape(1, 6, 1),)]


UNIT_TEMPLATES = "unit = F.normalize(class_text_embeddings, dim=-1)  # (n_classes, n_templates, D), unit rows"
UNIT_MEANS = "return F.normalize(unit.mean(dim=1), dim=-1)  # (n_classes, D)"


def _whole_tensor_unit(embeddings: torch.Tensor) -> torch.Tensor:
    return embeddings / embeddings.norm()  # one norm for everything


def _squared_norm_unit(embeddings: torch.Tensor) -> torch.Tensor:
    return embeddings / (embeddings ** 2).sum(dim=-1, keepdim=True)  # forgot the square root


def check_classifier_weights(fn: Callable) -> Callable:
    """fn(class_text_embeddings (n_classes, n_templates, D)) -> (n_classes, D) zero-shot weights:
    normalise each embedding, average over the templates, normalise again."""
    def unit(embeddings):
        return F.normalize(embeddings, dim=-1)

    whole_tensor = Hint("you divided by the norm of the whole tensor (.norm() without dim): that is one number for "
                        "all vectors, so each keeps its own length. Every D-dimensional vector needs its own norm",
                        f"{UNIT_TEMPLATES}\n{UNIT_MEANS}")
    mistakes = [
        (lambda e: unit(e).mean(dim=1), Hint("the mean of unit vectors is shorter than 1: normalise the averaged "
                                             "class vectors again, so that cosine similarity stays a dot product",
                                             UNIT_MEANS)),
        (lambda e: unit(unit(e).mean(dim=0)), Hint("you averaged over the classes (axis 0); average over the "
                                                   "templates (axis 1) so that each class keeps one vector: "
                                                   "(n_classes, D)", UNIT_MEANS)),
        (lambda e: unit(unit(e).mean(dim=2)), Hint("you averaged over the embedding dimensions (the last axis); "
                                                   "average over the templates (axis 1): the result is "
                                                   "(n_classes, D)", UNIT_MEANS)),
        (lambda e: unit(F.normalize(e, dim=1).mean(dim=1)),
         Hint("wrong normalisation axis: you normalised along the templates (dim=1); each D-dimensional vector "
              "must have length 1, so normalise along the last axis", UNIT_TEMPLATES)),
        (lambda e: unit(unit(e).reshape(e.shape[1], e.shape[0], e.shape[2]).mean(dim=0)),
         Hint("you reshaped (n_classes, n_templates, D) to (n_templates, n_classes, D) without permuting: reshape "
              "keeps the memory order and mixes classes with templates. Swap the axes instead (or average over "
              "dim=1 directly)", "by_template = unit.permute(1, 0, 2)  # (n_templates, n_classes, D)")),
        (lambda e: unit(e.mean(dim=1)), Hint("normalise each template's embedding before averaging, so that every "
                                             "template counts equally however long its raw vector is",
                                             UNIT_TEMPLATES)),
        (lambda e: _whole_tensor_unit(unit(e).mean(dim=1)), whole_tensor),
        (lambda e: _whole_tensor_unit(_whole_tensor_unit(e).mean(dim=1)), whole_tensor),
        (lambda e: _squared_norm_unit(_squared_norm_unit(e).mean(dim=1)),
         Hint("you divided by the squared length (the sum of squares, without the square root), so the vectors "
              "have length 1/|x| instead of 1. Look at the norm you divide by", f"{UNIT_TEMPLATES}\n{UNIT_MEANS}")),
    ]
    keepdims = Hint("x.norm(dim=-1) has shape (n_classes, n_templates): it drops the last axis, so torch lines the "
                    "lengths up with the wrong axis of the (n_classes, n_templates, D) tensor. Keep that axis",
                    "unit = class_text_embeddings / class_text_embeddings.norm(dim=-1, keepdim=True)")
    exercise = Exercise("classifier_weights", classifier_weights, _text_embedding_cases(), mistakes,
                        generic_hint=Hint("the weights differ from the reference: normalise each embedding, "
                                          "average over the templates (axis 1), then normalise each class's mean; "
                                          "the result is (n_classes, D)", f"{UNIT_TEMPLATES}\n{UNIT_MEANS}"),
                        keepdims_hint=keepdims, returns="one (n_classes, D) tensor")
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


PROMPTS = "return [[with_article(template.format(name)) for template in templates] for name in class_names]"


def check_ensemble_templates(fn: Callable) -> Callable:
    """fn(class_names, templates) -> one list of prompts per class, one prompt per template, 'a'/'an' fixed."""
    flat_hint = Hint("you returned one flat list; return a list of lists, one inner list of prompts per class",
                     PROMPTS)
    mistakes = [
        (lambda names, templates: [[with_article(t.format(n)) for n in names] for t in templates],
         Hint("you made one list per template; make one list per class (outer), holding that class's prompt for "
              "every template (inner)", PROMPTS)),
        (lambda names, templates: [with_article(t.format(n)) for n in names for t in templates],
         flat_hint),
        (lambda names, templates: [with_article(t.format(n)) for t in templates for n in names],
         flat_hint),
        (lambda names, templates: [[t.format(n) for t in templates] for n in names],
         Hint("'a orange star' should read 'an orange star': mmlesson.shapes has a helper that fixes the article",
              "with_article(template.format(name))")),
    ]
    variants = [ensemble_prompts, *(wrong for wrong, _ in mistakes)]
    texts = {" ".join(str(text).split()) for variant in variants for case in ENSEMBLE_CASES
             for text in np.ravel(np.array(variant(*case), dtype=object))}
    vocabulary = {text: index for index, text in enumerate(sorted(texts))}

    def encoded(function: Callable) -> Callable:
        return lambda *case: _prompt_codes(function(*case), vocabulary)

    exercise = Exercise("ensemble_templates", encoded(ensemble_prompts), ENSEMBLE_CASES,
                        [(encoded(wrong), hint) for wrong, hint in mistakes],
                        generic_hint=Hint("the prompts differ from the expected ones: with the templates "
                                          "['a {}', 'a photo of a {}'], the list for 'orange star' should be "
                                          "['an orange star', 'a photo of an orange star']", PROMPTS),
                        returns="one list of lists of prompts")
    result = run_check(exercise, encoded(fn))
    return fn if result.status == "passed" else ensemble_prompts
