"""checkpoints.py: safetensors only, sha256 verified, atomic writes."""
import json

import pytest
import torch

from mmlesson import checkpoints


def test_round_trip_keeps_tensors_and_metadata(tmp_path):
    path = tmp_path / "model.safetensors"
    sha = checkpoints.save_state({"weight": torch.arange(6.0).reshape(2, 3)}, path, {"seed": 3})
    tensors, metadata = checkpoints.load_state(path, expected_sha256=sha)
    assert torch.equal(tensors["weight"], torch.arange(6.0).reshape(2, 3)) and metadata == {"seed": 3}
    assert json.loads(path.with_suffix(".json").read_text()) == {"seed": 3}


def test_wrong_sha256_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "model.safetensors"
    checkpoints.save_state({"weight": torch.ones(2)}, path, {})
    with pytest.raises(checkpoints.CheckpointError, match="corrupt or was changed"):
        checkpoints.load_state(path, expected_sha256="0" * 64)


def test_missing_file_and_pickles_are_refused(tmp_path):
    with pytest.raises(checkpoints.CheckpointError, match="does not exist"):
        checkpoints.load_state(tmp_path / "nope.safetensors")
    pickle = tmp_path / "model.pt"
    torch.save({"weight": torch.ones(1)}, pickle)
    with pytest.raises(checkpoints.CheckpointError, match="only .safetensors"):
        checkpoints.load_state(pickle)


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "model.safetensors"
    checkpoints.save_state({"weight": torch.ones(100)}, path, {})
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(checkpoints.CheckpointError, match="not a readable safetensors"):
        checkpoints.load_state(path)


def test_failed_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "index.bin"
    checkpoints.atomic_write_bytes(path, b"old")


    with pytest.raises(TypeError):
        checkpoints.atomic_write_bytes(path, object())  # fails while writing
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["index.bin"]


def test_unknown_bundled_name_lists_what_is_bundled():
    with pytest.raises(checkpoints.CheckpointError, match="bundled:"):
        checkpoints.load_bundled("no-such-model")


def test_every_bundled_checkpoint_matches_its_recorded_sha256_and_size():
    from mmlesson.config import DATA_DIR

    entries = checkpoints.registry()
    assert "tiny-clip-shapes" in entries
    for name, entry in entries.items():
        path = DATA_DIR / entry["file"]
        assert checkpoints.sha256_of(path) == entry["sha256"], name
        assert path.stat().st_size == entry["bytes"], name
        assert "python -m mmlesson" in entry["command"], name
    total = sum(p.stat().st_size for p in DATA_DIR.rglob("*") if p.is_file())
    assert total < 20 * 2**20, f"data/ is {total / 2**20:.1f} MB; the design keeps it under 20 MB"
