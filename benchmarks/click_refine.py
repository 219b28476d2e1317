"""How well clicks and boxes pick one object (`sam3.refine`, SAM 3's tracker on the cached encoding), and how fast.

    python -m benchmarks.click_refine [--model DIR] [--scenes 24] [--json OUT]

On held-out ShapesWorld scenes (every renderer, the held-out one included, sides 128-1024 px), each shape of
at least 64 visible pixels is asked for the way a person would: a click at its deepest pixel; then up to two
corrective clicks, each at the deepest pixel of the larger error (positive on a missed part, negative on a
spilled one), as interactive segmentation benchmarks do; and its exact box. Reports mean mask IoU at full
resolution after 1, 2 and 3 clicks and for the box, the share of objects above IoU 0.8 after one click, and
the median time of a click on an image already encoded (what the Segment tab pays per click).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

from benchmarks.click_metrics import MIN_PIXELS, corrective_click
from benchmarks.output import save_json
from benchmarks.shapes_metrics import HELD_OUT_SEED, RENDERERS, SIDES, scenes
from sam3.detections import mask_iou
from sam3.refine import Click, Refiner
from sam3.session import ImageSession, Segmenter
from training.clicks import interior_point

CLICKS = 3


def run(segmenter: Segmenter, n_scenes: int) -> dict:
    refiner = Refiner(segmenter.loaded)
    by_clicks = [[] for _ in range(CLICKS)]
    boxes, click_ms = [], []
    per_renderer = max(1, n_scenes // len(RENDERERS))
    for k, renderer in enumerate(RENDERERS):
        for scene in scenes(per_renderer, HELD_OUT_SEED + 7 + k, renderer, SIDES):
            session = ImageSession(segmenter.loaded, Image.fromarray(scene.image))
            refiner.refine(session, [Click(0, 0)])  # encode once, outside the timing
            for truth, box in zip(scene.masks, scene.boxes):
                if truth.sum() < MIN_PIXELS:
                    continue
                x, y = interior_point(truth)
                clicks = [Click(x + 0.5, y + 0.5)]
                for n in range(CLICKS):
                    t0 = time.perf_counter()
                    pred = refiner.refine(session, clicks).masks[0]
                    click_ms.append(1000 * (time.perf_counter() - t0))
                    by_clicks[n].append(float(mask_iou(pred[None], truth[None])[0, 0]))
                    extra = corrective_click(pred, truth)
                    if extra is None:  # perfect: later clicks keep it
                        for m in range(n + 1, CLICKS):
                            by_clicks[m].append(by_clicks[n][-1])
                        break
                    clicks.append(extra)
                boxed = refiner.refine(session, box=tuple(map(float, box))).masks
                boxes.append(float(mask_iou(boxed, truth[None])[0, 0]))
    return {
        "model": segmenter.loaded.source,
        "tracker_trained": refiner.trained,
        "objects": len(boxes),
        "miou_clicks": [float(np.mean(v)) for v in by_clicks],
        "share_iou_0.8_one_click": float(np.mean(np.array(by_clicks[0]) >= 0.8)),
        "miou_box": float(np.mean(boxes)),
        "click_ms_median": float(np.median(click_ms)),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--scenes", type=int, default=24)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    results = run(Segmenter.load(a.model, device="cpu"), a.scenes)
    clicks = " / ".join(f"{v:.3f}" for v in results["miou_clicks"])
    print(f"{results['objects']} objects (tracker {'trained' if results['tracker_trained'] else 'UNTRAINED'}): "
          f"mask IoU after 1 / 2 / 3 clicks {clicks}, IoU >= 0.8 after one click "
          f"{results['share_iou_0.8_one_click']:.2f}; exact box {results['miou_box']:.3f}; "
          f"{results['click_ms_median']:.0f} ms per click")
    save_json(results, a.json)
    return results


if __name__ == "__main__":
    main()
