"""Checkers for the notebooks' exercise cells.

Each ``check_<name>(fn)`` runs the learner's function against the reference on several cases.
It shows one outcome and returns the function the notebook should use from then on:

- a pass:              "✅ <name>: passed (N cases)"                 -> returns the learner's function;
- a known mistake:     "❌ <name>: <a nudge> — using the reference for now.", then the line behind a fold
                                                                     -> returns the reference;
- an unfinished stub:  "⏭ <name>: not done yet — using the reference" -> returns the reference;
- a missing return:    "❌ <name>: your function returned None: did you forget `return`? ..." -> the reference.

So a notebook always runs top to bottom, whatever state the exercises are in.
A stub is unfinished when it raises NotImplementedError; a function that returns None most likely computed
its answer and forgot to hand it back, so it is told so rather than "not done".

A mistake's hint comes in two steps (``Hint``): the nudge says what is wrong and where to look, and the line
that fixes it waits behind a fold (an HTML ``<details>`` in a notebook; indented lines in plain text), so a
learner can try again before reading it. A shape error from a reduction that lost its axis (a missing
``keepdims``) is named as such, and a returned tuple is told to return one value.

One file per lesson: lesson1.py (contrastive loss), lesson2.py (zero-shot), lesson3.py (search),
lesson4.py (generation), lesson5.py (visual tokens); the shared machinery is _checking.py, what is shown
_report.py. A new exercise goes into its lesson's file, with a unit test: a correct solution, at least two
typical wrong ones (each asserting its nudge, then its line), and the unfinished stub.
"""
from ._checking import NOT_DONE, CheckResult, Exercise, run_check
from ._report import Hint
from .lesson1 import check_clip_loss, check_cosine_similarity, check_multi_positive_targets
from .lesson2 import check_classifier_weights, check_ensemble_templates
from .lesson3 import check_recall_at_k, check_top_k
from .lesson4 import check_spherical_distance_loss, check_straight_through_quantizer
from .lesson5 import check_best_candidates, check_causal_mask, check_top_k_filter

__all__ = ["NOT_DONE", "CheckResult", "Exercise", "Hint", "run_check", "check_cosine_similarity", "check_clip_loss",
           "check_multi_positive_targets", "check_classifier_weights", "check_ensemble_templates", "check_top_k",
           "check_recall_at_k", "check_spherical_distance_loss", "check_straight_through_quantizer",
           "check_causal_mask", "check_top_k_filter", "check_best_candidates"]
