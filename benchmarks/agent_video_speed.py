"""Time of the agent on video with the bundled checkpoint: answering on key frames, then following the answer,
with following reusing the detections of the frames the key frames' linking went through, and without.

    python -m benchmarks.agent_video_speed [--clips 4] [--repeats 2] [--json OUT]

Occlusion clips of a seed range no benchmark or test uses (6,000,000+), "the <colour> <kind>" for each object
no other looks like, asked about the whole clip (key frames spread over it). Medians over the runs, both ways
measured in one process, alternating; the ratio is what to compare across machines.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from agent.loop import Agent
from agent.video import answer_around, follow_selection
from benchmarks.output import save_json
from sam3.session import Segmenter
from shapesworld.video import render_video, sample_occlusion_video

FIRST_SEED = 6_000_000


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    segmenter = Segmenter.load("bundled", device="cpu")
    threshold = segmenter.loaded.score_threshold
    seconds: dict[str, list[float]] = {"answer": [], "follow_fresh": [], "follow_reused": []}
    frames = 0
    for seed in range(FIRST_SEED, FIRST_SEED + a.clips):
        scene = sample_occlusion_video(seed)
        video = render_video(scene)
        looks = [(t.colour, t.kind) for t in scene.tracks]
        for track in scene.tracks:
            if looks.count((track.colour, track.kind)) > 1:
                continue
            for _ in range(a.repeats):
                t0 = time.perf_counter()
                found = answer_around(Agent(threshold=threshold), segmenter, video.frames, None,
                                      f"the {track.colour} {track.kind}")
                seconds["answer"].append(time.perf_counter() - t0)
                for name, seen in (("follow_fresh", None), ("follow_reused", found.seen)):
                    t0 = time.perf_counter()
                    list(follow_selection(video.frames, found.key.position, found.answer.detections,
                                          detector=segmenter.loaded, threshold=threshold, seen=seen))
                    seconds[name].append(time.perf_counter() - t0)
                frames += len(video.frames)
    median = {k: float(np.median(v)) for k, v in seconds.items()}
    results = {
        "clips": a.clips, "runs": len(seconds["answer"]), "frames_per_clip": frames // max(len(seconds["answer"]), 1),
        "median_seconds": median,
        "total_ratio_reused_to_fresh": (median["answer"] + median["follow_reused"])
        / (median["answer"] + median["follow_fresh"]),
        "machine": "2-core CPU, torch 2 threads",
    }
    print(f"{results['runs']} runs: answer {median['answer']:.2f} s, follow {median['follow_fresh']:.2f} s fresh, "
          f"{median['follow_reused']:.2f} s reusing; whole run {results['total_ratio_reused_to_fresh']:.2f}x")
    save_json(results, a.json)
    return results


if __name__ == "__main__":
    main()
