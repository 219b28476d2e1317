"""Numbered overlays: every mask painted in its fixed colour, labels apart, fast enough for 1080p."""

from __future__ import annotations

import numpy as np
import pytest

from sam3.detections import Detections, boxes_from_masks
from sam3.overlay import colour, crop_grid, draw_overlay


def discs(centres, radius, size=(120, 160)):
    yy, xx = np.mgrid[0 : size[0], 0 : size[1]]
    masks = np.stack([(xx - cx) ** 2 + (yy - cy) ** 2 < radius**2 for cx, cy in centres])
    return Detections(
        masks=masks,
        boxes=boxes_from_masks(masks),
        scores=np.ones(len(masks), np.float32),
        phrases=["x"] * len(masks),
        image_size=size,
    )


def test_masks_take_their_colour_and_background_is_untouched():
    det = discs([(40, 60), (110, 60)], 20)
    img = np.full((120, 160, 3), 100, np.uint8)
    out = draw_overlay(img, det, alpha=1.0)
    assert (out[~det.masks.any(0)] == 100).all()
    # away from the label tag (centre) and the outline, the fill is the mask's colour
    assert tuple(out[60, 28]) == colour(0) and tuple(out[60, 98]) == colour(1)


def test_small_mask_on_top_of_a_large_one_stays_visible():
    big = discs([(80, 60)], 50).masks[0]
    small = discs([(80, 60)], 8).masks[0]
    det = Detections(
        masks=np.stack([small, big]),
        boxes=boxes_from_masks(np.stack([small, big])),
        scores=np.ones(2, np.float32),
        phrases=["a", "b"],
        image_size=(120, 160),
    )
    out = draw_overlay(np.zeros((120, 160, 3), np.uint8), det, labels=["", ""], alpha=1.0)
    assert tuple(out[60, 76]) == colour(0)


def test_labels_of_touching_masks_do_not_overlap():
    det = discs([(70, 60), (86, 60)], 9)
    out = draw_overlay(np.zeros((120, 160, 3), np.uint8), det, labels=["1", "2"])
    white = (out == 255).all(-1)  # tag borders and text are white
    cols = np.nonzero(white.any(0))[0]
    runs = np.split(cols, np.nonzero(np.diff(cols) > 1)[0] + 1)
    assert len(runs) >= 2, "two separate label tags, never one merged '12'"


def test_size_mismatch_is_refused():
    with pytest.raises(ValueError, match="detections are for"):
        draw_overlay(np.zeros((10, 10, 3), np.uint8), discs([(5, 5)], 3))


def test_crop_grid_has_one_cell_per_mask():
    det = discs([(40, 60), (110, 60), (80, 20)], 15)
    grid = crop_grid(np.zeros((120, 160, 3), np.uint8), det, [0, 2], cell=64)
    assert grid.shape == (64, 128, 3)
    with pytest.raises(ValueError):
        crop_grid(np.zeros((120, 160, 3), np.uint8), det, [])
