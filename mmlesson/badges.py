"""Where a Colab learner's first click goes: the repository address, written into every badge from one place.

The address lives only in ``pyproject.toml`` (``[project.urls] Repository``). ``write_badges()`` (the command
``python -m mmlesson badges``, or ``make badges``) writes it into:

- the README's "Open in Colab" badge, which opens ``notebooks/00_start_here.ipynb``;
- each notebook's badge, the first line of its first cell, which opens that notebook;
- each notebook's ``COURSE_REPO = "..."`` line, the repository its Colab cell clones.

A fork points everything at itself with one command: ``python -m mmlesson badges --repo
https://github.com/ME/mmlesson``, or plain ``python -m mmlesson badges`` in a clone whose ``origin`` is on GitHub.
Either also rewrites pyproject's address, so the next run (and ``tests/test_notebooks.py``) agrees with it.
"""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from .config import REPO_DIR
from .files import atomic_write_bytes
from .saved_outputs import notebook_json, source_lines

FIRST_NOTEBOOK = "00_start_here.ipynb"  # the README's badge opens this one
BRANCH = "main"  # the branch Colab opens
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
COURSE_REPO_COMMENT = "# <- the repository you got the course from"
# A template's stand-ins for an address nobody filled in; a badge holding one opens nothing.
PLACEHOLDER_WORDS = ("your-org", "your_org", "yourorg", "your-name", "your-user", "username", "owner/name")

GITHUB_URL = re.compile(r"https://github\.com/(?P<owner>[A-Za-z0-9][A-Za-z0-9-]*)/(?P<name>[A-Za-z0-9._-]+?)(?:\.git)?/?")
GITHUB_SSH = re.compile(r"git@github\.com:(?P<owner>[A-Za-z0-9][A-Za-z0-9-]*)/(?P<name>[A-Za-z0-9._-]+?)(?:\.git)?/?")
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^)\s]+?/blob/[^/)\s]+/notebooks/(?P<file>[\w.-]+)")
# Read and written as a line, not parsed as TOML: tomllib needs Python 3.11 and the course supports 3.10.
REPOSITORY_LINE = re.compile(r'(?m)^(Repository\s*=\s*)"(?P<url>[^"]*)"')


def write_badges(repo: str | None = None, root: Path | None = None) -> list[Path]:
    """Write the repository address into the README's and every notebook's badge and COURSE_REPO line.

    The address is ``repo`` if given, else ``origin``'s when it is a GitHub URL, else pyproject's; the first two
    are also written into pyproject. ``root`` is the course folder (default: this clone). Returns the files that
    changed (none on a second run).
    """
    root = Path(root or REPO_DIR)
    pyproject = root / "pyproject.toml"
    current = repository_url(pyproject)
    chosen = normalise_github_url(repo) if repo else (github_origin(root) or current)
    changed = [pyproject] if chosen != current and _rewrite(pyproject, _with_repository(pyproject, chosen)) else []
    readme = root / "README.md"
    if _rewrite(readme, readme_with_badge(readme.read_text(encoding="utf-8"), chosen)):
        changed.append(readme)
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        if _rewrite(notebook, notebook_with_badge(notebook.read_text(encoding="utf-8"), chosen, notebook.name)):
            changed.append(notebook)
    return changed


# --- the address ---

def repository_url(pyproject: Path | None = None) -> str:
    """pyproject's ``[project.urls] Repository`` (default: this clone's), checked: https://github.com/OWNER/NAME."""
    pyproject = Path(pyproject or REPO_DIR / "pyproject.toml")
    match = REPOSITORY_LINE.search(pyproject.read_text(encoding="utf-8"))  # the line _with_repository rewrites
    if match is None:
        raise ValueError(f"{pyproject} has no [project.urls] Repository = \"https://github.com/OWNER/NAME\" line")
    return normalise_github_url(match["url"])


