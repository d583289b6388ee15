"""What a committed notebook shows a reader: finished progress bars as text, no dead widgets, clean code.

A notebook executed for committing (``jupyter nbconvert --execute``) saves each tqdm bar as a widget view whose
text fallback is the bar's *first* frame ("0/500"), and the bar's last state only in the notebook's widget
metadata. GitHub, nbconvert and a fresh Colab tab cannot draw widgets, so a reader would see a frozen "0%".
``clean_notebook(path)`` (the command ``python -m mmlesson clean-notebook PATH...``) rewrites the saved file:

- a progress bar that stayed on screen becomes its final line as plain text, as a terminal would show it
  ("training tiny CLIP: 100%|██████████| 500/500 [04:27<00:00, ...]"); a bar that hid itself when done
  (``leave=False``) and any other widget (a search box) are dropped: on a static page they show nothing;
- the widget metadata goes (nothing refers to it any more), and so do nbclient's per-cell execution timestamps;
- a ``# NBVAL_CHECK_OUTPUT`` comment becomes nbval's cell tag ``nbval-check-output``, so the code a learner
  reads is clean and nbval still compares that cell.

Live, in JupyterLab or Colab, nothing changes: the bar is a moving widget. Cleaning twice changes nothing.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

from .files import atomic_write_bytes

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
CHECK_COMMENT = "NBVAL_CHECK_OUTPUT"
CHECK_TAG = "nbval-check-output"
BAR_WIDTH = 10  # characters of the text bar, as tqdm draws it in a terminal of unknown width
MODEL_PREFIX = "IPY_MODEL_"  # how one widget model names another in the saved state


def clean_notebook(path: str | Path) -> list[str]:
    """Clean the notebook at ``path`` in place (atomically); returns what changed, one line each (empty: nothing)."""
    path = Path(path)
    if path.suffix != ".ipynb" or not path.is_file():
        raise ValueError(f"{path}: not a notebook file; give paths of .ipynb files, e.g. notebooks/01_*.ipynb")
    text = path.read_text(encoding="utf-8")
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid notebook JSON ({error}); nothing was changed") from None
    changes = clean(notebook)
    if changes:
        atomic_write_bytes(path, notebook_json(notebook).encode("utf-8"))
    return changes


def clean(notebook: dict) -> list[str]:
    """Clean a notebook's JSON (a dict, changed in place); returns what changed, one line each."""
    state = notebook.get("metadata", {}).pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    changes = ["dropped the saved widget state"] if state else []
    for number, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("metadata", {}).pop("execution", None) is not None:
            changes.append(f"cell {number}: dropped execution timestamps")
        if move_check_comment(cell):
            changes.append(f"cell {number}: # {CHECK_COMMENT} -> tag {CHECK_TAG}")
        outputs = []
        for output in cell.get("outputs", []):
            replaced = without_widget(output, state)
            if replaced is not output:
                changes.append(f"cell {number}: widget -> " + ("text " + repr(_text(replaced)) if replaced else "dropped"))
            if replaced:
                outputs.append(replaced)
        if "outputs" in cell:
            cell["outputs"] = outputs
    return changes


def move_check_comment(cell: dict) -> bool:
    """Replace a ``# NBVAL_CHECK_OUTPUT`` line of the cell's code by the cell tag; True if there was one."""
    lines = source_lines(cell)
    kept = [line for line in lines if not (line.strip().startswith("#") and line.strip().lstrip("#").strip() == CHECK_COMMENT)]
    if len(kept) == len(lines):
        return False
    cell["source"] = kept
    tags = cell.setdefault("metadata", {}).setdefault("tags", [])
    if CHECK_TAG not in tags:
        tags.append(CHECK_TAG)
    return True


def without_widget(output: dict, state: dict) -> dict | None:
    """``output`` itself if it holds no widget view; else the finished bar as a text output, or None (drop it)."""
    view = output.get("data", {}).get(WIDGET_VIEW)
    if view is None:
        return output
    line = progress_bar_line(view.get("model_id", ""), state)
    if line is None:
        return None
    return {"output_type": "display_data", "metadata": {}, "data": {"text/plain": line}}


def progress_bar_line(model_id: str, state: dict) -> str | None:
    """The last frame of a tqdm bar saved as widget ``model_id``, as terminal text; None if the model is no visible
    tqdm bar (another widget, a bar that hid itself when done, or a view without saved state)."""
    box = _model(model_id, state)
    if box is None or box.get("model_name") != "HBoxModel" or _hidden(box, state):
        return None
    parts = [_model(child, state) for child in box["state"].get("children", [])]
    if len(parts) != 3 or None in parts or [part["model_name"] for part in parts] != \
            ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    left, progress, right = (part["state"] for part in parts)
    done = min(1.0, max(0.0, progress.get("value", 0) / progress["max"])) if progress.get("max") else 0.0
    filled = round(done * BAR_WIDTH)
    bar = "█" * filled + " " * (BAR_WIDTH - filled)
    return f"{_plain(left.get('value', ''))}|{bar}|{_plain(right.get('value', ''))}"


def _model(reference: str, state: dict) -> dict | None:
    return state.get(reference.removeprefix(MODEL_PREFIX))


def _hidden(box: dict, state: dict) -> bool:
    """A bar closed with leave=False: tqdm hides it (layout visibility 'hidden', or the old 'visible' flag)."""
    layout = _model(box["state"].get("layout", ""), state) or {}
    return layout.get("state", {}).get("visibility") == "hidden" or box["state"].get("visible") is False


def _plain(widget_html: str) -> str:
    """tqdm's HTML text: escaped characters and figure spaces (U+2007) back to plain text."""
    return html.unescape(widget_html).replace("\u2007", " ")


def _text(output: dict) -> str:
    return "".join(output["data"]["text/plain"])


# --- notebook JSON, shared with badges.py ---

def notebook_json(notebook: dict) -> str:
    """A notebook as Jupyter writes it: indent 1, non-ASCII kept, keys in their order, a final newline."""
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def source_lines(cell: dict) -> list[str]:
    """A cell's source as a list of lines, each with its newline (the file may hold one string or a list)."""
    source = cell.get("source", [])
    return source.splitlines(keepends=True) if isinstance(source, str) else list(source)
