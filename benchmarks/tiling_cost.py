"""What windows cost on elongated images: time and encoder runs, whole image vs whole image + windows.

    python -m benchmarks.tiling_cost [--model DIR] [--short 256] [--repeats 3] [--json OUT]

For each aspect ratio, a fresh ShapesWorld scene of that shape is asked one phrase on a new session (the
first click: encodings included) and then four more phrases (cached encodings), with and without windows.
Windows are only looked at for phrases the whole image gives enough evidence for (`ImageSession.segment`),
so "seen" counts the windows each stage actually used: a phrase absent from the scene costs no windows.
Both arms run without the closer look at unsure detections (`sam3.closer`), whose cost depends on what
each arm found, so the ratio is the windows' alone. Reported as ratios taken in one run, so they hold on
any machine; absolute times are this CPU's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image

from benchmarks.output import save_json
from sam3.session import ImageSession, Segmenter
from sam3.tiling import TILE_ASPECT, windows
from shapesworld import generate

ASPECTS = (1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
MORE = ["red circle", "blue square", "green triangle", "star"]


def timed(session: ImageSession, phrases) -> float:
    t0 = time.perf_counter()
    session.segment(phrases, look_closer=False)
    return 1e3 * (time.perf_counter() - t0)


def measure(segmenter: Segmenter, image: Image.Image, tile_aspect: float | None, repeats: int) -> dict:
    first, more = [], []
    for _ in range(repeats):
        session = ImageSession(segmenter.loaded, image, tile_aspect=tile_aspect)
        first.append(timed(session, "circle"))
        seen_first = len(session.windows_seen)
        more.append(timed(session, MORE))
    return {
        "first_ms": float(np.median(first)),
        "more_ms": float(np.median(more)),
        "windows_seen_first": seen_first,
        "windows_seen": len(session.windows_seen),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="bundled", help="checkpoint directory (default: the bundled one)")
    ap.add_argument("--short", type=int, default=256, help="the images' short side in pixels")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    segmenter = Segmenter.load(args.model, device="cpu")
    warm = Image.fromarray(generate(0, width=args.short, height=args.short).image)
    ImageSession(segmenter.loaded, warm).segment("circle")
    rows = []
    print(f"{'aspect':>6} {'windows':>7} {'seen':>5} {'first ms':>17} {'4 more ms':>17} {'ratio first':>11} "
          f"{'ratio more':>10}")
    for i, aspect in enumerate(ASPECTS):
        scene = generate(7_000_000 + i, width=round(args.short * aspect), height=args.short)
        image = Image.fromarray(scene.image)
        whole = measure(segmenter, image, None, args.repeats)
        tiled = measure(segmenter, image, TILE_ASPECT, args.repeats)
        row = {
            "aspect": aspect,
            "windows": len(windows(image.width, image.height)),
            "whole": whole,
            "tiled": tiled,
            "first_ratio": tiled["first_ms"] / whole["first_ms"],
            "more_ratio": tiled["more_ms"] / whole["more_ms"],
        }
        rows.append(row)
        print(
            f"{aspect:6.1f} {row['windows']:7d} {tiled['windows_seen_first']:2d}/{tiled['windows_seen']:<2d} "
            f"{whole['first_ms']:7.0f} -> {tiled['first_ms']:6.0f} "
            f"{whole['more_ms']:7.0f} -> {tiled['more_ms']:6.0f} {row['first_ratio']:11.2f} {row['more_ratio']:10.2f}"
        )
    results = {"model": segmenter.loaded.source, "short_side": args.short, "rows": rows}
    save_json(results, args.json)
    return results


if __name__ == "__main__":
    main()
