"""What the exercise tests read from a checker's printed output: a hint's two steps, in order."""
from __future__ import annotations

from mmlesson.exercises._report import TEXT_LINE


def two_step(printed: str, nudge: str, line: str, name: str = "") -> tuple[str, str]:
    """Assert that ``printed`` is a headline holding ``nudge``, then the fold's label, then code holding ``line``,
    and that the headline gives none of that code away; ``name``: the exercise the headline names.
    Returns (headline, code)."""
    headline, label, code = printed.partition(f"\n  {TEXT_LINE}\n")
    assert label, f"no line behind a fold in: {printed!r}"
    assert headline.startswith(f"❌ {name}") and "\n" not in headline, printed
    assert headline.endswith("— using the reference for now."), headline
    assert nudge in headline, f"nudge {nudge!r} not in {headline!r}"
    assert line in code, f"line {line!r} not in {code!r}"
    for code_line in code.splitlines():
        assert code_line.strip() not in headline, f"the nudge gives away {code_line.strip()!r}"
    return headline, code
