"""Where the detections are and how they relate, from their masks alone: centroids, sizes, sides, rows,
containment, contact, overlap and betweenness."""

from __future__ import annotations

from functools import cached_property

import cv2
import numpy as np
from scipy.ndimage import binary_fill_holes

from agent.spatial.words import CORNERS
from sam3.detections import Detections, mask_iou

SAME_INSTANCE_IOU = 0.5
DIRECTION_MARGIN = 0.02  # of the image width (left/right) or height (above/below): "above" needs more
NEAR_FACTOR = 0.5  # "next to": a box gap of at most this times the larger box side of the two
INSIDE_FRACTION = 0.9  # of a shape's pixels within another's filled outline
TOUCH_FRACTION = 0.006  # of the longer image side: masks this close touch
OVERLAP_CONTACT = 0.8  # of the smaller shape's side (sqrt of its area): a shared border this long is an overlap
BETWEEN_WIDTH = 0.35  # of the anchors' distance: how far off the line joining them "between" reaches
GROUP_MIN_SPREAD = 0.15  # of the image side: instances closer together than this are split at the midline
SIZE_MARGIN = 0.15  # "larger than": at least this much more area


class Geometry:
    """Centroids, areas, boxes and cached pairwise measures of the candidate detections."""

    def __init__(self, det: Detections):
        self.det = det
        height, width = det.image_size
        self.size = (height, width)
        self.area = det.areas.astype(float)
        safe = np.maximum(self.area, 1.0)
        box_cx = (det.boxes[:, 0] + det.boxes[:, 2]) / 2
        box_cy = (det.boxes[:, 1] + det.boxes[:, 3]) / 2
        cx = det.masks.sum(1) @ (np.arange(width) + 0.5) / safe if len(det) else np.zeros(0)
        cy = det.masks.sum(2) @ (np.arange(height) + 0.5) / safe if len(det) else np.zeros(0)
        empty = self.area == 0
        self.cx = np.where(empty, box_cx, cx)
        self.cy = np.where(empty, box_cy, cy)
        self.phrases = [p.strip().lower() for p in det.phrases]
        self._filled: dict[int, np.ndarray] = {}

    @cached_property
    def _ious(self) -> np.ndarray:
        return mask_iou(self.det.masks, self.det.masks)

    def iou(self, i: int, j: int) -> float:
        if i == j:
            return 1.0
        if self.area[i] == 0 or self.area[j] == 0:  # no mask: compare boxes
            b1, b2 = self.det.boxes[i], self.det.boxes[j]
            ix = max(0.0, min(b1[2], b2[2]) - max(b1[0], b2[0]))
            iy = max(0.0, min(b1[3], b2[3]) - max(b1[1], b2[1]))
            a1 = (b1[2] - b1[0]) * (b1[3] - b1[1])
            a2 = (b2[2] - b2[0]) * (b2[3] - b2[1])
            return float(ix * iy / max(a1 + a2 - ix * iy, 1e-9))
        return float(self._ious[i, j])

    def same(self, i: int, j: int) -> bool:
        return self.iou(i, j) > SAME_INSTANCE_IOU

    def distance(self, i: int, j: int) -> float:
        return float(np.hypot(self.cx[i] - self.cx[j], self.cy[i] - self.cy[j]))

    def box_gap(self, i: int, j: int) -> float:
        b1, b2 = self.det.boxes[i], self.det.boxes[j]
        dx = max(0.0, b2[0] - b1[2], b1[0] - b2[2])
        dy = max(0.0, b2[1] - b1[3], b1[1] - b2[3])
        return float(np.hypot(dx, dy))

    def box_side(self, i: int) -> float:
        b = self.det.boxes[i]
        return float(max(b[2] - b[0], b[3] - b[1]))

    def near(self, i: int, j: int) -> bool:
        return self.box_gap(i, j) <= NEAR_FACTOR * max(self.box_side(i), self.box_side(j))

    def rank_key(self, key: str, i: int) -> float:
        height, width = self.size
        if key == "center" or key in CORNERS:
            x = width / 2 if key == "center" else 0.0 if key.endswith("left") else float(width)
            y = height / 2 if key == "center" else 0.0 if key.startswith("top") else float(height)
            return float(np.hypot(self.cx[i] - x, self.cy[i] - y))
        box = self.det.boxes[i]
        box_w, box_h = float(box[2] - box[0]), float(box[3] - box[1])
        return {"left": self.cx[i], "right": -self.cx[i], "top": self.cy[i], "bottom": -self.cy[i],
                "largest": -self.area[i], "smallest": self.area[i], "tallest": -box_h, "shortest": box_h,
                "widest": -box_w, "narrowest": box_w}[key]

    # -- rows and groups ---------------------------------------------------------------------------------
    def main_axis(self, idx: list[int]) -> np.ndarray:
        """The centroid coordinate along which `idx` spread most (x for a row, y for a column)."""
        xs, ys = self.cx[idx], self.cy[idx]
        return xs if np.ptp(xs) >= np.ptp(ys) else ys

    def middle_order(self, idx: list[int]) -> list[int]:
        """`idx` from the middle of their row outwards: by rank along the row, then by distance to its middle."""
        if not idx:
            return []
        coord = self.main_axis(idx)
        rank = np.argsort(np.argsort(coord, kind="stable"), kind="stable")
        centre = (coord.min() + coord.max()) / 2
        keyed = sorted(range(len(idx)), key=lambda k: (abs(rank[k] - (len(idx) - 1) / 2), abs(coord[k] - centre)))
        return [idx[k] for k in keyed]

    def side_group(self, idx: list[int], side: str) -> list[int]:
        """Those of `idx` on one side of their spread (or of the image's midline when they lie close together)."""
        if side in CORNERS:
            vertical, horizontal = side.split("-")
            return [i for i in self.side_group(idx, vertical) if i in self.side_group(idx, horizontal)]
        height, width = self.size
        coord = self.cx if side in ("left", "right") else self.cy
        extent = width if side in ("left", "right") else height
        values = coord[idx]
        if len(idx) < 2 or np.ptp(values) < GROUP_MIN_SPREAD * extent:
            mid, margin = extent / 2, 0.0
        else:
            mid, margin = (values.min() + values.max()) / 2, 0.05 * np.ptp(values)
        low = side in ("left", "top")
        return [i for i in idx if (coord[i] < mid - margin if low else coord[i] > mid + margin)]

    def size_group(self, idx: list[int], key: str) -> list[int]:
        """The larger or smaller class of `idx`, split at the widest ratio between consecutive areas."""
        if len(idx) < 2:
            return list(idx)
        order = sorted(idx, key=lambda i: self.area[i])
        areas = np.maximum(self.area[order], 1.0)
        cut = int(np.argmax(areas[1:] / areas[:-1])) + 1
        return order[cut:] if key == "largest" else order[:cut]

    # -- pairs ---------------------------------------------------------------------------------------------
    def filled(self, i: int) -> np.ndarray:
        if i not in self._filled:
            self._filled[i] = binary_fill_holes(self.det.masks[i])
        return self._filled[i]

    def inside(self, i: int, j: int) -> bool:
        """Whether `i` lies within `j`'s outline (its mask with the holes `i` makes filled)."""
        if self.area[i] == 0 or self.area[j] == 0:
            b1, b2 = self.det.boxes[i], self.det.boxes[j]
            return bool(b1[0] >= b2[0] and b1[1] >= b2[1] and b1[2] <= b2[2] and b1[3] <= b2[3])
        if self.box_gap(i, j) > 0:
            return False
        within = (self.det.masks[i] & self.filled(j)).sum()
        return bool(within >= INSIDE_FRACTION * self.area[i] and self.filled(j).sum() > 1.2 * self.area[i])

    def _reach(self) -> int:
        return max(2, int(round(TOUCH_FRACTION * max(self.size))))

    def touching(self, i: int, j: int) -> bool:
        reach = self._reach()
        if self.box_gap(i, j) > reach:
            return False
        if self.area[i] == 0 or self.area[j] == 0 or self.iou(i, j) > 0:
            return True
        grown = cv2.dilate(self.det.masks[i].astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
        return bool((grown.astype(bool) & self.det.masks[j]).any())

    def overlapping(self, i: int, j: int) -> bool:
        """One lies partly over the other: their masks overlap, or share a long border (where the upper one
        hides the lower, their visible masks meet along the upper one's edge; shapes that merely touch meet
        at a point or along a short stretch)."""
        if not self.touching(i, j):
            return False
        if self.area[i] == 0 or self.area[j] == 0 or self.iou(i, j) > 0:
            return True
        grown = cv2.dilate(self.det.masks[i].astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        border = (grown & self.det.masks[j]).sum()
        return bool(border >= OVERLAP_CONTACT * np.sqrt(min(self.area[i], self.area[j])))

    def between(self, i: int, a: int, b: int) -> float | None:
        """How far `i` lies off the line from `a` to `b` (as a fraction of their distance), or None when it
        is not between them."""
        ax, ay, bx, by = self.cx[a], self.cy[a], self.cx[b], self.cy[b]
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        if length2 < 1.0:
            return None
        t = ((self.cx[i] - ax) * dx + (self.cy[i] - ay) * dy) / length2
        off = abs((self.cx[i] - ax) * dy - (self.cy[i] - ay) * dx) / length2
        if not 0.1 < t < 0.9 or off > BETWEEN_WIDTH:
            return None
        return float(off)
