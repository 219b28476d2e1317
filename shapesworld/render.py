"""Drawing scenes to pixels, by two independent routines (PIL supersampling and OpenCV).

Each returns the image together with exact visible instance masks, so ground truth never
depends on which routine drew the pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from shapesworld.scene import Background, Scene, Shape

MIN_VISIBLE_FRACTION = 0.45
_SHIFT = 4  # OpenCV sub-pixel bits


@dataclass
class RenderedScene:
    """`masks` (N, H, W) bool are the visible parts; `boxes` (N, 4) xyxy pixels, exclusive max."""

    image: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray
    shapes: list[Shape]
    scene: Scene

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[0], self.image.shape[1]


def _fill_mask(shape: Shape, h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    pts = np.round((shape.polygon() - 0.5) * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return mask.astype(bool)


def visible_masks(shapes: list[Shape], h: int, w: int) -> tuple[list[Shape], np.ndarray]:
    """Drops shapes mostly hidden by later ones; returns kept shapes and their visible masks."""
    full = [_fill_mask(s, h, w) for s in shapes]
    keep: list[int] = []
    covered = np.zeros((h, w), bool)
    visible: list[np.ndarray] = []
    for i in reversed(range(len(shapes))):
        area = full[i].sum()
        vis = full[i] & ~covered
        if area > 0 and vis.sum() >= MIN_VISIBLE_FRACTION * area and vis.sum() >= 6:
            keep.append(i)
            visible.append(vis)
            covered |= full[i]
    keep.reverse()
    visible.reverse()
    masks = np.stack(visible) if visible else np.zeros((0, h, w), bool)
    return [shapes[i] for i in keep], masks


def boxes_of(masks: np.ndarray) -> np.ndarray:
    boxes = np.zeros((len(masks), 4), np.float32)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        if len(xs):
            boxes[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return boxes


def draw_background(bg: Background, h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(bg.seed)
    c0 = np.array(bg.colours[0], np.float32)
    c1 = np.array(bg.colours[-1], np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = math.radians(bg.angle)
    proj = xx * math.cos(a) + yy * math.sin(a)
    if bg.kind == "solid":
        img = np.broadcast_to(c0, (h, w, 3)).copy()
    elif bg.kind == "gradient":
        t = (proj - proj.min()) / max(float(np.ptp(proj)), 1.0)
        img = c0 + (c1 - c0) * t[..., None]
    elif bg.kind == "stripes":
        t = (np.floor(proj / bg.period) % 2)[..., None]
        img = c0 + (c1 - c0) * t
    elif bg.kind == "noise":
        img = c0 + rng.normal(0, 14, (h, w, 1)).astype(np.float32) + rng.normal(0, 6, (h, w, 3))
    else:  # texture: a few octaves of smooth noise, tinted between two colours
        t = np.zeros((h, w), np.float32)
        for octave in range(4):
            cells = 2 ** (octave + 2)
            grid = rng.random((cells, cells)).astype(np.float32)
            t += cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) / (2**octave)
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
        img = c0 + (c1 - c0) * t[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def _shade(rgb: tuple[int, int, int], factor: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(c * factor, 0, 255)) for c in rgb)


def _draw_pil(img: np.ndarray, shapes: list[Shape], rng: np.random.Generator) -> np.ndarray:
    scale = 3
    h, w = img.shape[:2]
    canvas = Image.fromarray(img).resize((w * scale, h * scale), Image.NEAREST)
    draw = ImageDraw.Draw(canvas)
    for s in shapes:
        outline = rng.random() < 0.3
        pts = [tuple(p) for p in s.polygon() * scale]
        draw.polygon(pts, fill=_shade(s.rgb, 0.7) if outline else s.rgb)
        if outline:
            inner = s.polygon() * 0 + np.array([s.cx, s.cy])
            k = 1 - float(rng.uniform(0.08, 0.16))
            inner = (s.polygon() - inner) * k + inner
            draw.polygon([tuple(p) for p in inner * scale], fill=s.rgb)
    return np.asarray(canvas.resize((w, h), Image.BOX))


def _draw_cv2(img: np.ndarray, shapes: list[Shape], rng: np.random.Generator) -> np.ndarray:
    img = img.copy()
    aa = cv2.LINE_AA if rng.random() < 0.7 else cv2.LINE_8
    for s in shapes:
        colour = tuple(int(c) for c in s.rgb)
        outline = rng.random() < 0.3
        if s.kind == "circle":
            centre = (int(round((s.cx - 0.5) * (1 << _SHIFT))), int(round((s.cy - 0.5) * (1 << _SHIFT))))
            cv2.circle(img, centre, int(round(s.radius * (1 << _SHIFT))), colour, -1, aa, _SHIFT)
        else:
            pts = np.round((s.polygon() - 0.5) * (1 << _SHIFT)).astype(np.int32)
            cv2.fillPoly(img, [pts], colour, lineType=aa, shift=_SHIFT)
        if outline:
            edge = tuple(int(c) for c in _shade(s.rgb, float(rng.uniform(0.55, 0.8))))
            thickness = max(1, int(s.radius * 0.08))
            inner = (s.polygon() - [s.cx, s.cy]) * (1 - thickness / (2 * s.radius)) + [s.cx, s.cy]
            pts = np.round((inner - 0.5) * (1 << _SHIFT)).astype(np.int32)
            cv2.polylines(img, [pts], True, edge, thickness, aa, _SHIFT)
    return img


def _draw_heldout(img: np.ndarray, shapes: list[Shape], rng: np.random.Generator) -> np.ndarray:
    """A third drawing routine, never used in training: aliased fills, coarse polygons for circles,
    thick dark rims, and a lower-resolution pass, to test that a model learnt shapes, not a routine."""
    h, w = img.shape[:2]
    canvas = Image.fromarray(img)
    draw = ImageDraw.Draw(canvas)
    for s in shapes:
        pts = s.polygon(n_circle=int(rng.integers(14, 20)))
        rim = max(1, int(s.radius * float(rng.uniform(0.1, 0.18))))
        draw.polygon([tuple(p) for p in pts], fill=_shade(s.rgb, 0.45))
        inner = (pts - [s.cx, s.cy]) * (1 - rim / s.radius) + [s.cx, s.cy]
        draw.polygon([tuple(p) for p in inner], fill=s.rgb)
    factor = float(rng.uniform(0.5, 0.8))
    small = canvas.resize((max(1, int(w * factor)), max(1, int(h * factor))), Image.BILINEAR)
    return np.asarray(small.resize((w, h), Image.NEAREST))


RENDERERS = {"pil": _draw_pil, "cv2": _draw_cv2}
HELDOUT_RENDERERS = {"heldout": _draw_heldout}  # for evaluation only; never drawn by `generate` by default


def _effects(img: np.ndarray, scene: Scene, rng: np.random.Generator) -> np.ndarray:
    if scene.noise:
        img = np.clip(img + rng.normal(0, scene.noise, img.shape), 0, 255).astype(np.uint8)
    if scene.blur:
        img = cv2.GaussianBlur(img, (0, 0), scene.blur)
    if scene.jpeg_quality:
        ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, scene.jpeg_quality])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    return np.ascontiguousarray(img)


def render(scene: Scene, renderer: str = "pil", seed: int = 0) -> RenderedScene:
    """Draws `scene`; shapes hidden below MIN_VISIBLE_FRACTION are left out of both image and truth."""
    draw = {**RENDERERS, **HELDOUT_RENDERERS}.get(renderer)
    if draw is None:
        raise ValueError(f"unknown renderer {renderer!r}; choose from {sorted(RENDERERS) + sorted(HELDOUT_RENDERERS)}")
    rng = np.random.default_rng(seed)
    h, w = scene.height, scene.width
    shapes, masks = visible_masks(scene.shapes, h, w)
    img = draw_background(scene.background, h, w)
    img = draw(img, shapes, rng)
    img = _effects(img, scene, rng)
    return RenderedScene(image=img, masks=masks, boxes=boxes_of(masks), shapes=shapes, scene=scene)
