import io

import matplotlib

matplotlib.use("agg")

from PIL import Image  # noqa: E402

from mmlesson import shapes, viz  # noqa: E402


def shapes_grid():
    images = shapes.make_shapes(12, seed=1).images
    return shapes.show_grid(list(images), [f"image {i}" for i in range(12)], ncols=6)


def plain_png(figure) -> bytes:
    """What matplotlib itself would save."""
    rendered = io.BytesIO()
    figure.savefig(rendered, format="png", bbox_inches="tight")
    return rendered.getvalue()


def test_palette_png_is_a_smaller_png_of_at_most_256_colors():
    figure = shapes_grid()
    compact = viz.palette_png(figure)
    image = Image.open(io.BytesIO(compact))
    assert image.format == "PNG" and image.mode == "P"
    assert len(image.getcolors(256)) <= 256
    assert len(compact) < 0.8 * len(plain_png(figure))


def test_palette_png_keeps_the_picture():
    figure = shapes_grid()
    original = Image.open(io.BytesIO(plain_png(figure))).convert("RGB")
    compact = Image.open(io.BytesIO(viz.palette_png(figure))).convert("RGB")
    assert compact.size == original.size
    differences = [abs(a - b) for a, b in zip(original.tobytes(), compact.tobytes())]
    assert sum(differences) / len(differences) < 3  # mean error per channel, out of 255


def test_compact_figures_changes_nothing_outside_jupyter():
    assert viz.compact_figures() is False


def test_figure_dpi_changes_nothing_outside_jupyter():
    assert viz.figure_dpi(72) is False
