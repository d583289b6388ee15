"""Training the tiny CLIP on Shapes: a plain loop you can read in one sitting.

Each step draws a batch of Shapes images with freshly worded captions, embeds both, and
minimises the symmetric CLIP loss with multi-positive targets (identical captions in a batch
are all correct matches). AdamW with a linear warm-up and a cosine decay. Every
``eval_every`` steps we measure zero-shot accuracy over the 30 color x shape classes, and
on the held-out pairs the model never saw. Deterministic under a seed.

``RECIPES`` names two recipes: "lesson" (the defaults, the bundled checkpoint's recipe) and "fast", for a
30-second budget: batch 64 (more, smaller steps learn more per image seen), a 1-layer text tower of width 64,
and the image tower in bfloat16 where the CPU has fast bfloat16. bench/tiny_clip_training.py compares them
(figures in bench/RESULTS.md).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from tqdm.auto import tqdm

from . import checkpoints, config, shapes
from .checks import one_of, positive_int, positive_number
from .contrastive import clamp_logit_scale, clip_loss, info_nce, multi_positive_targets
from .models import ClipModel, TinyClipConfig, build_tiny, tiny_config_dict


POSITIVES = ("identical", "true")  # which captions in a batch count as right answers for an image


@dataclass
class TrainConfig:
    steps: int = 500  # ~90 s on 2 cores (bench/RESULTS.md); 185 steps already reach ~97% zero-shot
    batch_size: int = 256  # larger batches give more negatives per step but cost linearly
    learning_rate: float = 2e-3  # AdamW peak; the tiny model tolerates high rates thanks to BatchNorm
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05  # linear warm-up, then cosine decay to zero
    train_images: int = 20_000  # pool drawn once; captions are re-worded every time an image is used
    eval_images: int = 1_500  # fresh images (another seed) for zero-shot accuracy
    eval_every: int = 50  # steps between evaluations; each costs ~0.5 s
    holdout: tuple = shapes.DEFAULT_HOLDOUT  # color-shape pairs never shown in training
    hard_negative_fraction: float = 0.0  # batch share that is a same-color, other-shape partner (measured: worse)
    positives: str = "identical"  # identical captions, or every caption "true" of the image (measured: no gain)
    image_bfloat16: bool = False  # image tower in bfloat16: ~3x faster on CPUs with AMX, slower on CPUs without
    seed: int = 0

    def __post_init__(self):
        for name in ("steps", "batch_size", "train_images", "eval_images", "eval_every"):
            positive_int(getattr(self, name), name)
        positive_number(self.learning_rate, "learning_rate")
        if self.batch_size > self.train_images:
            raise ValueError(f"batch_size={self.batch_size} is larger than train_images={self.train_images}; a batch "
                             "draws distinct images from the pool, so use a smaller batch or a larger pool.")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1); got {self.warmup_fraction}.")
        one_of(self.positives, POSITIVES, "positives")
        if not 0 <= self.hard_negative_fraction <= 0.5:
            raise ValueError(f"hard_negative_fraction must be in [0, 0.5] (each partner needs an image of its own); "
                             f"got {self.hard_negative_fraction}.")


def cpu_has_fast_bfloat16() -> bool:
    """AVX512-BF16 or AMX, where the image tower in bfloat16 measured ~3x faster; elsewhere it is emulated, slower."""
    checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


FAST_MODEL = TinyClipConfig(text_width=64, text_layers=1, text_heads=2)  # captions are short phrases: 1 narrow layer
RECIPES = {  # name -> (training settings, model); "lesson" is the defaults, the bundled checkpoint's recipe
    "lesson": (TrainConfig(), TinyClipConfig()),
    "fast": (TrainConfig(steps=800, batch_size=64, image_bfloat16=cpu_has_fast_bfloat16()), FAST_MODEL),
}


def recipe_changes(name: str) -> dict:
    """What recipe ``name`` changes from the lesson's: {setting: value}, model settings under "model"."""
    cfg, model_cfg = RECIPES[one_of(name, RECIPES, "recipe")]
    lesson_cfg, lesson_model = RECIPES["lesson"]
    changes = {key: value for key, value in asdict(cfg).items() if value != getattr(lesson_cfg, key)}
    model_changes = {key: value for key, value in asdict(model_cfg).items() if value != getattr(lesson_model, key)}
    return {**changes, **({"model": model_changes} if model_changes else {})}


