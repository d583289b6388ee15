"""`python -m mmlesson badges`: one address in pyproject.toml, written into every badge and COURSE_REPO line."""
import json
import subprocess

import pytest

from mmlesson import badges, cli

COLAB_CELL = ['import sys\n', 'if "google.colab" in sys.modules:\n',
              '    COURSE_REPO = "https://github.com/YOUR-ORG/mmlesson"  # <- the repository you got the course from\n',
              '    !git clone -q --depth 1 {COURSE_REPO} /content/mmlesson\n']


@pytest.fixture
def course(tmp_path):
    """A course folder as the template left it: placeholder badges, pyproject naming the real address."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "mmlesson"\n\n[project.urls]\n'
                                             'Repository = "https://github.com/course/mmlesson"\n')
    (tmp_path / "README.md").write_text("# mmlesson\n\n" + badges.badge("https://github.com/YOUR-ORG/mmlesson",
                                                                      "00_start_here.ipynb") + "\nmore text\n")
    (tmp_path / "notebooks").mkdir()
    for name in ("00_start_here", "01_contrastive_loss"):
        notebook = {"cells": [{"cell_type": "markdown", "id": "a", "metadata": {},
                               "source": [badges.badge("https://github.com/YOUR-ORG/mmlesson", "old.ipynb") + "\n",
                                          "\n", "# Lesson\n"]},
                              {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": 1, "outputs": [],
                               "source": COLAB_CELL},
                              {"cell_type": "code", "id": "c", "metadata": {}, "execution_count": 2, "outputs": [],
                               "source": "print('source kept as one string')"}],
                    "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        (tmp_path / "notebooks" / f"{name}.ipynb").write_text(json.dumps(notebook, indent=1) + "\n")
    return tmp_path


def first_line(notebook_path) -> str:
    return json.loads(notebook_path.read_text())["cells"][0]["source"][0].rstrip("\n")


def course_repo_line(notebook_path) -> str:
    return json.loads(notebook_path.read_text())["cells"][1]["source"][2]


def test_pyproject_address_goes_into_every_badge_and_clone(course):
    changed = badges.write_badges(root=course)
    assert sorted(path.name for path in changed) == ["00_start_here.ipynb", "01_contrastive_loss.ipynb", "README.md"]
    for notebook in (course / "notebooks").glob("*.ipynb"):
        assert first_line(notebook) == badges.badge("https://github.com/course/mmlesson", notebook.name)
        assert 'COURSE_REPO = "https://github.com/course/mmlesson"' in course_repo_line(notebook)
        assert json.loads(notebook.read_text())["cells"][2]["source"] == "print('source kept as one string')"
    readme = (course / "README.md").read_text()
    assert badges.badge("https://github.com/course/mmlesson", "00_start_here.ipynb") in readme
    assert "YOUR-ORG" not in readme and readme.endswith("more text\n")
    assert badges.write_badges(root=course) == []  # a second run changes nothing


def test_a_fork_points_everything_at_itself_with_one_command(course):
    changed = badges.write_badges("git@github.com:me/my-course.git", root=course)
    assert course / "pyproject.toml" in changed
    assert badges.repository_url(course / "pyproject.toml") == "https://github.com/me/my-course"
    notebook = course / "notebooks" / "01_contrastive_loss.ipynb"
    assert first_line(notebook) == (f"[![Open In Colab]({badges.COLAB_BADGE_IMAGE})](https://colab.research.google.com"
                                    "/github/me/my-course/blob/main/notebooks/01_contrastive_loss.ipynb)")


def test_a_github_origin_wins_over_pyproject(course):
    subprocess.run(["git", "init", "-q", str(course)], check=True)
    subprocess.run(["git", "-C", str(course), "remote", "add", "origin", "https://github.com/fork/mmlesson.git"],
                   check=True)
    badges.write_badges(root=course)
    assert badges.repository_url(course / "pyproject.toml") == "https://github.com/fork/mmlesson"
    assert "github/fork/mmlesson/blob/main" in first_line(course / "notebooks" / "00_start_here.ipynb")


@pytest.mark.parametrize("given, expected", [("https://github.com/a/b", "https://github.com/a/b"),
                                             ("https://github.com/a/b.git", "https://github.com/a/b"),
                                             (" https://github.com/a-1/b_2.x/ ", "https://github.com/a-1/b_2.x"),
                                             ("git@github.com:a/b.git", "https://github.com/a/b")])
def test_github_addresses_in_every_usual_form(given, expected):
    assert badges.normalise_github_url(given) == expected


@pytest.mark.parametrize("bad, message", [("https://gitlab.com/a/b", "not a GitHub address"),
                                          ("github.com/a/b", "not a GitHub address"),
                                          ("https://github.com/a", "not a GitHub address"),
                                          ("https://github.com/YOUR-ORG/mmlesson", "placeholder"),
                                          ("https://github.com/OWNER/NAME", "placeholder")])
def test_bad_addresses_are_refused_with_the_valid_forms(bad, message):
    with pytest.raises(ValueError, match=message):
        badges.normalise_github_url(bad)


def test_the_command_refuses_a_bad_address_in_one_line_and_changes_nothing(course, monkeypatch, capsys):
    before = {path: path.read_text() for path in course.rglob("*") if path.is_file()}
    monkeypatch.setattr(badges, "REPO_DIR", course)
    assert cli.main(["badges", "--repo", "https://example.org/me/course"]) == 2
    assert "not a GitHub address" in capsys.readouterr().err
    assert {path: path.read_text() for path in before} == before


def test_a_readme_without_a_badge_is_an_error_that_shows_the_line(course):
    (course / "README.md").write_text("# no badge here\n")
    with pytest.raises(ValueError, match="no 'Open in Colab' badge line"):
        badges.write_badges(root=course)
