"""Bundled checkpoints: safetensors only, sha256-verified, listed with their recipe in data/checkpoints.json.

A checkpoint is a ``.safetensors`` file plus an entry in ``data/checkpoints.json``:
``{"file", "sha256", "bytes", "command", "seed", "config", "metrics"}``. Loading checks the
sha256 first and refuses a mismatch, so a learner never trains on top of a corrupt file.
Files are written to a temporary name and renamed, so an interrupted save loses nothing.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from .config import DATA_DIR

REGISTRY_FILE = DATA_DIR / "checkpoints.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or not what the caller expected."""


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def registry() -> dict:
    """All bundled checkpoints by name (empty if data/checkpoints.json does not exist yet)."""
    if not REGISTRY_FILE.exists():
        return {}
    return json.loads(REGISTRY_FILE.read_text())


def atomic_write_bytes(path: str | Path, payload: bytes) -> None:
    """Write to a temporary file in the same folder, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; a saved index or checkpoint should be shareable
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_state(state_dict: dict, path: str | Path, metadata: dict) -> str:
    """Save tensors as safetensors with ``metadata`` (JSON-encoded) in the header and a .json sidecar.

    Returns the sha256 of the written file.
    """
    from safetensors.torch import save

    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in state_dict.items()}
    payload = save(tensors, metadata={"mmlesson": json.dumps(metadata, sort_keys=True)})
    atomic_write_bytes(path, payload)
    sidecar = Path(path).with_suffix(".json")
    atomic_write_bytes(sidecar, (json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode())
    return hashlib.sha256(payload).hexdigest()


def load_state(path: str | Path, expected_sha256: str | None = None) -> tuple[dict, dict]:
    """Load (tensors, metadata) from a safetensors file, verifying the sha256 when one is given."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint file {path} does not exist. Re-clone the repository to restore "
                              f"data/, or re-create it with the command recorded in {REGISTRY_FILE.name}.")
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path.name}: only .safetensors checkpoints are loaded (never pickles).")
    if expected_sha256 is not None:
        actual = sha256_of(path)
        if actual != expected_sha256:
            raise CheckpointError(f"{path.name} is corrupt or was changed: sha256 {actual[:12]}… does not match "
                                  f"the recorded {expected_sha256[:12]}…. Restore it with `git checkout -- {path.name}` "
                                  f"or re-create it with the command in {REGISTRY_FILE.name}.")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = json.loads((handle.metadata() or {}).get("mmlesson", "{}"))
        return load_file(str(path)), metadata
    except Exception as error:
        raise CheckpointError(f"{path.name} is not a readable safetensors file ({error}).") from error


def load_bundled(name: str) -> tuple[dict, dict]:
    """Load a checkpoint listed in data/checkpoints.json, sha256 verified."""
    entries = registry()
    if name not in entries:
        raise CheckpointError(f"no bundled checkpoint named {name!r}; bundled: {', '.join(entries) or 'none'}.")
    entry = entries[name]
    return load_state(DATA_DIR / entry["file"], entry["sha256"])


def register(name: str, path: str | Path, command: str, seed: int, metrics: dict, config: dict) -> dict:
    """Record a checkpoint in data/checkpoints.json with its sha256, size, recipe and metrics."""
    path = Path(path)
    entries = registry()
    entries[name] = {"file": path.name, "sha256": sha256_of(path), "bytes": path.stat().st_size,
                     "command": command, "seed": seed, "config": config, "metrics": metrics}
    atomic_write_bytes(REGISTRY_FILE, (json.dumps(entries, indent=2, sort_keys=True) + "\n").encode())
    return entries[name]
