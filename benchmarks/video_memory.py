"""Peak memory and speed of streamed text tracking as the video grows.

Synthetic 64x64 frames (coloured squares drifting over a textured background) come from a
generator, so the video itself is never in memory; each configuration runs in a fresh
subprocess, so peak RSS (`ru_maxrss`) belongs to that run alone. RSS is also sampled every
`--sample-every` frames to show whether it still grows at the end.

    python -m benchmarks.video_memory                       # the full table (several minutes)
    python -m benchmarks.video_memory --frames 100 --quick  # a smoke run

Configurations:
- `tiny-windowed`: `tiny_video_config()` random model, our `StreamingVideoSession` (bounded);
- `tiny-unbounded`: the same model and frames with trimming off, i.e. what `transformers`'
  session keeps (every frame's pixels and per-object outputs);
- `shapes-associate`: the SHAPES-size random detector (`training.configs.SHAPES`), which cannot host
  SAM 3's tracker (hidden 64), in the "associate" mode the bundled checkpoint uses;
- `bundled-associate`: the bundled ShapesWorld checkpoint in that mode, which does find the squares, so
  tracks start, get lost (the squares wrap around the edges) and are kept or dropped:
  `python -m benchmarks.video_memory --configs bundled-associate --speed-frames 1000`;
- `shapes128-windowed`: SHAPES with its hidden size raised to 128, the smallest SHAPES-like
  model that can host the tracker, in SAM 3 mode;
- `full-sam3`: the full-size `Sam3VideoConfig()` (random weights), for frames per second on a lent GPU:
  `python -m benchmarks.video_memory --device cuda --configs full-sam3 shapes128-windowed`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def synthetic_frames(n: int, size: int = 64, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    background = (96 + 24 * np.sin(xx / 5.0)[..., None] * np.cos(yy / 7.0)[..., None]).astype(np.uint8)
    background = np.repeat(background, 3, axis=2)
    squares = [
        (rng.uniform(8, size - 8, 2), rng.uniform(-1.5, 1.5, 2), rng.integers(40, 255, 3), 6 + 2 * i)
        for i in range(3)
    ]
    for t in range(n):
        frame = background.copy()
        for pos, vel, col, half in squares:
            cx, cy = (pos + vel * t) % size
            x0, y0 = int(cx) - half // 2, int(cy) - half // 2
            frame[max(0, y0) : max(0, y0 + half), max(0, x0) : max(0, x0 + half)] = col
        yield frame


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def build(config: str, directory: str) -> str:
    """Saves a random checkpoint for `config` into `directory`."""
    from sam3.video.config import video_config
    from shapesworld.phrases import vocabulary
    from training.build import new_model, new_video_model, save_checkpoint
    from training.configs import SHAPES, TINY_VIDEO, tiny_video_config

    # Random detectors score about 0.25: these thresholds give a few objects, as a real video would.
    heuristics = {"score_threshold_detection": 0.2, "new_det_thresh": 0.25, "max_num_objects": 3}
    if config.startswith("tiny"):
        model, proc = new_video_model(tiny_video_config(TINY_VIDEO, **heuristics), vocabulary())
        return str(save_checkpoint(model, proc, directory))
    if config == "shapes-associate":
        model, proc = new_model(SHAPES, vocabulary())
        return str(save_checkpoint(model, proc, directory))
    if config == "bundled-associate":
        from sam3.loading import BUNDLED_DIR

        return str(BUNDLED_DIR)
    if config == "shapes128-windowed":
        from training.configs import sam3_config

        size = replace(SHAPES, hidden=128)
        model, proc = new_video_model(
            video_config(sam3_config(size), hotstart_delay=0, **heuristics), vocabulary()
        )
        return str(save_checkpoint(model, proc, directory))
    if config == "full-sam3":
        from transformers import Sam3Config

        model, proc = new_video_model(video_config(Sam3Config(), **heuristics), vocabulary())
        return str(save_checkpoint(model, proc, directory))
    raise ValueError(config)


def run_one(config: str, frames: int, checkpoint: str, sample_every: int, threads: int, device: str = "cpu") -> dict:
    import torch

    torch.set_num_threads(threads)
    from transformers.utils import logging as hf_logging

    from sam3.video.loading import load_video_sam3
    from sam3.video.tracking import track_text

    hf_logging.set_verbosity_error()
    loaded = load_video_sam3(checkpoint, device=device, mode="associate" if "associate" in config else "auto")
    trackers: list = []
    samples = []
    rss_loaded = rss_mb()
    t0 = time.perf_counter()
    t_warm = None
    n_objects = set()

    def progress(done, _total):
        nonlocal t_warm
        if done == 10:
            t_warm = time.perf_counter()
        if done % sample_every == 0 or done == frames:
            samples.append((done, round(rss_mb(), 1)))

    if config.endswith("unbounded"):
        # the same tracker with trimming off: the session keeps what transformers' session keeps
        from sam3.video import tracking

        original = tracking.StreamingVideoSession.__init__

        def untrimmed(self, *a, **k):
            original(self, *a, **{**k, "trim": False})

        tracking.StreamingVideoSession.__init__ = untrimmed
    for result in track_text(
        synthetic_frames(frames),
        ["red square", "blue square"],
        loaded,
        progress=progress,
        tracker_out=trackers,
    ):
        n_objects.update(result.object_ids)
    elapsed = time.perf_counter() - t0
    fps_steady = (frames - 10) / (time.perf_counter() - t_warm) if t_warm and frames > 20 else None
    tracker = trackers[0]
    stored = tracker.session.stored_frames() if hasattr(tracker, "session") else {"tracks": len(tracker.tracks)}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    after_warmup = next((mb for done, mb in samples if done >= min(100, frames)), samples[0][1])
    return {
        "config": config,
        "device": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu",
        "gpu_peak_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if device.startswith("cuda") else None,
        "mode": loaded.mode,
        "frames": frames,
        "threads": threads,
        "params": sum(p.numel() for p in (loaded.model or loaded.detector.model).parameters()),
        "seconds": round(elapsed, 2),
        "fps": round(frames / elapsed, 2),
        "fps_steady": None if fps_steady is None else round(fps_steady, 2),
        "rss_after_load_mb": round(rss_loaded, 1),
        "rss_after_100_frames_mb": after_warmup,
        "rss_final_mb": samples[-1][1],
        "rss_peak_mb": round(peak, 1),
        "growth_after_100_frames_mb": round(samples[-1][1] - after_warmup, 1),
        "rss_samples": samples,
        "objects_seen": len(n_objects),
        "session_stores_at_end": stored,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--checkpoint", help=argparse.SUPPRESS)
    ap.add_argument("--frames", type=int, nargs="*", default=[100, 1000, 5000])
    ap.add_argument("--unbounded-frames", type=int, nargs="*", default=[100, 1000])
    ap.add_argument("--speed-frames", type=int, default=200, help="frames for the SHAPES-size speed runs")
    ap.add_argument("--sample-every", type=int, default=50)
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core box)"
    )
    ap.add_argument("--quick", action="store_true", help="tiny-windowed only")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (a lent GPU machine)")
    ap.add_argument("--configs", nargs="*", help="run these configurations for --speed-frames frames instead")
    ap.add_argument("--json", help="default: results/video_memory.json, or results/video_speed.json with --configs")
    args = ap.parse_args(argv)
    if args.one:
        frames = args.frames[0]
        print(json.dumps(run_one(args.one, frames, args.checkpoint, args.sample_every, args.threads, args.device)))
        return 0

    plan = [("tiny-windowed", n) for n in args.frames]
    if args.configs:
        plan = [(c, args.speed_frames) for c in args.configs]
    elif not args.quick:
        plan += [("tiny-unbounded", n) for n in args.unbounded_frames]
        plan += [("shapes-associate", args.speed_frames), ("shapes128-windowed", args.speed_frames)]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        checkpoints: dict[str, str] = {}
        for config, frames in plan:
            key = "tiny" if config.startswith("tiny") else config
            if key not in checkpoints:
                checkpoints[key] = build(config, os.path.join(tmp, key))
            cmd = [
                sys.executable,
                "-m",
                "benchmarks.video_memory",
                "--one",
                config,
                "--checkpoint",
                checkpoints[key],
                "--frames",
                str(frames),
                "--sample-every",
                str(args.sample_every),
                "--threads",
                str(args.threads),
                "--device",
                args.device,
            ]
            proc = subprocess.run(
                cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent
            )
            if proc.returncode:
                print(proc.stderr[-2000:], file=sys.stderr)
                return proc.returncode
            run = json.loads(proc.stdout.strip().splitlines()[-1])
            runs.append(run)
            print(
                f"{config:20s} {frames:5d} frames  {run['fps']:6.1f} fps  "
                f"peak RSS {run['rss_peak_mb']:7.1f} MB  "
                f"growth after 100 frames {run['growth_after_100_frames_mb']:+7.1f} MB",
                file=sys.stderr,
            )
    out = {
        "machine": {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
        "frame_size": [64, 64],
        "prompts": ["red square", "blue square"],
        "runs": runs,
    }
    args.json = args.json or str(RESULTS / ("video_speed.json" if args.configs else "video_memory.json"))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
