"""shapes.py: determinism, attributes, held-out pairs, captions, dataset, grid."""
import numpy as np
import pytest

from mmlesson import shapes


def test_same_seed_same_bytes_and_different_seed_differs():
    first, second = shapes.make_shapes(64, seed=7), shapes.make_shapes(64, seed=7)
    assert first.images.tobytes() == second.images.tobytes() and first.captions == second.captions
    assert shapes.make_shapes(64, seed=8).images.tobytes() != first.images.tobytes()


@pytest.mark.parametrize("size", shapes.IMAGE_SIZES)
def test_image_sizes_and_dtype(size):
    batch = shapes.make_shapes(5, seed=0, image_size=size)
    assert batch.images.shape == (5, size, size, 3) and batch.images.dtype == np.uint8


def test_unsupported_image_size_names_the_choices():
    with pytest.raises(ValueError, match=r"\(32, 64\)"):
        shapes.make_shapes(2, image_size=48)


def test_every_attribute_value_appears_and_shapes_look_different():
    batch = shapes.make_shapes(2000, seed=1)
    assert {a.shape for a in batch.attributes} == set(shapes.SHAPES)
    assert {a.color for a in batch.attributes} == set(shapes.COLORS)
    assert {a.size for a in batch.attributes} == set(shapes.SIZES)
    assert {a.position for a in batch.attributes} == set(shapes.POSITIONS)
    rng = np.random.default_rng(0)
    one_each = [shapes.ShapeAttributes(s, "red", "large", "in the center") for s in shapes.SHAPES]
    masks = [image[..., 0] > 120 for image in shapes.render(one_each, rng)]
    areas = [mask.mean() for mask in masks]
    assert all(area > 0.05 for area in areas), areas
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            assert (masks[i] != masks[j]).mean() > 0.03, (shapes.SHAPES[i], shapes.SHAPES[j])


def test_color_is_drawn_in_its_own_hue():
    batch = shapes.make_shapes(200, seed=2, only=[("red", "square")])
    brightest = batch.images.reshape(200, -1, 3).max(axis=1)  # (n, 3)
    assert (brightest[:, 0] > brightest[:, 2] + 60).all()


def test_position_moves_the_shape():
    rng = np.random.default_rng(0)
    left, right = shapes.render([shapes.ShapeAttributes("circle", "yellow", "small", "on the left"),
                                 shapes.ShapeAttributes("circle", "yellow", "small", "on the right")], rng)
    column_of_mass = [np.argwhere(image[..., 1] > 120)[:, 1].mean() for image in (left, right)]
    assert column_of_mass[0] < 14 < column_of_mass[1]


def test_holdout_pairs_never_appear_and_only_draws_them():
    held = shapes.DEFAULT_HOLDOUT
    train = shapes.make_shapes(3000, seed=3, holdout=held)
    assert not {(a.color, a.shape) for a in train.attributes} & set(held)
    test = shapes.make_shapes(100, seed=4, only=held)
    assert {(a.color, a.shape) for a in test.attributes} <= set(held)


@pytest.mark.parametrize("pair, message", [
    (("pink", "star"), "valid colors: red, green"),
    (("green", "hexagon"), "valid shapes: circle, square"),
    (("green",), "must be a \\(color, shape\\) pair"),
])
def test_bad_holdout_pair_names_the_valid_choices(pair, message):
    with pytest.raises(ValueError, match=message):
        shapes.make_shapes(4, holdout=[pair])


def test_requesting_a_held_out_pair_is_refused_clearly():
    with pytest.raises(ValueError, match="also held out"):
        shapes.make_shapes(4, only=[("green", "star")], holdout=[("green", "star")])
    with pytest.raises(ValueError, match="every class is held out"):
        shapes.make_shapes(4, holdout=shapes.CLASSES)


def test_captions_vary_and_describe_the_image():
    batch = shapes.make_shapes(500, seed=5)
    assert len(set(batch.captions)) > 100
    for caption, attributes in zip(batch.captions, batch.attributes):
        assert attributes.shape in caption
        words = caption.split()
        assert all(not (w == "a" and n[0] in "aeiou") for w, n in zip(words, words[1:])), caption
    assert shapes.describe(shapes.ShapeAttributes("circle", "orange", "large", "on the left"), keep_size=True,
                           keep_position=True) == "a large orange circle on the left"
    assert shapes.describe(shapes.ShapeAttributes("star", "orange", "small", "at the top")) == "an orange star"


def test_dataset_returns_tensor_caption_label():
    dataset = shapes.ShapesDataset(10, seed=0)
    image, caption, label = dataset[3]
    assert tuple(image.shape) == (3, 32, 32) and 0 <= float(image.min()) and float(image.max()) <= 1
    assert isinstance(caption, str) and shapes.CLASS_NAMES[label].split()[1] in caption
    assert len(dataset) == 10


def test_show_grid_has_title_and_one_axis_per_image():
    import matplotlib
    matplotlib.use("agg")
    batch = shapes.make_shapes(6, seed=0)
    figure = shapes.show_grid(batch.images, batch.captions, ncols=3, title="six shapes")
    assert figure._suptitle.get_text() == "six shapes"
    assert sum(bool(axis.images) for axis in figure.axes) == 6
