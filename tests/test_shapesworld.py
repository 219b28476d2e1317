"""The still-image generator: masks agree with the drawn pixels and with the phrases built on them."""

from dataclasses import replace

import cv2
import numpy as np
import pytest

from shapesworld import COLOURS, SHAPES, generate, render, sample_scene
from shapesworld.phrases import all_phrases, hard_negatives, plural, sample_training_phrases
from shapesworld.render import MIN_VISIBLE_FRACTION, draw_background, visible_masks
from shapesworld.scene import Background

SIZE = 256
SEEDS = range(6)


def plain_scene(seed):
    """Effect-free scene on a solid background, so drawn colours are exactly the shapes' own."""
    scene = sample_scene(np.random.default_rng(seed), width=SIZE, height=SIZE, n_shapes=7, effects=False)
    return replace(scene, background=Background("solid", ((120, 120, 120),)))


@pytest.fixture(scope="module")
def rendered():
    return [render(plain_scene(seed), renderer, seed) for seed in SEEDS for renderer in ("pil", "cv2")]


def erode(mask, px):
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def test_mask_interiors_have_the_shapes_colour(rendered):
    checked = 0
    for out in rendered:
        for shape, mask in zip(out.shapes, out.masks, strict=True):
            inner = erode(mask, 2)
            if inner.sum() < 40:
                continue
            pixels = out.image[inner].astype(int)
            close = (np.abs(pixels - shape.rgb).max(1) <= 8).mean()
            # a random 30% of shapes get a darker rim; the interior stays the shape's colour
            assert np.abs(np.median(pixels, 0) - shape.rgb).max() <= 8 and close > 0.6, (shape, close)
            checked += 1
    assert checked > 40


def test_nothing_is_drawn_away_from_the_masks(rendered):
    for out in rendered:
        background = draw_background(out.scene.background, SIZE, SIZE).astype(int)
        near = cv2.dilate(out.masks.any(0).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        assert (np.abs(out.image.astype(int) - background).max(-1)[~near] <= 2).all()


def test_masks_are_disjoint_visible_enough_and_boxed(rendered):
    for out in rendered:
        assert out.masks.dtype == bool and out.masks.shape == (len(out.shapes), SIZE, SIZE)
        assert out.masks.sum(0).max() <= 1
        for shape, mask, box in zip(out.shapes, out.masks, out.boxes, strict=True):
            full = visible_masks([shape], SIZE, SIZE)[1][0]
            assert not (mask & ~full).any() and mask.sum() >= MIN_VISIBLE_FRACTION * full.sum()
            ys, xs = np.nonzero(mask)
            assert tuple(box) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_renderers_differ_in_pixels_not_in_masks():
    scene = plain_scene(1)
    a, b = render(scene, "pil", 0), render(scene, "cv2", 0)
    assert len(a.shapes) > 0 and (a.image != b.image).any()
    assert np.array_equal(a.masks, b.masks) and np.array_equal(a.boxes, b.boxes) and a.shapes == b.shapes


def test_same_seed_same_image():
    a, b, c = (generate(seed, width=200, height=160) for seed in (5, 5, 6))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.masks, b.masks) and a.shapes == b.shapes
    assert a.image.shape == (160, 200, 3) and a.image.dtype == np.uint8
    assert not np.array_equal(a.image, c.image)


def named(phrase):
    """(colour, kind) a phrase names; kind None for the generic nouns."""
    words = phrase.split()
    colour = words[0] if words[0] in COLOURS else None
    noun = words[-1]
    kind = next((k for k in SHAPES if noun in (k, plural(k))), None)
    assert kind or noun in ("shape", "shapes", "object", "objects"), phrase
    return colour, kind


def matching(shapes, colour, kind):
    return {i for i, s in enumerate(shapes) if colour in (None, s.colour) and kind in (None, s.kind)}


@pytest.mark.parametrize("seed", range(10))
def test_phrases_pick_exactly_what_they_name(seed):
    out = generate(seed, width=SIZE, height=SIZE, effects=False)
    shapes = out.shapes
    phrases = all_phrases(shapes)
    for text, targets in phrases.positives.items():
        assert targets and set(targets) == matching(shapes, *named(text)), text
    for text in phrases.negatives:
        assert not matching(shapes, *named(text)), text
    colours, kinds = {s.colour for s in shapes}, {s.kind for s in shapes}
    for text in hard_negatives(shapes):
        colour, kind = named(text)
        assert not matching(shapes, colour, kind) and (colour in colours or kind in kinds), text
    for text, targets in sample_training_phrases(shapes, np.random.default_rng(seed)):
        assert set(targets) == matching(shapes, *named(text)), text


def test_unknown_renderer():
    with pytest.raises(ValueError):
        render(plain_scene(0), "opengl")


def test_heldout_renderer_draws_the_same_truth_differently():
    from shapesworld.render import RENDERERS, render
    from shapesworld.scene import sample_scene

    scene = sample_scene(np.random.default_rng(9), width=160, height=120, n_shapes=5)
    held = render(scene, renderer="heldout", seed=1)
    pil = render(scene, renderer="pil", seed=1)
    np.testing.assert_array_equal(held.masks, pil.masks)
    assert np.abs(held.image.astype(int) - pil.image.astype(int)).mean() > 1
    assert "heldout" not in RENDERERS, "never drawn by generate() or training"


def test_a_one_colour_scene_paints_every_shape_that_colour():
    from shapesworld.scene import sample_scene

    scene = sample_scene(np.random.default_rng(3), width=256, height=256, n_shapes=6, colour="green")
    assert scene.shapes and {s.colour for s in scene.shapes} == {"green"}
