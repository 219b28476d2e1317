"""Numbered mask overlays for the model (and the person) to read.

Fixed colours per index; each label is a filled tag of its mask's colour placed at the
mask's most interior point and kept clear of other tags, so "1" and "2" can never read as
"12". Blending is one vectorised pass, so 50 masks on a 1080p image take well under 100 ms.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from sam3.detections import Detections

# 20 colours that stay distinct from each other and readable under white text.
PALETTE = np.array(
    [
        (230, 25, 75),
        (60, 180, 75),
        (0, 130, 200),
        (245, 130, 48),
        (145, 30, 180),
        (70, 200, 200),
        (240, 50, 230),
        (128, 128, 0),
        (0, 128, 128),
        (170, 110, 40),
        (128, 0, 0),
        (0, 0, 128),
        (100, 100, 100),
        (200, 160, 0),
        (0, 160, 90),
        (90, 60, 200),
        (200, 60, 120),
        (60, 120, 60),
        (150, 80, 0),
        (20, 90, 160),
    ],
    np.uint8,
)


def colour(index: int) -> tuple[int, int, int]:
    return tuple(int(c) for c in PALETTE[index % len(PALETTE)])


def _interior_point(mask: np.ndarray, box: np.ndarray) -> tuple[int, int]:
    """The point deepest inside the mask, found on a small crop so it stays cheap."""
    x0, y0, x1, y1 = (int(v) for v in box)
    x0, y0 = max(x0, 0), max(y0, 0)
    crop = mask[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)]
    if not crop.any():
        return (x0 + x1) // 2, (y0 + y1) // 2
    scale = min(1.0, 64 / max(crop.shape))
    small = crop.astype(np.uint8)
    if scale < 1:
        small = cv2.resize(
            small,
            (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale))),
            interpolation=cv2.INTER_NEAREST,
        )
    dist = cv2.distanceTransform(np.pad(small, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    y, x = np.unravel_index(int(dist.argmax()), dist.shape)
    return x0 + int((x + 0.5) / scale), y0 + int((y + 0.5) / scale)


def _place(rect: tuple[int, int, int, int], taken: list[tuple[int, int, int, int]], w: int, h: int):
    """Shift a label rectangle until it overlaps no earlier label (tries a small spiral)."""
    x, y, rw, rh = rect
    for dx, dy in [
        (0, 0),
        (0, -1),
        (0, 1),
        (-1, 0),
        (1, 0),
        (-1, -1),
        (1, -1),
        (-1, 1),
        (1, 1),
        (0, -2),
        (0, 2),
        (-2, 0),
        (2, 0),
    ]:
        nx = min(max(x + dx * rw, 0), max(w - rw, 0))
        ny = min(max(y + dy * rh, 0), max(h - rh, 0))
        if all(nx + rw <= tx or tx + tw <= nx or ny + rh <= ty or ty + th <= ny for tx, ty, tw, th in taken):
            return nx, ny
    return min(max(x, 0), max(w - rw, 0)), min(max(y, 0), max(h - rh, 0))


def _paint(img: np.ndarray, detections: Detections, colour_ids: list[int], alpha: float) -> np.ndarray:
    """Fill and outline every mask. Smaller masks are painted last so they stay visible.

    A uint8 index map lets OpenCV's LUT and masked copy do the per-pixel work (numpy's fancy
    indexing is ~10x slower at 1080p); beyond 255 masks the map falls back to numpy.
    """
    h, w = img.shape[:2]
    n = len(detections)
    box_area = (detections.boxes[:, 2] - detections.boxes[:, 0]) * (
        detections.boxes[:, 3] - detections.boxes[:, 1]
    )
    index_map = np.zeros((h, w), np.uint8 if n < 256 else np.int32)  # 0 = no mask, i + 1 = mask i
    for i in np.argsort(-box_area, kind="stable"):  # only within each box: masks are small next to the image
        x0, y0, x1, y1 = (int(v) for v in detections.boxes[i])
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        index_map[y0:y1, x0:x1][detections.masks[i][y0:y1, x0:x1]] = i + 1
    lut = np.zeros((256 if n < 256 else n + 1, 3), np.uint8)
    lut[1 : n + 1] = [colour(c) for c in colour_ids]
    if n < 256:
        paint = cv2.LUT(cv2.merge([index_map] * 3), lut.reshape(256, 1, 3))
    else:
        paint = lut[index_map]
    painted = (index_map > 0).astype(np.uint8)
    cv2.copyTo(cv2.addWeighted(img, 1 - alpha, paint, alpha, 0), painted, img)
    edges = np.zeros((h, w), bool)
    edges[:-1] |= index_map[:-1] != index_map[1:]
    edges[:, :-1] |= index_map[:, :-1] != index_map[:, 1:]
    cv2.copyTo(paint, (edges & (painted > 0)).astype(np.uint8), img)
    return img


def draw_overlay(
    image: Image.Image | np.ndarray,
    detections: Detections,
    labels: list[str] | None = None,
    alpha: float = 0.45,
    colour_ids: list[int] | None = None,
) -> np.ndarray:
    """RGB uint8 image with mask i filled in `colour(colour_ids[i])` and tagged `labels[i]` (default i+1)."""
    img = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image).copy()
    h, w = img.shape[:2]
    if detections.image_size != (h, w):
        raise ValueError(f"detections are for {detections.image_size}, image is {(h, w)}")
    n = len(detections)
    labels = labels or [str(i + 1) for i in range(n)]
    colour_ids = colour_ids if colour_ids is not None else list(range(n))
    if n == 0:
        return img
    img = _paint(img, detections, colour_ids, alpha)
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.55, min(h, w) / 800)
    thick = max(1, int(round(scale * 2)))
    taken: list[tuple[int, int, int, int]] = []
    for i in range(n):
        (tw, th), base = cv2.getTextSize(labels[i], font, scale, thick)
        pad = max(2, int(3 * scale))
        rw, rh = tw + 2 * pad, th + base + 2 * pad
        cx, cy = _interior_point(detections.masks[i], detections.boxes[i])
        x, y = _place((cx - rw // 2, cy - rh // 2, rw, rh), taken, w, h)
        taken.append((x, y, rw, rh))
        cv2.rectangle(img, (x, y), (x + rw - 1, y + rh - 1), colour(colour_ids[i]), -1)
        cv2.rectangle(img, (x, y), (x + rw - 1, y + rh - 1), (255, 255, 255), max(1, thick // 2))
        org = (x + pad, y + pad + th)
        cv2.putText(img, labels[i], org, font, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
        cv2.putText(img, labels[i], org, font, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return img


def crop_grid(
    image: Image.Image | np.ndarray,
    detections: Detections,
    indices: list[int],
    cell: int = 224,
    pad: float = 0.15,
) -> np.ndarray:
    """One image of per-mask crops (outlined, tagged with their number) for a closer look."""
    img = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    h, w = img.shape[:2]
    if not indices:
        raise ValueError("no masks to crop")
    cols = min(4, len(indices))
    rows = (len(indices) + cols - 1) // cols
    grid = np.full((rows * cell, cols * cell, 3), 255, np.uint8)
    for k, i in enumerate(indices):
        x0, y0, x1, y1 = detections.boxes[i]
        px, py = (x1 - x0) * pad + 4, (y1 - y0) * pad + 4
        x0, y0 = int(max(0, x0 - px)), int(max(0, y0 - py))
        x1, y1 = int(min(w, x1 + px)), int(min(h, y1 + py))
        crop = img[y0:y1, x0:x1].copy()
        m = detections.masks[i][y0:y1, x0:x1].astype(np.uint8)
        contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(crop, contours, -1, colour(i), max(1, int(max(crop.shape[:2]) / 120)))
        s = cell / max(crop.shape[:2]) if crop.size else 1.0
        crop = cv2.resize(crop, (max(1, int(crop.shape[1] * s)), max(1, int(crop.shape[0] * s))))
        r, c = divmod(k, cols)
        grid[r * cell : r * cell + crop.shape[0], c * cell : c * cell + crop.shape[1]] = crop
        tag = str(i + 1)
        cv2.rectangle(
            grid, (c * cell, r * cell), (c * cell + 14 + 12 * len(tag), r * cell + 24), colour(i), -1
        )
        cv2.putText(
            grid,
            tag,
            (c * cell + 6, r * cell + 18),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6,
            (255, 255, 255),
            2,
            cv2.LINE_AA,
        )
    return grid
