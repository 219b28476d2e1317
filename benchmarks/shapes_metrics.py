"""Measuring a SAM 3 on ShapesWorld: the benchmark's scenes and phrases, instance F1 and matched mask IoU
per phrase, COCO mask AP, how often an absent phrase stays empty, the calibrated operating point, and the
per-form / per-size breakdown. Used by `benchmarks/shapes_eval.py`, `shapes_breakdown.py`, `click_refine.py`
and the tests."""

from __future__ import annotations

import contextlib
import io
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from scipy.optimize import linear_sum_assignment

from sam3.detections import Detections, mask_iou
from sam3.session import ImageSession, Segmenter
from sam3.tiling import TILE_ASPECT
from shapesworld import generate
from shapesworld.phrases import all_phrases, hard_negatives
from shapesworld.render import RenderedScene

HELD_OUT_SEED = 2_000_003
CALIBRATION_SEED = 4_000_037
RENDERERS = ("pil", "cv2", "heldout")
SIDES = (128, 1024)
BARS = {"f1@0.5": 0.90, "mean_matched_iou": 0.85, "absent_empty_rate": 0.95}
SIZE_BINS = (4, 8, 16)  # circumradius in model-input pixels
ASPECT_BINS = (1.5, 2.5)  # long side / short side: the processor squashes both to its square input


def scenes(n: int, seed: int, renderer: str | None, side: tuple[int, int]):
    """`n` scenes of `seed`, each side drawn from `side` (inclusive)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        w, h = (int(v) for v in rng.integers(side[0], side[1] + 1, 2))
        yield generate(seed * 10_000 + i, renderer=renderer, width=w, height=h)


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


def choose_threshold(table: dict[float, dict[str, float]]) -> float:
    """The highest-F1 threshold that keeps the absent bar while giving up at most a tenth of the best F1;
    where none does, the best product of F1 and the absent-empty rate (the absent bar at any cost would
    pick a threshold where the model says nothing)."""
    top = max(m["f1@0.5"] for m in table.values())
    ok = [
        t for t, m in table.items()
        if m["absent_empty_rate"] >= BARS["absent_empty_rate"] and m["f1@0.5"] >= 0.9 * top
    ]
    if ok:
        return max(ok, key=lambda t: (table[t]["f1@0.5"], -t))
    return max(table, key=lambda t: (table[t]["f1@0.5"] * table[t]["absent_empty_rate"], -t))


def _labels(edges: tuple[float, ...]) -> list[str]:
    return [f"<{edge}" for edge in edges] + [f">={edges[-1]}"]


def _bin(value: float, edges: tuple[float, ...]) -> str:
    return next((f"<{edge}" for edge in edges if value < edge), f">={edges[-1]}")


def _false_positive_cause(det_mask: np.ndarray, scene, wanted: tuple[int, ...]) -> str:
    iou = mask_iou(det_mask[None], scene.masks)[0]
    if iou.size == 0 or iou.max() < 0.3:
        return "background or merged shapes"
    hit = int(np.argmax(iou))
    if hit in wanted:
        return "wanted shape: poor mask or duplicate"
    other, target = scene.shapes[hit], scene.shapes[wanted[0]]
    if other.kind == target.kind:
        return "another shape: same kind"
    return "another shape: other kind, same colour" if other.colour == target.colour else "another shape: other kind"


def breakdown(segmenter: Segmenter, n_scenes: int, seed: int, threshold: float) -> dict:
    """F1 per phrase form and per aspect ratio, recall per shape size, and each unmatched detection's cause."""
    side = segmenter.loaded.processor.image_processor.size["height"]
    counts = {form: Counter() for form in ("colour shape", "shape")}
    by_size: dict[str, Counter] = {}
    by_aspect: dict[str, Counter] = {}
    causes: Counter = Counter()
    rng = np.random.default_rng(seed)
    for renderer in ("pil", "cv2"):
        for scene in scenes(n_scenes // 2, seed, renderer, SIDES):
            positives, absent = simple_phrases(scene, rng)
            if not positives:
                continue
            det = ImageSession(segmenter.loaded, Image.fromarray(scene.image)).segment(
                list(positives) + absent, threshold=threshold
            )
            scale = side / max(scene.size)
            aspect = by_aspect.setdefault(_bin(max(scene.size) / min(scene.size), ASPECT_BINS), Counter())
            for phrase, wanted in positives.items():
                d = det.with_phrase(phrase)
                pairs = matched_pairs(d.masks, scene.masks[list(wanted)])
                found = {g for _, g, _ in pairs}
                for c in (counts["colour shape" if " " in phrase else "shape"], aspect):
                    c.update(tp=len(pairs), fp=len(d) - len(pairs), fn=len(wanted) - len(pairs))
                for j, index in enumerate(wanted):
                    b = by_size.setdefault(_bin(scene.shapes[index].radius * scale, SIZE_BINS), Counter())
                    b.update(found=int(j in found), total=1)
                matched = {p for p, _, _ in pairs}
                unmatched = [k for k in range(len(d)) if k not in matched]
                causes.update(_false_positive_cause(d.masks[k], scene, wanted) for k in unmatched)
    forms = {form: _scores(c) for form, c in counts.items()}
    aspects = {b: _scores(by_aspect[b]) for b in _labels(ASPECT_BINS) if b in by_aspect}
    sizes = {b: {"recall": by_size[b]["found"] / by_size[b]["total"], "instances": by_size[b]["total"]}
             for b in _labels(SIZE_BINS) if b in by_size}
    return {"threshold": threshold, "forms": forms, "by_aspect": aspects, "recall_by_radius": sizes,
            "false_positives": dict(causes)}


def _scores(c: Counter) -> dict:
    tp, fp, fn = c["tp"], c["fp"], c["fn"]
    return {"f1@0.5": 2 * tp / max(1, 2 * tp + fp + fn), "precision": tp / max(1, tp + fp),
            "recall": tp / max(1, tp + fn), "instances": tp + fn, "unmatched_detections": fp}
