"""Claim: 10,000 Shapes images (32x32, with captions) generate in a few seconds on 2 CPU cores."""
import time

from _common import emit, p50

from mmlesson import shapes


def main() -> None:
    seconds = {}
    for size, n in [(32, 10_000), (64, 10_000)]:
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            shapes.make_shapes(n, seed=0, image_size=size)
            runs.append(time.perf_counter() - start)
        seconds[f"{n}_images_{size}px_p50_s"] = round(p50(runs), 2)
    emit("shapes_generation", seconds)


if __name__ == "__main__":
    main()
