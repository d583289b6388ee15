"""Lesson 3's exercise checkers: each typical wrong answer gets its own two-step hint (a nudge, then the line);
a floored recall is no longer taken for precision@k."""
from __future__ import annotations

import numpy as np
import pytest

from mmlesson import ranking
from mmlesson.exercises import check_recall_at_k, check_top_k
from tests.hint_output import two_step

BEST_FIRST = "return np.argsort(-scores)[:k]"
ONE_RECALL = "recall = len(set(row[:k]) & truth) / len(truth)"


def per_query(retrieved, relevant, k, divide) -> list:
    """Each query's hits among its first k items, divided by ``divide(hits, relevant set, k)``."""
    return [divide(len(set(list(row)[:k]) & truth), truth, k) for row, truth in zip(retrieved, relevant)]


@pytest.mark.parametrize("wrong, nudge, line", [
    (lambda q, e, k: np.argsort(e @ q)[:k], "np.argsort sorts ascending", BEST_FIRST),
    (lambda q, e, k: np.argsort(e @ q)[-k:], "the right images in the wrong order", BEST_FIRST),
    (lambda q, e, k: np.sort(e @ q)[::-1][:k], "you returned the scores", BEST_FIRST),
    (lambda q, e, k: np.argsort(-(e @ q))[:k + 1], "off by one", BEST_FIRST),
    (lambda q, e, k: (np.argsort(-(e @ q))[:k], np.sort(e @ q)[::-1][:k]), "you returned a tuple of 2 values",
     BEST_FIRST),
])
def test_top_k_mistakes_get_a_nudge_then_the_line(capsys, wrong, nudge, line):
    assert check_top_k(wrong) is ranking.top_k_indices
    two_step(capsys.readouterr().out, nudge, line)


@pytest.mark.parametrize("wrong, nudge, line", [
    (lambda r, t, k: np.mean(per_query(r, t, k, lambda hits, truth, k: hits // len(truth))),
     "you divided with //", ONE_RECALL),
    (lambda r, t, k: np.mean(per_query(r, t, k, lambda hits, truth, k: hits / min(k, len(truth)))),
     "you divided by min(k, |relevant|)", ONE_RECALL),
    (lambda r, t, k: np.mean(per_query(r, t, k, lambda hits, truth, k: hits / k)), "that is precision@k",
     ONE_RECALL),
    (lambda r, t, k: per_query(r, t, k, lambda hits, truth, k: hits / len(truth)),
     "the mean of the per-query recalls", "return np.mean(recalls)"),
    (lambda r, t, k: sum(per_query(r, t, k, lambda hits, truth, k: hits)) / sum(len(truth) for truth in t),
     "you pooled over the queries", "return np.mean(recalls)"),
])
def test_recall_mistakes_get_a_nudge_then_the_line(capsys, wrong, nudge, line):
    assert check_recall_at_k(wrong) is ranking.recall_at_k
    two_step(capsys.readouterr().out, nudge, line, name="recall_at_k:")


def test_floored_recall_is_not_called_precision(capsys):
    def learner(retrieved, relevant, k):
        return np.mean([len(set(row[:k]) & truth) // len(truth) for row, truth in zip(retrieved, relevant)])

    check_recall_at_k(learner)
    printed = capsys.readouterr().out
    assert "precision" not in printed and "you divided with //" in printed


def test_the_recall_cases_tell_the_look_alikes_apart():
    """On the first case, recall@k, precision@k, the floored and the capped recall are four different numbers;
    on every case, the floored recall differs from precision@k."""
    from mmlesson.exercises.lesson3 import RECALL_CASES

    def look_alikes(retrieved, relevant, k) -> list[float]:
        return [float(answer) for answer in (
            ranking.recall_at_k(retrieved, relevant, k), ranking.precision_at_k(retrieved, relevant, k),
            np.mean(per_query(retrieved, relevant, k, lambda hits, truth, k: hits // len(truth))),
            np.mean(per_query(retrieved, relevant, k, lambda hits, truth, k: hits / min(k, len(truth)))))]

    first = look_alikes(*RECALL_CASES[0])
    assert len({round(answer, 6) for answer in first}) == 4, first
    for case in RECALL_CASES:
        _, precision, floored, _ = look_alikes(*case)
        assert not np.isclose(precision, floored), case
