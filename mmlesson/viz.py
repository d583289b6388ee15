"""Figures the lessons share. Every function returns its matplotlib figure (titled, axes labelled).

Sections, one per lesson; add yours below the last one.
- Lesson 2 (zero-shot): ``plot_probabilities``, ``plot_confusion``, ``plot_k_shot`` (zeroshot.py re-exports them).
- Lesson 3 (image search): ``show_results`` draws search hits with their scores,
  ``show_query_cost`` plots query time against collection size.
- Lesson 4 (generation): ``compact_figures`` shows figures as palette PNGs, half the bytes.
"""
from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np

from .images import load_rgb, read_image

# --- Lesson 3: image search ---


ROW_LABEL_WIDTH = 16  # characters per line of a result grid's row label
SUPTITLE_INCHES = 0.25  # a results grid's own band for its title, so it never sits on the hits' titles


def show_results(results, title: str | None = None, ncols: int | None = None, row_labels: Sequence[str] | None = None,
                 show_paths: bool = True, scale: float = 1.8):
    """A grid of search hits with their scores as titles.

    ``results``: a list of SearchResult (one query), or a list of such lists (a batch: one row per
    query, labelled by ``row_labels``). Works for file paths and in-memory images alike.
    """
    import matplotlib.pyplot as plt

    rows = [list(row) for row in results] if results and isinstance(results[0], (list, tuple)) else [list(results)]
    titles = dict(zip([id(hit) for row in rows for hit in row], hit_titles([hit.path for row in rows for hit in row])))
    width = ncols or max(1, max(len(row) for row in rows))
    grid_rows = rows if len(rows) > 1 else _wrap(rows[0], width)
    title_lines = 1 + max((titles[id(hit)].count("\n") + 1 for row in rows for hit in row
                           if titles[id(hit)] and show_paths), default=0)
    row_height = scale * 1.1 + 0.16 * title_lines  # inches: the thumbnail, then its title lines at fontsize 8
    height = len(grid_rows) * row_height + SUPTITLE_INCHES
    figure, axes = plt.subplots(len(grid_rows), width, figsize=(width * scale, height), squeeze=False)
    for r, row in enumerate(grid_rows):
        for c, axis in enumerate(axes[r]):
            axis.set_xticks([])
            axis.set_yticks([])
            if c >= len(row):
                axis.axis("off")
                continue
            _draw_hit(axis, row[c], titles[id(row[c])] if show_paths else "")
        if row_labels is not None and r < len(row_labels):
            # horizontal and wrapped: a long query stays beside its own row instead of overlapping the next one
            axes[r][0].set_ylabel(textwrap.fill(row_labels[r], ROW_LABEL_WIDTH), fontsize=9, rotation=0,
                                  ha="right", va="center", labelpad=6)
    if not any(rows):
        axes[0][0].text(0.5, 0.5, "no results above the threshold", ha="center", va="center")
    figure.suptitle(title or "search results (score = cosine similarity)")
    figure.tight_layout(rect=(0, 0, 1, 1 - SUPTITLE_INCHES / height))  # the title above the top row's hit titles
    return figure


def _wrap(row: list, width: int) -> list[list]:
    return [row[i: i + width] for i in range(0, len(row), width)] or [[]]


TITLE_WIDTH = 18  # characters per title line; two lines fit under a 1.8-inch thumbnail at fontsize 8


def hit_titles(paths: Sequence[str | None], width: int = TITLE_WIDTH) -> list[str]:
    """Short titles for search hits: the part of each path that tells the hits apart.

    - A Shapes file (``00580_small_red_star_top-left.png``) becomes its attributes: ``small red star top-left``.
    - Other files lose the folders all of them share: ``photos/2023/beach/dog.jpg`` next to
      ``photos/2024/cat.jpg`` become ``2023/beach/dog.jpg`` and ``2024/cat.jpg``.
    - Titles are wrapped to two lines of ``width`` characters; a longer one keeps its end (``…`` + tail),
      since that is where paths differ. In-memory hits (path None) get "".
    """
    files = [Path(path) for path in paths if path]
    shared = Path(os.path.commonpath([str(file.parent) for file in files])) if files else None
    titles = []
    for path in paths:
        if not path:
            titles.append("")
            continue
        file = Path(path)
        shapes_name = re.fullmatch(r"\d+_([a-z]+(?:_[a-z-]+)+)", file.stem)
        if shapes_name:
            title = shapes_name.group(1).replace("_", " ")
        else:
            title = file.relative_to(shared).as_posix() if shared is not None and file.is_relative_to(shared) else file.name
        titles.append(_two_lines(title, width))
    return titles