def normalise_github_url(url: str) -> str:
    """``https://github.com/OWNER/NAME`` from that form (with or without ``.git`` or ``/``) or ``git@github.com:...``.

    Colab opens notebooks from GitHub only, so anything else is refused, as is a placeholder such as YOUR-ORG.
    """
    text = str(url).strip()
    match = GITHUB_URL.fullmatch(text) or GITHUB_SSH.fullmatch(text)
    if match is None:
        raise ValueError(f"repository {text!r} is not a GitHub address; Colab opens notebooks from GitHub only. "
                         "Valid forms: https://github.com/OWNER/NAME, https://github.com/OWNER/NAME.git, "
                         "git@github.com:OWNER/NAME.git")
    placeholder = placeholder_in(text)
    if placeholder:
        raise ValueError(f"repository {text!r} holds the placeholder {placeholder!r}; give the real address, "
                         "e.g. https://github.com/ME/mmlesson")
    return f"https://github.com/{match['owner']}/{match['name']}"


def placeholder_in(text: str) -> str | None:
    """The first placeholder word in ``text`` (case-insensitive), or None."""
    lowered = text.lower()
    return next((word for word in PLACEHOLDER_WORDS if word in lowered), None)


def github_origin(root: Path = REPO_DIR) -> str | None:
    """The ``origin`` remote of the clone at ``root`` as https://github.com/OWNER/NAME; None if there is none
    or it is not on GitHub (then pyproject's address stays)."""
    try:
        remote = subprocess.run(["git", "-C", str(root), "remote", "get-url", "origin"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        return normalise_github_url(remote)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def colab_url(repo: str, notebook_name: str, branch: str = BRANCH) -> str:
    """The link that opens ``notebooks/<notebook_name>`` of ``repo`` in Colab."""
    return repo.replace("https://github.com/", "https://colab.research.google.com/github/", 1) + \
        f"/blob/{branch}/notebooks/{notebook_name}"


def badge(repo: str, notebook_name: str) -> str:
    """The markdown "Open in Colab" badge for one notebook."""
    return f"[![Open In Colab]({COLAB_BADGE_IMAGE})]({colab_url(repo, notebook_name)})"


# --- the files that hold it ---

def readme_with_badge(text: str, repo: str) -> str:
    """The README with its badge line (the first line holding a Colab link) opening the first notebook of ``repo``."""
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines):
        if COLAB_LINK.search(line):
            lines[number] = badge(repo, FIRST_NOTEBOOK) + "\n"
            return "".join(lines)
    raise ValueError("README.md has no 'Open in Colab' badge line to update; put one under the title: "
                     + badge(repo, FIRST_NOTEBOOK))


def notebook_with_badge(text: str, repo: str, notebook_name: str) -> str:
    """A notebook's JSON text with its badge (first line of the first cell) and its COURSE_REPO line set."""
    notebook = json.loads(text)
    first = notebook["cells"][0]
    lines = source_lines(first)
    if lines and COLAB_LINK.search(lines[0]):
        lines[0] = badge(repo, notebook_name) + "\n"
    else:
        lines = [badge(repo, notebook_name) + "\n", "\n"] + lines
    first["source"] = lines
    for cell in notebook["cells"]:
        lines = source_lines(cell)
        if cell["cell_type"] == "code" and any(line.strip().startswith("COURSE_REPO =") for line in lines):
            cell["source"] = [_with_course_repo(line, repo) for line in lines]
    return notebook_json(notebook)


def _with_course_repo(line: str, repo: str) -> str:
    if not line.strip().startswith("COURSE_REPO ="):
        return line
    indent = line[: len(line) - len(line.lstrip())]
    return f'{indent}COURSE_REPO = "{repo}"  {COURSE_REPO_COMMENT}' + ("\n" if line.endswith("\n") else "")


def _with_repository(pyproject: Path, repo: str) -> str:
    text = pyproject.read_text(encoding="utf-8")
    updated, count = REPOSITORY_LINE.subn(lambda match: f'{match[1]}"{repo}"', text, count=1)
    if count != 1:
        raise ValueError(f"{pyproject} has no [project.urls] Repository = \"...\" line to update")
    return updated


def _rewrite(path: Path, text: str) -> bool:
    """Write ``text`` over ``path`` (atomically) if it differs; True if it did."""
    if path.read_text(encoding="utf-8") == text:
        return False
    atomic_write_bytes(path, text.encode("utf-8"))
    return True
