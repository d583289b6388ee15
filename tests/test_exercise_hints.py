"""The exercise checkers' hints for common slips: each wrong variant below is written the way a learner would
write it, and must get its own hint, in two steps (a nudge, then the line behind a fold); a stub is 'not done',
a missing `return` is named. Also: how the two steps are shown (HTML with <details>, plain text)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from IPython.core.formatters import DisplayFormatter

from mmlesson import contrastive, ranking, zeroshot
from mmlesson.exercises import (NOT_DONE, Exercise, check_classifier_weights, check_clip_loss,
                                check_cosine_similarity, check_recall_at_k, check_spherical_distance_loss, check_top_k,
                                run_check)
from mmlesson.exercises._report import SHOW_LINE, Hint
from tests.hint_output import two_step

NO_RETURN = "did you forget `return`?"


def unit_rows(embeddings: np.ndarray) -> np.ndarray:
    return embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)


def log_softmax_rows(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def printed_by(check, fn, capsys) -> str:
    check(fn)
    return capsys.readouterr().out


# --- stub and missing return, on every lesson 1-3 checker ---

CHECKERS = [check_cosine_similarity, check_clip_loss, check_classifier_weights, check_top_k, check_recall_at_k]


@pytest.mark.parametrize("check", CHECKERS)
def test_a_stub_is_not_done(check, capsys):
    def stub(*arguments):
        raise NotImplementedError

    printed = printed_by(check, stub, capsys)
    assert NOT_DONE in printed and NO_RETURN not in printed


@pytest.mark.parametrize("check", CHECKERS)
def test_a_function_returning_none_is_asked_about_return(check, capsys):
    def forgot_return(*arguments):
        _ = arguments  # computes something, hands nothing back

    printed = printed_by(check, forgot_return, capsys)
    assert NO_RETURN in printed and NOT_DONE not in printed
    assert check(forgot_return) is not forgot_return


# --- wrong normalisation axis ---

def test_cosine_normalised_by_the_whole_matrix_norm(capsys):
    def learner(images, texts):
        return (images / np.linalg.norm(images)) @ (texts / np.linalg.norm(texts)).T

    assert check_cosine_similarity(learner) is contrastive.cosine_similarity_matrix
    two_step(capsys.readouterr().out, "norm of the whole matrix",
             "np.linalg.norm(image_embeddings, axis=1, keepdims=True)")


def test_classifier_weights_normalised_along_the_templates(capsys):
    def learner(class_text_embeddings):
        return F.normalize(F.normalize(class_text_embeddings, dim=1).mean(dim=1), dim=-1)

    assert check_classifier_weights(learner) is zeroshot.classifier_weights
    two_step(capsys.readouterr().out, "wrong normalisation axis", "F.normalize(class_text_embeddings, dim=-1)")


# --- reshape without the permute back ---

def test_classifier_weights_reshape_without_permute(capsys):
    def learner(class_text_embeddings):
        n_classes, n_templates, dim = class_text_embeddings.shape
        unit = F.normalize(class_text_embeddings, dim=-1)
        by_template = unit.reshape(n_templates, n_classes, dim)  # should have been permute(1, 0, 2)
        return F.normalize(by_template.mean(dim=0), dim=-1)

    assert check_classifier_weights(learner) is zeroshot.classifier_weights
    two_step(capsys.readouterr().out, "without permuting", "permute(1, 0, 2)")


def test_classifier_weights_permute_passes(capsys):
    def learner(class_text_embeddings):
        unit = F.normalize(class_text_embeddings, dim=-1).permute(1, 0, 2)  # (n_templates, n_classes, D)
        return F.normalize(unit.mean(dim=0), dim=-1)

    assert check_classifier_weights(learner) is learner
    assert "passed" in capsys.readouterr().out


# --- one direction computed twice ---

def test_clip_loss_one_direction_computed_twice(capsys):
    def learner(image_features, text_features, logit_scale):
        logits = logit_scale * image_features @ text_features.T  # (n, n)
        image_to_text = -np.diag(log_softmax_rows(logits)).mean()
        text_to_image = -np.diag(log_softmax_rows(logits)).mean()  # forgot logits.T
        return (image_to_text + text_to_image) / 2

    assert check_clip_loss(learner) is contrastive.clip_loss
    two_step(capsys.readouterr().out, "one direction computed twice", "logits.T")


# --- the right set sorted by index instead of by score ---

def test_top_k_sorted_by_index(capsys):
    def learner(query, images, k):
        best = np.argsort(-(images @ query))[:k]
        return np.sort(best)

    assert check_top_k(learner) is ranking.top_k_indices
    two_step(capsys.readouterr().out, "sorted by index instead of by score", "np.argsort(-scores)[:k]")


# --- k-1 columns, pooling over queries ---

def test_recall_counts_k_minus_one_columns(capsys):
    def learner(retrieved, relevant, k):
        return np.mean([len(set(list(row)[:k - 1]) & truth) / len(truth) for row, truth in zip(retrieved, relevant)])

    assert check_recall_at_k(learner) is ranking.recall_at_k
    two_step(capsys.readouterr().out, "you counted k-1 columns", "set(row[:k])")


def test_recall_pooled_over_queries(capsys):
    def learner(retrieved, relevant, k):
        hits = sum(len(set(list(row)[:k]) & truth) for row, truth in zip(retrieved, relevant))
        return hits / sum(len(truth) for truth in relevant)

    assert check_recall_at_k(learner) is ranking.recall_at_k
    two_step(capsys.readouterr().out, "pooled over the queries", "return np.mean(recalls)")


def test_recall_right_answer_passes(capsys):
    def learner(retrieved, relevant, k):
        return np.mean([len(set(list(row)[:k]) & truth) / len(truth) for row, truth in zip(retrieved, relevant)])

    assert check_recall_at_k(learner) is learner
    assert "passed" in capsys.readouterr().out


# --- how the two steps are shown ---

def floored_recall(retrieved, relevant, k):
    return np.mean([len(set(row[:k]) & truth) // len(truth) for row, truth in zip(retrieved, relevant)])


def displayed_by(check, fn, monkeypatch) -> list:
    """What ``check(fn)`` hands to IPython's display, as if it ran in a notebook."""
    import IPython
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())
    monkeypatch.setattr(IPython.display, "display", shown.append)
    check(fn)
    return shown


