"""Bundled checkpoints: safetensors only, sha256-verified, listed with their recipe in data/checkpoints.json.

A checkpoint is a ``.safetensors`` file plus an entry in ``data/checkpoints.json``:
``{"file", "sha256", "bytes", "command", "seed", "config", "metrics"}``. Loading checks the
sha256 first and refuses a mismatch, so a learner never trains on top of a corrupt file.
Files are written to a temporary name and renamed (files.py), so an interrupted save loses nothing.
Foreign checkpoints (open_clip's and taming's torch files) are read here too, with ``weights_only=True``;
any file that is not a checkpoint (empty, truncated, text, an image) gives a CheckpointError naming it.
torch and safetensors are imported only where tensors are read, so that the doctor can read the
registry on a machine whose torch is broken.
"""
from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path

from .config import DATA_DIR
from .files import atomic_write_bytes

TORCH_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")

REGISTRY_FILE = DATA_DIR / "checkpoints.json"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or not what the caller expected."""


class MissingCheckpoint(CheckpointError, FileNotFoundError):
    """A checkpoint file that does not exist (both a CheckpointError and a FileNotFoundError)."""


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

    path = _existing_file(path)
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
    except Exception as error:  # safetensors raises its own types for a truncated or foreign file
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint: it is empty, truncated or another "
                              f"kind of file ({type(error).__name__}: {str(error)[:160]}).") from None


def read_metadata(path: str | Path) -> dict:
    """The mmlesson metadata in a safetensors header ({} if it has none), without loading the tensors."""
    from safetensors import safe_open

    path = _existing_file(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            return json.loads((handle.metadata() or {}).get("mmlesson", "{}"))
    except Exception as error:
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint: it is empty, truncated or another "
                              f"kind of file ({type(error).__name__}: {str(error)[:160]}).") from None


def read_state_dict(path: str | Path) -> tuple[dict, dict]:
    """(tensors, metadata) from a .safetensors file or a torch file (.ckpt .pt .pth .bin; its ``state_dict`` entry
    if it has one), never running code from the file."""
    import torch

    path = _existing_file(path)
    if path.suffix == ".safetensors":
        return load_state(path)
    if path.suffix not in TORCH_SUFFIXES:
        raise CheckpointError(f"{path.name}: a checkpoint must be .safetensors or a torch file "
                              f"({' '.join(TORCH_SUFFIXES)}).")
    try:
        loaded = load_torch_file(path)
    except Exception as error:  # truncated download, a text file, an image, ...
        raise CheckpointError(f"{path} is not a readable PyTorch checkpoint ({type(error).__name__}: "
                              f"{str(error)[:200]}). It may be a truncated download: delete it and get it again."
                              ) from None
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(value) for value in state.values()):
        raise CheckpointError(f"{path} holds no state dict of tensors (a dict of name -> tensor, or one under "
                              "'state_dict').")
    return state, {}


class _InertStandIn:
    """Takes the place of a non-tensor class in a pickle (e.g. a pytorch-lightning callback) so that
    ``torch.load(weights_only=True)`` can read the tensors around it. It runs no code from the file."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.state = state


def load_torch_file(path: Path):
    """``torch.load(weights_only=True)``. Official Lightning checkpoints name a callback class in their
    metadata; those names become inert stand-ins rather than failing or running code."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        unknown_globals = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    stand_ins = [(type(name.rsplit(".", 1)[-1], (_InertStandIn,), {}), name) for name in unknown_globals]
    with torch.serialization.safe_globals(stand_ins):
        return torch.load(path, map_location="cpu", weights_only=True)


def _existing_file(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise MissingCheckpoint(f"checkpoint file {path} does not exist. Re-clone the repository to restore "
                              f"data/, or re-create it with the command recorded in {REGISTRY_FILE.name}.")
    if not path.is_file():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file.")
    return path


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
