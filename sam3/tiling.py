"""Overlapping near-square windows over elongated images, and placing a window's detections back.

SAM 3's processor resizes every image to a square, so a 4:1 panorama reaches the model squeezed four
times along its long side and thin or small objects there are lost (on ShapesWorld, recall on 2.5-4:1
scenes is 0.31 whole and 0.75 tiled). Windows 1.5x the short side, overlapping by at least 40%, see each
object at a sane aspect; an object cut by one window's inner edge lies whole in its neighbour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sam3.detections import Detections

TILE_ASPECT = 2.0  # images at least this elongated are tiled (and the whole image is still seen)
WINDOW_SCALE = 1.5  # a window's long side, in short sides
MIN_OVERLAP = 0.4  # of a window's long side


@dataclass(frozen=True)
class Window:
    """A crop of the image, XYXY in pixels, x1/y1 exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.x0, self.y0, self.x1, self.y1)


def windows(width: int, height: int, tile_aspect: float | None = TILE_ASPECT) -> list[Window]:
    """The windows covering a `width` x `height` image, or none when it is not elongated enough to need them."""
    if tile_aspect is None:
        return []
    if tile_aspect < 1.0:
        raise ValueError(f"tile_aspect must be >= 1, got {tile_aspect}")
    long_side, short_side = max(width, height), min(width, height)
    if long_side < tile_aspect * short_side:
        return []
    side = min(long_side, round(WINDOW_SCALE * short_side))
    count = math.ceil((long_side - side) / (side * (1 - MIN_OVERLAP))) + 1
    starts = np.linspace(0, long_side - side, count).round().astype(int)
    if width >= height:
        return [Window(int(s), 0, int(s) + side, height) for s in starts]
    return [Window(0, int(s), width, int(s) + side) for s in starts]


def cut_by_inner_edge(det: Detections, window: Window, image_size: tuple[int, int]) -> np.ndarray:
    """Which detections touch an edge of the window that is not the image's own edge: likely cut off."""
    height, width = image_size
    wh, ww = det.image_size
    inner = []
    if window.x0 > 0:
        inner.append(det.masks[:, :, 0])
    if window.x1 < width:
        inner.append(det.masks[:, :, ww - 1])
    if window.y0 > 0:
        inner.append(det.masks[:, 0, :])
    if window.y1 < height:
        inner.append(det.masks[:, wh - 1, :])
    if not inner or not len(det):
        return np.zeros(len(det), bool)
    return np.concatenate(inner, axis=1).any(axis=1)


def place(det: Detections, window: Window, image_size: tuple[int, int]) -> Detections:
    """A window's detections in the whole image's coordinates (masks zero outside the window)."""
    masks = np.zeros((len(det), *image_size), bool)
    masks[:, window.y0 : window.y1, window.x0 : window.x1] = det.masks
    boxes = det.boxes + np.array([window.x0, window.y0, window.x0, window.y0], np.float32)
    return Detections(
        masks=masks, boxes=boxes, scores=det.scores, phrases=list(det.phrases), image_size=image_size
    )


__all__ = ["TILE_ASPECT", "Window", "cut_by_inner_edge", "place", "windows"]
