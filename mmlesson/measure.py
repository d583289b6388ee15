"""The strict measure of a generated Shapes image: one coherent object, of the prompt's color, whose
outline is the prompt's shape.

Why not a classifier? The first judge (judge.py) was a CNN trained on clean single shapes. Shown a
patchwork of random codes it still named a color and a shape with high confidence (median 0.84):
it answers "which class is this most like", never "is there a shape here at all". This measure
answers the second question with geometry a person can check by eye, in four steps:

1. **Unmix.** The background color is the median of the image border. Every pixel is explained as a
   mix ``background + alpha * (object color - background)``; ``alpha`` is how much of the pixel the
   object covers, and the ``residual`` is what such a mix cannot explain (another color).
2. **One object.** The object is the pixels with ``alpha >= 0.5``. It must be a single connected
   piece of one named color, on a background with nothing else on it: no second color, no second
   fragment, no smear.
3. **Its outline.** Each of the five Shapes outlines is fitted to the object over position, size and
   tilt, and scored by the overlap (soft IoU) of the fitted outline with ``alpha``. The prompt's shape
   must fit best and overlap at least ``MIN_IOU``.
4. **Size and position**, when the prompt names them, from the fitted radius and the centre.

It never sees a model: no CLIP score, no gradient, no judge. Its thresholds were set on fresh Shapes
and negative controls (bench/strict_measure.py, tests/test_measure.py): real Shapes pass, random-code
patchworks, shuffled codes, two shapes, fragments and shapeless blobs fail.

    from mmlesson.measure import check_images
    check_images(images, ["a red star", ...])  # -> [StrictVerdict(passed=True, ...), ...]
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .shapes import COLORS, POSITIONS, SHAPES, SIZES, coverage

IMAGE_SIZE = 32  # the measure reads Shapes-sized images; larger ones are resized by the caller on purpose
MIN_CONTRAST = 60.0  # RGB distance from the background that counts as "something is there"
MIN_AREA = 12.0  # pixels (sum of alpha): a small Shapes star covers about 23
MAX_FOREIGN = 8  # pixels that may be another color than the object's (a small second shape has ~23)
MAX_OTHER_PIECES = 0.05  # fraction of the object's area that may lie outside its largest piece
MAX_CLUTTER = 0.04  # fraction of the background that may differ from the background color
MIN_IOU = 0.78  # overlap with the prompt's fitted outline; fresh Shapes: 0.85-0.97, irregular blobs mostly < 0.75
MIN_MARGIN = 0.04  # the prompt's shape must beat every other outline by this much (an oval fits circle and square alike)
PALETTE = {name: np.array(rgb, np.float32) for name, rgb in COLORS.items()}
# Every shape's symmetry: tilts beyond one period repeat themselves.
SYMMETRY = {"circle": 2 * np.pi, "square": np.pi / 2, "triangle": 2 * np.pi / 3, "star": 2 * np.pi / 5,
            "cross": np.pi / 2}


@dataclass(frozen=True)
class Target:
    """What a prompt asks for; None where it does not say (``ANYTHING`` asks only for one clear shape)."""
    color: str | None
    shape: str | None
    size: str | None = None
    position: str | None = None


@dataclass(frozen=True)
class StrictVerdict:
    prompt: str
    scorable: bool  # False when the prompt names no single Shapes color and shape
    passed: bool
    reason: str  # "pass", or the first check that failed, in words
    color: str | None = None  # the object's color, if one object was found
    shape: str | None = None  # the outline that fits it best
    iou: float = 0.0  # overlap with the prompt shape's best-fitting outline

    def __str__(self) -> str:
        if not self.scorable:
            return f"not scorable ({self.reason})"
        return f"{'PASS' if self.passed else 'FAIL'}: {self.reason}"


# --- 1. what the prompt asks for ---

ANYTHING = "<any Shapes color and shape>"  # the prompt for "does this show one clear shape at all?"


def parse_target(prompt: str) -> Target | str:
    """"a large red star on the left" -> Target(...); a string says why the prompt is not scorable."""
    if not isinstance(prompt, str):
        raise ValueError(f"a prompt must be a string such as 'a red star', not {type(prompt).__name__}.")
    if prompt == ANYTHING:
        return Target(None, None)
    text = prompt.lower()
    words = re.findall(r"[a-z]+", text)
    colors = sorted({word for word in words if word in COLORS})
    shapes = sorted({word for word in words if word in SHAPES})
    if len(colors) != 1 or len(shapes) != 1:
        return (f"the measure scores prompts naming one Shapes color ({', '.join(COLORS)}) and one shape "
                f"({', '.join(SHAPES)}); {prompt!r} names {len(colors)} color(s) and {len(shapes)} shape(s)")
    sizes = [word for word in words if word in SIZES]
    positions = [phrase for phrase in POSITIONS if phrase in text]
    return Target(colors[0], shapes[0], sizes[0] if len(sizes) == 1 else None,
                  positions[0] if len(positions) == 1 else None)


# --- 2. pixels: one checked input format ---

def as_uint8_images(images) -> np.ndarray:
    """(N, 32, 32, 3) uint8 array, or torch/numpy floats (N, 3, 32, 32) in [0, 1], or PIL images -> (N, 32, 32, 3)."""
    if hasattr(images, "convert"):
        images = [images]
    if isinstance(images, (list, tuple)):
        images = np.stack([np.asarray(image.convert("RGB")) if hasattr(image, "convert") else np.asarray(image)
                           for image in images])
    if hasattr(images, "detach"):  # a torch tensor
        images = images.detach().cpu().float().numpy()
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4:
        raise ValueError(f"the measure takes a batch (N, 32, 32, 3) uint8 or (N, 3, 32, 32) floats in [0, 1]; "
                         f"got an array of shape {images.shape}.")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.floating):
            raise ValueError(f"images must be uint8 (0-255) or floats in [0, 1], not {images.dtype}.")
        if not np.isfinite(images).all():
            raise ValueError("images contain NaN or infinite values; the measure needs finite pixels in [0, 1].")
        if images.shape[1] == 3 and images.shape[-1] != 3:
            images = images.transpose(0, 2, 3, 1)  # (N, 3, H, W) -> (N, H, W, 3)
        if images.min() < -1e-3 or images.max() > 1 + 1e-3:
            raise ValueError(f"float images must lie in [0, 1]; these span [{images.min():.3g}, {images.max():.3g}]. "
                             "Pass uint8 for 0-255 values.")
        images = np.rint(np.clip(images, 0, 1) * 255).astype(np.uint8)
    if images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise ValueError(f"the measure reads {IMAGE_SIZE}x{IMAGE_SIZE} RGB Shapes images; got images of shape "
                         f"{images.shape[1:]}. Resize to {IMAGE_SIZE}x{IMAGE_SIZE} first.")
    return images


# --- 3. unmixing: background, object color, alpha and residual per pixel ---

def border_color(pixels: np.ndarray) -> np.ndarray:
    """Median RGB of the one-pixel border ring: the background, unless the object fills the frame."""
    ring = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])  # (124, 3)
    return np.median(ring, axis=0)


def color_name(direction: np.ndarray, background: np.ndarray) -> str:
    """The Shapes color whose direction from the background is closest in angle to ``direction``."""
    best, best_cos = "", -2.0
    for name, rgb in PALETTE.items():
        towards = rgb - background
        cos = float(direction @ towards / (np.linalg.norm(direction) * np.linalg.norm(towards) + 1e-6))
        if cos > best_cos:
            best, best_cos = name, cos
    return best


def object_color(pixels: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, str] | None:
    """The dominant named color among the clearly-foreground pixels, and its median RGB; None if nothing stands out."""
    offsets = pixels.reshape(-1, 3) - background  # (H * W, 3)
    contrast = np.linalg.norm(offsets, axis=1)
    strong = contrast >= max(MIN_CONTRAST, 0.7 * np.quantile(contrast, 0.98))
    if strong.sum() < 4:
        return None
    names = np.array([color_name(offset, background) for offset in offsets[strong]])
    values, counts = np.unique(names, return_counts=True)
    dominant = values[np.argmax(counts)]
    return np.median(pixels.reshape(-1, 3)[strong][names == dominant], axis=0), str(dominant)


def unmix(pixels: np.ndarray, background: np.ndarray, color: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """alpha (H, W): how much of each pixel the object covers; residual (H, W): RGB distance the mix leaves."""
    towards = color - background  # (3,)
    offsets = pixels - background  # (H, W, 3)
    alpha = np.clip(offsets @ towards / (towards @ towards), 0, 1)  # (H, W)
    residual = np.linalg.norm(offsets - alpha[..., None] * towards, axis=-1)  # (H, W)
    return alpha, residual


# --- 4. one piece: connected components without scipy ---

def pieces(mask: np.ndarray) -> list[np.ndarray]:
    """The 8-connected pieces of a boolean mask, largest first, as boolean masks."""
    labels = np.zeros(mask.shape, int)
    found = []
    for start in zip(*np.nonzero(mask)):
        if labels[start]:
            continue
        label = len(found) + 1
        stack, labels[start] = [start], label
        while stack:
            row, col = stack.pop()
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    r, c = row + dr, col + dc
                    if 0 <= r < mask.shape[0] and 0 <= c < mask.shape[1] and mask[r, c] and not labels[r, c]:
                        labels[r, c] = label
                        stack.append((r, c))
        found.append(labels == label)
    return sorted(found, key=lambda piece: -piece.sum())


def dilate(mask: np.ndarray, steps: int = 1) -> np.ndarray:
    grown = mask.copy()
    for _ in range(steps):
        padded = np.pad(grown, 1)
        grown = np.max([padded[r:r + mask.shape[0], c:c + mask.shape[1]] for r in range(3) for c in range(3)], 0)
    return grown


# --- 5. the outline: fit each shape over position, size and tilt ---

UNIT_AREA = {shape: float(coverage(shape, np.array([[0.5, 0.5]]), np.array([0.25]), np.zeros(1), 64, 4).sum())
             / (0.25 * 64) ** 2 for shape in SHAPES}  # area of each outline at radius 1, in radius^2


def soft_iou(alpha: np.ndarray, templates: np.ndarray) -> np.ndarray:
    """alpha (H, W) against templates (T, H, W) -> (T,) sum of minima over sum of maxima."""
    return np.minimum(alpha, templates).sum((1, 2)) / np.maximum(alpha, templates).sum((1, 2))


def fit_outline(alpha: np.ndarray, shape: str) -> tuple[float, np.ndarray, float]:
    """Best soft IoU of ``shape``'s outline with alpha, its centre (x, y) and radius as fractions of the side.

    Starts from the centre of mass and the radius that gives the object's area, then refines tilt,
    size, position and tilt again, one at a time (29 outlines per shape instead of a full grid).
    """
    area = alpha.sum()
    rows, cols = np.indices(alpha.shape)
    centre = np.array([(cols * alpha).sum(), (rows * alpha).sum()]) / area + 0.5  # pixel units, (x, y)
    radius, period = np.sqrt(area / UNIT_AREA[shape]), SYMMETRY[shape]  # pixels, radians
    tilt, score = 0.0, 0.0
    searches = [("tilt", np.linspace(0, period, 12, endpoint=False)), ("scale", np.array([0.9, 0.95, 1.05, 1.1])),
                ("shift", np.array([(dx, dy) for dx in (-0.5, 0, 0.5) for dy in (-0.5, 0, 0.5) if dx or dy])),
                ("tilt", tilt + np.array([-1, 1]) * period / 36)]
    for what, options in searches:
        if what == "tilt" and shape == "circle":
            continue
        centres = centre + options if what == "shift" else np.broadcast_to(centre, (len(options), 2))
        radii = radius * options if what == "scale" else np.full(len(options), radius)
        tilts = options if what == "tilt" else np.full(len(options), tilt)
        scores = _ious(alpha, shape, centres, radii, tilts)  # (len(options),)
        if scores.max() > score:
            best = int(np.argmax(scores))
            score, centre, radius, tilt = float(scores[best]), centres[best], float(radii[best]), float(tilts[best])
        if what == "tilt":
            searches[-1] = ("tilt", tilt + np.array([-1, 1]) * period / 36)
    return score, centre / IMAGE_SIZE, radius / IMAGE_SIZE


def _ious(alpha: np.ndarray, shape: str, centres: np.ndarray, radii: np.ndarray, tilts: np.ndarray) -> np.ndarray:
    centres = np.broadcast_to(centres, (len(radii), 2)) / IMAGE_SIZE
    templates = coverage(shape, centres.astype(np.float32), (radii / IMAGE_SIZE).astype(np.float32),
                         tilts.astype(np.float32), IMAGE_SIZE, 2)  # (T, H, W)
    return soft_iou(alpha, templates)


def nearest(value, options: dict, distance) -> str:
    return min(options, key=lambda name: distance(value, options[name]))


# --- 6. the verdict ---

def check_image(image: np.ndarray, prompt: str) -> StrictVerdict:
    """One (32, 32, 3) uint8 image against one prompt; see the module docstring for the checks."""
    target = parse_target(prompt)
    if isinstance(target, str):
        return StrictVerdict(prompt, False, False, target)
    fail = lambda reason, **found: StrictVerdict(prompt, True, False, reason, **found)  # noqa: E731
    pixels = image.astype(np.float32)
    background = border_color(pixels)
    found = object_color(pixels, background)
    if found is None:
        return fail("no object: nothing stands out from the background")
    color, name = found
    alpha, residual = unmix(pixels, background, color)
    foreign = (residual > 0.35 * np.linalg.norm(color - background) + 20) & (residual > MIN_CONTRAST)
    alpha = np.where(foreign, 0.0, alpha)
    mask = alpha >= 0.5
    if alpha.sum() < MIN_AREA or not mask.any():
        return fail(f"no object: the {name} region covers {alpha.sum():.0f} px (at least {MIN_AREA:.0f} needed)")
    if target.color and name != target.color:
        return fail(f"the object is {name}, not {target.color}", color=name)
    if foreign.sum() > MAX_FOREIGN:
        return fail(f"{foreign.sum()} px of other colors (at most {MAX_FOREIGN})", color=name)
    parts = pieces(mask)
    outside = 1 - parts[0].sum() / mask.sum()
    if outside > MAX_OTHER_PIECES:
        return fail(f"{len(parts)} separate pieces ({outside:.0%} of the object outside the largest)", color=name)
    alpha = np.where(dilate(parts[0], 2), alpha, 0.0)  # the object: its largest piece and its soft edge
    clutter = (np.linalg.norm(pixels - background, axis=-1) > 45) & ~dilate(parts[0], 1)
    if clutter.sum() > MAX_CLUTTER * (~dilate(parts[0], 1)).sum():
        return fail(f"the background is cluttered ({clutter.mean():.0%} of it differs from its color)", color=name)
    return judge_outline(prompt, target, alpha, name)


def judge_outline(prompt: str, target: Target, alpha: np.ndarray, color: str) -> StrictVerdict:
    """Step 5 and 6: the prompt's shape must fit best, and well; then size and position if asked for."""
    alpha = np.clip(2 * alpha - 0.5, 0, 1)  # sharpen around 0.5: a soft VQGAN edge counts like a crisp one
    fits = {shape: fit_outline(alpha, shape) for shape in SHAPES}
    best = max(fits, key=lambda shape: fits[shape][0])
    wanted = target.shape or best
    iou, centre, radius = fits[wanted]
    runner_up = max((shape for shape in SHAPES if shape != wanted), key=lambda shape: fits[shape][0])
    verdict = dict(color=color, shape=best, iou=round(iou, 3))
    if best != wanted:
        return StrictVerdict(prompt, True, False, f"the outline fits a {best} best ({fits[best][0]:.2f}), "
                             f"the {wanted} {iou:.2f}", **verdict)
    if iou - fits[runner_up][0] < MIN_MARGIN:
        return StrictVerdict(prompt, True, False, f"ambiguous outline: {wanted} {iou:.2f}, {runner_up} "
                             f"{fits[runner_up][0]:.2f} (a margin of {MIN_MARGIN} needed)", **verdict)
    if iou < MIN_IOU:
        return StrictVerdict(prompt, True, False, f"the outline matches a {wanted} poorly "
                             f"(overlap {iou:.2f}, at least {MIN_IOU} needed)", **verdict)
    size = nearest(radius, SIZES, lambda a, b: abs(np.log(a / b)))
    if target.size and size != target.size:
        return StrictVerdict(prompt, True, False, f"the {wanted} is {size}, not {target.size}", **verdict)
    position = nearest(centre, POSITIONS, lambda a, b: float(np.hypot(*(a - np.array(b)))))
    if target.position and position != target.position:
        return StrictVerdict(prompt, True, False, f"the {wanted} is {position}, not {target.position}", **verdict)
    return StrictVerdict(prompt, True, True, f"one {color} {wanted}, overlap {iou:.2f}", **verdict)


def check_images(images, prompts) -> list[StrictVerdict]:
    """Strict verdicts for a batch; ``prompts`` is one string for all images or one per image."""
    images = as_uint8_images(images)
    prompts = [prompts] * len(images) if isinstance(prompts, str) else list(prompts)
    if len(prompts) != len(images):
        raise ValueError(f"got {len(images)} images but {len(prompts)} prompts; give one prompt, or one per image.")
    return [check_image(image, prompt) for image, prompt in zip(images, prompts)]


def shows_any_shape(images) -> list[StrictVerdict]:
    """Would each image pass for *some* color x shape prompt? The harshest test of a negative control."""
    return check_images(images, ANYTHING)


def pass_rate(verdicts: list[StrictVerdict]) -> float:
    """Fraction of the scorable verdicts that passed (NaN when none is scorable)."""
    scorable = [verdict for verdict in verdicts if verdict.scorable]
    return sum(verdict.passed for verdict in scorable) / len(scorable) if scorable else float("nan")


__all__ = ["Target", "StrictVerdict", "parse_target", "check_image", "check_images", "shows_any_shape", "pass_rate", "ANYTHING", "as_uint8_images"]
