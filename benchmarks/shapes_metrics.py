"""Measuring a SAM 3 on ShapesWorld: instance F1 and matched mask IoU per phrase, COCO mask AP,
and how often an absent phrase stays empty. Used by `benchmarks/shapes_eval.py` and the tests."""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass, field

import numpy as np
from pycocotools import mask as mask_utils
from scipy.optimize import linear_sum_assignment

from sam3.detections import Detections, mask_iou
from sam3.session import ImageSession, Segmenter
from sam3.tiling import TILE_ASPECT
from shapesworld.phrases import all_phrases, hard_negatives
from shapesworld.render import RenderedScene


def matched_pairs(pred: np.ndarray, gt: np.ndarray, thr: float = 0.5) -> list[tuple[int, int, float]]:
    """(prediction, truth, IoU) of the one-to-one matches (maximum total IoU) that reach `thr`."""
    iou = mask_iou(pred, gt)
    if iou.size == 0:
        return []
    rows, cols = linear_sum_assignment(-iou)
    return [(int(r), int(c), float(iou[r, c])) for r, c in zip(rows, cols) if iou[r, c] >= thr]


def match(pred: np.ndarray, gt: np.ndarray, thr: float = 0.5) -> list[float]:
    """IoUs of the one-to-one matches (maximum total IoU) that reach `thr`."""
    return [iou for _, _, iou in matched_pairs(pred, gt, thr)]


@dataclass
class PhraseEval:
    """Counts over many (image, phrase) pairs."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    ious: list[float] = field(default_factory=list)
    absent: int = 0
    absent_empty: int = 0
    coco_gt: list[dict] = field(default_factory=list)
    coco_dt: list[dict] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)

    def add_positive(self, det: Detections, gt_masks: np.ndarray) -> None:
        ious = match(det.masks, gt_masks)
        self.tp += len(ious)
        self.fp += len(det) - len(ious)
        self.fn += len(gt_masks) - len(ious)
        self.ious += ious
        self._coco(det, gt_masks)

    def add_absent(self, det: Detections) -> None:
        self.absent += 1
        self.absent_empty += int(len(det) == 0)
        self.fp += len(det)
        self._coco(det, np.zeros((0, *det.image_size), bool))

    def _coco(self, det: Detections, gt_masks: np.ndarray) -> None:
        """Each (image, phrase) pair is one COCO image with a single category."""
        image_id = len(self.images) + 1
        h, w = det.image_size
        self.images.append({"id": image_id, "height": h, "width": w})
        for m in gt_masks:
            rle = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
            self.coco_gt.append(
                {
                    "id": len(self.coco_gt) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "iscrowd": 0,
                    "segmentation": rle,
                    "area": float(mask_utils.area(rle)),
                    "bbox": mask_utils.toBbox(rle).tolist(),
                }
            )
        for rle, score in zip(det.to_rle(), det.scores):
            self.coco_dt.append(
                {"image_id": image_id, "category_id": 1, "segmentation": rle, "score": float(score)}
            )

    def coco_ap(self) -> dict[str, float]:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        if not self.coco_dt or not self.coco_gt:
            return {"AP": 0.0, "AP50": 0.0}
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints every step
            gt = COCO()
            gt.dataset = {
                "images": self.images,
                "annotations": self.coco_gt,
                "categories": [{"id": 1, "name": "p"}],
            }
            gt.createIndex()
            dt = gt.loadRes([{**d, "segmentation": {**d["segmentation"]}} for d in self.coco_dt])
            ev = COCOeval(gt, dt, "segm")
            ev.params.maxDets = [1, 10, 100]
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
        return {"AP": float(ev.stats[0]), "AP50": float(ev.stats[1])}

    def summary(self) -> dict[str, float]:
        f1 = 2 * self.tp / max(1, 2 * self.tp + self.fp + self.fn)
        return {
            "f1@0.5": f1,
            "precision": self.tp / max(1, self.tp + self.fp),
            "recall": self.tp / max(1, self.tp + self.fn),
            "mean_matched_iou": float(np.mean(self.ious)) if self.ious else 0.0,
            "absent_empty_rate": self.absent_empty / max(1, self.absent),
            **self.coco_ap(),
        }


def simple_phrases(scene: RenderedScene, rng: np.random.Generator, max_absent: int = 4):
    """The benchmark's phrases: every present "<colour> <shape>" and "<shape>", and as many hard negatives."""
    ps = all_phrases(scene.shapes)
    positives = {
        p: idx
        for p, idx in ps.positives.items()
        if not p.endswith("s") and "shape" not in p and "object" not in p
    }
    negatives = [p for p in hard_negatives(scene.shapes) if not p.endswith("s")]
    k = min(len(negatives), max(max_absent, len(positives) // 2))
    absent = list(rng.choice(negatives, size=k, replace=False)) if k else []
    return positives, absent


def evaluate(
    segmenter: Segmenter,
    scenes: list[RenderedScene],
    seed: int = 0,
    threshold: float | None = None,
    tile_aspect: float | None = TILE_ASPECT,
    look_closer: bool | None = None,
):
    """Per-phrase metrics over `scenes` at `threshold` (default: the checkpoint's), a scene's phrases in one session."""
    threshold = segmenter.loaded.score_threshold if threshold is None else threshold
    return sweep(segmenter, scenes, [threshold], seed, tile_aspect, look_closer)[threshold]


def sweep(
    segmenter: Segmenter,
    scenes: list[RenderedScene],
    thresholds: list[float],
    seed: int = 0,
    tile_aspect: float | None = TILE_ASPECT,
    look_closer: bool | None = None,
) -> dict[float, dict]:
    """The metrics at each threshold, from one pass at the lowest.

    Exact, not an approximation: NMS and duplicate removal always keep the higher-scoring mask, so
    dropping detections below a threshold after them leaves what thresholding before them would.
    """
    from PIL import Image

    thresholds = sorted(set(float(t) for t in thresholds))
    rng = np.random.default_rng(seed)
    evals = {t: PhraseEval() for t in thresholds}
    latency = []
    for scene in scenes:
        positives, absent = simple_phrases(scene, rng)
        phrases = list(positives) + absent
        if not phrases:
            continue
        session = ImageSession(segmenter.loaded, Image.fromarray(scene.image), tile_aspect=tile_aspect)
        t0 = time.perf_counter()
        # looking closer below the highest threshold makes each score max(whole view, crop), what any
        # threshold of the sweep would have kept
        det = session.segment(
            phrases, threshold=thresholds[0], look_closer=look_closer, closer_below=thresholds[-1]
        )
        latency.append(1e3 * (time.perf_counter() - t0))
        for t, ev in evals.items():
            kept = det[det.scores > t]
            for p, idx in positives.items():
                ev.add_positive(kept.with_phrase(p), scene.masks[list(idx)])
            for p in absent:
                ev.add_absent(kept.with_phrase(p))
    out = {}
    for t, ev in evals.items():
        out[t] = ev.summary()
        out[t]["pairs"] = len(ev.images)
        out[t]["ms_per_image"] = float(np.mean(latency)) if latency else 0.0
    return out
