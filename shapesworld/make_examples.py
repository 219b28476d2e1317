"""Regenerates the app's offline examples: ShapesWorld scenes in `assets/examples/` with a query each.

    python -m shapesworld.make_examples [--out assets/examples]

Seeds are searched deterministically (from `FIRST_SEED` up) for a scene of 5-8 visible shapes on which
the query means something (e.g. at least two stars for "the leftmost star"); each query is then checked
against the scene's exact masks with the spatial planner, so every example has a known, non-empty answer.
`examples.json` lists the files, queries, Segment-tab phrases, seeds and expected answer sizes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from sam3.detections import Detections
from shapesworld.phrases import all_phrases
from shapesworld.render import RenderedScene
from shapesworld.scene import Shape, generate

OUT_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"
FIRST_SEED = 1000
MAX_TRIES = 5000
WIDTH, HEIGHT = 640, 480
MIN_SHAPES, MAX_SHAPES = 5, 8


def _count(shapes: list[Shape], kind: str | None = None, colour: str | None = None, not_colour: str | None = None):
    return sum(
        (kind is None or s.kind == kind)
        and (colour is None or s.colour == colour)
        and (not_colour is None or s.colour != not_colour)
        for s in shapes
    )


@dataclass(frozen=True)
class ExampleSpec:
    name: str
    query: str
    phrases: str  # what the Segment tab asks for the same image
    fits: Callable[[list[Shape]], bool]


SPECS = (
    ExampleSpec("leftmost_star", "the leftmost star", "star", lambda s: _count(s, "star") >= 2),
    ExampleSpec(
        "squares_except_red",
        "every square except the red ones",
        "square, red square",
        lambda s: _count(s, "square", "red") >= 1 and _count(s, "square", not_colour="red") >= 2,
    ),
    ExampleSpec("two_largest_circles", "the two largest circles", "circle", lambda s: _count(s, "circle") >= 3),
    ExampleSpec(
        "triangle_closest_to_blue",
        "the triangle closest to the blue shape",
        "triangle, blue shape",
        lambda s: _count(s, "triangle") >= 2 and _count(s, colour="blue") == 1 and _count(s, "triangle", "blue") == 0,
    ),
)


def oracle_answer(scene: RenderedScene, query: str) -> Detections:
    """The spatial planner's answer when SAM 3 is replaced by the scene's exact masks."""
    from agent.spatial import execute, parse_query

    plan = parse_query(query)
    if plan is None:
        raise ValueError(f"the spatial planner cannot parse {query!r}")
    positives = all_phrases(scene.shapes).positives
    h, w = scene.size

    def segment(phrases: list[str]) -> Detections:
        parts = []
        for phrase in phrases:
            idx = list(positives.get(phrase, ()))
            parts.append(
                Detections(
                    masks=scene.masks[idx],
                    boxes=scene.boxes[idx],
                    scores=np.ones(len(idx), np.float32),
                    phrases=[phrase] * len(idx),
                    image_size=(h, w),
                )
            )
        return Detections.merge(parts, image_size=(h, w))

    return execute(plan, segment).detections


def find_scene(spec: ExampleSpec, start: int = FIRST_SEED) -> tuple[int, RenderedScene, int]:
    for seed in range(start, start + MAX_TRIES):
        scene = generate(seed, renderer="pil", width=WIDTH, height=HEIGHT, max_shapes=MAX_SHAPES, effects=False)
        if not MIN_SHAPES <= len(scene.shapes) <= MAX_SHAPES or not spec.fits(scene.shapes):
            continue
        answer = oracle_answer(scene, spec.query)
        if len(answer):
            return seed, scene, len(answer)
    raise RuntimeError(f"no seed in [{start}, {start + MAX_TRIES}) fits {spec.name!r}")


def make_examples(out_dir: Path = OUT_DIR) -> list[dict]:
    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for spec in SPECS:
        seed, scene, n_answer = find_scene(spec)
        file = f"{spec.name}.png"
        Image.fromarray(scene.image).save(out_dir / file, optimize=True)
        entries.append(
            {
                "file": file,
                "query": spec.query,
                "phrases": spec.phrases,
                "seed": seed,
                "shapes": len(scene.shapes),
                "expected_answer_masks": n_answer,
            }
        )
    (out_dir / "examples.json").write_text(json.dumps(entries, indent=2) + "\n")
    return entries


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m shapesworld.make_examples", description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args(argv)
    for entry in make_examples(args.out):
        print(
            f"{entry['file']}: seed {entry['seed']}, {entry['shapes']} shapes, {entry['query']!r} "
            f"-> {entry['expected_answer_masks']} mask(s)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
