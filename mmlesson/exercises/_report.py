"""What a checker shows a learner: a hint in two steps, and the output that carries it.

A wrong answer first gets a nudge (what is wrong and where to look); the line that fixes it waits behind a fold,
for a learner who is still stuck. In a notebook the report is one displayed output with two forms:
- text/html: the nudge, then the line inside ``<details>`` (JupyterLab, Colab, GitHub's notebook view and
  nbconvert's HTML all fold it);
- text/plain: the nudge, then the line on its own indented lines (terminals, and what nbval compares).
Outside IPython the text form is printed.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

SHOW_LINE = "Still stuck? Show the line"  # the fold's label in HTML
TEXT_LINE = "still stuck? the line:"  # the same step in plain text, where nothing folds


@dataclass(frozen=True)
class Hint:
    nudge: str  # what is wrong and where to look; never the answer itself
    line: str  # the code that fixes it (one or a few lines), shown only behind a fold

    def __post_init__(self):
        assert self.nudge and self.line, "a two-step hint has both a nudge and a line"
        for code in self.line.splitlines():
            assert code.strip() not in self.nudge, f"the nudge gives the line away: {code!r}"


@dataclass(frozen=True)
class Report:
    headline: str  # "✅ name: passed (3 cases)", "❌ name: <nudge> — using the reference for now.", ...
    line: str = ""  # the solution line behind the fold; empty when there is nothing to unfold

    def text(self) -> str:
        if not self.line:
            return self.headline
        indented = "\n".join("    " + code for code in self.line.splitlines())
        return f"{self.headline}\n  {TEXT_LINE}\n{indented}"

    def __repr__(self) -> str:  # IPython's text/plain
        return self.text()

    __str__ = text

    def _repr_html_(self) -> str:
        headline = html.escape(self.headline)
        if not self.line:
            return f"<div>{headline}</div>"
        return (f"<div>{headline}<details><summary>{SHOW_LINE}</summary>"
                f"<pre><code>{html.escape(self.line)}</code></pre></details></div>")


def show(report: Report) -> None:
    """Display ``report`` as rich output in IPython when it has a line to fold; otherwise print its text."""
    shell = None
    if report.line:
        try:
            from IPython import get_ipython
            shell = get_ipython()
        except ImportError:
            shell = None
    if shell is None:
        print(report.text())
        return
    from IPython.display import display

    display(report)
