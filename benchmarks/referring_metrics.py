"""Referring-segmentation metrics as in ReasonSeg / LISA: gIoU and cIoU.

gIoU is the mean over queries of each query's IoU (an empty prediction for an empty answer
scores 1); cIoU is total intersection over total union across the data set. Pixels marked
`ignore` count for neither.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np


@dataclass
class ReferringScores:
    ious: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    inter: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    union: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def add(
        self, pred: np.ndarray, gt: np.ndarray, kind: str = "all", ignore: np.ndarray | None = None
    ) -> float:
        """`pred`, `gt` (H, W) bool: the union of predicted and of true masks. Returns this query's IoU."""
        if pred.shape != gt.shape:
            raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
        if ignore is not None:
            pred, gt = pred & ~ignore, gt & ~ignore
        inter = float(np.logical_and(pred, gt).sum())
        union = float(np.logical_or(pred, gt).sum())
        iou = 1.0 if union == 0 else inter / union
        for k in {kind, "all"}:
            self.ious[k].append(iou)
            self.inter[k] += inter
            self.union[k] += union
        return iou

    def table(self) -> dict[str, dict[str, float]]:
        out = {}
        for k in sorted(self.ious, key=lambda k: (k == "all", k)):
            out[k] = {
                "gIoU": float(np.mean(self.ious[k])),
                "cIoU": self.inter[k] / self.union[k] if self.union[k] else 1.0,
                "n": len(self.ious[k]),
            }
        return out


def union_mask(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return masks.any(0) if len(masks) else np.zeros(size, bool)
