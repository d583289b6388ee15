"""One image loader and one atomic writer for the whole course (images.py, files.py)."""
import os
import stat

import numpy as np
import pytest
import torch
from PIL import Image

from mmlesson import files, generate, models
from mmlesson.images import load_rgb, read_image
from mmlesson.search import ImageIndex


@pytest.fixture(scope="module")
def tiny():
    return models.load_clip("tiny-shapes", device="cpu")


def phone_photo(path):
    """A JPEG stored sideways with EXIF orientation 6 (rotate 90 degrees clockwise to view), as phones write them;
    returns the upright pixels a viewer shows."""
    upright = np.zeros((48, 32, 3), np.uint8)  # tall: a red bar at the top, blue below
    upright[:12] = (220, 30, 30)
    upright[12:] = (30, 30, 220)
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)  # sideways: 32 tall, 48 wide
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(path, format="JPEG", quality=95, exif=exif)
    return upright


def test_exif_rotated_jpeg_is_embedded_identically_by_indexing_and_encode_images(tiny, tmp_path):
    path = tmp_path / "phone.jpg"
    upright = phone_photo(path)
    assert load_rgb(path).size == (32, 48)  # width, height: upright, not as stored
    index = ImageIndex.from_paths([path], tiny, progress=False, verbose=False)
    encoded = tiny.encode_images([path])[0].numpy()
    np.testing.assert_allclose(index.embeddings[0], encoded, atol=1e-6)
    sideways = tiny.encode_images([Image.open(path).convert("RGB")])[0].numpy()  # the stored pixels, unrotated
    assert not np.allclose(encoded, sideways, atol=1e-3)  # so orientation really was applied
    assert np.abs(np.asarray(load_rgb(path), float) - upright).mean() < 8  # and it is the upright photo


def test_transparency_is_composited_on_white_for_generation_too(tmp_path):
    clear = Image.new("RGBA", (16, 16), (255, 0, 0, 0))  # fully transparent red
    pixels = generate.image_to_pixels(clear, 16, "cpu")
    torch.testing.assert_close(pixels, torch.ones(1, 3, 16, 16))
    clear.save(tmp_path / "clear.png")
    torch.testing.assert_close(generate.image_to_pixels(tmp_path / "clear.png", 16, "cpu"), pixels)
    np.testing.assert_array_equal(np.asarray(load_rgb(clear)), 255)


def test_read_image_reports_instead_of_raising(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("not an image")
    Image.new("RGB", (100, 100)).save(tmp_path / "big.png")
    assert read_image(tmp_path / "empty.png") == (None, "empty file (0 bytes)")
    assert "not an image" in read_image(tmp_path / "notes.png")[1]
    assert read_image(tmp_path / "big.png", max_pixels=50 * 50)[1].startswith("too large")
    assert read_image(tmp_path / "big.png")[0].size == (100, 100)


def test_sixteen_bit_and_palette_files(tmp_path):
    Image.fromarray(np.full((4, 4), 65535, np.uint16)).save(tmp_path / "deep.png")
    assert np.asarray(load_rgb(tmp_path / "deep.png")).min() == 255
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([0, 200, 0] * 256)
    palette.save(tmp_path / "palette.png")
    assert tuple(np.asarray(load_rgb(tmp_path / "palette.png"))[0, 0]) == (0, 200, 0)


def test_atomic_writes_use_the_umask_and_keep_the_old_file_on_failure(tmp_path):
    previous = os.umask(0o027)
    try:
        path = files.atomic_write_bytes(tmp_path / "a.bin", b"first")
        gif = generate.save_animation([Image.new("RGB", (4, 4), c) for c in ("red", "blue")], tmp_path / "run.gif")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and stat.S_IMODE(gif.stat().st_mode) == 0o640

    def fail(handle):
        handle.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        files.atomic_writes({tmp_path / "b.bin": lambda h: h.write(b"new"), path: fail})
    assert path.read_bytes() == b"first" and not (tmp_path / "b.bin").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "run.gif"]  # no temporaries left