def _two_lines(title: str, width: int) -> str:
    if len(title) > 2 * width:
        title = "…" + title[-(2 * width - 1):]
    lines = textwrap.wrap(title, width) if " " in title else [title[i: i + width] for i in range(0, len(title), width)]
    if len(lines) > 2:  # words wrapped badly: cut by characters instead
        lines = [title[:width], title[width:2 * width]]
    return "\n".join(lines)


def _draw_hit(axis, result, path_title: str) -> None:
    image = _image_of(result)
    if image is None:
        axis.text(0.5, 0.5, f"#{result.index}\n(no image)", ha="center", va="center", fontsize=8)
    else:
        axis.imshow(image, interpolation="nearest" if max(image.shape[:2]) <= 64 else "antialiased")
    label = f"#{result.rank}  {result.score:.3f}"
    if path_title:
        label += f"\n{path_title}"
    axis.set_title(label, fontsize=8)


def _image_of(result) -> np.ndarray | None:
    """The hit's pixels as a uint8 (H, W, 3) array: from memory, else from its file; None if unreadable."""
    image = result.image
    if image is None and result.path:
        image, _ = read_image(result.path)
        if image is not None:
            image.thumbnail((256, 256))
    if image is None:
        return None
    if hasattr(image, "detach"):  # a (3, H, W) tensor, maybe normalised: stretch to [0, 1] for display
        image = image.detach().cpu().float()
        image = ((image - image.min()) / (image.max() - image.min() + 1e-8)).permute(1, 2, 0).numpy() * 255
    image = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image)
    return image if image.dtype == np.uint8 else np.clip(np.rint(image), 0, 255).astype(np.uint8)


def show_query_cost(rows: Sequence[dict], title: str = "Query time against collection size"):
    """Log-log plot of p50 query time per method, from mmlesson.search.time_queries rows."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for method in dict.fromkeys(row["method"] for row in rows):
        points = sorted((row["size"], row["p50_ms"]) for row in rows if row["method"] == method)
        axis.plot(*zip(*points), marker="o", label=method)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("images in the collection")
    axis.set_ylabel("one query, p50 (ms)")
    axis.set_title(title)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    return figure


# --- Lesson 2 (zero-shot classification) ---

def plot_probabilities(class_names: Sequence[str], probabilities, image=None, title: str = "Zero-shot prediction"):
    """Horizontal bars of one image's class probabilities, with the image beside them if given."""
    import matplotlib.pyplot as plt

    probabilities = np.asarray(probabilities, dtype=float).ravel()
    columns = 2 if image is not None else 1
    figure, axes = plt.subplots(1, columns, figsize=(4 * columns + 2, 0.35 * len(class_names) + 1.5), squeeze=False,
                                gridspec_kw={"width_ratios": [1, 1.6][-columns:]})
    if image is not None:
        axes[0, 0].imshow(load_rgb(image), interpolation="nearest")
        axes[0, 0].set_title("image")
        axes[0, 0].axis("off")
    bars = axes[0, -1]
    best = int(np.argmax(probabilities))
    bars.barh(range(len(class_names)), probabilities, color=["tab:orange" if i == best else "tab:blue"
                                                             for i in range(len(class_names))])
    bars.set_yticks(range(len(class_names)), list(class_names))
    bars.invert_yaxis()
    bars.set_xlim(0, 1)
    bars.set_xlabel("probability")
    bars.set_ylabel("prompt / class")
    bars.set_title(title)
    figure.tight_layout()
    return figure


def plot_confusion(evaluation, title: str = "Confusion matrix", normalise: bool = True):
    """The confusion matrix of a zeroshot.Evaluation as an image: rows are true classes, columns predicted."""
    import matplotlib.pyplot as plt

    counts = evaluation.confusion.astype(float)
    if normalise:
        counts = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(evaluation.class_names)
    figure, axis = plt.subplots(figsize=(0.25 * n + 3, 0.25 * n + 2.5))
    shown = axis.imshow(counts, cmap="Blues", vmin=0, vmax=1 if normalise else None)
    axis.set_xticks(range(n), evaluation.class_names, rotation=90, fontsize=7)
    axis.set_yticks(range(n), evaluation.class_names, fontsize=7)
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    axis.set_title(f"{title} (top-1 {evaluation.top1:.1%})")
    figure.colorbar(shown, ax=axis, label="fraction of the row" if normalise else "images")
    figure.tight_layout()
    return figure


