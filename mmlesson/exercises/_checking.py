"""How every exercise is checked: run the learner's function on fixed cases, compare with the reference,
and name the known mistake it matches (see the package docstring for what is shown).

A known mistake matches only when it gives the learner's answer on every case the learner got wrong, so a
coincidence on one case (a floored recall that equals precision@k there) cannot pick the wrong diagnosis."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ._report import Hint, Report, show

NOT_DONE = "not done yet — using the reference"
NO_RETURN = ("your function returned None: did you forget `return`? (the last line computes the answer "
             "but does not hand it back) — using the reference for now")
FALLBACK = " — using the reference for now."

KEEPDIMS = Hint("a reduction over one axis (a sum, a mean, a norm) drops that axis, so its result no longer lines "
                "up with the rows it should divide; keep the reduced axis",
                "x / np.linalg.norm(x, axis=1, keepdims=True)  # torch: x / x.norm(dim=-1, keepdim=True)")


@dataclass
class Exercise:
    name: str
    reference: Callable
    cases: list[tuple]  # positional argument tuples
    mistakes: list[tuple[Callable, Hint | str]] = field(default_factory=list)  # (wrong variant, its hint)
    generic_hint: Hint | str = "the result differs from the reference; re-read the docstring."
    atol: float = 1e-5
    keepdims_hint: Hint = KEEPDIMS  # for a shape error from a reduction that dropped its axis
    returns: str = "one array"  # what the function hands back, for the hint about a returned tuple


@dataclass
class CheckResult:
    status: str  # "passed", "mistake", "not done", "error"
    report: Report  # what the learner is shown
    function: Callable
    hint: Hint | None = None  # the two-step hint, when a mistake was diagnosed with one

    @property
    def message(self) -> str:
        return self.report.text()


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
    """Compare ``fn`` with the reference on every case; diagnose the failures."""
    result = _diagnose(exercise, fn)
    if verbose:
        show(result.report)
    return result


def _outcome(exercise: Exercise, hint: Hint | str, status: str = "mistake") -> CheckResult:
    """The "❌" result for ``hint``: its nudge in the headline, its line (if any) behind the fold."""
    if isinstance(hint, str):  # a one-step hint (no line to fold)
        return CheckResult(status, Report(f"❌ {exercise.name}: {hint}{FALLBACK}"), exercise.reference)
    return CheckResult(status, Report(f"❌ {exercise.name}: {hint.nudge}{FALLBACK}", hint.line), exercise.reference,
                       hint)


def _diagnose(exercise: Exercise, fn: Callable) -> CheckResult:
    name = exercise.name
    wrong_cases = []  # (case, the learner's answer) where the answer differs from the reference
    for case in exercise.cases:
        try:
            answer = fn(*case)
        except NotImplementedError:
            return CheckResult("not done", Report(f"⏭ {name}: {NOT_DONE}"), exercise.reference)
        except Exception as error:  # the learner's code crashed: say where, keep the notebook going
            return _crash(exercise, error)
        if answer is None:
            return CheckResult("mistake", Report(f"❌ {name}: {NO_RETURN}"), exercise.reference)
        if not _same(answer, exercise.reference(*case), exercise.atol):
            wrong_cases.append((case, answer))
    if not wrong_cases:
        return CheckResult("passed", Report(f"✅ {name}: passed ({len(exercise.cases)} cases)"), fn)
    return _outcome(exercise, _hint_for(exercise, wrong_cases))


def _hint_for(exercise: Exercise, wrong_cases: list[tuple]) -> Hint | str:
    """The first known mistake that gives every wrong answer; else a returned tuple; else the generic hint."""
    for wrong, hint in exercise.mistakes:
        if all(_matches(answer, _run_quietly(wrong, case), exercise.atol) for case, answer in wrong_cases):
            return hint
    case, answer = wrong_cases[0]
    if isinstance(answer, tuple) and isinstance(exercise.generic_hint, Hint):
        return Hint(f"you returned a tuple of {len(answer)} values (`return a, b` makes one); the function "
                    f"returns {exercise.returns}", exercise.generic_hint.line)
    answer_shape, expected_shape = _shape(answer), _shape(exercise.reference(*case))
    if answer_shape == expected_shape or answer_shape is None:
        return exercise.generic_hint
    shape_note = f" (shape {answer_shape}, expected {expected_shape})"
    if isinstance(exercise.generic_hint, str):
        return exercise.generic_hint + shape_note
    return Hint(exercise.generic_hint.nudge + shape_note, exercise.generic_hint.line)


def _run_quietly(function: Callable, case: tuple) -> Any:
    """A known wrong variant's answer, or None where that variant is undefined for this case."""
    try:
        return function(*case)
    except Exception:  # noqa: BLE001 - a variant that cannot run on this case simply does not match
        return None


def _matches(answer: Any, wrong_answer: Any, atol: float) -> bool:
    return wrong_answer is not None and _same(answer, wrong_answer, atol)


def _shape(value: Any) -> tuple | None:
    try:
        return _as_array(value).shape
    except (TypeError, ValueError):
        return None


def _crash(exercise: Exercise, error: Exception) -> CheckResult:
    """A crash: a reduction that lost its axis gets the keep-the-axis hint; anything else is named as raised."""
    said = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if _is_broadcast_error(error):
        hint = exercise.keepdims_hint
        return _outcome(exercise, Hint(f"the shapes do not line up ({type(error).__name__}: {said}): {hint.nudge}",
                                       hint.line), status="error")
    return CheckResult("error", Report(f"❌ {exercise.name}: your function raised {type(error).__name__}: {said}"
                                       f"{FALLBACK}"), exercise.reference)


def _is_broadcast_error(error: Exception) -> bool:
    """NumPy's "operands could not be broadcast together" or torch's "The size of tensor a (8) must match"."""
    message = str(error)
    return (isinstance(error, ValueError) and "could not be broadcast" in message) or \
        (isinstance(error, RuntimeError) and "must match the size of tensor" in message)
