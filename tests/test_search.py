"""Tests for mmlesson.search (ImageIndex), the results grid, the search box and the Lesson 3 exercises.

Most tests use FakeClip, a tiny stand-in with load_clip's interface whose embeddings are colours:
an image's embedding is its mean colour, a text's embedding the colour it names. So "red" finds the
red images, and every expectation can be worked out by hand. The last tests use the bundled tiny
CLIP when data/tiny-clip-shapes.safetensors exists.
"""
from __future__ import annotations

import json
import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mmlesson import checkpoints, exercises, search, shapes
from mmlesson import index as index_module
from mmlesson.config import DATA_DIR
from mmlesson.search import ImageIndex, SearchResult

COLORS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0), "yellow": (1.0, 1.0, 0.0),
          "white": (1.0, 1.0, 1.0), "black": (0.0, 0.0, 0.0), "grass": (0.2, 0.8, 0.2)}
TINY_CHECKPOINT = DATA_DIR / "tiny-clip-shapes.safetensors"
TINY_READY = TINY_CHECKPOINT.exists() and "tiny-clip-shapes" in checkpoints.registry()  # load_clip can find it


class FakeClip:
    """load_clip's interface with colour embeddings; counts the images it encodes."""

    def __init__(self, name: str = "fake-colors", embed_dim: int = 8):
        self.name, self.embed_dim, self.images_encoded = name, embed_dim, 0
        self.lift = torch.linalg.qr(torch.randn(embed_dim, 4, generator=torch.Generator().manual_seed(0)))[0].T

    def preprocess(self, image) -> torch.Tensor:
        image = image.convert("RGB").resize((8, 8))
        return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).float() / 255  # (3, 8, 8)

    def encode_images(self, images, batch_size: int = 256, progress: bool = False) -> torch.Tensor:
        if not isinstance(images, torch.Tensor):
            images = torch.stack([self.preprocess(to_pil(image)) for image in images])
        self.images_encoded += len(images)
        return self._embed(images.mean(dim=(2, 3)))  # mean colour (n, 3)

    def encode_texts(self, texts, batch_size: int = 256) -> torch.Tensor:
        texts = [texts] if isinstance(texts, str) else list(texts)
        colours = [[COLORS.get(word, (0.5, 0.5, 0.5)) for word in text.split() if word in COLORS] or [(0.5,) * 3]
                   for text in texts]
        return self._embed(torch.tensor(np.array([np.mean(c, axis=0) for c in colours]), dtype=torch.float32))

    def _embed(self, rgb: torch.Tensor) -> torch.Tensor:
        features = torch.cat([rgb - 0.5, torch.full((len(rgb), 1), 0.3)], dim=1)  # (n, 4)
        return torch.nn.functional.normalize(features @ self.lift, dim=-1)  # (n, embed_dim)


def to_pil(image):
    if isinstance(image, (str, Path)):
        return Image.open(image).convert("RGB")
    return image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))


def solid(color: str, shade: float = 1.0, size: int = 16) -> Image.Image:
    rgb = np.array(COLORS[color]) * 255 * shade
    return Image.fromarray(np.full((size, size, 3), np.clip(rgb, 0, 255), np.uint8))