def test_in_a_notebook_a_mistake_is_html_with_the_line_in_a_fold_and_text_as_fallback(monkeypatch, capsys):
    [report] = displayed_by(check_recall_at_k, floored_recall, monkeypatch)
    bundle, _ = DisplayFormatter().format(report)
    page, text = bundle["text/html"], bundle["text/plain"]
    assert page.index("you divided with //") < page.index("<details>") < page.index(f"<summary>{SHOW_LINE}")
    assert "<pre><code>recall = len(set(row[:k]) &amp; truth) / len(truth)" in page  # escaped, inside the fold
    assert page.index("</code></pre></details>") > page.index("&amp; truth")
    two_step(text, "you divided with //", "recall = len(set(row[:k]) & truth) / len(truth)")
    assert capsys.readouterr().out == ""  # shown once, as rich output


def test_in_a_notebook_outcomes_without_a_line_stay_printed(monkeypatch, capsys):
    def stub(*arguments):
        raise NotImplementedError

    assert displayed_by(check_recall_at_k, stub, monkeypatch) == []
    assert capsys.readouterr().out == f"⏭ recall_at_k: {NOT_DONE}\n"


def test_a_nudge_that_gives_the_line_away_is_refused():
    with pytest.raises(AssertionError, match="gives the line away"):
        Hint("divide with / : recall = hits / len(truth)", "recall = hits / len(truth)")


def test_a_mistake_must_explain_every_wrong_case_not_only_the_first():
    """Two cases; a decoy variant agrees with the learner on the first only, the real one on both."""
    learner = lambda x: x * 3  # noqa: E731
    exercise = Exercise("triple", lambda x: x * 2, [(1.0,), (2.0,)],
                        [(lambda x: 3.0 if x == 1.0 else 0.0, Hint("decoy", "return 0")),
                         (lambda x: x * 3, Hint("you tripled it", "return x * 2"))])
    result = run_check(exercise, learner, verbose=False)
    assert result.hint.nudge == "you tripled it" and result.function is exercise.reference


def test_a_torch_shape_error_in_another_lesson_gets_the_shared_keepdims_hint(capsys):
    def learner(image_embeddings, text_embeddings):
        images = image_embeddings / image_embeddings.norm(dim=-1)  # (B, D) / (B,)
        texts = text_embeddings / text_embeddings.norm(dim=-1)
        return 2 * torch.arcsin((images[:, None] - texts[None]).norm(dim=-1) / 2) ** 2

    check_spherical_distance_loss(learner)
    headline, _ = two_step(capsys.readouterr().out, "keep the reduced axis", "keepdim=True")
    assert "must match the size of tensor" in headline


def test_lessons_4_and_5_hints_come_in_two_steps_too(capsys):
    from mmlesson.exercises import check_top_k_filter

    check_spherical_distance_loss(lambda images, texts: 2 * torch.arcsin(torch.cdist(images, texts) / 2) ** 2)
    two_step(capsys.readouterr().out, "normalise both inputs", "F.normalize(image_embeddings, dim=-1)",
             name="spherical_distance_loss:")

    def zero_the_rest(logits, k):
        return logits.masked_fill(logits < torch.topk(logits, k, dim=-1).values[..., -1:], 0.0)

    check_top_k_filter(zero_the_rest)
    two_step(capsys.readouterr().out, "a logit of 0 still has probability", "masked_fill(logits < kth",
             name="top_k_filter:")
