"""Writing files so that nothing a user made is lost: write beside the target, then rename over it.

A crash, a full disk or Ctrl-C part-way through leaves the previous file as it was. The new file gets
the permissions any file the user creates gets (0666 less the umask), not the 0600 of a temporary file.

    atomic_write_bytes(path, payload)
    atomic_write(path, lambda handle: image.save(handle, format="GIF"))
    atomic_writes({embeddings_path: write_embeddings, manifest_path: write_manifest})  # renamed in this order
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Mapping

Writer = Callable  # called with a binary file handle open for writing


def atomic_writes(writers: Mapping[str | Path, Writer]) -> list[Path]:
    """Write every file to a temporary name first; only when all succeeded, rename each over its target
    (in the order given: put the file that commits the change last). Returns the paths written."""
    temporaries: list[tuple[str, Path]] = []
    try:
        for path, write in writers.items():
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            temporaries.append((_write_temporary(path, write), path))
        for temporary, path in temporaries:
            os.replace(temporary, path)
    finally:
        for temporary, _ in temporaries:
            Path(temporary).unlink(missing_ok=True)
    return [path for _, path in temporaries]


def atomic_write(path: str | Path, write: Writer) -> Path:
    """``write(handle)`` into a temporary file beside ``path``, then rename it over ``path``."""
    return atomic_writes({path: write})[0]


def atomic_write_bytes(path: str | Path, payload: bytes) -> Path:
    return atomic_write(path, lambda handle: handle.write(payload))


def _write_temporary(path: Path, write: Writer) -> str:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; a saved file should be like any other
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return temporary


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it; put it straight back
    os.umask(mask)
    return mask
