"""The committed notebooks keep the conventions of CONTRIBUTING.md (nbval executes them separately)."""
import json
import re
from pathlib import Path

import pytest

from mmlesson import badges, saved_outputs

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
EXPECTED = ["00_start_here", "01_contrastive_loss", "02_zero_shot_classification", "03_image_search",
            "04_vqgan_clip_generation", "05_visual_tokens_dalle"]


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_every_lesson_is_there():
    assert [path.stem for path in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_small_enough_to_review(path):
    assert path.stat().st_size < 1_000_000, f"{path.name} is {path.stat().st_size / 1e6:.2f} MB; keep it under 1 MB"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_first_code_cell_is_the_setup(path):
    first = next(cell for cell in cells(path) if cell["cell_type"] == "code")
    assert "mmlesson.setup()" in source(first) and "google.colab" in source(first)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_pip_only_in_the_colab_cell(path):
    code = [cell for cell in cells(path) if cell["cell_type"] == "code"]
    assert not [source(cell)[:80] for cell in code[1:] if "pip install" in source(cell)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_committed_outputs_have_no_errors_and_no_vector_figures(path):
    for cell in cells(path):
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"{path.name}: {output.get('ename')}: {output.get('evalue')}"
            assert not {"image/svg+xml", "application/pdf"} & set(output.get("data", {}))


@pytest.mark.parametrize("path", NOTEBOOKS[1:], ids=lambda path: path.stem)
def test_exercises_ship_unfinished(path):
    """Every exercise cell still raises NotImplementedError, and is followed by its check."""
    stubs = [source(cell) for cell in cells(path)
             if cell["cell_type"] == "code" and "raise NotImplementedError" in source(cell)]
    assert len(stubs) >= 2
    assert all("exercises.check_" in stub for stub in stubs)


# "Open in Colab": the badge at the top of every notebook opens that same notebook in the repository named in
# pyproject.toml ([project.urls] Repository), which its Colab cell clones (COURSE_REPO). `make badges` writes them.
def course_repo(path: Path) -> str:
    for cell in cells(path):
        for line in source(cell).splitlines():
            if line.strip().startswith("COURSE_REPO ="):
                return line.split("=", 1)[1].split("#")[0].strip().strip("\"'")
    raise AssertionError(f"{path.name} has no COURSE_REPO = ... line in its Colab cell")


def test_the_repository_address_is_real():
    repo = badges.repository_url()  # refuses anything but https://github.com/OWNER/NAME without a placeholder word
    assert badges.placeholder_in(repo) is None, repo


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_colab_badge_and_clone_use_the_repository_address(path):
    repo = badges.repository_url()
    first_cell = source(cells(path)[0])
    assert cells(path)[0]["cell_type"] == "markdown"
    assert first_cell.splitlines()[0] == badges.badge(repo, path.name), "run `make badges`: " + first_cell[:200]
    assert course_repo(path) == repo, "run `make badges`"


def test_readme_badge_opens_the_first_notebook():
    readme = (NOTEBOOKS[0].parent.parent / "README.md").read_text()
    assert badges.badge(badges.repository_url(), NOTEBOOKS[0].name) in readme, "run `make badges`"
    assert "colab.research.google.com/github/" in readme and badges.placeholder_in(readme) is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_no_placeholder_address_anywhere(path):
    assert badges.placeholder_in(path.read_text()) is None


FROZEN_BAR = re.compile(r"(?<!\d)0%\|")  # a progress bar saved at its first frame: "  0%|          | 0/500"


# Saved outputs a learner should see: `python -m mmlesson clean-notebook` turns progress-bar widgets into their
# final line of text (or drops them), drops other widgets and moves nbval's marker from the code to a cell tag.
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_saved_notebook_is_clean(path):
    notebook = json.loads(path.read_text())
    assert saved_outputs.clean(notebook) == [], f"run `python -m mmlesson clean-notebook {path.name}`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_no_widgets_and_no_marker_comments(path):
    for cell in cells(path):
        assert "NBVAL_CHECK_OUTPUT" not in source(cell), source(cell)[:120]
        for output in cell.get("outputs", []):
            assert saved_outputs.WIDGET_VIEW not in output.get("data", {}), source(cell)[:120]
            shown = "".join(output.get("data", {}).get("text/plain", "")) + "".join(output.get("text", ""))
            assert not FROZEN_BAR.search(shown), shown[:200]


@pytest.mark.parametrize("path", NOTEBOOKS[:4], ids=lambda path: path.stem)
def test_lessons_0_to_3_check_their_claims_and_show_only_png_or_jpeg(path):
    checked = [cell for cell in cells(path) if saved_outputs.CHECK_TAG in cell.get("metadata", {}).get("tags", [])]
    assert len(checked) >= 2, "the cells printing the lesson's claims carry the nbval-check-output tag"
    for cell in cells(path):
        for output in cell.get("outputs", []):
            images = {mime for mime in output.get("data", {}) if mime.startswith("image/")}
            assert images <= {"image/png", "image/jpeg"}, f"{images} in {source(cell)[:80]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS[:4], ids=lambda path: path.stem)
def test_no_stray_object_reprs(path):
    """A cell ending in a matplotlib call shows that call's return value ([<matplotlib.axis.XTick at 0x...>, ...])."""
    for cell in cells(path):
        for output in cell.get("outputs", []):
            if output["output_type"] == "execute_result" and set(output["data"]) == {"text/plain"}:
                text = "".join(output["data"]["text/plain"])
                assert "<matplotlib." not in text and not text.startswith(("Text(", "[Text(")), text[:200]
