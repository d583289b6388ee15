"""The pure part of tests/browser_check.py: how it decides that the search box drew a readable wrapped grid."""
from __future__ import annotations

from tests.browser_check import parse_status, wrapped_grid_problem

WRAPPED = "15 result(s) for 'a red star' with score >= 0.30 (3 row(s) of 6)"


def test_parse_status_reads_the_search_box_status_line():
    assert parse_status(WRAPPED) == {"results": 15, "query": "a red star", "rows": 3, "columns": 6}
    assert parse_status("type a description of the images you want") is None


def test_a_wrapped_grid_of_readable_thumbnails_passes():
    assert wrapped_grid_problem(WRAPPED, image_width=1070, image_height=728, k=15) is None


def test_one_row_of_tiny_thumbnails_fails():
    one_row = "15 result(s) for 'a red star' with score >= 0.30 (1 row(s) of 15)"
    assert "not wrapped" in wrapped_grid_problem(one_row, 1070, 150, k=15)
    assert "unreadable" in wrapped_grid_problem(WRAPPED, image_width=400, image_height=300, k=15)
    assert "only one row" in wrapped_grid_problem(WRAPPED, image_width=1070, image_height=200, k=15)
    assert "expected 15" in wrapped_grid_problem(WRAPPED.replace("15 result", "5 result"), 1070, 728, k=15)
    assert "no grid image" in wrapped_grid_problem(WRAPPED, 0, 0, k=15)
    assert "not a result count" in wrapped_grid_problem("cannot search: empty index", 1070, 728, k=15)
