"""How well a checkpoint tracks ShapesWorld videos with known identities, and how fast.

    python -m benchmarks.video_tracking [--model DIR] [--videos 6] [--threshold T] [--json OUT]

Two tasks on generated clips from a held-out seed range:
- text: every instance of each shape kind in the clip ("circle", ...) tracked with `track_text`;
- agent: "the leftmost <kind>" answered by the spatial agent on the middle frame and followed through the
  clip with `follow_selection`; the truth is the object of that kind whose mask centroid is leftmost there.
Measures (`benchmarks.tracking_metrics`, masks matched at IoU 0.5): IDF1, identity switches, mean matched mask
IoU, precision and recall, summed over clips; and frames per second of text tracking on this machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from agent.loop import Agent
from agent.video import answer_key_frame, follow_selection
from benchmarks.output import save_json
from benchmarks.tracking_metrics import TrackingScores, tracking_scores
from sam3.session import Segmenter
from sam3.video.loading import load_video_sam3
from sam3.video.tracking import association_thresholds, track_text
from shapesworld.video import RenderedVideo, render_video, sample_video

SEED = 3_000_000


def clips(n: int, seconds: float, size: tuple[int, int]):
    for i in range(n):
        scene = sample_video(SEED + i, width=size[0], height=size[1], fps=10, seconds=seconds)
        yield scene, render_video(scene)


def truth_for(video: RenderedVideo, wanted) -> list[tuple[list[int], np.ndarray]]:
    out = []
    for ids, masks in zip(video.ids, video.masks):
        keep = [i for i, oid in enumerate(ids) if int(oid) in wanted]
        out.append(([int(ids[i]) for i in keep], masks[keep]))
    return out


def leftmost(video: RenderedVideo, t: int, ids: set[int]) -> int | None:
    best = None
    for oid, mask in zip(video.ids[t], video.masks[t]):
        if int(oid) in ids and mask.any():
            x = np.nonzero(mask)[1].mean()
            if best is None or x < best[0]:
                best = (x, int(oid))
    return best[1] if best else None


def total(scores: list[TrackingScores]) -> dict:
    """Frame-weighted means over clips (IDF1 and IoU by matched pairs would need the raw counts)."""
    if not scores:
        return {}
    w = np.array([s.frames for s in scores], float)
    mean = {k: float(np.average([getattr(s, k) for s in scores], weights=w))
            for k in ("idf1", "mean_iou", "precision", "recall")}
    return {**mean, "id_switches": int(sum(s.id_switches for s in scores)), "runs": len(scores)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--videos", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--threshold", type=float,
                    help="detection score that keeps a track (default: the tracker's, KEEP_FRACTION of the next)")
    ap.add_argument("--new-object-threshold", type=float,
                    help="detection score that starts a track, and the agent's (default: the calibrated one)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    segmenter = Segmenter.load(a.model, device="cpu")
    loaded = load_video_sam3(segmenter.loaded.source, device="cpu")
    a.threshold, a.new_object_threshold = association_thresholds(
        segmenter.loaded.score_threshold, a.threshold, a.new_object_threshold
    )
    text, agent_scores, frames, seconds, per_clip = [], [], 0, 0.0, []
    agent = Agent(threshold=a.new_object_threshold)
    for scene, video in clips(a.videos, a.seconds, (256, 192)):
        kinds = {}
        for track in scene.tracks:
            kinds.setdefault(track.kind, set()).add(track.id)
        for kind, ids in sorted(kinds.items()):
            t0 = time.perf_counter()
            results = list(track_text(video.frames, [kind], loaded, threshold=a.threshold,
                                      new_object_threshold=a.new_object_threshold))
            seconds += time.perf_counter() - t0
            frames += len(video.frames)
            s = tracking_scores(truth_for(video, ids), results)
            text.append(s)
            per_clip.append({"seed": scene.seed, "task": "text", "phrase": kind, **s.as_dict()})
        key = len(video.frames) // 2
        kind = max(kinds, key=lambda k: (sum(int(i) in kinds[k] for i in video.ids[key]), k))
        target = leftmost(video, key, kinds[kind])
        if target is None:
            continue
        query = f"the leftmost {kind}"
        answer = answer_key_frame(agent, segmenter, video.frames, key, query)
        followed = list(follow_selection(video.frames, key, answer.detections, detector=segmenter.loaded,
                                         threshold=a.new_object_threshold))
        s = tracking_scores(truth_for(video, {target}), followed)
        agent_scores.append(s)
        per_clip.append({"seed": scene.seed, "task": "agent", "query": query, "key_frame": key, **s.as_dict()})
    results = {
        "model": segmenter.loaded.source,
        "mode": loaded.mode,
        "threshold": a.threshold,
        "new_object_threshold": a.new_object_threshold,
        "videos": a.videos,
        "text": total(text),
        "agent": total(agent_scores),
        "text_fps": frames / seconds if seconds else 0.0,
        "clips": per_clip,
    }
    for task in ("text", "agent"):
        r = results[task]
        if r:
            print(f"{task:6} IDF1 {r['idf1']:.3f}  IDsw {r['id_switches']:3d}  mIoU {r['mean_iou']:.3f}  "
                  f"P {r['precision']:.3f}  R {r['recall']:.3f}  ({r['runs']} runs)")
    print(f"text tracking: {results['text_fps']:.1f} frames/s ({loaded.mode} mode, 2-core CPU)")
    save_json(results, a.json)
    return results


if __name__ == "__main__":
    main()
