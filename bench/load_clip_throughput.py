"""Claim: encoding images through load_clip is within 1.05x of calling open_clip directly.

Same ViT-B-32 (random weights, saved and loaded through load_clip's checkpoint path), same PIL images,
batch 32, on CPU. Both loops include preprocessing. Measured side by side: the two are alternated
for several rounds and the medians compared.
"""
import argparse
import tempfile
import time
from pathlib import Path

import torch
from _common import emit, p50
from PIL import Image

from mmlesson import models, shapes

BATCH = 32


def open_clip_loop(model, preprocess, images):
    with torch.inference_mode():
        for start in range(0, len(images), BATCH):
            pixels = torch.stack([preprocess(image) for image in images[start: start + BATCH]])
            features = model.encode_image(pixels)
            features / features.norm(dim=-1, keepdim=True)


def main() -> None:
    import open_clip

    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    reference, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    reference.eval()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "vit_b_32_random.pt"
        torch.save(reference.state_dict(), path)
        ours = models.load_clip(str(path), device="cpu")
    images = [Image.fromarray(image).resize((256, 256)) for image in shapes.make_shapes(args.images, seed=0, image_size=64).images]
    timings = {"open_clip": [], "load_clip": []}
    open_clip_loop(reference, preprocess, images[:BATCH])  # warm-up both
    ours.encode_images(images[:BATCH], batch_size=BATCH)
    for _ in range(args.rounds):
        start = time.perf_counter()
        open_clip_loop(reference, preprocess, images)
        timings["open_clip"].append(time.perf_counter() - start)
        start = time.perf_counter()
        ours.encode_images(images, batch_size=BATCH)
        timings["load_clip"].append(time.perf_counter() - start)
    ips = {name: len(images) / p50(seconds) for name, seconds in timings.items()}
    emit("load_clip_throughput", {"open_clip_images_per_s": round(ips["open_clip"], 2),
                                  "load_clip_images_per_s": round(ips["load_clip"], 2),
                                  "time_ratio_load_clip_over_open_clip": round(ips["open_clip"] / ips["load_clip"], 3),
                                  "batch": BATCH, "images": len(images), "rounds": args.rounds, "model": "ViT-B-32 random"})


if __name__ == "__main__":
    main()
