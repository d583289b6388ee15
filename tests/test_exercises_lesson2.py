"""Lesson 2's exercise checkers: each typical wrong answer gets its own two-step hint (a nudge, then the line)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmlesson import zeroshot
from mmlesson.exercises import check_classifier_weights, check_ensemble_templates
from mmlesson.shapes import with_article
from tests.hint_output import two_step

UNIT_TEMPLATES = "unit = F.normalize(class_text_embeddings, dim=-1)"
UNIT_MEANS = "return F.normalize(unit.mean(dim=1), dim=-1)"


def unit(embeddings: torch.Tensor) -> torch.Tensor:
    return F.normalize(embeddings, dim=-1)


@pytest.mark.parametrize("wrong, nudge, line", [
    (lambda e: unit(e).mean(dim=1), "the mean of unit vectors is shorter than 1", UNIT_MEANS),
    (lambda e: unit(unit(e).mean(dim=0)), "you averaged over the classes", "unit.mean(dim=1)"),
    (lambda e: unit(F.normalize(e, dim=1).mean(dim=1)), "wrong normalisation axis", UNIT_TEMPLATES),
    (lambda e: unit(e.mean(dim=1)), "normalise each template's embedding before averaging", UNIT_TEMPLATES),
    (lambda e: (lambda means: means / means.norm())(unit(e).mean(dim=1)), "the norm of the whole tensor",
     UNIT_MEANS),
    (lambda e: (lambda means: means / means.norm())((e / e.norm()).mean(dim=1)), "the norm of the whole tensor",
     UNIT_TEMPLATES),
    (lambda e: (lambda m: m / (m ** 2).sum(-1, keepdim=True))((e / (e ** 2).sum(-1, keepdim=True)).mean(dim=1)),
     "squared length", UNIT_MEANS),
])
def test_classifier_weights_mistakes_get_a_nudge_then_the_line(capsys, wrong, nudge, line):
    assert check_classifier_weights(wrong) is zeroshot.classifier_weights
    two_step(capsys.readouterr().out, nudge, line, name="classifier_weights:")


def test_classifier_weights_without_keepdim_names_the_lost_axis(capsys):
    def learner(class_text_embeddings):
        unit_embeddings = class_text_embeddings / class_text_embeddings.norm(dim=-1)  # (C, T, D) / (C, T)
        means = unit_embeddings.mean(dim=1)
        return means / means.norm(dim=-1, keepdim=True)

    assert check_classifier_weights(learner) is zeroshot.classifier_weights
    headline, _ = two_step(capsys.readouterr().out, "drops the last axis", "norm(dim=-1, keepdim=True)")
    assert "RuntimeError" in headline and "must match the size of tensor" in headline


PROMPTS = "[[with_article(template.format(name)) for template in templates] for name in class_names]"


@pytest.mark.parametrize("wrong, nudge, line", [
    (lambda names, templates: [[with_article(t.format(n)) for n in names] for t in templates],
     "you made one list per template", PROMPTS),
    (lambda names, templates: [with_article(t.format(n)) for n in names for t in templates],
     "you returned one flat list", PROMPTS),
    (lambda names, templates: [[t.format(n) for t in templates] for n in names], "'a orange star'",
     "with_article(template.format(name))"),
])
def test_ensemble_templates_mistakes_get_a_nudge_then_the_line(capsys, wrong, nudge, line):
    assert check_ensemble_templates(wrong) is zeroshot.ensemble_prompts
    two_step(capsys.readouterr().out, nudge, line)


def test_ensemble_templates_right_answer_passes(capsys):
    def learner(class_names, templates):
        return [[with_article(template.format(name)) for template in templates] for name in class_names]

    assert check_ensemble_templates(learner) is learner
    assert "✅ ensemble_templates: passed" in capsys.readouterr().out
