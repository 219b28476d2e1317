"""Perfect perception of a ShapesWorld scene: what an ideal SAM 3 would return for each phrase.

The agent benchmark runs the spatial planner on it (`--oracle`) to tell planning errors from
perception errors, and the tests check the planner against the referring-query generator with it.
It answers the calls the spatial planner makes on an image session (`segment`, `image`, `size`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from sam3.detections import Detections
from sam3.postprocess import clean
from sam3.session import DEFAULT_DEDUPE_OVERLAP, DEFAULT_NMS_IOU
from shapesworld.phrases import all_phrases
from shapesworld.render import RenderedScene


class GroundTruthSession:
    """Every instance a phrase names, with score 1; phrases outside the vocabulary find nothing.

    `data["instance"]` holds each detection's index in the scene."""

    score_threshold = 0.5  # every score is 1: any threshold in (0, 1) keeps them all

    def __init__(self, scene: RenderedScene):
        self.scene = scene
        self.image = Image.fromarray(scene.image)
        self.size = scene.size
        self._positives = all_phrases(scene.shapes).positives

    def segment(self, phrases: str | Sequence[str] = (), threshold: float | None = None, **_) -> Detections:
        phrases = [phrases] if isinstance(phrases, str) else list(phrases)
        hits = [(p, i) for p in phrases for i in self._positives.get(" ".join(p.lower().split()), ())]
        if not hits:
            return Detections.empty(self.size)
        index = [i for _, i in hits]
        det = Detections(
            masks=self.scene.masks[index],
            boxes=self.scene.boxes[index].astype(np.float32),
            scores=np.ones(len(hits), np.float32),
            phrases=[p for p, _ in hits],
            image_size=self.size,
            data={"instance": np.array(index)},
        )
        # the same duplicate removal as a real session: an instance named by two phrases comes back once
        return clean(det, score_threshold=None, nms_iou=DEFAULT_NMS_IOU, dedupe_overlap=DEFAULT_DEDUPE_OVERLAP)
