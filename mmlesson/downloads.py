"""Downloading official weights that are too big to bundle: the VQGAN checkpoints of taming-transformers.

Each file has an official URL and mirrors, tried in turn; a download is streamed to a temporary file
and renamed only once it is complete and at least the expected size (files.py). No sha256 is published
by the authors, so the digest of the first download is recorded beside the file and every later load
checks it. Offline, or when every source fails, the error lists the URLs and the path to save a
hand-downloaded file to. (Bundled checkpoints and their registry are in checkpoints.py.)
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from . import checkpoints, config
from .files import atomic_write, atomic_write_bytes


@dataclass(frozen=True)
class OfficialCheckpoint:
    checkpoint_urls: tuple[str, ...]  # official host first, then mirrors
    config_urls: tuple[str, ...]
    min_bytes: int  # a real file is ~1 GB (weights + discriminator + LPIPS + optimizer state); scripts
    # that mirror them quote 958 MB (1024 codes) and 980 MB (16384 codes), not exact byte counts
    sha256: str | None = None  # None: no trustworthy published digest; recorded on first download instead


_HEIBOX = "https://heibox.uni-heidelberg.de"
# URLs as used by taming-transformers' README and the common VQGAN+CLIP notebooks. No sha256 is
# published by the authors, so we check the size, record the sha256 of the first download next to
# the file (<name>.ckpt.sha256) and verify every later load against it.
OFFICIAL_CHECKPOINTS = {
    "vqgan_imagenet_f16_1024": OfficialCheckpoint(
        checkpoint_urls=(f"{_HEIBOX}/d/8088892a516d4e3baf92/files/?p=%2Fckpts%2Flast.ckpt&dl=1",
                         f"{_HEIBOX}/f/140747ba53464f49b476/?dl=1",
                         "https://github.com/ieee8023/latentshift/releases/download/weights/vqgan_imagenet_f16_1024.ckpt"),
        config_urls=(f"{_HEIBOX}/d/8088892a516d4e3baf92/files/?p=%2Fconfigs%2Fmodel.yaml&dl=1",
                     f"{_HEIBOX}/f/6ecf2af6c658432c8298/?dl=1"),
        min_bytes=900_000_000),
    "vqgan_imagenet_f16_16384": OfficialCheckpoint(
        checkpoint_urls=(f"{_HEIBOX}/d/a7530b09fed84f80a887/files/?p=%2Fckpts%2Flast.ckpt&dl=1",
                         f"{_HEIBOX}/f/867b05fc8c4841768640/?dl=1",
                         "https://github.com/mehdidc/feed_forward_vqgan_clip/releases/download/0.1/vqgan_imagenet_f16_16384.ckpt"),
        config_urls=(f"{_HEIBOX}/d/a7530b09fed84f80a887/files/?p=%2Fconfigs%2Fmodel.yaml&dl=1",
                     f"{_HEIBOX}/f/274fb24ed38341bfa753/?dl=1",
                     "https://github.com/mehdidc/feed_forward_vqgan_clip/releases/download/0.1/vqgan_imagenet_f16_16384.yaml"),
        min_bytes=900_000_000),
}
DOWNLOAD_TIMEOUT_S = 20  # per connection attempt and per read: a dead host fails fast instead of hanging


def cached_checkpoint_path(name: str) -> Path:
    return config.cache_dir("vqgan") / f"{name}.ckpt"


def verify_recorded_sha256(path: Path) -> None:
    """Check a cached official checkpoint against the digest recorded when it was downloaded."""
    record = path.with_name(path.name + ".sha256")
    expected = OFFICIAL_CHECKPOINTS.get(path.stem, OfficialCheckpoint((), (), 0)).sha256
    expected = expected or (record.read_text().split()[0] if record.exists() else None)
    if expected and checkpoints.sha256_of(path) != expected:
        raise checkpoints.CheckpointError(f"{path} does not match its recorded sha256 {expected[:12]}…: it changed "
                                          "or is corrupt. Delete it (and its .sha256 file) and download it again.")


def _fetch(url: str, destination: Path, min_bytes: int, progress: bool) -> str:
    """Stream ``url`` to ``destination`` (temporary file, then rename); returns the sha256."""
    import urllib.request

    digest = hashlib.sha256()

    def stream(out) -> None:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=destination.name, disable=not progress) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        if out.tell() < min_bytes:  # raising here discards the temporary file
            raise OSError(f"got {out.tell()} bytes, expected at least {min_bytes} (an error page, or a cut download)")

    atomic_write(destination, stream)
    return digest.hexdigest()


def _fetch_first(urls: tuple[str, ...], destination: Path, min_bytes: int, progress: bool) -> str:
    failures = []
    for url in urls:
        try:
            return _fetch(url, destination, min_bytes, progress)
        except Exception as error:  # network errors come in many types; we report each and move on
            failures.append(f"  {url}\n    -> {type(error).__name__}: {str(error)[:160]}")
    raise OSError("every source failed:\n" + "\n".join(failures))


def download_checkpoint(name: str, progress: bool = True) -> Path:
    """Download an official checkpoint and its model.yaml into the cache; returns the .ckpt path.

    Tries the official host, then the mirrors; verifies size and the sha256 (see OFFICIAL_CHECKPOINTS).
    """
    if name not in OFFICIAL_CHECKPOINTS:
        raise ValueError(f"no official VQGAN named {name!r}; choose one of {', '.join(OFFICIAL_CHECKPOINTS)}.")
    official, path = OFFICIAL_CHECKPOINTS[name], cached_checkpoint_path(name)
    by_hand = (f"Download it by hand from one of these URLs and save it as {path} "
               f"(and the config as {path.with_suffix('.yaml')}):\n  " + "\n  ".join(official.checkpoint_urls))
    if config.OFFLINE:
        raise FileNotFoundError(f"VQGAN {name!r} is not in the cache and MMLESSON_OFFLINE=1 forbids downloading it. "
                                f"{by_hand}\nOr use the bundled 'tiny-shapes' VQGAN.")
    try:
        _fetch_first(official.config_urls, path.with_suffix(".yaml"), 100, progress=False)
        sha256 = _fetch_first(official.checkpoint_urls, path, official.min_bytes, progress)
    except OSError as error:
        raise FileNotFoundError(f"could not download VQGAN {name!r}: {error}\n{by_hand}") from error
    if official.sha256 and sha256 != official.sha256:
        path.unlink()
        raise checkpoints.CheckpointError(f"the download of {name!r} has sha256 {sha256[:12]}…, not the published "
                                          f"{official.sha256[:12]}…; it was deleted. {by_hand}")
    atomic_write_bytes(path.with_name(path.name + ".sha256"), f"{sha256}  {path.name}\n".encode())
    return path
