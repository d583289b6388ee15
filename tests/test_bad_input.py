"""Bad input at the public entry points: a clear message that names the problem, never a raw error from
inside torch, safetensors or PIL, and never nonsense accepted silently."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from mmlesson import checkpoints, dalle, judge, models, unclip, vqgan
from mmlesson.cli import main
from mmlesson.images import load_rgb


@pytest.fixture(scope="module")
def tiny():
    return models.load_clip("tiny-shapes", device="cpu")


def checkpoint_lookalikes(folder, suffix):
    """A truncated real checkpoint, an empty file, a text file and a PNG, all named like checkpoints."""
    real = folder / f"real{suffix}"
    if suffix == ".safetensors":
        checkpoints.save_state({"weight": torch.ones(64, 64)}, real, {"kind": "test"})
    else:
        torch.save({"state_dict": {"weight": torch.ones(64, 64)}}, real)
    files = {"truncated": real.read_bytes()[: len(real.read_bytes()) // 2], "empty": b"",
             "text": b"these are my notes, not a checkpoint\n" * 4}
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, format="PNG")
    files["image"] = png.getvalue()
    paths = []
    for kind, payload in files.items():
        paths.append(folder / f"{kind}{suffix}")
        paths[-1].write_bytes(payload)
    return paths


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".ckpt"])
def test_files_that_are_not_checkpoints_name_themselves(tmp_path, suffix):
    loaders = [lambda path: models.load_clip(str(path), device="cpu"),
               lambda path: vqgan.load_vqgan(path, device="cpu"), checkpoints.read_state_dict]
    if suffix == ".safetensors":
        loaders += [checkpoints.load_state, lambda path: judge.load_judge(str(path))]
    for path in checkpoint_lookalikes(tmp_path, suffix):
        for load in loaders:
            with pytest.raises(checkpoints.CheckpointError, match=path.name.replace(".", r"\.")) as caught:
                load(path)
            assert "not a readable" in str(caught.value) or "holds no state dict" in str(caught.value)


def test_a_checkpoint_with_other_tensors_is_refused_by_name(tmp_path):
    path = tmp_path / "other.safetensors"
    checkpoints.save_state({"weight": torch.ones(3)}, path, {"kind": "tiny-clip", "config": {}})
    with pytest.raises(checkpoints.CheckpointError, match="does not fit the tiny CLIP"):
        models.load_clip(str(path), device="cpu")
    with pytest.raises(checkpoints.CheckpointError, match="not a Shapes judge"):
        judge.load_judge(str(path))


def test_an_image_or_text_with_a_foreign_suffix_lists_the_formats(tmp_path):
    notes = tmp_path / "model.txt"
    notes.write_text("hello")
    with pytest.raises(checkpoints.CheckpointError, match=r"\.safetensors or a torch file"):
        checkpoints.read_state_dict(notes)
    with pytest.raises(ValueError, match="unknown model name|\\.safetensors or a torch file"):
        models.load_clip(str(notes), device="cpu")


@pytest.mark.parametrize("texts", [42, [b"bytes"], ["a red star", None], ["ok", 3.5], {"a": 1}])
def test_texts_that_are_not_strings(tiny, texts):
    with pytest.raises(ValueError, match="string"):
        tiny.encode_texts(texts)


@pytest.mark.parametrize("batch, words", [(torch.zeros(3, 32, 32), "one image"),
                                          (torch.zeros(2, 1, 32, 32), r"\(batch, 3, height, width\)"),
                                          (torch.zeros(2, 32, 32, 3), r"\(batch, 3, height, width\)"),
                                          (torch.zeros(2, 3, 32, 32, dtype=torch.uint8), "float"),
                                          (torch.full((2, 3, 32, 32), float("nan")), "NaN or inf")])
def test_tensor_batches_of_the_wrong_shape_or_values(tiny, batch, words):
    with pytest.raises(ValueError, match=words):
        tiny.encode_images(batch)


def test_non_finite_pixels_everywhere(tiny):
    bad = torch.zeros(1, 3, 32, 32)
    bad[0, 0, 5, 5] = float("inf")
    for entry_point in (tiny.encode_images, judge.judge, vqgan.VQGAN(vqgan.VQGAN_CONFIGS["tiny-shapes"]).encode):
        with pytest.raises(ValueError, match="NaN or inf"):
            entry_point(bad)
    array = np.zeros((8, 8, 3), np.float32)
    array[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        load_rgb(array)


@pytest.mark.parametrize("argv", [["index", ".", "--batch-size", "0"], ["search", ".", "a cat", "-k", "0"],
                                  ["generate", "a red star", "--steps", "-3"]])
def test_other_commands_refuse_non_positive_counts(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2 and "must be 1 or more" in capsys.readouterr().err


def test_encode_batch_size_must_be_positive(tiny):
    with pytest.raises(ValueError, match="batch_size must be 1 or more"):
        tiny.encode_texts(["a red star"], batch_size=0)


@pytest.mark.parametrize("images", [None, 5, 2.5])
def test_encode_images_names_what_it_takes(tiny, images):
    with pytest.raises(ValueError, match="encode_images takes"):
        tiny.encode_images(images)


@pytest.mark.parametrize("load", [lambda path: dalle.load_dalle(path), lambda path: unclip.load_unclip(path)],
                         ids=["mini-dalle", "unclip"])
def test_lesson5_loaders_name_a_corrupt_or_missing_file(tmp_path, load):
    corrupt = tmp_path / "broken.safetensors"
    corrupt.write_bytes(b"\x00\x01 not a checkpoint at all")
    with pytest.raises(checkpoints.CheckpointError, match=r"broken\.safetensors"):
        load(corrupt)
    with pytest.raises(checkpoints.CheckpointError, match="does not exist"):
        load(tmp_path / "missing.safetensors")
