"""Command line: `python -m sam3 segment --image PATH --prompt "red circle" [...]`,
and `python -m sam3 track --video PATH --prompt "red circle" [...]`.

Bad input exits with status 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from sam3.files import write_json_file
from sam3.image_io import ImageLoadError, load_image
from sam3.loading import ModelLoadError, load_sam3
from sam3.session import BoxPrompt, ImageSession, Timing
from sam3.tiling import TILE_ASPECT

EXIT_BAD_INPUT = 2


class UsageError(ValueError):
    """Bad command-line input."""


def parse_box(text: str) -> BoxPrompt:
    try:
        return BoxPrompt.parse(text)
    except ValueError as exc:
        raise UsageError(f"--box: {exc}") from None


def write_json(payload: dict, out: str | None) -> None:
    """To stdout, or atomically to a file so a failure never leaves half a result."""
    text = json.dumps(payload, separators=(",", ":"))
    if out is None or out == "-":
        sys.stdout.write(text + "\n")
        return
    write_json_file(payload, out)


def cmd_segment(args: argparse.Namespace) -> int:
    prompts = [" ".join(p.split()) for p in args.prompt or []]
    if any(not p for p in prompts):
        raise UsageError("--prompt must not be empty: give a short noun phrase such as 'red circle'")
    boxes = [parse_box(b) for b in args.box or []]
    if not prompts and not boxes:
        raise UsageError("give at least one --prompt or --box")
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise UsageError(f"--threshold must be in [0, 1], got {args.threshold}")
    image = load_image(args.image)
    t0 = time.perf_counter()
    loaded = load_sam3(args.model, device=args.device)
    if loaded.fallback_reason:
        print(f"note: {loaded.fallback_reason}; using the bundled checkpoint {loaded.source}", file=sys.stderr)
    load_ms = 1e3 * (time.perf_counter() - t0)
    h, w = image.height, image.width
    for b in boxes:
        x0, y0, x1, y1 = b.box
        if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
            raise UsageError(f"--box {b.box} lies outside the {w}x{h} image")
    timing = Timing()
    session = ImageSession(loaded, image, tile_aspect=None if args.no_tiling else TILE_ASPECT)
    det = session.segment(prompts, boxes=boxes, threshold=args.threshold, timing=timing, look_closer=args.closer)
    payload = {
        "image": {"width": w, "height": h},
        "model": loaded.source,
        "threshold": loaded.score_threshold if args.threshold is None else args.threshold,
        "windows": [list(w.box) for w in session.windows_seen],
        "detections": det.to_json_list(),
        "timing_ms": {"load": round(load_ms, 2), **timing.as_dict()},
    }
    write_json(payload, args.json)
    return 0


def progress_printer(quiet: bool):
    """Progress on stderr: at most one line a second, and the last frame."""
    state = {"t0": time.perf_counter(), "last": 0.0}

    def report(done: int, total: int | None) -> None:
        now = time.perf_counter()
        if quiet or (now - state["last"] < 1.0 and done != total):
            return
        state["last"] = now
        fps = done / max(now - state["t0"], 1e-9)
        of = f"/{total}" if total else ""
        print(f"track: frame {done}{of} ({fps:.1f} frames/s)", file=sys.stderr, flush=True)

    return report


def cmd_track(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from sam3.video.export import TrackRecorder, masklets_json, write_overlay, ytvis_results
    from sam3.video.loading import load_video_sam3
    from sam3.video.reader import VideoReader
    from sam3.video.tracking import track_text

    prompts = [" ".join(p.split()) for p in args.prompt or []]
    if not prompts:
        raise UsageError("give at least one --prompt, a short noun phrase such as 'red circle'")
    if any(not p for p in prompts):
        raise UsageError("--prompt must not be empty: give a short noun phrase such as 'red circle'")
    for name in ("threshold", "new_threshold"):
        value = getattr(args, name)
        if value is not None and not 0 <= value <= 1:
            raise UsageError(f"--{name.replace('_', '-')} must be in [0, 1], got {value}")
    if args.stride < 1:
        raise UsageError(f"--stride must be at least 1, got {args.stride}")
    if args.max_objects is not None and args.max_objects < 1:
        raise UsageError(f"--max-objects must be at least 1, got {args.max_objects}")
    if args.max_seconds < 0:
        raise UsageError(f"--max-seconds must be positive (0 for no limit), got {args.max_seconds}")
    for flag, out in (
        ("--overlay", args.overlay),
        ("--json", args.json),
        ("--masklets", args.masklets),
        ("--ytvis", args.ytvis),
    ):
        if out and out != "-" and Path(out).is_dir():
            raise UsageError(f"{flag} {out} is a directory; give a file name")
    reader = VideoReader(
        args.video, start=args.start, end=args.end, stride=args.stride, max_seconds=args.max_seconds or None
    )
    hf_logging.set_verbosity_error()  # per-frame "hitting max_num_objects" warnings are not for users
    t0 = time.perf_counter()
    loaded = load_video_sam3(args.model, device=args.device, mode=args.mode)
    load_ms = 1e3 * (time.perf_counter() - t0)
    if loaded.fallback_reason:
        print(f"note: {loaded.fallback_reason}; using the bundled checkpoint {loaded.source}", file=sys.stderr)
    if loaded.note:
        print(f"note: {loaded.note}", file=sys.stderr)
    video = {
        **reader.info.as_dict(),
        "range": {"start": reader.start, "end": reader.end, "stride": reader.stride},
    }
    recorder = TrackRecorder(video, prompts)
    t1 = time.perf_counter()
    results = track_text(
        reader,
        prompts,
        loaded,
        threshold=args.threshold,
        new_object_threshold=args.new_threshold,
        max_objects=args.max_objects,
        hotstart=not args.no_hotstart,
        progress=progress_printer(args.quiet),
    )
    recorder.extend(results)
    track_ms = 1e3 * (time.perf_counter() - t1)
    payload = recorder.to_json(
        model=loaded.source,
        mode=loaded.mode,
        tracker_trained=loaded.tracker_trained,
        timing_ms={"load": round(load_ms, 2), "track": round(track_ms, 2)},
    )
    if args.masklets:
        write_json_file(masklets_json(recorder), args.masklets)
    if args.ytvis:
        write_json_file(ytvis_results(recorder, prompts=prompts), args.ytvis)
    if args.overlay:
        write_overlay(reader, recorder, args.overlay)
    write_json(payload, args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m sam3", description="SAM 3 concept segmentation from the shell.")
    sub = ap.add_subparsers(dest="command", required=True)
    seg = sub.add_parser("segment", help="find every instance of noun phrases (and/or exemplar boxes) in an image")
    seg.add_argument("--image", required=True, help="image file")
    seg.add_argument("--prompt", action="append", help="noun phrase; repeat for several")
    seg.add_argument("--box", action="append", help="exemplar box x0,y0,x1,y1[,neg] in pixels; repeatable")
    seg.add_argument(
        "--model",
        help="Hub id or checkpoint directory (default: $SAM3_MODEL, facebook/sam3, else the bundled checkpoint)",
    )
    seg.add_argument(
        "--threshold", type=float, help="minimum score (default: the checkpoint's calibrated one; facebook/sam3: 0.5)"
    )
    seg.add_argument(
        "--no-tiling",
        action="store_true",
        help="whole image only (by default images 2:1 or longer are also seen in overlapping windows)",
    )
    seg.add_argument(
        "--closer",
        action=argparse.BooleanOptionalAction,
        help="score unsure detections again on a zoomed crop (default: as the checkpoint was calibrated; "
        "the bundled one: on, facebook/sam3: off)",
    )
    seg.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    seg.add_argument("--json", help="output file (default: stdout)")
    seg.set_defaults(func=cmd_segment)

    trk = sub.add_parser("track", help="find and track every instance of noun phrases through a video (SAM 3 video)")
    trk.add_argument("--video", required=True, help="video file (mp4, mov, mkv, webm ...)")
    trk.add_argument("--prompt", action="append", help="noun phrase; repeat for several")
    trk.add_argument(
        "--model",
        help="Hub id or checkpoint directory (default: $SAM3_MODEL, facebook/sam3, else the bundled checkpoint)",
    )
    trk.add_argument("--json", help="results file (default: stdout)")
    trk.add_argument("--overlay", help="write an mp4 with the tracked masks drawn, colours fixed per id")
    trk.add_argument("--masklets", help="write per-object masklets (RLE per frame) as JSON")
    trk.add_argument("--ytvis", help="write YouTube-VIS-style results JSON")
    trk.add_argument("--start", help="first frame: a frame number or seconds such as 2.5s (default 0)")
    trk.add_argument("--end", help="end frame, exclusive: a frame number or seconds (default: the end)")
    trk.add_argument("--stride", type=int, default=1, help="track every K-th frame (default 1)")
    trk.add_argument(
        "--max-seconds",
        type=float,
        default=30.0,
        help="refuse ranges longer than this many seconds (default 30, SAM 3's video length; 0: no limit)",
    )
    trk.add_argument(
        "--threshold",
        type=float,
        help="detection score that keeps an object (default: the checkpoint's; associate mode: half the next)",
    )
    trk.add_argument(
        "--new-threshold",
        type=float,
        help="score to start a new object (default: SAM 3's 0.7; associate mode: the checkpoint's)",
    )
    trk.add_argument("--max-objects", type=int, help="most objects tracked at once")
    trk.add_argument(
        "--mode",
        choices=["auto", "sam3", "associate"],
        default="auto",
        help="sam3: SAM 3's tracker; associate: detector on each frame + mask matching (auto: sam3 if possible)",
    )
    trk.add_argument(
        "--no-hotstart",
        action="store_true",
        help="output each frame at once (skips SAM 3's removal of tracks that fail in their first frames)",
    )
    trk.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    trk.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    trk.set_defaults(func=cmd_track)
    return ap


def run_cli(parser: argparse.ArgumentParser, argv: list[str] | None, errors: tuple[type[Exception], ...] = ()) -> int:
    """Runs the chosen subcommand; bad input becomes exit 2 and one `error:` line, never a traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, ImageLoadError, ModelLoadError, ValueError, *errors) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv)
