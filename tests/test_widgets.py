"""The search box's results grid: wrapped rows of fixed-size thumbnails with titles that tell hits apart."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pytest

from mmlesson import shapes
from mmlesson.index import ImageIndex
from mmlesson.viz import hit_titles, show_results
from mmlesson.widgets import RESULTS_PER_ROW, grid_shape, search_box

from .test_search import FakeClip, quiet


def test_shapes_files_are_titled_by_their_attributes():
    titles = hit_titles(["/cache/shapes-3000/00580_small_red_star_top-left.png",
                         "/cache/shapes-3000/00001_large_red_triangle_bottom.png"])
    assert titles[0].replace("\n", " ") == "small red star top-left"
    assert titles[1].replace("\n", " ") == "large red triangle bottom"


def test_other_files_lose_the_folders_they_share():
    titles = hit_titles(["/home/me/photos/2023/beach/dog.jpg", "/home/me/photos/2024/cat.jpg"])
    assert titles == ["2023/beach/dog.jpg", "2024/cat.jpg"]
    assert hit_titles(["/home/me/photos/only.jpg"]) == ["only.jpg"]
    assert hit_titles([None, "/a/b.png"]) == ["", "b.png"]


def test_long_titles_fit_two_lines_and_keep_their_end():
    long_name = "/p/holiday_2023_" + "x" * 50 + "_final.jpg"
    title = hit_titles([long_name, "/p/short.jpg"], width=18)[0]
    lines = title.split("\n")
    assert len(lines) == 2 and all(len(line) <= 18 for line in lines)
    assert title.replace("\n", "").endswith("_final.jpg") and title.startswith("…")


@pytest.mark.parametrize("n, expected", [(0, (0, 0)), (1, (1, 1)), (6, (1, 6)), (7, (2, 6)), (50, (9, 6))])
def test_grid_shape_wraps_rows_of_fixed_width(n, expected):
    assert RESULTS_PER_ROW == 6 and grid_shape(n) == expected


def test_search_box_wraps_many_results_at_a_fixed_thumbnail_size():
    index = ImageIndex.from_images(shapes.make_shapes(40, seed=3), FakeClip(), **quiet())
    box = search_box(index, query="a red star", k=15)
    assert len(box.last_results) == 15 and "(3 row(s) of 6)" in box.status.value
    figure = box.last_figure
    image_axes = [axis for axis in figure.axes if axis.images]
    assert len(image_axes) == 15
    width_in, _ = figure.get_size_inches()
    assert width_in / RESULTS_PER_ROW == pytest.approx(1.8)  # same thumbnail size at k = 15 as at k = 6
    rows = sorted({round(axis.get_position().y0, 3) for axis in image_axes})
    assert len(rows) == 3
    plt.close(figure)
