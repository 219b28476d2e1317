"""Where a ShapesWorld SAM 3 loses F1: per phrase form, per shape size, and what its false positives hit.

    python -m benchmarks.shapes_breakdown [--model DIR] [--scenes 40] [--threshold T] [--json OUT]

shapes_eval gives one F1; this splits it, on the same held-out scenes and phrases: F1, precision and
recall for "<colour> <shape>" and bare "<shape>" phrases; the same by the image's aspect ratio (the
processor squashes every image to a square, distorting shapes on elongated ones); recall by the shape's
circumradius as the model sees it (after resizing to its input side); and each unmatched detection's
cause: the wanted shape with a poor mask or a duplicate, another shape (same colour or not), or nothing
(background, or several shapes merged).
"""

from __future__ import annotations

import argparse

import torch

from benchmarks.output import save_json
from benchmarks.shapes_metrics import HELD_OUT_SEED, breakdown
from sam3.session import Segmenter


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
