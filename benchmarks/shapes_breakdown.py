"""Where a ShapesWorld SAM 3 loses F1: per phrase form, per shape size, and what its false positives hit.

    python -m benchmarks.shapes_breakdown [--model DIR] [--scenes 40] [--threshold T] [--json OUT]

shapes_eval gives one F1; this splits it, on the same held-out scenes and phrases: F1, precision and
recall for "<colour> <shape>" and bare "<shape>" phrases; the same by the image's aspect ratio (the
processor squashes every image to a square, distorting shapes on elongated ones); recall by the shape's
circumradius as the model sees it (after resizing to its input side); and each unmatched detection's
cause: the wanted shape with a poor mask or a duplicate, another shape (same colour or not), or nothing
(background, or several shapes merged). This is how step 14,000 showed its backbone had learnt colour
but not shape.
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np
import torch
from PIL import Image

from benchmarks.output import save_json
from benchmarks.shapes_eval import HELD_OUT_SEED, SIDES, scenes
from benchmarks.shapes_metrics import matched_pairs, simple_phrases
from sam3.detections import mask_iou
from sam3.session import ImageSession, Segmenter

SIZE_BINS = (4, 8, 16)  # circumradius in model-input pixels
ASPECT_BINS = (1.5, 2.5)  # long side / short side: the processor squashes both to its square input


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


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="bundled", help="checkpoint directory (default: the bundled one)")
    ap.add_argument("--scenes", type=int, default=40)
    ap.add_argument("--seed", type=int, default=HELD_OUT_SEED)
    ap.add_argument("--threshold", type=float, help="score threshold (default: the checkpoint's calibrated one)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    segmenter = Segmenter.load(args.model, device="cpu")
    threshold = segmenter.loaded.score_threshold if args.threshold is None else args.threshold
    results = {"model": segmenter.loaded.source, "scenes": args.scenes, "seed": args.seed,
               **breakdown(segmenter, args.scenes, args.seed, threshold)}
    print(f"threshold {threshold:g}, {args.scenes} held-out scenes (seed {args.seed})")
    for form, m in results["forms"].items():
        print(f"  {form:13} F1 {m['f1@0.5']:.3f}  P {m['precision']:.3f}  R {m['recall']:.3f}  ({m['instances']})")
    print("F1 by the image's aspect ratio (long side / short side):")
    for b, m in results["by_aspect"].items():
        print(f"  {b:5}  F1 {m['f1@0.5']:.3f}  P {m['precision']:.3f}  R {m['recall']:.3f}  ({m['instances']})")
    print("recall by circumradius at the model's input:")
    for b, m in results["recall_by_radius"].items():
        print(f"  {b:5} px  {m['recall']:.3f}  ({m['instances']})")
    print("unmatched detections:")
    for cause, n in sorted(results["false_positives"].items(), key=lambda kv: -kv[1]):
        print(f"  {n:5d}  {cause}")
    save_json(results, args.json)
    return results


if __name__ == "__main__":
    main()
