"""The agent on video: answer the query on a key frame, then follow the chosen masks through the clip.

The agent sees the key frame as an image (same loop, same numbered masks). Its selection seeds the
tracking, so "the leftmost star" becomes a masklet for that star over the whole video:
- with a tracker (`LoadedTrackerVideo`, for checkpoints whose tracker is trained), SAM 3's tracker
  propagates the selected masks forwards and backwards (`track_from_masks`);
- otherwise the detector runs on every frame for the selected masks' phrases and identities carry
  over from the seeds by mask matching (`AssociationTracker` with `spawn=False`): only the chosen
  objects are followed, and an object lost for too long stays lost.
Object ids are the answer's mask numbers, so the trace, the key-frame picture and the video agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from agent.events import AgentRun
from agent.loop import Agent, run_record
from sam3.detections import Detections
from sam3.loading import LoadedSam3, ModelLoadError
from sam3.session import Segmenter
from sam3.video.loading import LoadedTrackerVideo, load_tracker_video
from sam3.video.reader import VideoReader
from sam3.video.results import FrameResult
from sam3.video.tracking import AssociationTracker, track_from_masks

Progress = Callable[[int, "int | None"], None]
BACKWARD_CHUNK = 16  # frames decoded at a time when walking back from the key frame


@dataclass
class KeyFrameAnswer:
    """The agent's run on one frame; `position` counts the reader's selected frames, `index` the file's."""

    position: int
    index: int
    run: AgentRun

    @property
    def detections(self) -> Detections:
        return self.run.answer.detections


def trained_tracker(model: str | None = None, device=None) -> LoadedTrackerVideo | None:
    """SAM 3's tracker when the checkpoint ships a trained one; None means: follow by detection."""
    try:
        tracker = load_tracker_video(model, device=device)
    except ModelLoadError:
        return None
    return tracker if tracker.tracker_trained else None


def _frame(video: VideoReader | np.ndarray, position: int) -> tuple[int, np.ndarray]:
    n = len(video)
    if not 0 <= position < n:
        raise ValueError(f"key frame {position} is outside the video's {n} frame(s)")
    if isinstance(video, np.ndarray):
        return position, video[position]
    frame = video.get(position)
    return frame.index, frame.image


def answer_key_frame(
    agent: Agent,
    segmenter: Segmenter,
    video: VideoReader | np.ndarray,
    position: int,
    query: str,
    on_event: Callable[[object], None] | None = None,
) -> KeyFrameAnswer:
    """Runs the agent on frame `position`; `on_event` sees each step as it happens."""
    index, image = _frame(video, position)
    session = segmenter.session(Image.fromarray(image))
    run = run_record(agent, session, query, on_event)
    return KeyFrameAnswer(position, index, run)


def follow_selection(
    video: VideoReader | np.ndarray,
    position: int,
    selection: Detections,
    *,
    detector: LoadedSam3 | None = None,
    tracker: LoadedTrackerVideo | None = None,
    ids: list[int] | None = None,
    threshold: float | None = None,
    progress: Progress | None = None,
) -> Iterator[FrameResult]:
    """Tracks the selected masks of frame `position` through `video`: the key frame, later frames, then earlier ones.

    Give `tracker` to use SAM 3's tracker, else `detector` for detection + association: `threshold` is
    then the detection score the selection was made at, and a selected object is followed while its
    detections score at least `sam3.video.tracking.KEEP_FRACTION` of it.
    `ids` name the objects (default 1..N, the agent's mask numbers).
    """
    if not len(selection):
        return
    ids = list(ids) if ids is not None else list(range(1, len(selection) + 1))
    if len(ids) != len(selection):
        raise ValueError(f"{len(ids)} ids for {len(selection)} selected masks")
    _frame(video, position)  # range check before any work
    if tracker is not None:
        yield from track_from_masks(
            video, position, selection.masks, tracker, obj_ids=ids, labels=selection.phrases, progress=progress
        )
        return
    if detector is None:
        raise ValueError("follow_selection needs a tracker or a detector")
    yield from _associate(video, position, selection, detector, ids, threshold, progress)


def _associate(video, position, selection, detector, ids, threshold, progress) -> Iterator[FrameResult]:
    phrases = list(dict.fromkeys(selection.phrases))
    rles = selection.to_rle()
    seeds = [(oid, p, rle, float(s)) for oid, p, rle, s in zip(ids, selection.phrases, rles, selection.scores)]
    size = selection.image_size
    total, done = len(video), 0

    def run(tracker: AssociationTracker, frames) -> Iterator[FrameResult]:
        nonlocal done
        for pos, (index, image) in frames:
            (result,) = tracker.step(image, index)
            result.position = pos
            done += 1
            if progress is not None:
                progress(done, total)
            yield result

    forward = AssociationTracker(
        detector, phrases, size, new_object_threshold=threshold, seeds=seeds, spawn=False
    )
    yield from run(forward, _positions(video, position, total))
    if position > 0:
        backward = AssociationTracker(
            detector, phrases, size, new_object_threshold=threshold, seeds=seeds, spawn=False
        )
        yield from run(backward, _positions_back(video, position - 1))


def _positions(video, first: int, end: int) -> Iterator[tuple[int, tuple[int, np.ndarray]]]:
    if isinstance(video, np.ndarray):
        for p in range(first, end):
            yield p, (p, video[p])
        return
    for p, frame in enumerate(video.frames(first, end), start=first):
        yield p, (frame.index, frame.image)


def _positions_back(video, last: int) -> Iterator[tuple[int, tuple[int, np.ndarray]]]:
    """Frames `last`, `last - 1`, ..., 0, decoded forwards a chunk at a time (memory stays bounded)."""
    hi = last + 1
    while hi > 0:
        lo = max(0, hi - BACKWARD_CHUNK)
        chunk = list(_positions(video, lo, hi))
        yield from reversed(chunk)
        hi = lo
