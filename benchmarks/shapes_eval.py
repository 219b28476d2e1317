"""How well a SAM 3 sees ShapesWorld, on held-out scenes: the bars of the bundled checkpoint.

    python -m benchmarks.shapes_eval [--model DIR] [--scenes 100] [--json OUT]
    python -m benchmarks.shapes_eval --calibrate --model DIR   # the threshold to export it with

Reports instance F1 at mask IoU 0.5 and the mean matched mask IoU on simple phrases
("<colour> <shape>", "<shape>"), COCO mask AP (pycocotools), the share of absent phrases
(hard negatives) that return nothing above the threshold, and latency, at the checkpoint's calibrated
score threshold unless --threshold is given. Elongated scenes (up to 8:1) are also seen in windows
(`sam3.tiling`), as the app sees them; --no-tiling measures whole images only. Unsure detections are
scored again on a zoomed crop (`sam3.closer`) when the checkpoint was calibrated so, as in the app;
--closer / --no-closer override that (--calibrate looks closer unless told --no-closer).

--calibrate sweeps thresholds on scenes of another seed and picks the operating point
(`choose_threshold`, worst renderer): the highest F1 among thresholds that keep at least 95% of absent
phrases empty and lose at most a tenth of the best F1, or, when none does, the highest product of F1
and the absent-empty rate.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

from benchmarks.output import save_json
from benchmarks.shapes_metrics import (
    BARS,
    CALIBRATION_SEED,
    HELD_OUT_SEED,
    RENDERERS,
    SIDES,
    choose_threshold,
    evaluate,
    scenes,
    sweep,
)
from sam3.session import ImageSession, Segmenter
from sam3.tiling import TILE_ASPECT


def latency_ms(segmenter: Segmenter, n: int = 20) -> dict[str, float]:
    """A fresh image and one phrase (what a first click costs), then each further phrase."""
    first, more = [], []
    for i, scene in enumerate(scenes(n + 2, HELD_OUT_SEED + 1, None, (480, 640))):
        session = ImageSession(segmenter.loaded, Image.fromarray(scene.image))
        t0 = time.perf_counter()
        session.segment("red circle")
        t1 = time.perf_counter()
        session.segment("blue square")
        t2 = time.perf_counter()
        if i >= 2:  # warm-up
            first.append(1e3 * (t1 - t0))
            more.append(1e3 * (t2 - t1))
    return {"image_plus_phrase_ms": float(np.median(first)), "extra_phrase_ms": float(np.median(more))}


def calibrate(
    segmenter: Segmenter,
    n_scenes: int,
    seed: int = CALIBRATION_SEED,
    tile_aspect: float | None = TILE_ASPECT,
    look_closer: bool | None = True,
) -> dict:
    """F1 and absent-empty rate per threshold (worst renderer), and the chosen operating point."""
    # fine where operating points fall: a coarse step can skip the one threshold that meets the absent bar
    # within the F1 allowance
    grid = [round(0.02 * k, 2) for k in range(1, 36)] + [round(0.05 * k, 2) for k in range(15, 19)]
    per_renderer = [
        sweep(segmenter, list(scenes(n_scenes // 2, seed, r, SIDES)), grid, seed, tile_aspect, look_closer)
        for r in RENDERERS
    ]
    keys = ("f1@0.5", "mean_matched_iou", "absent_empty_rate")
    table = {t: {key: min(res[t][key] for res in per_renderer) for key in keys} for t in grid}
    best = choose_threshold(table)
    print(f"{'threshold':>9} {'F1@0.5':>7} {'mIoU':>6} {'absent∅':>8}   (worst renderer, seed {seed})")
    for t, m in table.items():
        mark = "  <- chosen" if t == best else ""
        print(f"{t:9.2f} {m['f1@0.5']:7.3f} {m['mean_matched_iou']:6.3f} {m['absent_empty_rate']:8.3f}{mark}")
    return {"seed": seed, "scenes": n_scenes, "table": table, "chosen": best}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="bundled", help="checkpoint directory (default: the bundled one)")
    ap.add_argument("--scenes", type=int, default=100)
    ap.add_argument("--seed", type=int, default=HELD_OUT_SEED)
    ap.add_argument("--threshold", type=float, help="score threshold (default: the checkpoint's calibrated one)")
    ap.add_argument("--calibrate", action="store_true", help="choose the threshold to export the checkpoint with")
    ap.add_argument("--no-tiling", action="store_true", help="whole images only, even elongated ones")
    ap.add_argument(
        "--closer", action=argparse.BooleanOptionalAction,
        help="look closer at unsure detections (default: as the checkpoint says; --calibrate: on)",
    )
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    segmenter = Segmenter.load(args.model, device="cpu")
    tile_aspect = None if args.no_tiling else TILE_ASPECT
    if args.calibrate:
        closer = True if args.closer is None else args.closer
        results = calibrate(segmenter, args.scenes, tile_aspect=tile_aspect, look_closer=closer)
        results["look_closer"] = closer
        save_json(results, args.json)
        return results
    threshold = segmenter.loaded.score_threshold if args.threshold is None else args.threshold
    results = {
        "model": segmenter.loaded.source, "scenes": args.scenes, "seed": args.seed, "threshold": threshold,
        "tile_aspect": tile_aspect,
        "look_closer": segmenter.loaded.look_closer if args.closer is None else args.closer,
    }
    renderers = RENDERERS
    for renderer in renderers:
        results[renderer] = evaluate(
            segmenter,
            list(scenes(args.scenes // 2, args.seed, renderer, SIDES)),
            seed=args.seed,
            threshold=threshold,
            tile_aspect=tile_aspect,
            look_closer=args.closer,
        )
    results["latency"] = latency_ms(segmenter)
    print(f"threshold {threshold:g}")
    print(f"{'renderer':10} {'F1@0.5':>7} {'mIoU':>6} {'AP':>6} {'AP50':>6} {'absent∅':>8} {'pairs':>6}")
    for r in renderers:
        m = results[r]
        print(
            f"{r:10} {m['f1@0.5']:7.3f} {m['mean_matched_iou']:6.3f} {m['AP']:6.3f} {m['AP50']:6.3f} "
            f"{m['absent_empty_rate']:8.3f} {m['pairs']:6d}"
        )
    lat = results["latency"]
    print(
        f"latency: new image + 1 phrase {lat['image_plus_phrase_ms']:.0f} ms, "
        f"each further phrase {lat['extra_phrase_ms']:.0f} ms (median, 2-core CPU)"
    )
    for key, bar in BARS.items():
        worst = min(results[r][key] for r in renderers)
        print(f"bar {key} >= {bar}: {'PASS' if worst >= bar else 'FAIL'} ({worst:.3f})")
    save_json(results, args.json)
    return results


if __name__ == "__main__":
    main()
