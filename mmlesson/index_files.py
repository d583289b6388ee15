"""What an image index keeps on disk and finds on disk: the folder scan, the file stats that tell a
changed file from an unchanged one, and the saved manifest with its checks.

A saved index is a folder with ``embeddings.npy`` (float32 or float16 rows) and ``manifest.json``
(format, model, dimension, dtype, one {path, size, mtime_ns} per row, skipped files, the search backend
and its options, and a sha256 of the embeddings). Loading checks that the two describe each other exactly,
so a hand edit or a half-copied folder is caught with a message that says to re-build. When the backend
built something worth keeping (the int8 codes, a FAISS index), ``backend.npz`` holds it, with the checksum
of the rows it was built from; it is a cache: a missing or stale one is rebuilt on the first query.
Indexes saved before the backend was recorded (no "search_backend" in the manifest) load as they did.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from .files import atomic_writes
from .search_backends import BUILD_OPTIONS

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
FORMAT_NAME = "mmlesson-image-index"
FORMAT_VERSION = 1
MANIFEST_FILE, EMBEDDINGS_FILE = "manifest.json", "embeddings.npy"
BACKEND_FILE = "backend.npz"  # the search backend's built structure (int8 codes, a FAISS index), when it has one
DEFAULT_INDEX_DIRNAME = ".mmlesson-index"  # inside the indexed folder; hidden, so never indexed itself


# --- finding image files ---

@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    mtime_ns: int

    @property
    def stat(self) -> tuple[int, int]:
        return (self.size, self.mtime_ns)


def scan_folder(folder: str | Path) -> tuple[list[FileEntry], list[str]]:
    """(image files, other files) under ``folder``, recursively, sorted; stat only, nothing is decoded.

    Hidden files and folders (names starting with '.') are left out, and folder symlinks are not
    followed (no loops).
    """
    root = Path(folder).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"folder {root} does not exist.")
    if not root.is_dir():
        raise ValueError(f"{root} is a file, not a folder; pass the folder that holds the images.")
    images, others, pending = [], [], [str(root.resolve())]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif not entry.name.lower().endswith(IMAGE_EXTENSIONS):
                    others.append(entry.path)
                elif entry.is_file():
                    stat = entry.stat()
                    images.append(FileEntry(entry.path, stat.st_size, stat.st_mtime_ns))
    return sorted(images, key=lambda e: e.path), sorted(others)


def stat_files(paths: Iterable[str | Path]) -> tuple[list[FileEntry], list[tuple[str, str]]]:
    """FileEntry for each existing file; (path, reason) for the others."""
    found, missing = [], []
    for path in paths:
        path = str(Path(path).expanduser().resolve())
        try:
            stat = os.stat(path)
        except OSError as error:
            missing.append((path, f"cannot read: {error.strerror or error}"))
            continue
        if not os.path.isfile(path):
            missing.append((path, "not a file"))
            continue
        found.append(FileEntry(path, stat.st_size, stat.st_mtime_ns))
    return found, missing


def require_images(folder: str | Path) -> None:
    """A clear error, naming the folder, if it holds no image files at all."""
    files, others = scan_folder(folder)
    if not files:
        raise ValueError(no_images_message(str(Path(folder).expanduser().resolve()), others))


def no_images_message(folder: str, others: list[str]) -> str:
    found = (f" It has {len(others)} other file(s), e.g. {Path(others[0]).name}." if others
             else " It is empty.")
    return (f"no images found in folder {folder} (looked recursively for {' '.join(IMAGE_EXTENSIONS)}).{found}")


def skip_summary(skipped: list[tuple[str, str]]) -> str:
    shown = "; ".join(f"{Path(p).name}: {r}" for p, r in skipped[:5])
    return shown + (f"; ... and {len(skipped) - 5} more" if len(skipped) > 5 else "")


def default_index_dir(folder: str | Path) -> Path:
    return Path(folder).expanduser() / DEFAULT_INDEX_DIRNAME


# --- the saved manifest ---

def embeddings_checksum(embeddings: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(embeddings).data).hexdigest()


def read_manifest(directory: Path) -> dict:
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.exists() or not (directory / EMBEDDINGS_FILE).exists():
        raise FileNotFoundError(f"no saved index in {directory} (it needs {MANIFEST_FILE} and {EMBEDDINGS_FILE}); "
                                "build one with `python -m mmlesson index FOLDER` or ImageIndex.save().")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{manifest_path} is not valid JSON ({error}); was it edited by hand? "
                         "Re-build the index to replace it.") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ValueError(f"{manifest_path} is not an mmlesson image index manifest.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{manifest_path} has format version {manifest.get('format_version')!r}; this mmlesson "
                         f"reads version {FORMAT_VERSION}. Re-build the index.")
    missing = [key for key in ("model", "embed_dim", "dtype", "count", "embeddings_sha256", "items")
               if key not in manifest]
    if missing:
        raise ValueError(f"{manifest_path} lacks {', '.join(missing)}; was it edited by hand? Re-build the index.")
    return manifest


def check_manifest(directory: Path, manifest: dict, embeddings: np.ndarray) -> None:
    """The manifest and the embeddings must describe each other exactly."""
    problems = []
    if embeddings.ndim != 2 or embeddings.shape != (manifest["count"], manifest["embed_dim"]):
        problems.append(f"embeddings have shape {embeddings.shape}, the manifest says "
                        f"({manifest['count']}, {manifest['embed_dim']})")
    if str(embeddings.dtype) != manifest["dtype"]:
        problems.append(f"embeddings are {embeddings.dtype}, the manifest says {manifest['dtype']}")
    items = manifest["items"]
    if items is not None and len(items) != manifest["count"]:
        problems.append(f"the manifest lists {len(items)} files for {manifest['count']} embeddings")
    if not problems and embeddings_checksum(embeddings) != manifest["embeddings_sha256"]:
        problems.append("the embeddings' checksum differs from the one recorded in the manifest")
    if problems:
        raise ValueError(f"the index in {directory} is inconsistent: {'; '.join(problems)}. One of "
                         f"{MANIFEST_FILE}/{EMBEDDINGS_FILE} was edited or replaced; re-build the index.")


# --- writing and reading a whole index ---

def write_index(directory: Path, embeddings: np.ndarray, manifest: dict, backend_state: dict) -> Path:
    """embeddings.npy, backend.npz (when ``backend_state`` has arrays) and manifest.json, renamed in that order."""
    encoded = (json.dumps(manifest, indent=1) + "\n").encode()
    writers = {directory / EMBEDDINGS_FILE: lambda handle: np.save(handle, embeddings, allow_pickle=False)}
    if backend_state:
        writers[directory / BACKEND_FILE] = lambda handle: np.savez(
            handle, **backend_state, embeddings_sha256=np.array(manifest["embeddings_sha256"]))
    atomic_writes({**writers, directory / MANIFEST_FILE: lambda handle: handle.write(encoded)})  # manifest commits
    if not backend_state:
        (directory / BACKEND_FILE).unlink(missing_ok=True)  # an older save's structure, no longer listed
    return directory


def read_index(directory: Path) -> tuple[dict, np.ndarray]:
    """(manifest, embeddings) of a saved index, checked against each other."""
    manifest = read_manifest(directory)
    try:
        embeddings = np.load(directory / EMBEDDINGS_FILE, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"{directory / EMBEDDINGS_FILE} cannot be read ({error}); re-build the index.") from error
    check_manifest(directory, manifest, embeddings)
    return manifest, embeddings


def saved_backend_state(directory: Path, manifest: dict, backend: str, config) -> dict | None:
    """The saved {name: array} of ``backend`` if backend.npz holds it, built with these options from these
    rows; else None (the backend is then built on the first query: backend.npz is a cache)."""
    saved = manifest.get("search_backend") or {}
    same_build = saved.get("built") == backend and not (backend.startswith("faiss") and any(
        saved.get(option) != getattr(config, option) for option in BUILD_OPTIONS))
    if not same_build:
        return None
    path = directory / BACKEND_FILE
    try:
        with np.load(path, allow_pickle=False) as stored:
            state = {name: stored[name] for name in stored.files}
    except (OSError, ValueError) as error:
        warnings.warn(f"{path} cannot be read ({error}); the search backend is rebuilt instead.", stacklevel=3)
        return None
    if str(state.pop("embeddings_sha256", "")) != manifest["embeddings_sha256"]:
        warnings.warn(f"{path} was built from other embeddings; the search backend is rebuilt instead.", stacklevel=3)
        return None
    return state
