"""Per-frame tracking results: object ids, full-resolution masks as COCO RLE, pixel boxes, scores.

A `FrameResult` holds masks only as compressed RLE (a few hundred bytes per mask instead of H x W
bytes), so a consumer can keep every frame's results of a long video; `masks()` decodes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pycocotools import mask as mask_utils

from sam3.detections import Detections, boxes_from_masks

_DECIMALS = 4
_BOX_DECIMALS = 2


@dataclass
class FrameResult:
    """The objects visible in one frame (an object whose mask is empty is left out).

    `index` is the frame's number in the video file (its position for plain frame iterables),
    `position` its 0-based place among the processed frames. `scores` are per object: SAM 3's
    detection score for the object (text tracking) or the tracker's object score on this frame
    (prompted tracking); `tracker_scores`, when given, are the tracker's per-frame confidences.
    """

    index: int
    position: int
    size: tuple[int, int]
    object_ids: list[int]
    phrases: list[str]
    scores: np.ndarray
    boxes: np.ndarray
    rles: list[dict]
    tracker_scores: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_masks(
        cls,
        index: int,
        position: int,
        masks: np.ndarray,
        object_ids: Sequence[int],
        phrases: Sequence[str],
        scores: Sequence[float],
        tracker_scores: Sequence[float] | None = None,
        size: tuple[int, int] | None = None,
    ) -> FrameResult:
        masks = np.asarray(masks, dtype=bool)
        if masks.ndim != 3:
            raise ValueError(f"masks must be (N, H, W), got {masks.shape}")
        size = tuple(size or masks.shape[1:])
        keep = masks.reshape(len(masks), -1).any(axis=1) if len(masks) else np.zeros(0, bool)
        ids = [int(i) for i, k in zip(object_ids, keep, strict=True) if k]
        det = Detections(
            masks=masks[keep],
            boxes=boxes_from_masks(masks[keep]),
            scores=np.asarray(scores, np.float32)[keep],
            phrases=[p for p, k in zip(phrases, keep, strict=True) if k],
            image_size=size,
        )
        return cls(
            index=int(index),
            position=int(position),
            size=size,
            object_ids=ids,
            phrases=det.phrases,
            scores=det.scores,
            boxes=det.boxes,
            rles=det.to_rle(),
            tracker_scores=None if tracker_scores is None else np.asarray(tracker_scores, np.float32)[keep],
        )

    def __len__(self) -> int:
        return len(self.object_ids)

    def __repr__(self) -> str:
        return f"FrameResult(index={self.index}, ids={self.object_ids}, size={self.size})"

    def masks(self) -> np.ndarray:
        """(N, H, W) bool masks at the video's full resolution."""
        if not self.rles:
            return np.zeros((0, *self.size), bool)
        rles = [{"size": r["size"], "counts": r["counts"].encode("ascii")} for r in self.rles]
        return mask_utils.decode(rles).transpose(2, 0, 1).astype(bool)

    def mask_of(self, object_id: int) -> np.ndarray | None:
        if object_id not in self.object_ids:
            return None
        rle = self.rles[self.object_ids.index(object_id)]
        return mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")}).astype(bool)

    def detections(self) -> Detections:
        """As the image layer's `Detections` (object ids in `data["object_id"]`), e.g. for `draw_overlay`."""
        return Detections(
            masks=self.masks(),
            boxes=self.boxes,
            scores=self.scores,
            phrases=list(self.phrases),
            image_size=self.size,
            data={"object_id": np.asarray(self.object_ids, np.int64)},
        )

    def to_json(self) -> dict:
        objects = []
        for i, oid in enumerate(self.object_ids):
            objects.append(
                {
                    "id": oid,
                    "score": round(float(self.scores[i]), _DECIMALS),
                    "box": [round(float(v), _BOX_DECIMALS) for v in self.boxes[i]],
                    "mask": self.rles[i],
                }
            )
        return {"index": self.index, "objects": objects}
