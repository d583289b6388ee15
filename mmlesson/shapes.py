"""The Shapes dataset: procedural images of one coloured shape, each with a varied caption.

Every image is drawn from four attributes (shape, color, size, position) plus pixel-level
jitter, and everything is derived from one seed: the same seed gives the same bytes.
Chosen color-shape pairs can be held out of training, so a lesson can ask the model for a
"green star" it never saw.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "cross")
COLORS = {  # name -> RGB; chosen to stay distinct on a dark background
    "red": (220, 40, 40), "green": (40, 190, 60), "blue": (50, 90, 235),
    "yellow": (235, 215, 40), "purple": (160, 60, 210), "orange": (245, 140, 30),
}
SIZES = {"small": 0.15, "large": 0.27}  # radius as a fraction of the image side
POSITIONS = {"on the left": (0.30, 0.50), "on the right": (0.70, 0.50), "at the top": (0.50, 0.30),
             "at the bottom": (0.50, 0.70), "in the center": (0.50, 0.50)}
CLASSES = tuple((color, shape) for color in COLORS for shape in SHAPES)  # 30 color x shape classes
CLASS_NAMES = tuple(f"{color} {shape}" for color, shape in CLASSES)
DEFAULT_HOLDOUT = (("green", "star"), ("blue", "triangle"), ("orange", "cross"))
IMAGE_SIZES = (32, 64)
RENDER_CHUNK = 500  # images drawn at once: big enough to vectorise, small enough to stay in cache
CAPTION_TEMPLATES = ("a {}", "a photo of a {}", "a picture of a {}", "a drawing of a {}", "an image of a {}", "{}")


@dataclass(frozen=True)
class ShapeAttributes:
    shape: str
    color: str
    size: str
    position: str

    @property
    def label(self) -> int:
        """Index into CLASSES (color x shape)."""
        return CLASSES.index((self.color, self.shape))

    @property
    def class_name(self) -> str:
        return f"{self.color} {self.shape}"


@dataclass
class ShapesBatch:
    images: np.ndarray  # (n, size, size, 3) uint8
    attributes: list[ShapeAttributes]
    captions: list[str]

    @property
    def labels(self) -> np.ndarray:
        return np.array([attributes.label for attributes in self.attributes], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.attributes)

    def pil_images(self):
        from PIL import Image

        return [Image.fromarray(image) for image in self.images]


def validate_pairs(pairs: Iterable[Sequence[str]], what: str = "held-out pair") -> tuple[tuple[str, str], ...]:
    """Check (color, shape) pairs; a typo gets an error that lists the valid names."""
    checked = []
    for pair in pairs:
        if isinstance(pair, str):
            pair = tuple(pair.split())
        if len(pair) != 2:
            raise ValueError(f"{what} {pair!r} must be a (color, shape) pair such as ('green', 'star').")
        color, shape = pair
        if color not in COLORS:
            raise ValueError(f"{what} {pair!r}: unknown color {color!r}; valid colors: {', '.join(COLORS)}.")
        if shape not in SHAPES:
            raise ValueError(f"{what} {pair!r}: unknown shape {shape!r}; valid shapes: {', '.join(SHAPES)}.")
        checked.append((color, shape))
    return tuple(checked)


def allowed_classes(holdout=(), only=None) -> list[tuple[str, str]]:
    """The (color, shape) classes to draw from: ``only`` (default all) minus ``holdout``."""
    held_out = set(validate_pairs(holdout))
    wanted = validate_pairs(only, "requested class") if only is not None else CLASSES
    clash = [pair for pair in wanted if pair in held_out]
    if only is not None and clash:
        raise ValueError(f"requested classes {clash} are also held out; drop them from `holdout` "
                         f"or from `only`. Held out: {sorted(held_out)}.")
    allowed = [pair for pair in wanted if pair not in held_out]
    if not allowed:
        raise ValueError("every class is held out, so there is nothing to draw; hold out fewer pairs.")
    return allowed


def sample_attributes(n: int, rng: np.random.Generator, holdout=(), only=None) -> list[ShapeAttributes]:
    classes = allowed_classes(holdout, only)
    class_ids = rng.integers(len(classes), size=n)
    sizes = rng.choice(list(SIZES), size=n)
    positions = rng.choice(list(POSITIONS), size=n)
    return [ShapeAttributes(classes[c][1], classes[c][0], str(s), str(p))
            for c, s, p in zip(class_ids, sizes, positions)]


# --- drawing: each shape is a boolean mask on a grid of (u, v) coordinates around its centre ---

def _star_mask(u, v, inner=0.42):
    """Five-pointed star, one tip straight up; ``inner`` is the radius of the inner corners."""
    sector = 2 * np.pi / 5
    angle = (np.arctan2(v, u) - np.pi / 2) % sector  # 0 at a tip
    from_tip = np.pi / 5 - np.abs(angle - np.pi / 5)  # angular distance to the nearest tip
    radius = np.hypot(u, v)
    x, y = radius * np.cos(from_tip), radius * np.sin(from_tip)
    corner_x, corner_y = inner * np.cos(np.pi / 5), inner * np.sin(np.pi / 5)
    # inside = on the origin's side of the edge from the tip (1, 0) to the inner corner
    return (corner_x - 1) * y - corner_y * (x - 1) >= 0


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    if shape == "circle":
        return u**2 + v**2 <= 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.82
    if shape == "triangle":  # tip up, flat base, vertices on the unit circle
        normals = [(0.0, -1.0), (np.cos(np.pi / 6), 0.5), (-np.cos(np.pi / 6), 0.5)]
        return np.all([nu * u + nv * v <= 0.5 for nu, nv in normals], axis=0)
    if shape == "star":
        return _star_mask(u, v)
    if shape == "cross":
        arm = 0.32
        return ((np.abs(u) <= arm) & (np.abs(v) <= 1.0)) | ((np.abs(v) <= arm) & (np.abs(u) <= 1.0))
    raise ValueError(f"unknown shape {shape!r}; valid shapes: {', '.join(SHAPES)}.")


def render(attributes: Sequence[ShapeAttributes], rng: np.random.Generator, image_size: int = 32) -> np.ndarray:
    """Draw (n, image_size, image_size, 3) uint8 images; 32x32 is anti-aliased by 2x supersampling."""
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"image_size={image_size} is not supported; choose one of {IMAGE_SIZES}.")
    supersample = 2 if image_size == 32 else 1  # at 64x64 the edges are smooth enough, and 4x cheaper
    n, grid = len(attributes), image_size * supersample
    centres = (np.array([POSITIONS[a.position] for a in attributes]) + rng.uniform(-0.04, 0.04, (n, 2)))
    radii = np.array([SIZES[a.size] for a in attributes]) * rng.uniform(0.9, 1.1, n)
    tilts = rng.uniform(-0.25, 0.25, n)  # radians
    centres, radii, tilts = (array.astype(np.float32) for array in (centres, radii, tilts))
    colors = (np.array([COLORS[a.color] for a in attributes]) + rng.uniform(-18, 18, (n, 3))).astype(np.float32)
    backgrounds = rng.uniform(10, 45, (n, 1, 1, 1)).astype(np.float32)
    noise_sigma = rng.uniform(2, 7, (n, 1, 1, 1)).astype(np.float32)

    coords = ((np.arange(grid) + 0.5) / grid).astype(np.float32)
    x, y = np.meshgrid(coords, coords)  # (grid, grid), y grows downwards as in images
    coverage = np.zeros((n, grid, grid), np.float32)
    for shape in SHAPES:
        index = np.array([i for i, a in enumerate(attributes) if a.shape == shape], int)
        if index.size == 0:
            continue
        dx = (x[None] - centres[index, 0, None, None]) / radii[index, None, None]
        dy = (y[None] - centres[index, 1, None, None]) / radii[index, None, None]
        cos, sin = np.cos(tilts[index])[:, None, None], np.sin(tilts[index])[:, None, None]
        u, v = cos * dx + sin * dy, -sin * dx + cos * dy
        coverage[index] = _shape_mask(shape, u, -v)  # -v: "up" in the mask is up in the image
    coverage = coverage.reshape(n, image_size, supersample, image_size, supersample).mean(axis=(2, 4))  # (n, H, W)
    coverage = coverage[..., None]  # (n, size, size, 1)
    images = backgrounds * (1 - coverage) + colors[:, None, None, :] * coverage
    images = images + rng.standard_normal(images.shape, dtype=np.float32) * noise_sigma
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


# --- captions: varied phrasing, attributes dropped at random so short prompts stay in distribution ---

def describe(attributes: ShapeAttributes, rng: np.random.Generator | None = None, *, keep_color: bool = True,
             keep_size: bool = False, keep_position: bool = False, template: str = "a {}") -> str:
    """A caption for one image. With ``rng``, which attributes appear and the phrasing are random."""
    if rng is not None:
        keep_color, keep_size, keep_position = (bool(k) for k in rng.random(3) < (0.85, 0.45, 0.45))
        template = CAPTION_TEMPLATES[rng.integers(len(CAPTION_TEMPLATES))]
    words = [attributes.size] * keep_size + [attributes.color] * keep_color + [attributes.shape]
    phrase = " ".join(words) + (f" {attributes.position}" if keep_position else "")
    return with_article(template.format(phrase))


def with_article(text: str) -> str:
    """Fix 'a' before a vowel: 'a orange circle' -> 'an orange circle'."""
    words = text.split()
    for i in range(len(words) - 1):
        if words[i] in ("a", "an"):
            words[i] = "an" if words[i + 1][0] in "aeiou" else "a"
    return " ".join(words)


def make_shapes(n: int, seed: int = 0, image_size: int = 32, holdout=(), only=None) -> ShapesBatch:
    """``n`` images with attributes and random captions, fully determined by ``seed``.

    ``holdout``: (color, shape) pairs that never appear (e.g. DEFAULT_HOLDOUT for training).
    ``only``: draw from these (color, shape) pairs alone (e.g. to test the held-out ones).
    """
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}.")
    rng = np.random.default_rng(seed)
    attributes = sample_attributes(n, rng, holdout, only)
    chunks = [render(attributes[i: i + RENDER_CHUNK], rng, image_size) for i in range(0, n, RENDER_CHUNK)]
    images = np.concatenate(chunks) if chunks else np.zeros((0, image_size, image_size, 3), np.uint8)
    captions = [describe(a, rng) for a in attributes]
    return ShapesBatch(images, attributes, captions)


class ShapesDataset:
    """A torch-style Dataset of (image tensor in [0, 1], caption, label) built on ``make_shapes``."""

    def __init__(self, n: int, seed: int = 0, image_size: int = 32, holdout=(), only=None, transform=None):
        self.batch = make_shapes(n, seed, image_size, holdout, only)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.batch)

    def __getitem__(self, index: int):
        import torch

        image = self.batch.images[index]
        if self.transform is not None:
            from PIL import Image

            tensor = self.transform(Image.fromarray(image))
        else:
            tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 255  # (3, H, W)
        return tensor, self.batch.captions[index], int(self.batch.attributes[index].label)


def show_grid(images, titles: Sequence[str] | None = None, ncols: int = 8, title: str = "Shapes", scale: float = 1.3):
    """Draw images (uint8 array, tensors in [0, 1] or PIL) in a grid, titles wrapped; returns the figure."""
    import textwrap

    import matplotlib.pyplot as plt

    images = [_to_uint8(image) for image in images]
    nrows = max(1, int(np.ceil(len(images) / ncols)))
    figure, axes = plt.subplots(nrows, ncols, figsize=(ncols * scale, nrows * scale * 1.5), squeeze=False)
    for i, axis in enumerate(axes.flat):
        axis.axis("off")
        if i < len(images):
            axis.imshow(images[i], interpolation="nearest")
            if titles is not None:
                axis.set_title(textwrap.fill(str(titles[i]), 18), fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def _to_uint8(image) -> np.ndarray:
    if hasattr(image, "detach"):  # torch tensor (3, H, W) in [0, 1]
        image = image.detach().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255
    image = np.asarray(image)
    return image if image.dtype == np.uint8 else np.clip(np.rint(image), 0, 255).astype(np.uint8)
