"""What an ImageIndex can be built from besides files (those are index_files.py): in-memory collections
-- a list of PIL images, a uint8 array, a ShapesBatch or ShapesDataset, any dataset of images or
preprocessed tensors -- and how each is encoded batch by batch under one progress bar.
"""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .models import encode_in_batches
from .shapes import ShapesBatch, ShapesDataset


def unwrap_images(images):
    """A sliceable source: uint8 array, list of PIL, or a dataset; ShapesBatch/ShapesDataset give their array."""
    if isinstance(images, ShapesDataset):
        images = images.batch
    if isinstance(images, ShapesBatch):
        return images.images
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[-1] not in (3, 4) or images.dtype != np.uint8:
            raise ValueError(f"an image array must be uint8 (n, H, W, 3); got {images.dtype} {images.shape}.")
        return images
    if isinstance(images, (list, tuple)):
        return list(images)
    if hasattr(images, "__len__") and hasattr(images, "__getitem__"):
        return images
    raise ValueError(f"cannot index a {type(images).__name__}; pass a folder, a list of paths or PIL images, "
                     "a uint8 array, a ShapesBatch, or a dataset.")


def encode_source(model, source, batch_size: int, progress: bool) -> np.ndarray:
    """Encode a sliceable source batch by batch under one progress bar; (n, dim) float32 rows."""
    direct = isinstance(source, np.ndarray) or (isinstance(source, list)  # encode_images takes these as they are
                                                and all(isinstance(i, (Image.Image, np.ndarray)) for i in source))

    def encode(batch):
        batch = batch if direct else dataset_batch(model, batch)
        return to_numpy(model.encode_images(batch, batch_size=len(batch)))  # (batch, dim)

    return encode_in_batches(source, batch_size, encode, "indexing images", progress,
                             model.embed_dim).numpy()


def dataset_batch(model, items) -> torch.Tensor:
    """Dataset items (PIL images, uint8 arrays, preprocessed tensors, or tuples whose first element is one)
    as a preprocessed tensor batch (B, 3, H, W)."""
    pixels = []
    for item in items:
        item = item[0] if isinstance(item, (tuple, list)) else item
        if isinstance(item, np.ndarray):
            item = Image.fromarray(item)
        pixels.append(item if isinstance(item, torch.Tensor) else model.preprocess(item))
    return torch.stack(pixels)


def to_numpy(tensor) -> np.ndarray:
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().cpu().numpy()
    return np.asarray(tensor, dtype=np.float32)
