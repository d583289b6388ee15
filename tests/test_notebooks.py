"""The committed notebooks keep the conventions of CONTRIBUTING.md (nbval executes them separately)."""
import json
from pathlib import Path

import pytest

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


# "Open in Colab": the badge at the top of a notebook opens that same notebook in the repository its Colab
# cell clones (COURSE_REPO). Required on the lessons listed here; checked on any other notebook that has one.
BADGE_REQUIRED = ["00_start_here", "01_contrastive_loss", "02_zero_shot_classification", "03_image_search",
                  "04_vqgan_clip_generation", "05_visual_tokens_dalle"]
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def course_repo(path: Path) -> str:
    for cell in cells(path):
        for line in source(cell).splitlines():
            if line.strip().startswith("COURSE_REPO ="):
                return line.split("=", 1)[1].split("#")[0].strip().strip("\"'")
    raise AssertionError(f"{path.name} has no COURSE_REPO = ... line in its Colab cell")


def colab_url(repo: str, notebook_name: str) -> str:
    assert repo.startswith("https://github.com/"), repo
    return (repo.rstrip("/").replace("https://github.com/", "https://colab.research.google.com/github/")
            + f"/blob/main/notebooks/{notebook_name}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_colab_badge_opens_this_notebook(path):
    first_cell = source(cells(path)[0])
    if path.stem not in BADGE_REQUIRED and COLAB_BADGE_IMAGE not in first_cell:
        pytest.skip(f"{path.name} has no Colab badge yet")
    badge = f"[![Open In Colab]({COLAB_BADGE_IMAGE})]({colab_url(course_repo(path), path.name)})"
    assert cells(path)[0]["cell_type"] == "markdown" and first_cell.splitlines()[0] == badge, first_cell[:300]


def test_readme_badge_opens_the_first_notebook():
    first = NOTEBOOKS[0]
    readme = (first.parent.parent / "README.md").read_text()
    assert f"[![Open In Colab]({COLAB_BADGE_IMAGE})]({colab_url(course_repo(first), first.name)})" in readme
