"""The agent benchmark's data: held-out ShapesWorld referring queries, and loaders for public
referring-segmentation annotation formats, so users who have the data can run the agent benchmark with
real weights. The loaders yield `ReferringSample`s; `shapes_samples` and `file_samples` yield what the
benchmark reads, (image, query, kind, ground-truth union mask, ignore mask or None, scene or None).

- ReasonSeg (LISA): a folder of images, each with a JSON of the same name holding
  `{"text": [query, ...], "shapes": [{"label": "target"|"ignore", "points": [[x, y], ...]}]}`.
- RefCOCO / RefCOCO+ / RefCOCOg: COCO `instances.json` and the referring expressions as JSON
  (`refs.json`: a list of `{"ref_id", "ann_id", "image_id", "split", "sentences": [{"sent"}]}`).
  The original `refs(unc).p` is a pickle; convert it once with tooling you trust: pickles are
  never loaded here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from benchmarks.referring_metrics import union_mask
from sam3.image_io import load_image
from shapesworld import generate
from shapesworld.referring import sample_queries

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class ReferringSample:
    image_path: Path
    query: str
    mask: np.ndarray  # (H, W) bool, the union of the referred objects
    ignore: np.ndarray | None = None
    kind: str = "all"


def _polygon_mask(points: list, size: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(size, np.uint8)
    pts = np.round(np.asarray(points, np.float64)).astype(np.int32)
    if len(pts) >= 3:
        cv2.fillPoly(mask, [pts], 1)
    return mask.astype(bool)


def load_reasonseg(folder: str | Path) -> Iterator[ReferringSample]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"not a folder: {folder}")
    for image_path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        ann_path = image_path.with_suffix(".json")
        if not ann_path.is_file():
            continue
        ann = json.loads(ann_path.read_text())
        h, w = cv2.imread(str(image_path), cv2.IMREAD_UNCHANGED).shape[:2]
        target = np.zeros((h, w), bool)
        ignore = np.zeros((h, w), bool)
        for shape in ann.get("shapes", []):
            m = _polygon_mask(shape.get("points", []), (h, w))
            if shape.get("label") == "ignore":
                ignore |= m
            else:
                target |= m
        kind = "sentence" if ann.get("is_sentence") else "short"
        for text in ann.get("text", []):
            yield ReferringSample(image_path, str(text), target, ignore, kind)


def _ann_mask(ann: dict, h: int, w: int) -> np.ndarray:
    seg = ann["segmentation"]
    if isinstance(seg, list):
        rles = mask_utils.frPyObjects(seg, h, w)
        rle = mask_utils.merge(rles)
    elif isinstance(seg.get("counts"), list):
        rle = mask_utils.frPyObjects(seg, h, w)
    else:
        rle = seg
    return mask_utils.decode(rle).astype(bool)


def load_refcoco(
    instances_json: str | Path, refs_json: str | Path, image_dir: str | Path, split: str = "val"
) -> Iterator[ReferringSample]:
    instances = json.loads(Path(instances_json).read_text())
    refs = json.loads(Path(refs_json).read_text())
    images = {im["id"]: im for im in instances["images"]}
    anns = {a["id"]: a for a in instances["annotations"]}
    for ref in refs:
        if ref.get("split") != split:
            continue
        im = images[ref["image_id"]]
        mask = _ann_mask(anns[ref["ann_id"]], im["height"], im["width"])
        for sent in ref.get("sentences", []):
            yield ReferringSample(Path(image_dir) / im["file_name"], sent["sent"], mask, None, split)


def shapes_samples(n_scenes: int, seed: int):
    """(image, query text, kind, gt union mask, ignore, scene) from held-out ShapesWorld scenes."""
    rng = np.random.default_rng(seed)
    for i in range(n_scenes):
        w, h = (int(v) for v in rng.integers(384, 769, 2))
        scene = generate(seed * 10_000 + i, width=w, height=h, n_shapes=int(rng.integers(4, 10)))
        image = Image.fromarray(scene.image)
        for q in sample_queries(scene, rng):
            yield image, q.text, q.kind, union_mask(scene.masks[list(q.answer)], (h, w)), None, scene


def file_samples(samples: list[ReferringSample]):
    """The same tuples from loaded annotation files (no scene: perception must be a real model)."""
    for s in samples:
        yield load_image(s.image_path), s.query, s.kind, s.mask, s.ignore, None
