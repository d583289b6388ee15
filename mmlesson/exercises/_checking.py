"""How every exercise is checked: run the learner's function on fixed cases, compare with the reference,
and name the first known mistake it matches (see the package docstring for what is printed)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

NOT_DONE = "not done yet — using the reference"
NO_RETURN = ("your function returned None: did you forget `return`? (the last line computes the answer "
             "but does not hand it back) — using the reference for now")


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
            return CheckResult("mistake", f"❌ {name}: {NO_RETURN}", exercise.reference)
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
