"""Free-phrased referring queries on hand-laid ShapesWorld scenes: the file format and its loader.

Sets of queries written the way people type them (not by the generator's templates) live in
`benchmarks/data/free_queries_*.json`:

    {"scenes": {"<id>": {"width": 640, "height": 480, "background": [r, g, b], "renderer": "pil",
                         "shapes": [{"kind": "star", "colour": "purple", "x": 120, "y": 200,
                                     "radius": 40, "angle": 0}, ...]}},   # optional "aspect" for diamonds
     "queries": [{"id": "q001", "scene": "<id>", "query": "the purple star", "category": "paraphrase",
                  "answer": [0], "count": null, "yes": null, "note": ""}, ...]}

`answer` lists indices into the scene's `shapes` (the objects a person would point at; empty when
nothing answers). `count` is the number a "how many" query should say, `yes` the answer to a yes/no
question (both null otherwise). Shapes are drawn in list order, later ones on top; every shape must stay
visible (ShapesWorld drops shapes hidden below 45%), which `load_set` checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shapesworld.render import RenderedScene, render
from shapesworld.scene import COLOURS, SHAPES, Background, Scene, Shape

DATA_DIR = Path(__file__).resolve().parent / "data"
DIAMOND_ASPECT = 0.65  # the middle of the range ShapesWorld draws (0.55-0.75): a diamond, not a turned square


@dataclass(frozen=True)
class FreeQuery:
    id: str
    scene: str
    query: str
    category: str
    answer: tuple[int, ...]
    count: int | None = None
    yes: bool | None = None
    note: str = ""


def _shape(spec: dict) -> Shape:
    kind, colour = spec["kind"], spec["colour"]
    if kind not in SHAPES or colour not in COLOURS:
        raise ValueError(f"unknown shape {colour!r} {kind!r}: kinds {SHAPES}, colours {sorted(COLOURS)}")
    return Shape(
        kind=kind,
        colour=colour,
        cx=float(spec["x"]),
        cy=float(spec["y"]),
        radius=float(spec["radius"]),
        angle=float(spec.get("angle", 0.0)),
        rgb=COLOURS[colour],
        aspect=float(spec.get("aspect", DIAMOND_ASPECT)),  # width/height of a diamond, as ShapesWorld draws them
    )


def render_scene(spec: dict, seed: int = 0) -> RenderedScene:
    """The scene drawn with its exact masks; `ValueError` if a shape would be hidden."""
    shapes = [_shape(s) for s in spec["shapes"]]
    background = Background("solid", (tuple(int(c) for c in spec.get("background", (128, 128, 128))),))
    scene = Scene(int(spec["width"]), int(spec["height"]), shapes, background)
    rendered = render(scene, renderer=spec.get("renderer", "pil"), seed=seed)
    if len(rendered.shapes) != len(shapes):
        hidden = [i for i, s in enumerate(shapes) if s not in rendered.shapes]
        raise ValueError(f"shapes {hidden} are mostly hidden: move them apart")
    return rendered


def load_set(path: str | Path) -> tuple[dict[str, RenderedScene], list[FreeQuery]]:
    data = json.loads(Path(path).read_text())
    scenes = {sid: render_scene(spec, seed=i) for i, (sid, spec) in enumerate(sorted(data["scenes"].items()))}
    queries = []
    for q in data["queries"]:
        query = FreeQuery(
            id=q["id"],
            scene=q["scene"],
            query=q["query"],
            category=q["category"],
            answer=tuple(int(i) for i in q["answer"]),
            count=q.get("count"),
            yes=q.get("yes"),
            note=q.get("note", ""),
        )
        n = len(scenes[query.scene].shapes)
        if any(not 0 <= i < n for i in query.answer):
            raise ValueError(f"{query.id}: answer {query.answer} outside the scene's {n} shapes")
        queries.append(query)
    if len({q.id for q in queries}) != len(queries):
        raise ValueError("query ids must be unique")
    return scenes, queries


def truth_mask(scene: RenderedScene, query: FreeQuery) -> np.ndarray:
    """(H, W) bool: the union of the answer's visible masks."""
    if not query.answer:
        return np.zeros(scene.size, bool)
    return scene.masks[list(query.answer)].any(0)
