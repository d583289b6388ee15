"""Interactive widgets for the notebooks (ipywidgets); each also works without a browser for tests.

- ``search_box(index)``: type words, see the best-matching images of an ImageIndex.
"""
from __future__ import annotations

import ipywidgets as widgets

RESULTS_PER_ROW = 6  # thumbnails per grid row; more results wrap onto new rows at the same size


def grid_shape(n_results: int, per_row: int = RESULTS_PER_ROW) -> tuple[int, int]:
    """(rows, columns) of the results grid for ``n_results`` hits: rows of at most ``per_row``."""
    if n_results <= 0:
        return (0, 0)
    return (-(-n_results // per_row), min(n_results, per_row))


class SearchBox(widgets.VBox):
    """A text box, a k slider and a score threshold slider over an ImageIndex, with the results grid below.

    ``update()`` runs the current query and redraws; the widgets call it on every change.
    ``last_results`` and ``last_figure`` hold what was shown last.
    """

    def __init__(self, index, query: str = "", k: int = 8, threshold: float = 0.0, live: bool = True):
        self.index = index
        self.query = widgets.Text(value=query, placeholder="describe an image, e.g. a red star",
                                  description="search", continuous_update=live)
        self.k_slider = widgets.IntSlider(value=min(k, len(index)), min=1, max=max(1, min(50, len(index))),
                                          description="k", continuous_update=False)
        self.threshold_slider = widgets.FloatSlider(value=threshold, min=-1.0, max=1.0, step=0.01,
                                                    description="min score", continuous_update=False)
        self.status = widgets.Label()
        self.output = widgets.Output()
        self.last_results: list = []
        self.last_figure = None
        super().__init__([widgets.HBox([self.query, self.k_slider, self.threshold_slider]), self.status, self.output])
        for control in (self.query, self.k_slider, self.threshold_slider):
            control.observe(lambda change: self.update(), names="value")
        self.update()

    def update(self) -> list:
        """Search for the current text and draw the hits; returns them."""
        import matplotlib.pyplot as plt
        from IPython.display import display

        from .viz import show_results

        text = self.query.value.strip()
        if not text:
            self.status.value, self.last_results = "type a description of the images you want", []
            self.output.clear_output()
            return []
        try:
            results = self.index.search(text, k=self.k_slider.value, min_score=self.threshold_slider.value)
        except ValueError as error:
            self.status.value, self.last_results = f"cannot search: {error}", []
            return []
        self.last_results = results
        rows, columns = grid_shape(len(results))
        with self.output:
            self.output.clear_output(wait=True)
            self.last_figure = show_results(results, title=f"'{text}'", ncols=max(1, columns))
            display(self.last_figure)
            plt.close(self.last_figure)  # shown once, in the output area, not again at the end of the cell
        # set last, so that a status naming this query always sits above this query's grid
        self.status.value = (f"{len(results)} result(s) for {text!r} with score >= {self.threshold_slider.value:.2f}"
                             f" ({rows} row(s) of {columns})")
        return results


def search_box(index, query: str = "", k: int = 8, threshold: float = 0.0, live: bool = True) -> SearchBox:
    """An interactive search over ``index``: results update as you type (``live``) or press enter."""
    return SearchBox(index, query, k, threshold, live)
