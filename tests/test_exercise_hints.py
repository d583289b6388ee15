"""The exercise checkers' hints for common slips (issue 13): each wrong variant below is written the way a
learner would write it, and must get its own hint; a stub is 'not done', a missing `return` is named."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmlesson import contrastive, ranking, zeroshot
from mmlesson.exercises import (NOT_DONE, check_classifier_weights, check_clip_loss, check_cosine_similarity,
                                check_recall_at_k, check_top_k)

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
    assert "norm of the whole matrix" in capsys.readouterr().out


def test_classifier_weights_normalised_along_the_templates(capsys):
    def learner(class_text_embeddings):
        return F.normalize(F.normalize(class_text_embeddings, dim=1).mean(dim=1), dim=-1)

    assert check_classifier_weights(learner) is zeroshot.classifier_weights
    assert "wrong normalisation axis" in capsys.readouterr().out


# --- reshape without the permute back ---

def test_classifier_weights_reshape_without_permute(capsys):
    def learner(class_text_embeddings):
        n_classes, n_templates, dim = class_text_embeddings.shape
        unit = F.normalize(class_text_embeddings, dim=-1)
        by_template = unit.reshape(n_templates, n_classes, dim)  # should have been permute(1, 0, 2)
        return F.normalize(by_template.mean(dim=0), dim=-1)

    assert check_classifier_weights(learner) is zeroshot.classifier_weights
    printed = capsys.readouterr().out
    assert "without permuting" in printed and "permute(1, 0, 2)" in printed


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
    printed = capsys.readouterr().out
    assert "one direction computed twice" in printed and "logits.T" in printed


# --- the right set sorted by index instead of by score ---

def test_top_k_sorted_by_index(capsys):
    def learner(query, images, k):
        best = np.argsort(-(images @ query))[:k]
        return np.sort(best)

    assert check_top_k(learner) is ranking.top_k_indices
    assert "sorted by index instead of by score" in capsys.readouterr().out


# --- k-1 columns, pooling over queries ---

def test_recall_counts_k_minus_one_columns(capsys):
    def learner(retrieved, relevant, k):
        return np.mean([len(set(list(row)[:k - 1]) & truth) / len(truth) for row, truth in zip(retrieved, relevant)])

    assert check_recall_at_k(learner) is ranking.recall_at_k
    assert "you counted k-1 columns" in capsys.readouterr().out


def test_recall_pooled_over_queries(capsys):
    def learner(retrieved, relevant, k):
        hits = sum(len(set(list(row)[:k]) & truth) for row, truth in zip(retrieved, relevant))
        return hits / sum(len(truth) for truth in relevant)

    assert check_recall_at_k(learner) is ranking.recall_at_k
    assert "pooled over the queries" in capsys.readouterr().out


def test_recall_right_answer_passes(capsys):
    def learner(retrieved, relevant, k):
        return np.mean([len(set(list(row)[:k]) & truth) / len(truth) for row, truth in zip(retrieved, relevant)])

    assert check_recall_at_k(learner) is learner
    assert "passed" in capsys.readouterr().out
