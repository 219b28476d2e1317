"""Command line: `python -m sam3 segment --image PATH --prompt "red circle" [...]`.

Bad input exits with status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from sam3.image_io import ImageLoadError, load_image
from sam3.loading import ModelLoadError, load_sam3
from sam3.session import BoxPrompt, ImageSession, Timing

EXIT_BAD_INPUT = 2


class UsageError(ValueError):
    """Bad command-line input."""


def parse_box(text: str) -> BoxPrompt:
    """`x0,y0,x1,y1` or `x0,y0,x1,y1,neg` (pixels of the original image)."""
    parts = [p.strip() for p in text.split(",")]
    negative = len(parts) == 5 and parts[4].lower() in ("neg", "negative", "0", "-")
    if len(parts) not in (4, 5) or (
        len(parts) == 5 and not negative and parts[4].lower() not in ("pos", "1", "+")
    ):
        raise UsageError(f"--box must be x0,y0,x1,y1[,neg], got {text!r}")
    try:
        coords = tuple(float(p) for p in parts[:4])
    except ValueError:
        raise UsageError(f"--box coordinates must be numbers, got {text!r}") from None
    try:
        return BoxPrompt(coords, positive=not negative)
    except ValueError as exc:
        raise UsageError(f"--box {text!r}: {exc}") from None


def write_json(payload: dict, out: str | None) -> None:
    """To stdout, or atomically to a file so a failure never leaves half a result."""
    text = json.dumps(payload, separators=(",", ":"))
    if out is None or out == "-":
        sys.stdout.write(text + "\n")
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def cmd_segment(args: argparse.Namespace) -> int:
    prompts = [" ".join(p.split()) for p in args.prompt or []]
    if any(not p for p in prompts):
        raise UsageError("--prompt must not be empty: give a short noun phrase such as 'red circle'")
    boxes = [parse_box(b) for b in args.box or []]
    if not prompts and not boxes:
        raise UsageError("give at least one --prompt or --box")
    if not 0 <= args.threshold <= 1:
        raise UsageError(f"--threshold must be in [0, 1], got {args.threshold}")
    image = load_image(args.image)
    t0 = time.perf_counter()
    loaded = load_sam3(args.model, device=args.device)
    if loaded.fallback_reason:
        print(
            f"note: {loaded.fallback_reason}; using the bundled checkpoint {loaded.source}", file=sys.stderr
        )
    load_ms = 1e3 * (time.perf_counter() - t0)
    h, w = image.height, image.width
    for b in boxes:
        x0, y0, x1, y1 = b.box
        if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
            raise UsageError(f"--box {b.box} lies outside the {w}x{h} image")
    timing = Timing()
    det = ImageSession(loaded, image).segment(prompts, boxes=boxes, threshold=args.threshold, timing=timing)
    payload = {
        "image": {"width": w, "height": h},
        "model": loaded.source,
        "detections": det.to_json_list(),
        "timing_ms": {"load": round(load_ms, 2), **timing.as_dict()},
    }
    write_json(payload, args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m sam3", description="SAM 3 concept segmentation from the shell."
    )
    sub = ap.add_subparsers(dest="command", required=True)
    seg = sub.add_parser(
        "segment", help="find every instance of noun phrases (and/or exemplar boxes) in an image"
    )
    seg.add_argument("--image", required=True, help="image file")
    seg.add_argument("--prompt", action="append", help="noun phrase; repeat for several")
    seg.add_argument("--box", action="append", help="exemplar box x0,y0,x1,y1[,neg] in pixels; repeatable")
    seg.add_argument(
        "--model",
        help="Hub id or checkpoint directory (default: $SAM3_MODEL, facebook/sam3, "
        "else the bundled checkpoint)",
    )
    seg.add_argument("--threshold", type=float, default=0.5, help="minimum score (default 0.5)")
    seg.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    seg.add_argument("--json", help="output file (default: stdout)")
    seg.set_defaults(func=cmd_segment)
    return ap


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, ImageLoadError, ModelLoadError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
