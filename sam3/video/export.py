"""Tracking results out to files: the CLI's JSON, per-object masklets, YouTube-VIS results, an overlay mp4.

Formats (all masks are COCO compressed RLE at the video's full resolution, `counts` a string):

- CLI JSON (`TrackRecorder.to_json`): `{"video": {width, height, fps, num_frames, range},
  "objects": [{id, phrase, score}], "frames": [{index, objects: [{id, score, box, mask}]}]}` with
  `index` the frame number in the file and `box` x0, y0, x1, y1 in pixels (x1/y1 exclusive).
- Masklets (`masklets_json`): one entry per object with its frames:
  `{"video": {...}, "objects": [{id, phrase, score, first_frame, last_frame,
  "masklet": [{frame, box, mask}]}]}`.
- Tracking results, YouTube-VIS style (`ytvis_results`): the list the YouTube-VIS / OVIS
  evaluation reads, `[{"video_id", "category_id", "score", "segmentations"}]`, one entry per
  object, `segmentations` one RLE (or null where the object is absent) per processed frame in
  order; `category_id` is the 1-based position of the object's phrase in the prompt list.
- Overlay (`write_overlay`): the processed frames with each object filled in `colour(id)` and
  tagged with its id, the same colour in every frame; H.264 mp4 (MPEG-4 part 2 where PyAV has
  no libx264) written frame by frame.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from sam3.overlay import draw_overlay
from sam3.video.reader import VideoReader
from sam3.video.results import FrameResult
from sam3.video.writer import Mp4Writer

_DECIMALS = 4


class TrackRecorder:
    """Collects streamed `FrameResult`s (RLE only: small) into per-object records and per-frame lists."""

    def __init__(self, video: dict | None = None, prompts: Sequence[str] = ()):
        self.video = dict(video or {})
        self.prompts = list(prompts)
        self.frames: dict[int, FrameResult] = {}
        self._objects: dict[int, dict] = {}

    def add(self, result: FrameResult) -> FrameResult:
        self.frames[result.index] = result
        for i, oid in enumerate(result.object_ids):
            score = float(result.scores[i])
            rec = self._objects.get(oid)
            if rec is None:
                self._objects[oid] = {
                    "id": oid,
                    "phrase": result.phrases[i],
                    "score": score,
                    "first_frame": result.index,
                    "last_frame": result.index,
                    "num_frames": 1,
                }
            else:
                rec["score"] = max(rec["score"], score)
                rec["first_frame"] = min(rec["first_frame"], result.index)
                rec["last_frame"] = max(rec["last_frame"], result.index)
                rec["num_frames"] += 1
                rec["phrase"] = rec["phrase"] or result.phrases[i]
        return result

    def extend(self, results: Iterable[FrameResult]) -> TrackRecorder:
        for r in results:
            self.add(r)
        return self

    @property
    def ordered_frames(self) -> list[FrameResult]:
        return sorted(self.frames.values(), key=lambda r: r.position)

    @property
    def objects(self) -> list[dict]:
        """Per object: id, phrase, score (its highest over its frames), first/last frame, frame count."""
        return [
            dict(self._objects[k], score=round(self._objects[k]["score"], _DECIMALS))
            for k in sorted(self._objects)
        ]

    def to_json(self, **extra) -> dict:
        return {
            "video": self.video,
            "objects": [{k: o[k] for k in ("id", "phrase", "score")} for o in self.objects],
            "frames": [r.to_json() for r in self.ordered_frames],
            **extra,
        }


def masklets_json(recorder: TrackRecorder) -> dict:
    masklets: dict[int, list] = {o["id"]: [] for o in recorder.objects}
    for r in recorder.ordered_frames:
        for i, oid in enumerate(r.object_ids):
            masklets[oid].append(
                {"frame": r.index, "box": [round(float(v), 2) for v in r.boxes[i]], "mask": r.rles[i]}
            )
    return {
        "video": recorder.video,
        "objects": [{**o, "masklet": masklets[o["id"]]} for o in recorder.objects],
    }


def ytvis_results(
    recorder: TrackRecorder, video_id: int = 1, prompts: Sequence[str] | None = None
) -> list[dict]:
    prompts = list(prompts or recorder.prompts)
    frames = recorder.ordered_frames
    out = []
    for o in recorder.objects:
        phrase = o["phrase"]
        category = prompts.index(phrase) + 1 if phrase in prompts else 0
        segs = []
        for r in frames:
            segs.append(r.rles[r.object_ids.index(o["id"])] if o["id"] in r.object_ids else None)
        out.append(
            {"video_id": video_id, "category_id": category, "score": o["score"], "segmentations": segs}
        )
    return out


def draw_frame(image: np.ndarray, result: FrameResult | None, alpha: float = 0.45) -> np.ndarray:
    """One frame with its objects drawn in their ids' colours and tagged with the ids."""
    if result is None or not len(result):
        return image
    return draw_overlay(
        image,
        result.detections(),
        labels=[str(i) for i in result.object_ids],
        alpha=alpha,
        colour_ids=list(result.object_ids),
    )


def write_overlay(
    video: VideoReader,
    results: Mapping[int, FrameResult] | TrackRecorder,
    path: str | os.PathLike,
    alpha: float = 0.45,
) -> str:
    """Re-reads `video` (its selected frames) and writes them with the results drawn; returns the codec."""
    frames = results.frames if isinstance(results, TrackRecorder) else results
    with Mp4Writer(path, video.fps, video.width, video.height) as writer:
        for frame in video:
            writer.write(draw_frame(frame.image, frames.get(frame.index), alpha))
        return writer.codec
