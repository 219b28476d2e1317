"""Time to draw the agent's numbered overlay: 50 masks on a 1080p image (target: well under 100 ms).

python -m benchmarks.overlay_speed [--masks 50] [--repeats 10]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from sam3.detections import Detections, boxes_from_masks
from sam3.overlay import crop_grid, draw_overlay


def scene(n: int, h: int = 1080, w: int = 1920, seed: int = 0) -> tuple[np.ndarray, Detections]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    masks = np.zeros((n, h, w), bool)
    for i in range(n):
        cx, cy, r = rng.integers(50, w - 50), rng.integers(50, h - 50), rng.integers(15, 120)
        masks[i] = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
    det = Detections(
        masks=masks,
        boxes=boxes_from_masks(masks),
        scores=np.ones(n, np.float32),
        phrases=["x"] * n,
        image_size=(h, w),
    )
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8), det


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--masks", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=10)
    a = ap.parse_args(argv)
    img, det = scene(a.masks)
    draw_overlay(img, det)  # warm-up
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        draw_overlay(img, det)
        times.append(1e3 * (time.perf_counter() - t0))
    t0 = time.perf_counter()
    crop_grid(img, det, list(range(min(8, a.masks))))
    grid_ms = 1e3 * (time.perf_counter() - t0)
    out = {
        "overlay_ms_median": float(np.median(times)),
        "overlay_ms_max": float(np.max(times)),
        "crop_grid_8_ms": grid_ms,
    }
    print(
        f"overlay, {a.masks} masks at 1920x1080: median {out['overlay_ms_median']:.1f} ms "
        f"(max {out['overlay_ms_max']:.1f}); crop grid of 8: {grid_ms:.1f} ms"
    )
    return out


if __name__ == "__main__":
    main()