@dataclass
class TrainResult:
    model: ClipModel
    history: list[dict] = field(default_factory=list)  # one row per evaluation: step, seconds, loss, accuracies
    losses: list[float] = field(default_factory=list)  # every step's loss, for the loss curve
    train_seconds: float = 0.0  # optimiser time only, evaluations excluded
    threads: int = 1  # torch threads of every step: the losses repeat exactly for the same seed and thread count


def learning_rate_factor(step: int, total_steps: int, warmup_fraction: float) -> float:
    """Linear warm-up to 1, then cosine decay to 0."""
    warmup = max(1, int(total_steps * warmup_fraction))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return 0.5 * (1 + math.cos(math.pi * progress))


def class_prompts(template: str = "a {}") -> list[str]:
    return [shapes.with_article(template.format(name)) for name in shapes.CLASS_NAMES]


@torch.no_grad()
def zero_shot_accuracy(model: ClipModel, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy over all 30 color x shape classes with the prompt 'a {color} {shape}'."""
    was_training = model.torch_model.training
    model.torch_model.eval()
    image_embeddings = model.encode_images(pixels_from_uint8(images, model))  # (n_images, D)
    text_embeddings = model.encode_texts(class_prompts())  # (n_classes, D)
    predictions = (image_embeddings @ text_embeddings.T).argmax(dim=1).numpy()  # (n_images,)
    model.torch_model.train(was_training)
    return float((predictions == labels).mean())


def pixels_from_uint8(images: np.ndarray, model: ClipModel) -> torch.Tensor:
    """uint8 (n, H, W, 3) Shapes images -> normalised (n, 3, H, W) tensor, as model.preprocess would."""
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255  # (n, 3, H, W)
    mean, std = torch.tensor(model.mean)[:, None, None], torch.tensor(model.std)[:, None, None]
    return (pixels - mean) / std


class BatchSampler:
    """Batches of distinct pool images. With ``hard_negative_fraction``, that share of each batch is a partner
    of another image in it: the same color, another shape, so the loss must tell shapes apart within a color."""

    def __init__(self, attributes: list, cfg: TrainConfig, rng: np.random.Generator):
        self.attributes, self.rng = attributes, rng
        self.n_partners = int(cfg.batch_size * cfg.hard_negative_fraction)
        self.n_anchors = cfg.batch_size - self.n_partners
        by_class: dict[tuple[str, str], list[int]] = {}
        for index, image in enumerate(attributes):
            by_class.setdefault((image.color, image.shape), []).append(index)
        self.by_class = {pair: np.array(indices) for pair, indices in by_class.items()}

    def __call__(self) -> np.ndarray:
        anchors = self.rng.choice(len(self.attributes), size=self.n_anchors, replace=False)  # (n_anchors,)
        partners = [self.partner(index) for index in anchors[: self.n_partners]]
        return np.concatenate([anchors, np.array(partners, dtype=anchors.dtype)])  # (batch_size,)

    def partner(self, index: int) -> int:
        image = self.attributes[index]
        other_shapes = [shape for shape in shapes.SHAPES
                        if shape != image.shape and (image.color, shape) in self.by_class]
        if not other_shapes:  # a color seen with one shape only: any other image will do
            return int(self.rng.integers(len(self.attributes)))
        candidates = self.by_class[(image.color, other_shapes[self.rng.integers(len(other_shapes))])]
        return int(candidates[self.rng.integers(len(candidates))])


STATED = {"shape": shapes.SHAPES, "color": tuple(shapes.COLORS), "size": tuple(shapes.SIZES),
          "position": tuple(phrase.split()[-1] for phrase in shapes.POSITIONS)}  # attribute -> its caption words


def true_captions(attributes: list, captions: list[str]) -> np.ndarray:
    """(n_images, n_captions) bool: caption j is true of image i, i.e. every attribute it states matches image i.

    "a circle" is true of every circle in the batch, "a small red circle" only of small red ones. The identical-
    caption targets call those other circles wrong answers; these targets do not."""
    caption_words = [set(caption.split()) for caption in captions]
    matches = np.ones((len(attributes), len(captions)), dtype=bool)
    for name, words in STATED.items():
        image_values = np.array([words.index(getattr(image, name).split()[-1]) for image in attributes])  # (n_images,)
        stated = np.array([next((k for k, word in enumerate(words) if word in caption), -1)
                           for caption in caption_words])  # (n_captions,), -1 where the caption does not say
        matches &= (stated[None, :] == -1) | (stated[None, :] == image_values[:, None])  # (n_images, n_captions)
    assert matches.diagonal().all(), "a caption must be true of its own image"
    return matches


class Evaluator:
    """Fresh test images (a different seed) for all classes and for the held-out pairs alone."""

    def __init__(self, cfg: TrainConfig):
        everything = shapes.make_shapes(cfg.eval_images, seed=cfg.seed + 10_000)
        held_out = shapes.make_shapes(max(300, cfg.eval_images // 5), seed=cfg.seed + 20_000, only=cfg.holdout)
        self.sets = {"zero_shot": everything, "held_out": held_out}

    def __call__(self, model: ClipModel) -> dict:
        return {name: zero_shot_accuracy(model, batch.images, batch.labels) for name, batch in self.sets.items()}


def train_clip(cfg: TrainConfig = TrainConfig(), model_cfg: TinyClipConfig = TinyClipConfig(),
               progress: bool = True) -> TrainResult:
    """Train a tiny CLIP from scratch; returns the model and its history."""
    config.seed_everything(cfg.seed)
    pool = shapes.make_shapes(cfg.train_images, seed=cfg.seed, holdout=cfg.holdout)
    evaluator = Evaluator(cfg)
    model = build_tiny(model_cfg, device="cpu")
    pixels = pixels_from_uint8(pool.images, model)  # (n_train, 3, 32, 32), normalised once
    optimizer = torch.optim.AdamW(model.torch_model.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    caption_rng = np.random.default_rng(cfg.seed + 1)
    draw_batch = BatchSampler(pool.attributes, cfg, np.random.default_rng(cfg.seed + 2))
    # Chosen once per run, not per step: a step gains from a free core (bench/thread_policy.py), and a run whose
    # thread count changed mid-way would not repeat. Two runs on differently loaded machines can differ in the last
    # digits; threads=N (setup, --threads, MMLESSON_THREADS) makes every run use N.
    result = TrainResult(model, threads=config.large_work_threads())
    model.torch_model.train()
    bar = tqdm(range(cfg.steps), desc="training tiny CLIP", disable=not progress)
    for step in bar:
        start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = cfg.learning_rate * learning_rate_factor(step, cfg.steps, cfg.warmup_fraction)
        index = draw_batch()
        captions = [shapes.describe(pool.attributes[i], caption_rng) for i in index]
        matches = true_captions([pool.attributes[i] for i in index], captions) if cfg.positives == "true" else None
        with config.large_work(threads=result.threads):
            loss = training_step(model, pixels[index], captions, optimizer, cfg.image_bfloat16, matches)
        result.train_seconds += time.perf_counter() - start
        result.losses.append(loss)
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            row = {"step": step + 1, "seconds": round(result.train_seconds, 2), "loss": round(loss, 4), **evaluator(model)}
            result.history.append(row)
            bar.set_postfix(loss=f"{loss:.3f}", zero_shot=f"{row['zero_shot']:.1%}", held_out=f"{row['held_out']:.1%}")
    model.torch_model.eval()
    return result


def training_step(model: ClipModel, pixels: torch.Tensor, captions: list[str], optimizer,
                  image_bfloat16: bool = False, matches: np.ndarray | None = None) -> float:
    """One optimiser step of the symmetric CLIP loss with multi-positive targets: identical captions, or,
    given ``matches`` (n_images, n_captions) from ``true_captions``, every caption true of the image.

    ``image_bfloat16`` runs the image tower under bfloat16 autocast (the weights and the loss stay float32);
    the text tower stays float32, where bfloat16 measured slower."""
    net = model.torch_model
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=image_bfloat16):
        image_features = net.encode_image(pixels)  # (batch, D), bfloat16 under autocast
    image_features = torch.nn.functional.normalize(image_features.float(), dim=-1)  # (batch, D)
    text_features = torch.nn.functional.normalize(net.encode_text(model.tokenize(captions)), dim=-1)  # (batch, D)
    logit_scale = clamp_logit_scale(net.logit_scale)
    if matches is None:
        loss = clip_loss(image_features, text_features, logit_scale, targets=multi_positive_targets(captions))
    else:
        loss = true_caption_loss(image_features, text_features, logit_scale, torch.from_numpy(matches).float())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def true_caption_loss(image_features, text_features, logit_scale, matches: torch.Tensor) -> torch.Tensor:
    """The CLIP loss where image i's right answers are the captions true of it, and caption j's the images it
    is true of: not symmetric ("a circle" fits many images, "a small red circle" fewer), so one InfoNCE each way."""
    logits_per_image = logit_scale * image_features @ text_features.T  # (n_images, D) @ (D, n_captions)
    image_to_text = info_nce(logits_per_image, matches / matches.sum(1, keepdim=True))
    text_to_image = info_nce(logits_per_image.T, matches.T / matches.T.sum(1, keepdim=True))
    return (image_to_text + text_to_image) / 2


def save_tiny_clip(result: TrainResult, cfg: TrainConfig, path, command: str, register: bool = False) -> dict:
    """Save weights as safetensors with the recipe and metrics; optionally record it in checkpoints.json."""
    final = result.history[-1] if result.history else {}
    metrics = {"zero_shot_top1": final.get("zero_shot"), "held_out_top1": final.get("held_out"),
               "train_seconds": round(result.train_seconds, 1), "final_loss": final.get("loss")}
    train_cfg = {key: (list(map(list, value)) if key == "holdout" else value) for key, value in asdict(cfg).items()}
    model_cfg = tiny_config_dict(result.model.torch_model.cfg)
    metadata = {"kind": "tiny-clip", "config": model_cfg, "train": train_cfg, "metrics": metrics, "command": command}
    checkpoints.save_state(result.model.torch_model.state_dict(), path, metadata)
    if register:
        checkpoints.register("tiny-clip-shapes", path, command, cfg.seed, metrics, {"model": model_cfg, "train": train_cfg})
    return metrics


def steps_for_seconds(seconds: float, cfg: TrainConfig, model_cfg: TinyClipConfig = TinyClipConfig()) -> int:
    """How many steps of this recipe fit in ``seconds`` on this machine, from a short timing of real steps."""
    seconds = positive_number(seconds, "seconds")
    model = build_tiny(model_cfg)
    pool = shapes.make_shapes(cfg.batch_size, seed=cfg.seed)
    pixels = pixels_from_uint8(pool.images, model)
    optimizer = torch.optim.AdamW(model.torch_model.parameters(), lr=1e-4)
    with config.large_work():  # on the threads that train_clip's steps get
        for _ in range(3):  # warm-up: the first steps pay for memory allocation and kernel selection
            training_step(model, pixels, pool.captions, optimizer, cfg.image_bfloat16)
        start = time.perf_counter()
        for _ in range(5):
            training_step(model, pixels, pool.captions, optimizer, cfg.image_bfloat16)
        per_step = (time.perf_counter() - start) / 5
    return max(1, int(seconds / per_step))
