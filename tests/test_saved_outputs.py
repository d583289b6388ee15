"""`python -m mmlesson clean-notebook`: finished bars as text, no widgets, nbval markers as cell tags."""
import copy
import json

import pytest

from mmlesson import cli, saved_outputs
from mmlesson.saved_outputs import CHECK_TAG, WIDGET_STATE, WIDGET_VIEW


def tqdm_models(box_id: str, left: str, value: float, total: float, right: str, hidden: bool) -> dict:
    """The widget models tqdm.notebook leaves in a notebook's metadata for one bar."""
    models = {f"{box_id}-left": {"model_name": "HTMLModel", "state": {"value": left}},
              f"{box_id}-bar": {"model_name": "FloatProgressModel", "state": {"value": value, "max": total}},
              f"{box_id}-right": {"model_name": "HTMLModel", "state": {"value": right}},
              f"{box_id}-layout": {"model_name": "LayoutModel", "state": {"visibility": "hidden" if hidden else None}}}
    models[box_id] = {"model_name": "HBoxModel", "state": {
        "children": [f"IPY_MODEL_{box_id}-{part}" for part in ("left", "bar", "right")],
        "layout": f"IPY_MODEL_{box_id}-layout"}}
    return models


def widget_output(model_id: str, first_frame: str) -> dict:
    return {"output_type": "display_data", "metadata": {},
            "data": {WIDGET_VIEW: {"model_id": model_id, "version_major": 2, "version_minor": 0},
                     "text/plain": first_frame}}


def executed_notebook() -> dict:
    """What nbconvert saves: a kept bar, a bar closed with leave=False, a search box, a marker comment."""
    state = {**tqdm_models("kept", "training\u2007tiny\u2007CLIP:\u2007100%", 500, 500,
                           "\u2007500/500\u2007[04:27&lt;00:00,\u2007\u20071.03it/s]", hidden=False),
             **tqdm_models("hidden", "encoding:\u2007100%", 15, 15, "\u200715/15", hidden=True),
             "box": {"model_name": "VBoxModel", "state": {"children": []}}}
    printed = {"output_type": "stream", "name": "stdout", "text": ["0.79M parameters\n"]}
    cells = [{"cell_type": "code", "id": "a", "execution_count": 1, "metadata": {"execution": {"shell": "x"}},
              "source": ["result = train()\n"], "outputs": [widget_output("kept", "  0%|          | 0/500"), printed]},
             {"cell_type": "code", "id": "b", "execution_count": 2, "metadata": {},
              "source": "curve = probes()", "outputs": [widget_output("hidden", "  0%|          | 0/15")]},
             {"cell_type": "code", "id": "c", "execution_count": 3, "metadata": {},
              "source": ["box = search_box(index)\n", "box"], "outputs": [widget_output("box", "SearchBox(...)")]},
             {"cell_type": "code", "id": "d", "execution_count": 4, "metadata": {"tags": ["keep-me"]},
              "source": ["# NBVAL_CHECK_OUTPUT\n", "print(f'{accuracy:.1%}')  # NBVAL_CHECK_OUTPUT stays in text\n"],
              "outputs": []},
             {"cell_type": "markdown", "id": "e", "metadata": {}, "source": ["# NBVAL_CHECK_OUTPUT in prose stays\n"]}]
    return {"cells": cells, "metadata": {"widgets": {WIDGET_STATE: {"state": state}}}, "nbformat": 4,
            "nbformat_minor": 5}


def test_a_kept_bar_becomes_its_final_line_and_the_rest_goes():
    notebook = executed_notebook()
    changes = saved_outputs.clean(notebook)
    kept, hidden, box, checked, prose = notebook["cells"]
    assert kept["outputs"][0] == {"output_type": "display_data", "metadata": {}, "data": {
        "text/plain": "training tiny CLIP: 100%|██████████| 500/500 [04:27<00:00,  1.03it/s]"}}
    assert kept["outputs"][1]["text"] == ["0.79M parameters\n"]  # other outputs untouched
    assert hidden["outputs"] == [] and box["outputs"] == []
    assert "widgets" not in notebook["metadata"] and "execution" not in kept["metadata"]
    assert len(changes) == 6


def test_the_marker_comment_becomes_the_cell_tag():
    notebook = executed_notebook()
    saved_outputs.clean(notebook)
    checked, prose = notebook["cells"][3], notebook["cells"][4]
    assert checked["source"] == ["print(f'{accuracy:.1%}')  # NBVAL_CHECK_OUTPUT stays in text\n"]
    assert checked["metadata"]["tags"] == ["keep-me", CHECK_TAG]
    assert prose["source"] == ["# NBVAL_CHECK_OUTPUT in prose stays\n"]


def test_cleaning_twice_changes_nothing():
    notebook = executed_notebook()
    saved_outputs.clean(notebook)
    cleaned = copy.deepcopy(notebook)
    assert saved_outputs.clean(notebook) == [] and notebook == cleaned


def test_an_unfinished_bar_shows_how_far_it_got():
    state = tqdm_models("stopped", "generating:\u2007\u200740%", 60, 150, "\u200760/150", hidden=False)
    assert saved_outputs.progress_bar_line("stopped", state) == "generating:  40%|████      | 60/150"


def test_a_widget_without_saved_state_is_dropped():
    notebook = {"cells": [{"cell_type": "code", "metadata": {}, "source": [], "outputs": [widget_output("gone", "")]}],
                "metadata": {}}
    assert saved_outputs.clean(notebook) == ["cell 0: widget -> dropped"] and notebook["cells"][0]["outputs"] == []


def test_the_command_cleans_files_in_place(tmp_path, capsys):
    path = tmp_path / "lesson.ipynb"
    path.write_text(json.dumps(executed_notebook(), indent=1))
    assert cli.main(["clean-notebook", str(path)]) == 0
    assert cli.main(["clean-notebook", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [f"{path}: 6 change(s)", f"{path}: already clean"]
    assert WIDGET_VIEW not in path.read_text() and path.read_text().endswith("}\n")


@pytest.mark.parametrize("name, content, message", [("notes.txt", "{}", "not a notebook file"),
                                                     ("missing.ipynb", None, "not a notebook file"),
                                                     ("broken.ipynb", '{"cells": [', "not valid notebook JSON")])
def test_bad_paths_are_refused_and_nothing_is_lost(tmp_path, capsys, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert cli.main(["clean-notebook", str(path)]) == 2
    assert message in capsys.readouterr().err
    assert content is None or path.read_text() == content
