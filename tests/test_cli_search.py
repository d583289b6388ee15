"""`python -m mmlesson index FOLDER` and `python -m mmlesson search INDEX QUERY`, run as a learner would."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmlesson import checkpoints, shapes
from mmlesson.config import DATA_DIR, REPO_DIR

TINY_CHECKPOINT = DATA_DIR / "tiny-clip-shapes.safetensors"
needs_tiny = pytest.mark.skipif(not (TINY_CHECKPOINT.exists() and "tiny-clip-shapes" in checkpoints.registry()),
                                reason="data/tiny-clip-shapes.safetensors is not there (or not registered) yet")


def run_cli(*args: str, cache: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "MMLESSON_OFFLINE": "1", "MMLESSON_CACHE": str(cache), "MMLESSON_DEVICE": "cpu"}
    return subprocess.run([sys.executable, "-m", "mmlesson", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO_DIR, env=environment, timeout=300)


@pytest.fixture
def shapes_folder(tmp_path) -> tuple[Path, shapes.ShapesBatch]:
    batch = shapes.make_shapes(40, seed=5)
    folder = tmp_path / "pictures"
    (folder / "more").mkdir(parents=True)
    for i, (image, attributes) in enumerate(zip(batch.pil_images(), batch.attributes)):
        sub = folder / "more" if i % 2 else folder
        image.save(sub / f"{i:02d}_{attributes.color}_{attributes.shape}.png")
    (folder / "broken.png").write_bytes(b"")
    return folder, batch


@needs_tiny
def test_index_then_search_prints_a_table_and_json(shapes_folder, tmp_path):
    folder, batch = shapes_folder
    out = tmp_path / "the-index"
    indexed = run_cli("index", folder, "--out", out, "--model", "tiny-shapes", cache=tmp_path)
    assert indexed.returncode == 0, indexed.stderr
    assert "40 images" in indexed.stdout and "broken.png" in indexed.stdout and "0 bytes" in indexed.stdout
    assert "backend='brute' (auto)" in indexed.stdout and "memory" in indexed.stdout  # the summary line
    assert (out / "manifest.json").exists() and (out / "embeddings.npy").exists()

    table = run_cli("search", out, "a red circle", "-k", "3", cache=tmp_path)
    assert table.returncode == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert lines[0].split() == ["rank", "score", "path"] and len(lines) == 4
    assert lines[1].split()[0] == "1" and lines[1].split()[2].endswith(".png")

    as_json = run_cli("search", out, "a red circle", "-k", "100", "--json", cache=tmp_path)
    records = json.loads(as_json.stdout)
    assert [r["rank"] for r in records] == list(range(1, 41)) and set(records[0]) == {"rank", "index", "path", "score"}
    assert "note: k=100 is larger than the collection (40 images)" in as_json.stderr
    assert [r["path"] for r in records[:3]] == [line.split()[2] for line in lines[1:]]
    red_circles = sum(a.class_name == "red circle" for a in batch.attributes)
    found = sum("_red_circle" in Path(r["path"]).name for r in records[:3])
    assert found == min(3, red_circles)


@needs_tiny
def test_reindex_default_location_and_incremental(shapes_folder, tmp_path):
    folder, _ = shapes_folder
    first = run_cli("index", folder, cache=tmp_path)
    assert first.returncode == 0, first.stderr
    assert (folder / ".mmlesson-index" / "manifest.json").exists()
    sorted(folder.glob("*_*.png"))[0].unlink()  # one of the 20 top-level images
    again = run_cli("index", folder, cache=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 new, 0 changed, 1 removed, 39 unchanged, 1 skipped" in again.stdout
    result = run_cli("search", folder, "a blue square", "-k", "2", "--json", cache=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 2


@needs_tiny
def test_index_with_another_model_is_refused(shapes_folder, tmp_path):
    folder, _ = shapes_folder
    assert run_cli("index", folder, "--out", tmp_path / "idx", cache=tmp_path).returncode == 0
    manifest_path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model"] = "ViT-B-32"
    manifest_path.write_text(json.dumps(manifest))
    refused = run_cli("index", folder, "--out", tmp_path / "idx", "--model", "tiny-shapes", cache=tmp_path)
    assert refused.returncode == 2 and "different space" in refused.stderr and "Traceback" not in refused.stderr


def test_index_of_an_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run_cli("index", tmp_path / "empty", cache=tmp_path)
    assert result.returncode == 2
    assert "no images found in folder" in result.stderr and "empty" in result.stderr
    assert "Traceback" not in result.stderr


def test_search_without_an_index_is_a_clear_error(tmp_path):
    result = run_cli("search", tmp_path / "nothing", "a red star", cache=tmp_path)
    assert result.returncode == 2 and "no saved index" in result.stderr and "Traceback" not in result.stderr


def test_every_argument_of_every_subcommand_has_help():
    """`python -m mmlesson COMMAND --help` explains every argument: none is listed bare."""
    import argparse

    from mmlesson.cli import build_parser

    subcommands = next(action for action in build_parser()._actions
                       if isinstance(action, argparse._SubParsersAction))
    bare = [f"{name} {action.option_strings or action.dest}"
            for name, command in subcommands.choices.items() for action in command._actions
            if not isinstance(action, argparse._HelpAction) and not action.help]
    assert len(subcommands.choices) >= 8
    assert not bare, f"arguments without help text: {bare}"


def test_search_help_describes_its_arguments(capsys):
    from mmlesson.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--help"])
    printed = capsys.readouterr().out
    assert "saved index folder" in printed and "in words" in printed and "how many results" in printed