def plot_k_shot(curve, zero_shot_top1: float, full_probe_top1: float | None = None,
                title: str = "Zero-shot against k-shot linear probes"):
    """Top-1 of a zeroshot.KShotCurve against examples per class, with zero-shot (and the full probe) as lines."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    axis.errorbar(curve.ks, curve.mean, yerr=curve.std, marker="o", capsize=3, label="k-shot linear probe")
    # zero-shot wide and pale, the full probe thin on top: both stay visible when they coincide (e.g. both at 100%)
    axis.axhline(zero_shot_top1, color="tab:orange", linewidth=6, alpha=0.45,
                 label=f"zero-shot, no training images: {zero_shot_top1:.1%}")
    if full_probe_top1 is not None:
        axis.axhline(full_probe_top1, color="tab:green", linestyle=(0, (2, 2)), linewidth=1.8,
                     label=f"linear probe, all training images: {full_probe_top1:.1%}")
    axis.set_ylim(top=1.03)  # a line at 100% stays off the frame
    axis.set_xscale("log", base=2)
    axis.set_xticks(curve.ks, [str(k) for k in curve.ks])
    axis.set_xlabel("training images per class (k)")
    axis.set_ylabel("top-1 accuracy")
    axis.set_title(title)
    axis.legend(loc="lower right")
    figure.tight_layout()
    return figure


# --- Lesson 1: the similarity matrix ---

def show_similarity(similarity, captions, title: str, axis=None):
    """Heatmap of an (images x captions) cosine matrix, values written in, the diagonal (true pairs) boxed in red."""
    import matplotlib.pyplot as plt

    similarity = np.asarray(similarity)  # (n_images, n_captions)
    if axis is None:
        _, axis = plt.subplots(figsize=(0.9 * similarity.shape[1] + 2, 0.75 * similarity.shape[0] + 2),
                               layout="constrained")
    heatmap = axis.imshow(similarity, cmap="viridis", vmin=-1, vmax=1)
    for (row, column), value in np.ndenumerate(similarity):
        axis.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=7,
                  color="black" if value > 0.3 else "white")
    for i in range(min(similarity.shape)):
        axis.add_patch(plt.Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    axis.set_xticks(range(len(captions)), captions, rotation=35, ha="right", fontsize=8)
    axis.set_yticks(range(len(similarity)), [f"image {i}" for i in range(len(similarity))], fontsize=8)
    axis.set(title=title, xlabel="caption", ylabel="image")
    return heatmap


# --- Lesson 4 (generation): many image grids in one notebook ---

def palette_png(figure, colors: int = 256) -> bytes:
    """The figure as a PNG with a palette of ``colors`` colors: about half the bytes of matplotlib's own PNG for
    grids of small images, with no visible difference."""
    import io

    from PIL import Image

    if not 2 <= colors <= 256:
        raise ValueError(f"a PNG palette holds 2 to 256 colors; got colors={colors}.")
    rendered = io.BytesIO()
    figure.savefig(rendered, format="png", bbox_inches="tight")
    rendered.seek(0)
    compact = io.BytesIO()
    Image.open(rendered).convert("RGB").quantize(colors).save(compact, format="png", optimize=True)
    return compact.getvalue()


def figure_dpi(dpi: int = 72) -> bool:
    """From now on, draw this notebook's figures at ``dpi``: full color, fewer bytes than the inline default (~100).
    Returns False, changing nothing, outside IPython/Jupyter."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    if get_ipython() is None:
        return False
    import matplotlib.pyplot as plt

    plt.close(plt.figure())  # the inline backend applies its own settings on the first figure: let it go first
    plt.rcParams["figure.dpi"] = dpi
    return True


def compact_figures(colors: int = 256) -> bool:
    """From now on, show this notebook's matplotlib figures as palette PNGs (see ``palette_png``), which keeps a
    notebook full of image grids under 1 MB. Returns False, changing nothing, outside IPython/Jupyter."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return False
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    plt.close(plt.figure())  # the inline backend registers its own PNG printer on the first figure: let it go first
    shell.display_formatter.formatters["image/png"].for_type(Figure, lambda figure: palette_png(figure, colors))
    return True
