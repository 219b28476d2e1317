"""Scene layout: which shapes, where, in what colour, on which background.

Layout is separate from drawing so the same scene can be drawn by different renderers
(the model must not learn the quirks of one drawing routine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "orange": (245, 135, 25),
    "yellow": (240, 215, 30),
    "green": (35, 165, 55),
    "blue": (35, 75, 220),
    "purple": (135, 55, 190),
    "pink": (245, 135, 190),
    "white": (248, 248, 248),
    "black": (18, 18, 18),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "diamond", "hexagon")
BACKGROUNDS: tuple[str, ...] = ("solid", "gradient", "noise", "stripes", "texture")


@dataclass(frozen=True)
class Shape:
    """One shape instance; `radius` is the circumradius in pixels, `angle` in degrees."""

    kind: str
    colour: str
    cx: float
    cy: float
    radius: float
    angle: float = 0.0
    rgb: tuple[int, int, int] = (0, 0, 0)
    aspect: float = 1.0
    inner: float = 0.45

    def polygon(self, n_circle: int = 64) -> np.ndarray:
        """Vertices (K, 2) as (x, y) pixels."""
        if self.kind == "circle":
            t = np.linspace(0, 2 * math.pi, n_circle, endpoint=False)
            pts = np.stack([np.cos(t), np.sin(t)], 1)
        elif self.kind == "square":
            pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) / math.sqrt(2)
        elif self.kind == "triangle":
            t = np.radians([-90, 30, 150])
            pts = np.stack([np.cos(t), np.sin(t)], 1)
        elif self.kind == "star":
            t = np.radians(np.arange(10) * 36 - 90)
            r = np.where(np.arange(10) % 2 == 0, 1.0, self.inner)
            pts = np.stack([np.cos(t) * r, np.sin(t) * r], 1)
        elif self.kind == "diamond":
            pts = np.array([[0, -1], [self.aspect, 0], [0, 1], [-self.aspect, 0]], float)
        elif self.kind == "hexagon":
            t = np.radians(np.arange(6) * 60)
            pts = np.stack([np.cos(t), np.sin(t)], 1)
        else:
            raise ValueError(f"unknown shape kind: {self.kind}")
        a = math.radians(self.angle)
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        return pts @ rot.T * self.radius + np.array([self.cx, self.cy])


@dataclass(frozen=True)
class Background:
    kind: str
    colours: tuple[tuple[int, int, int], ...]
    angle: float = 0.0
    period: float = 16.0
    seed: int = 0


@dataclass
class Scene:
    width: int
    height: int
    shapes: list[Shape]
    background: Background
    blur: float = 0.0
    jpeg_quality: int | None = None
    noise: float = 0.0
    meta: dict = field(default_factory=dict)


def _jitter(rgb: tuple[int, int, int], rng: np.random.Generator, amount: int = 18) -> tuple[int, int, int]:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in rgb)


def _background_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """Muted colours, so that every named shape colour stays distinguishable on top."""
    grey = rng.uniform(70, 190)
    tint = rng.normal(0, 18, 3)
    return tuple(int(np.clip(grey + t, 40, 215)) for t in tint)


def sample_background(rng: np.random.Generator) -> Background:
    kind = str(rng.choice(BACKGROUNDS))
    n = 1 if kind == "solid" else 2
    return Background(
        kind=kind,
        colours=tuple(_background_colour(rng) for _ in range(n)),
        angle=float(rng.uniform(0, 180)),
        period=float(rng.uniform(6, 40)),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def sample_shape(
    rng: np.random.Generator,
    width: int,
    height: int,
    kind: str | None = None,
    colour: str | None = None,
    min_frac: float = 0.05,
    max_frac: float = 0.2,
) -> Shape:
    kind = kind or str(rng.choice(SHAPES))
    colour = colour or str(rng.choice(list(COLOURS)))
    side = min(width, height)
    radius = float(rng.uniform(min_frac, max_frac) * side)
    margin = radius * 0.7
    angle = {
        "square": rng.uniform(-20, 20),
        "diamond": rng.uniform(-12, 12),
    }.get(kind, rng.uniform(0, 360))
    return Shape(
        kind=kind,
        colour=colour,
        cx=float(rng.uniform(margin, width - margin)),
        cy=float(rng.uniform(margin, height - margin)),
        radius=radius,
        angle=float(angle),
        rgb=_jitter(COLOURS[colour], rng),
        aspect=float(rng.uniform(0.55, 0.75)),
        inner=float(rng.uniform(0.38, 0.5)),
    )


def sample_scene(
    rng: np.random.Generator,
    width: int | None = None,
    height: int | None = None,
    n_shapes: int | None = None,
    max_shapes: int = 10,
    effects: bool = True,
    colour: str | None = None,
) -> Scene:
    """A random scene; sizes default to 128..1024 px. Overlaps are allowed, heavy ones are not.

    `colour` paints every shape that colour: only their shapes then tell them apart."""
    width = width or int(rng.integers(128, 1025))
    height = height or int(rng.integers(128, 1025))
    if n_shapes is None:
        n_shapes = int(rng.integers(0, max_shapes + 1))
    background = sample_background(rng)
    shapes: list[Shape] = []
    for _ in range(n_shapes):
        for _attempt in range(20):
            cand = sample_shape(rng, width, height, colour=colour)
            if all(_overlap_ok(cand, s) for s in shapes) and _contrast_ok(cand.rgb, background):
                shapes.append(cand)
                break
    return Scene(
        width=width,
        height=height,
        shapes=shapes,
        background=background,
        blur=float(rng.uniform(0.3, 1.2)) if effects and rng.random() < 0.25 else 0.0,
        jpeg_quality=int(rng.integers(35, 95)) if effects and rng.random() < 0.3 else None,
        noise=float(rng.uniform(2, 10)) if effects and rng.random() < 0.25 else 0.0,
    )


def _contrast_ok(rgb: tuple[int, int, int], bg: Background, min_distance: float = 90.0) -> bool:
    """A shape must stand out from every background colour, or its truth is not visible."""
    return all(np.linalg.norm(np.subtract(rgb, c, dtype=float)) >= min_distance for c in bg.colours)


def _overlap_ok(a: Shape, b: Shape) -> bool:
    """Touching and partial occlusion are fine; one shape hiding most of another is not, and two
    shapes of one colour must not touch (with no visible boundary the instances could not be told apart)."""
    d = math.hypot(a.cx - b.cx, a.cy - b.cy)
    if a.colour == b.colour:
        return d > 1.08 * (a.radius + b.radius)
    return d > 0.75 * max(a.radius, b.radius) + 0.35 * min(a.radius, b.radius)


def generate(seed: int, renderer: str | None = None, **scene_kwargs):
    """A rendered scene from a seed; the renderer is drawn from the seed unless given."""
    from shapesworld.render import RENDERERS, render

    rng = np.random.default_rng(seed)
    scene = sample_scene(rng, **scene_kwargs)
    renderer = renderer or str(rng.choice(list(RENDERERS)))
    return render(scene, renderer=renderer, seed=seed)