def make_folder(root: Path, names_colors: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i, (name, color) in enumerate(names_colors.items()):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        solid(color, 1.0 - 0.05 * (i % 5)).save(path)
    return root


def huge_png_header(path: Path, width: int = 30_000, height: int = 30_000) -> None:
    """A PNG that claims to be 30000x30000: decoding it would need 2.7 GB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


@pytest.fixture
def model():
    return FakeClip()


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "photos", {"red1.png": "red", "red2.jpg": "red", "sub/green.png": "green",
                                             "sub/deeper/blue.bmp": "blue", "yellow.gif": "yellow",
                                             "white.webp": "white", "black.tiff": "black", "blue2.jpeg": "blue"})


def quiet(**options):
    return {"progress": False, "verbose": False, **options}


# --- building ---

def test_from_folder_finds_every_image_type_recursively(folder, model):
    (folder / "notes.txt").write_text("not an image")
    (folder / ".hidden.png").write_bytes(b"")
    index = ImageIndex.from_folder(folder, model, **quiet())
    names = sorted(Path(p).name for p in index.paths)
    assert names == ["black.tiff", "blue.bmp", "blue2.jpeg", "green.png", "red1.png", "red2.jpg", "white.webp",
                     "yellow.gif"]
    assert index.paths == sorted(index.paths)
    assert index.embeddings.dtype == np.float32 and index.embeddings.shape == (8, model.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(index.embeddings, axis=1), 1, atol=1e-5)
    assert index.skipped == []


def test_search_returns_ranked_records(folder, model):
    index = ImageIndex.from_folder(folder, model, **quiet())
    results = index.search("red", k=3)
    assert all(isinstance(r, SearchResult) for r in results)
    assert [r.rank for r in results] == [1, 2, 3]
    assert {Path(r.path).name for r in results[:2]} == {"red1.png", "red2.jpg"}
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(1.0, abs=0.02)
    assert results[0].to_dict().keys() == {"rank", "index", "path", "score"}


def test_batch_search_gives_one_list_per_query(folder, model):
    index = ImageIndex.from_folder(folder, model, **quiet())
    batch = index.search(["green", "yellow"], k=2)
    assert len(batch) == 2 and all(len(row) == 2 for row in batch)
    assert Path(batch[0][0].path).name == "green.png" and Path(batch[1][0].path).name == "yellow.gif"
    assert [r.index for r in batch[1]] == [r.index for r in index.search("yellow", k=2)]


def test_float16_storage_ranks_like_float32(folder, model):
    exact = ImageIndex.from_folder(folder, model, **quiet())
    half = ImageIndex.from_folder(folder, model, **quiet(dtype="float16"))
    assert half.embeddings.dtype == np.float16
    for text in ("red", "blue", "white"):
        assert [r.index for r in half.search(text, k=3)] == [r.index for r in exact.search(text, k=3)]
        assert half.search(text, k=1)[0].score == pytest.approx(exact.search(text, k=1)[0].score, abs=2e-3)


def test_from_paths_keeps_the_given_order_and_skips_missing(folder, model):
    paths = [folder / "yellow.gif", folder / "red1.png", folder / "missing.png"]
    index = ImageIndex.from_paths(paths, model, **quiet())
    assert [Path(p).name for p in index.paths] == ["yellow.gif", "red1.png"]
    assert len(index.skipped) == 1 and index.skipped[0][0].endswith("missing.png")


@pytest.mark.parametrize("kind", ["pil", "array", "shapes_batch", "shapes_dataset", "dataset"])
def test_from_images_accepts_in_memory_collections(kind, model):
    batch = shapes.make_shapes(12, seed=3)
    source = {"pil": batch.pil_images(), "array": batch.images, "shapes_batch": batch,
              "shapes_dataset": shapes.ShapesDataset(12, seed=3),
              "dataset": [(model.preprocess(image), "caption") for image in batch.pil_images()]}[kind]
    index = ImageIndex.from_images(source, model, **quiet(batch_size=5))
    reference = model.encode_images(batch.images).numpy()
    np.testing.assert_allclose(index.embeddings, reference, atol=1e-5)
    result = index.search("red", k=2)[0]
    assert result.path is None and result.image is not None


def test_build_dispatches_on_the_source(folder, model):
    assert ImageIndex.build(folder, model, **quiet()).root == str(folder.resolve())
    assert len(ImageIndex.build([folder / "red1.png"], model, **quiet())) == 1
    assert len(ImageIndex.build(shapes.make_shapes(3).images, model, **quiet())) == 3


def test_progress_bar_and_summary(folder, model, capsys):
    ImageIndex.from_folder(folder, model, verbose=True, progress=True)
    captured = capsys.readouterr()
    assert "indexing images" in captured.err  # tqdm
    assert "8 images" in captured.out and "8 new" in captured.out


# --- queries: negatives, k, bad input ---

def test_negative_prompt_is_a_normalised_weighted_sum(folder, model):
    index = ImageIndex.from_folder(folder, model, **quiet())
    texts = model.encode_texts(["red", "blue"]).numpy()
    expected = texts[0] - 0.5 * texts[1]
    np.testing.assert_allclose(index.query_embedding("red", negative="blue"), expected / np.linalg.norm(expected),
                               atol=1e-6)
    weighted = index.query_embedding({"red": 1.0, "blue": -0.5})
    np.testing.assert_allclose(weighted, index.query_embedding("red", negative="blue", negative_weight=0.5), atol=1e-6)
    plain = {r.index: r.score for r in index.search("white", k=8)}
    steered = {r.index: r.score for r in index.search("white", k=8, negative="red", negative_weight=1.0)}
    red_rows = [i for i, p in enumerate(index.paths) if "red" in Path(p).name]
    blue_rows = [i for i, p in enumerate(index.paths) if "blue" in Path(p).name]
    assert all(steered[i] < plain[i] for i in red_rows) and all(steered[i] > plain[i] for i in blue_rows)


def test_k_larger_than_collection_is_clamped_with_a_warning(folder, model):
    index = ImageIndex.from_folder(folder, model, **quiet())
    with pytest.warns(UserWarning, match="larger than the collection"):
        assert len(index.search("red", k=100)) == 8


@pytest.mark.parametrize("query", ["", "   ", [], {}])
def test_empty_query_is_a_clear_error(folder, model, query):
    index = ImageIndex.from_folder(folder, model, **quiet())
    with pytest.raises(ValueError, match="empty"):
        index.search(query)


@pytest.mark.parametrize("k", [0, -3, 2.5, True])
def test_bad_k_is_a_clear_error(folder, model, k):
    index = ImageIndex.from_folder(folder, model, **quiet())
    with pytest.raises(ValueError, match="k must be"):
        index.search("red", k=k)


def test_min_score_drops_weak_hits(folder, model):
    index = ImageIndex.from_folder(folder, model, **quiet())
    results = index.search("red", k=8, min_score=0.9)
    assert 2 <= len(results) < 8 and all(r.score >= 0.9 for r in results)


def test_search_image_by_path_pil_array_and_row(folder, model):
    index = ImageIndex.from_folder(folder, model, **quiet())
    row = index.paths.index(str(folder.resolve() / "sub" / "green.png"))
    for query in (folder / "sub" / "green.png", solid("green"), np.asarray(solid("green")), row):
        assert index.search_image(query, k=1)[0].index == row
    with pytest.raises(ValueError, match="outside the index"):
        index.search_image(99)


def test_query_embedding_of_the_wrong_size_is_refused(folder, model):
    index = ImageIndex.from_folder(folder, model, **quiet())
    with pytest.raises(ValueError, match="needs \\(8,\\)"):
        index.search_embedding(np.ones(5))


@pytest.mark.parametrize("option,value,match", [("dtype", "int8", "float32, float16"), ("backend", "annoy", "brute"),
                                                ("dtpye", "float16", "unknown option")])
def test_bad_options_list_the_choices(folder, model, option, value, match):
    with pytest.raises(ValueError, match=match):
        ImageIndex.from_folder(folder, model, **quiet(**{option: value}))


# --- bad files and folders ---

def test_corrupt_files_are_skipped_and_reported(folder, model, capsys):
    (folder / "empty.jpg").write_bytes(b"")
    buffer = folder / "full.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(buffer)
    (folder / "truncated.jpg").write_bytes(buffer.read_bytes()[:600])
    buffer.unlink()
    (folder / "text.png").write_text("this is not a picture")
    huge_png_header(folder / "huge.png")
    index = ImageIndex.from_folder(folder, model, progress=False)
    reasons = {Path(path).name: reason for path, reason in index.skipped}
    assert set(reasons) == {"empty.jpg", "truncated.jpg", "text.png", "huge.png"}
    assert "0 bytes" in reasons["empty.jpg"] and reasons["truncated.jpg"].startswith("truncated")
    assert "not an image" in reasons["text.png"] and reasons["huge.png"].startswith("too large")
    assert len(index) == 8
    printed = capsys.readouterr().out
    assert "4 skipped" in printed and "skipped" in printed and "huge.png" in printed


def test_pixel_limit_is_configurable(folder, model):
    Image.new("RGB", (300, 300), (255, 0, 0)).save(folder / "big.png")
    index = ImageIndex.from_folder(folder, model, **quiet(max_pixels=200 * 200))
    assert [Path(p).name for p, _ in index.skipped] == ["big.png"]


def test_empty_and_imageless_folders_name_the_folder(tmp_path, model):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=f"no images found in folder .*empty.*It is empty"):
        ImageIndex.from_folder(empty, model, **quiet())
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="docs.*notes.txt"):
        ImageIndex.from_folder(tmp_path / "docs", model, **quiet())
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ImageIndex.from_folder(tmp_path / "nowhere", model, **quiet())


def test_folder_of_only_broken_images_is_an_error(tmp_path, model):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"")
    (tmp_path / "bad" / "b.jpg").write_text("nope")
    with pytest.raises(ValueError, match="no usable images in folder .*bad.*0 bytes"):
        ImageIndex.from_folder(tmp_path / "bad", model, **quiet())


# --- persistence ---

def test_save_and_load_round_trip(folder, model, tmp_path):
    index = ImageIndex.from_folder(folder, model, **quiet(dtype="float16"))
    index.save(tmp_path / "index")
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["model"] == "fake-colors" and manifest["embed_dim"] == 8 and manifest["dtype"] == "float16"
    assert manifest["format_version"] == index_module.FORMAT_VERSION and len(manifest["embeddings_sha256"]) == 64
    assert {"path", "size", "mtime_ns"} <= set(manifest["items"][0])
    loaded = ImageIndex.load(tmp_path / "index", model, **quiet())
    assert loaded.paths == index.paths and loaded.file_stats == index.file_stats
    np.testing.assert_array_equal(loaded.embeddings, index.embeddings)
    assert [r.index for r in loaded.search("blue", k=3)] == [r.index for r in index.search("blue", k=3)]
    assert not [p for p in (tmp_path / "index").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("backend", ["brute", "brute-int8", "faiss-flat", "faiss-hnsw", "faiss-ivf"])
def test_each_backend_round_trips_with_its_built_structure(backend, tmp_path, monkeypatch):
    if backend.startswith("faiss"):
        pytest.importorskip("faiss")
    vectors, queries = clustered(2000, 32), clustered(4, 32, seed=3)
    index = ImageIndex.from_embeddings(vectors, "random", **quiet(backend=backend, ivf_probes=8))
    expected = index.nearest(queries, 10)
    index.save(tmp_path / "index")
    saved = json.loads((tmp_path / "index" / "manifest.json").read_text())["search_backend"]
    assert saved["backend"] == backend and saved["ivf_probes"] == 8
    assert (tmp_path / "index" / "backend.npz").exists() == (backend != "brute")
    if backend != "brute":  # what was built is loaded, not built again
        monkeypatch.setattr(index_module, "build_backend", lambda *a: pytest.fail("rebuilt instead of loaded"))
    loaded = ImageIndex.load(tmp_path / "index", **quiet())
    assert loaded.config.backend == backend and loaded.config.ivf_probes == 8 and loaded.backend_name == backend
    found = loaded.nearest(queries, 10)
    assert np.array_equal(found[0], expected[0]) and np.allclose(found[1], expected[1])


def test_saved_backend_is_a_cache(tmp_path):
    vectors, directory = clustered(2000, 32), tmp_path / "index"
    index = ImageIndex.from_embeddings(vectors, "random", **quiet(backend="brute-int8"))
    index.build_backend()
    index.save(directory)
    manifest = json.loads((directory / "manifest.json").read_text())
    del manifest["search_backend"]  # as saved before backends were recorded
    (directory / "manifest.json").write_text(json.dumps(manifest))
    old = ImageIndex.load(directory, **quiet())
    assert old.config.backend == "auto" and old._built is None and len(old) == 2000
    index.save(directory)
    other = ImageIndex.from_embeddings(vectors[::-1], "random", **quiet(backend="brute-int8"))
    other.build_backend()
    other.save(tmp_path / "other")
    os.replace(tmp_path / "other" / "backend.npz", directory / "backend.npz")  # codes of other rows
    with pytest.warns(UserWarning, match="built from other embeddings; the search backend is rebuilt"):
        stale = ImageIndex.load(directory, **quiet())
    assert stale._built is None
    assert np.array_equal(stale.nearest(vectors[:3], 5)[0][:, 0], [0, 1, 2])
    index.set_backend("brute")
    index.save(directory)
    assert not (directory / "backend.npz").exists()


def test_loading_with_another_model_is_refused(folder, model, tmp_path):
    ImageIndex.from_folder(folder, model, **quiet()).save(tmp_path / "index")
    with pytest.raises(ValueError, match="fake-colors.*other.*different space"):
        ImageIndex.load(tmp_path / "index", FakeClip(name="other"))
    with pytest.raises(ValueError, match="dim 8.*dim 16"):
        ImageIndex.load(tmp_path / "index", FakeClip(embed_dim=16))
    with pytest.raises(ValueError, match="different space"):
        ImageIndex.load(tmp_path / "index", "ViT-B-32")
    loaded = ImageIndex.load(tmp_path / "index", **quiet())
    with pytest.raises(ValueError, match="different space"):
        loaded.use_model(FakeClip(name="other"))


def test_hand_edited_manifest_is_detected(folder, model, tmp_path):
    directory = tmp_path / "index"
    ImageIndex.from_folder(folder, model, **quiet()).save(directory)
    manifest_path = directory / "manifest.json"
    original = json.loads(manifest_path.read_text())

    def edited(change) -> str:
        manifest = json.loads(json.dumps(original))
        change(manifest)
        manifest_path.write_text(json.dumps(manifest))
        with pytest.raises(ValueError) as error:
            ImageIndex.load(directory, model)
        return str(error.value)

    assert "lists 7 files for 8" in edited(lambda m: m["items"].pop())
    assert "checksum" in edited(lambda m: m.update(embeddings_sha256="0" * 64))
    assert "shape" in edited(lambda m: m.update(count=9))
    assert "float16" in edited(lambda m: m.update(dtype="float16"))
    assert "lacks model" in edited(lambda m: m.pop("model"))
    manifest_path.write_text(json.dumps(original)[:-20])
    with pytest.raises(ValueError, match="not valid JSON"):
        ImageIndex.load(directory, model)
    manifest_path.write_text(json.dumps(original))
    np.save(directory / "embeddings.npy", np.load(directory / "embeddings.npy")[::-1])
    with pytest.raises(ValueError, match="checksum"):
        ImageIndex.load(directory, model)


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved index"):
        ImageIndex.load(tmp_path / "nothing")


def test_failed_save_leaves_the_previous_index_intact(folder, model, tmp_path, monkeypatch):
    directory = tmp_path / "index"
    index = ImageIndex.from_folder(folder, model, **quiet())
    index.save(directory)
    before = {p.name: p.read_bytes() for p in directory.iterdir()}
    make_folder(folder, {"new.png": "white"})
    index.update_folder()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(index_module.np, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        index.save(directory)
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before
    monkeypatch.undo()
    assert len(ImageIndex.load(directory, model)) == 8


# --- incremental update ---

def test_update_encodes_only_new_and_changed_files_and_drops_deleted(folder, model):
    index = ImageIndex.from_folder(folder, model, **quiet())
    model.images_encoded = 0
    make_folder(folder, {"new.png": "green"})
    solid("blue").save(folder / "red1.png")  # changed content and size
    os.utime(folder / "red1.png", ns=(10**18, 10**18))
    (folder / "white.webp").unlink()
    report = index.update_folder()
    assert (report.added, report.changed, report.removed, report.unchanged) == (1, 1, 1, 6)
    assert model.images_encoded == 2
    fresh = ImageIndex.from_folder(folder, FakeClip(), **quiet())
    assert index.paths == fresh.paths and index.file_stats == fresh.file_stats
    np.testing.assert_allclose(index.embeddings, fresh.embeddings, atol=1e-6)
    assert Path(index.search("red", k=1)[0].path).name == "red2.jpg"


def test_reindexing_an_unchanged_folder_decodes_nothing(folder, model, monkeypatch):
    (folder / "broken.png").write_text("not a png")
    index = ImageIndex.from_folder(folder, model, **quiet())
    calls = []
    monkeypatch.setattr(index_module, "read_image", lambda *a, **k: calls.append(a) or (None, "should not be read"))
    report = index.update_folder()
    assert calls == [] and not report.modified and report.unchanged == 8 and len(report.skipped) == 1


def test_update_that_finds_nothing_keeps_the_index(folder, model):
    index = ImageIndex.from_folder(folder, model, **quiet())
    for path in list(folder.rglob("*.*")):
        path.unlink()
    with pytest.raises(ValueError, match="no images found"):
        index.update_folder()
    assert len(index) == 8


def test_index_folder_saves_loads_and_updates(folder, model, tmp_path):
    out = tmp_path / "saved"
    first = search.index_folder(folder, model, out, **quiet())
    stamp = (out / "manifest.json").stat().st_mtime_ns
    again = search.index_folder(folder, model, out, **quiet())
    assert len(again) == len(first) and (out / "manifest.json").stat().st_mtime_ns == stamp  # nothing to save
    make_folder(folder, {"extra.png": "black"})
    assert len(search.index_folder(folder, model, out, **quiet())) == 9
    assert len(ImageIndex.load(out, model)) == 9
    assert search.index_folder(folder, None, out, **quiet()).model_name == "fake-colors"  # None: the saved model
    with pytest.raises(ValueError, match="different space"):
        search.index_folder(folder, FakeClip(name="other"), out, **quiet())


def test_update_with_a_limit_leaves_the_rest_pending(folder, model):
    index = ImageIndex.from_folder(folder, model, **quiet())
    make_folder(folder, {"n1.png": "red", "n2.png": "green", "n3.png": "blue"})
    solid("white").save(folder / "red2.jpg")
    os.utime(folder / "red2.jpg", ns=(10**18, 10**18))  # 3 new files and 1 changed one: 4 to encode
    first = index.update_folder(limit=2)
    assert first.added + first.changed == 2 and first.pending == 2 and "2 still to encode" in str(first)
    assert len(index) == 8 + first.added  # the changed file keeps its old vector while it waits
    second = index.update_folder(limit=2)
    assert second.pending == 0 and len(index) == 11
    assert not index.update_folder().modified


def test_interrupted_index_folder_keeps_what_it_saved(folder, model, tmp_path, monkeypatch):
    out = tmp_path / "saved"
    real_encode, calls = model.encode_images, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(model, "encode_images", interrupted)
    with pytest.raises(KeyboardInterrupt):
        search.index_folder(folder, model, out, save_every=3, **quiet(batch_size=3))
    assert len(ImageIndex.load(out, model)) == 6  # two chunks of 3 were saved before the interruption
    monkeypatch.undo()
    model.images_encoded = 0
    assert len(search.index_folder(folder, model, out, save_every=3, **quiet())) == 8
    assert model.images_encoded == 2


# --- backends ---

def clustered(count: int = 600, dim: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((12, dim))
    return search.normalize_rows(centres[rng.integers(12, size=count)] + 0.3 * rng.standard_normal((count, dim)))


@pytest.mark.parametrize("backend", ["faiss-flat", "faiss-hnsw", "faiss-ivf"])
def test_faiss_backends_agree_with_brute_force(backend):
    pytest.importorskip("faiss")
    vectors = clustered()
    brute = ImageIndex.from_embeddings(vectors, "random", **quiet())
    other = ImageIndex.from_embeddings(vectors, "random", **quiet(backend=backend))
    queries = clustered(20, seed=1)
    exact, _ = brute.nearest(queries, 10)
    found, scores = other.nearest(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact, found)])
    assert recall == 1.0 if backend == "faiss-flat" else recall >= 0.9
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def test_without_faiss_only_the_approximate_backends_fail(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` raise ImportError
    vectors = clustered(100)
    flat = ImageIndex.from_embeddings(vectors, "random", **quiet(backend="faiss-flat"))
    with pytest.warns(UserWarning, match="falls back to brute force"):
        found, _ = flat.nearest(vectors[:3], 5)
    assert list(found[:, 0]) == [0, 1, 2]
    approximate = ImageIndex.from_embeddings(vectors, "random", **quiet(backend="faiss-hnsw"))
    with pytest.raises(ImportError, match="pip install faiss-cpu"):
        approximate.nearest(vectors[:1], 5)


def embeddings_with_structure(count: int, dim: int = 512, seed: int = 0) -> np.ndarray:
    """Unit rows around 200 topics, with near-duplicates: closer to real image embeddings than noise."""
    rng = np.random.default_rng(seed)
    topics = rng.standard_normal((200, dim)).astype(np.float32)
    rows = topics[rng.integers(200, size=count)] + 0.7 * rng.standard_normal((count, dim)).astype(np.float32)
    rows[count // 2:: 97] = rows[count // 2 - 1:: 97][: len(rows[count // 2:: 97])] + 0.01  # near-duplicates
    return search.normalize_rows(rows)


@pytest.mark.parametrize("packed", [True, False], ids=["torch-int8-linear", "block-conversion-fallback"])
def test_int8_rescoring_gives_float32s_top_10(packed):
    from mmlesson.search_backends import Int8Rescoring

    vectors = embeddings_with_structure(20_000)
    rng = np.random.default_rng(1)
    near_rows = search.normalize_rows(vectors[rng.integers(20_000, size=30)]
                                      + 0.05 * rng.standard_normal((30, 512)).astype(np.float32))
    queries = np.concatenate([near_rows, embeddings_with_structure(20, seed=2),
                              search.random_unit_vectors(10, seed=3)])  # (60, 512)
    exact_indices, exact_scores = ImageIndex.from_embeddings(vectors, "random", **quiet()).nearest(queries, 10)
    int8 = ImageIndex.from_embeddings(vectors, "random", **quiet(backend="brute-int8"))
    int8._built = Int8Rescoring(vectors, packed=packed)
    indices, scores = int8.nearest(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact_indices, indices)])
    assert recall == 1.0
    assert np.array_equal(indices, exact_indices)  # same order too
    np.testing.assert_allclose(scores, exact_scores, atol=1e-5)
    approximate = int8._built.approximate_scores(queries)  # the rescoring relies on this bound
    error = np.abs(approximate - queries @ vectors.T).max(axis=1)
    assert np.all(error <= int8._built.error_bounds(queries))
    assert int8._built.nbytes == vectors.size  # one byte per number


def test_int8_error_bound_holds_for_each_query_of_a_mixed_batch():
    """The int8 layer rounds a whole batch with one scale: a peaked query widens every other query's rounding."""
    from mmlesson.search_backends import Int8Rescoring, quantized_queries

    peaked = np.zeros((1, 256), np.float32)
    peaked[0, 3] = 1.0  # span 1 instead of ~0.3: the batch's quantisation step triples
    queries = np.concatenate([search.random_unit_vectors(5, 256, seed=4), peaked])  # (6, 256)
    worst_rows = search.normalize_rows(quantized_queries(queries)[:5] - queries[:5])  # along each rounding error
    vectors = np.concatenate([embeddings_with_structure(3000, dim=256), worst_rows])  # (3005, 256)
    int8 = Int8Rescoring(vectors)  # a bound from each query's own span alone fails here (3 of the 5)
    error = np.abs(int8.approximate_scores(queries) - queries @ vectors.T).max(axis=1)
    assert np.all(error <= int8.error_bounds(queries))
    exact, _ = search.top_k(queries @ vectors.T, 10)
    assert np.array_equal(int8.search(queries, 10)[0], exact)


def near_duplicates(count: int, dim: int = 128, spread: float = 0.002, seed: int = 0) -> np.ndarray:
    """Unit rows all within ``spread`` of one direction: nearly every row falls inside the 8-bit error bound."""
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal(dim).astype(np.float32)
    return search.normalize_rows(centre / np.linalg.norm(centre) + spread * rng.standard_normal((count, dim)))


def test_int8_rescores_every_row_the_bound_cannot_rule_out():
    vectors = near_duplicates(6000)
    queries = np.concatenate([near_duplicates(3, seed=1), search.normalize_rows(vectors[:2] + 0.001)])  # (5, 128)
    exact_indices, exact_scores = search.top_k(queries @ vectors.T, 10)
    index = ImageIndex.from_embeddings(vectors, "random", **quiet(backend="brute-int8"))
    indices, scores = index.nearest(queries, 10)
    assert np.array_equal(indices, exact_indices)
    np.testing.assert_allclose(scores, exact_scores, atol=1e-6)
    backend = index._built
    inside = (backend.approximate_scores(queries) >= exact_scores[:, -1:] - backend.error_bounds(queries)[:, None])
    assert np.all(inside.sum(axis=1) > backend.candidates)  # many more rows than the 64 candidates are in doubt...
    assert np.all(np.array(backend.last_rescored) >= inside.sum(axis=1))  # ...and every one of them was rescored


def test_auto_picks_int8_from_the_measured_crossover():
    from mmlesson.search_backends import INT8_MIN_NUMBERS

    dim = 64
    below = INT8_MIN_NUMBERS // dim - 1
    vectors = search.random_unit_vectors(below + 2, dim)
    small = ImageIndex.from_embeddings(vectors[:below], "random", **quiet())
    large = ImageIndex.from_embeddings(vectors, "random", **quiet())
    assert small.config.backend == large.config.backend == "auto"
    assert (small.backend_name, large.backend_name) == ("brute", "brute-int8")
    queries = search.random_unit_vectors(3, dim, seed=9)
    assert np.array_equal(large.nearest(queries, 10)[0], search.top_k(queries @ vectors.T, 10)[0])
    assert large._built.name == "brute-int8" and small.nearest(queries, 10)[0].shape == (3, 10)
    assert small._built.name == "brute"
    forced = ImageIndex.from_embeddings(vectors, "random", **quiet(backend="brute"))
    assert forced.backend_name == "brute"


def test_summary_line_names_the_backend_and_its_memory():
    vectors = search.random_unit_vectors(32_000, 256)
    index = ImageIndex.from_embeddings(vectors, "random", **quiet())
    line = repr(index)
    assert "backend='brute-int8' (auto)" in line and "32.8 MB float32 rows + 8.2 MB int8 codes (+25%)" in line
    assert index.summary() in line
    small = ImageIndex.from_embeddings(vectors[:100], "random", **quiet(dtype="float16"))
    assert "backend='brute' (auto), memory 51.2 kB float16 rows," in repr(small)
    assert "int8" not in repr(small)


def test_int8_rescoring_on_float16_storage_and_small_collections():
    vectors = embeddings_with_structure(300, dim=64)
    exact, _ = ImageIndex.from_embeddings(vectors, "random", **quiet()).nearest(vectors[:5], 10)
    for dtype in ("float32", "float16"):
        int8 = ImageIndex.from_embeddings(vectors, "random", **quiet(backend="brute-int8", dtype=dtype))
        found, scores = int8.nearest(vectors[:5], 10)
        assert found[:, 0].tolist() == [0, 1, 2, 3, 4]
        assert len(set(found.ravel()) ^ set(exact.ravel())) <= (4 if dtype == "float16" else 0)
    tiny = ImageIndex.from_embeddings(vectors[:7], "random", **quiet(backend="brute-int8"))
    assert tiny.nearest(vectors[:1], 7)[0].shape == (1, 7)


@pytest.mark.parametrize("options, message", [({"backend": "int8"}, "choose one of auto, brute, brute-int8, faiss"),
                                              ({"dtype": "int8"}, "choose one of float32, float16")])
def test_bad_storage_or_backend_names_the_valid_choices(options, message):
    with pytest.raises(ValueError, match=message):
        ImageIndex.from_embeddings(embeddings_with_structure(10, dim=8), "random", **quiet(**options))
    index = ImageIndex.from_embeddings(embeddings_with_structure(10, dim=8), "random", **quiet())
    with pytest.raises(ValueError, match="'annoy' is unknown; choose one of auto, brute, brute-int8"):
        index.set_backend("annoy")


def test_set_backend_switches_without_reencoding(folder, model):
    pytest.importorskip("faiss")
    index = ImageIndex.from_folder(folder, model, **quiet())
    expected = [r.index for r in index.search("blue", k=3)]
    index.set_backend("faiss-flat")
    assert [r.index for r in index.search("blue", k=3)] == expected


def test_float16_brute_force_matches_exact_top_k():
    vectors = clustered(3000, 64)
    queries = clustered(5, 64, seed=2)
    exact, _ = ImageIndex.from_embeddings(vectors, "random", **quiet()).nearest(queries, 10)
    half, scores = ImageIndex.from_embeddings(vectors, "random", **quiet(dtype="float16")).nearest(queries, 10)
    assert np.mean([len(set(a) & set(b)) for a, b in zip(exact, half)]) >= 9.5
    assert scores.dtype == np.float32 and np.all(np.diff(scores, axis=1) <= 0)


def test_time_queries_rows():
    rows = search.time_queries(sizes=(500, 2000), dim=32, methods=("numpy fp32", "torch fp16"), repeats=2)
    assert [(r["size"], r["method"]) for r in rows] == [(500, "numpy fp32"), (500, "torch fp16"),
                                                        (2000, "numpy fp32"), (2000, "torch fp16")]
    assert all(r["p50_ms"] > 0 for r in rows)
    with pytest.raises(ValueError, match="unknown method"):
        search.time_queries(sizes=(10,), methods=("annoy",))


# --- metrics and exercises ---

def test_precision_and_recall_at_k_by_hand():
    retrieved = [[1, 2, 3, 4], [5, 6, 7, 8]]
    relevant = [{1, 3, 9}, {8}]
    assert search.precision_at_k(retrieved, relevant, 2) == pytest.approx((1 / 2 + 0 / 2) / 2)
    assert search.recall_at_k(retrieved, relevant, 4) == pytest.approx((2 / 3 + 1) / 2)
    records = [[SearchResult(1, 1, None, 0.9), SearchResult(2, 9, None, 0.8)]]
    assert search.recall_at_k(records, [{9}], 2) == 1.0
    with pytest.raises(ValueError, match="one relevant set per query"):
        search.recall_at_k(retrieved, relevant[:1], 2)


def test_check_top_k(capsys):
    def correct(query, embeddings, k):
        return np.argsort(embeddings @ query)[::-1][:k]

    assert exercises.check_top_k(correct) is correct
    assert "passed" in capsys.readouterr().out
    exercises.check_top_k(lambda q, e, k: np.argsort(e @ q)[:k])
    assert "sorts ascending" in capsys.readouterr().out
    exercises.check_top_k(lambda q, e, k: np.sort(e @ q)[::-1][:k])
    assert "you returned the scores" in capsys.readouterr().out
    exercises.check_top_k(lambda q, e, k: np.argsort(-(e @ q))[:k + 1])
    assert "off by one" in capsys.readouterr().out

    def stub(query, embeddings, k):
        raise NotImplementedError

    assert exercises.check_top_k(stub) is search.top_k_indices
    assert "not done yet — using the reference" in capsys.readouterr().out


def test_check_recall_at_k(capsys):
    def correct(retrieved, relevant, k):
        return np.mean([len(set(list(row)[:k]) & truth) / len(truth) for row, truth in zip(retrieved, relevant)])

    assert exercises.check_recall_at_k(correct) is correct
    assert "passed" in capsys.readouterr().out
    exercises.check_recall_at_k(
        lambda r, t, k: np.mean([len(set(list(row)[:k]) & s) / k for row, s in zip(r, t)]))
    assert "that is precision@k" in capsys.readouterr().out
    exercises.check_recall_at_k(lambda r, t, k: [len(set(list(row)[:k]) & s) / len(s) for row, s in zip(r, t)])
    assert "mean of the per-query recalls" in capsys.readouterr().out
    assert exercises.check_recall_at_k(lambda r, t, k: None) is search.recall_at_k
    assert "did you forget `return`?" in capsys.readouterr().out


# --- figure and widget ---

def test_show_results_draws_scores_for_paths_and_images(folder, model):
    import matplotlib.pyplot as plt

    from mmlesson.viz import show_results

    index = ImageIndex.from_folder(folder, model, **quiet())
    figure = show_results(index.search("red", k=3), title="red things")
    titles = [axis.get_title() for axis in figure.axes if axis.get_title()]
    assert len(titles) == 3 and titles[0].startswith("#1  1.000") and "red" in titles[0]
    assert figure._suptitle.get_text() == "red things"
    plt.close(figure)
    in_memory = ImageIndex.from_images(shapes.make_shapes(10), model, **quiet())
    figure = show_results(in_memory.search(["red", "blue"], k=4), row_labels=["red", "blue"])
    assert sum(bool(axis.images) for axis in figure.axes) == 8
    plt.close(figure)
    figure = show_results([])
    assert "no results" in figure.axes[0].texts[0].get_text()
    plt.close(figure)


def test_search_box_renders_results_without_a_browser(folder, model):
    from mmlesson.widgets import search_box

    index = ImageIndex.from_folder(folder, model, **quiet())
    box = search_box(index, k=3)
    assert box.last_results == [] and "type" in box.status.value
    box.query.value = "blue"  # typing triggers update()
    assert len(box.last_results) == 3 and Path(box.last_results[0].path).name in ("blue.bmp", "blue2.jpeg")
    assert "3 result(s)" in box.status.value and box.last_figure is not None
    box.threshold_slider.value = 0.99
    assert 1 <= len(box.last_results) <= 2
    box.k_slider.value = 1
    assert len(box.update()) == 1


# --- with the bundled tiny CLIP (skipped until it exists) ---

@pytest.mark.skipif(not TINY_READY, reason="data/tiny-clip-shapes.safetensors is not there (or not registered) yet")
def test_tiny_clip_finds_shapes_by_color_and_shape():
    from mmlesson.models import load_clip

    tiny = load_clip("tiny-shapes", device="cpu")
    batch = shapes.make_shapes(600, seed=11)
    index = ImageIndex.from_images(batch, tiny, **quiet(dtype="float16"))
    queries = [("red", "star"), ("blue", "circle"), ("yellow", "square"), ("purple", "cross"), ("green", "triangle")]
    results = index.search([f"a {color} {shape}" for color, shape in queries], k=10)
    relevant = [{i for i, a in enumerate(batch.attributes) if (a.color, a.shape) == pair} for pair in queries]
    assert search.precision_at_k(results, relevant, 10) >= 0.9
    same = index.search_image(0, k=5)
    assert same[0].index == 0 and same[0].score == pytest.approx(1.0, abs=1e-2)
