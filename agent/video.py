"""The agent on video: answer the query on key frames, then follow the chosen masks through the clip.

The agent sees a key frame as an image (same loop, same numbered masks). One frame's answer fails where
the object is half hidden or half out of the picture there, so `answer_around` asks on a few frames
(around the moment asked about, or spread over the clip), links the answers by tracking through those
frames and keeps the answer most of them agree on, flagged `unsure` without a majority. Its selection
seeds the tracking, so "the leftmost star" becomes a masklet for that star over the whole video:
- with a tracker (`LoadedTrackerVideo`, for checkpoints whose tracker is trained), SAM 3's tracker
  propagates the selected masks forwards and backwards (`track_from_masks`);
- otherwise the detector runs on every frame for the selected masks' phrases and identities carry
  over from the seeds (`AssociationTracker` with `spawn=False`, which keeps them through occlusion and
  re-identifies them when they come back): only the chosen objects are followed.
Object ids are the answer's mask numbers, so the trace, the key-frame picture and the video agree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image

from agent.events import AgentRun, Answer
from agent.loop import Agent, run_record
from sam3.detections import Detections, mask_iou
from sam3.loading import LoadedSam3, ModelLoadError
from sam3.session import Segmenter
from sam3.video.association import AssociationTracker
from sam3.video.loading import LoadedTrackerVideo, load_tracker_video
from sam3.video.reader import VideoReader
from sam3.video.results import FrameResult
from sam3.video.tracking import track_from_masks

Progress = Callable[[int, "int | None"], None]
BACKWARD_CHUNK = 16  # frames decoded at a time when walking back from the key frame
KEY_FRAMES = 5  # frames `answer_around` asks on
KEY_SPACING_S = 0.3  # seconds between them


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


@dataclass(frozen=True)
class FrameDetections:
    """One frame's detections kept compact (RLE), from linking the key frames, so that following the answer
    through the same frames does not run the detector on them again."""

    rles: list[dict]
    scores: np.ndarray
    boxes: np.ndarray
    phrases: list[str]
    size: tuple[int, int]
    thresholds: tuple[float, float]  # the low and start thresholds they were found with

    @classmethod
    def of(cls, det: Detections, tracker: AssociationTracker) -> FrameDetections:
        thresholds = (tracker.low_threshold, tracker.new_object_threshold)
        return cls(det.to_rle(), det.scores, det.boxes, det.phrases, det.image_size, thresholds)

    def detections(self, phrases: list[str]) -> Detections:
        """Those of `phrases` (per-phrase detections do not depend on the other phrases asked with them)."""
        keep = [i for i, p in enumerate(self.phrases) if p in phrases]
        return Detections.from_rle([self.rles[i] for i in keep], self.scores[keep], [self.phrases[i] for i in keep],
                                   boxes=self.boxes[keep], image_size=self.size)


@dataclass
class VideoAnswer:
    """The answer to follow (`key`), every key frame's answer (in order of preference: the requested
    frame's first) and how many of them chose the same objects as `key`."""

    key: KeyFrameAnswer
    answers: list[KeyFrameAnswer]
    votes: int
    moment: bool = True  # asked about a moment (key frames around it), not the whole clip
    seen: dict[int, FrameDetections] = field(default_factory=dict, repr=False)  # by position, from the linking

    @property
    def agreed(self) -> bool:
        """Whether most key frames chose the followed objects: of all of them for a moment (the object should
        show around it), of those that found something for the whole clip (it may be out of sight on some).
        On the tuning clips, answers without that majority were wrong 4 times in 12, the others once in 35."""
        against = len(self.answers) if self.moment else sum(bool(len(a.detections)) for a in self.answers)
        return len(self.answers) == 1 or 2 * self.votes > against

    @property
    def answer(self) -> Answer:
        """The key frame's answer, flagged `unsure` (saying so) when an `ok` answer lacks a majority."""
        answer = self.key.run.answer
        if answer.status != "ok" or self.agreed:
            return answer
        doubt = (f"Only {self.votes} of the {len(self.answers)} key frames chose these objects "
                 f"(frames {', '.join(str(i) for i in sorted(a.index for a in self.answers))}).")
        said = answer.message.rstrip(". ")
        return replace(answer, status="unsure", message=f"{said}. {doubt}" if said else doubt)

    def run_json(self) -> dict:
        """The followed key frame's run as `python -m agent run` writes it, with the answer's final status."""
        return {**self.key.run.to_json(), "answer": self.answer.to_json()}

    def summary(self) -> dict:
        """Where the answer was taken and how the key frames voted, for the run's JSON."""
        return {
            "key_frame": {"position": self.key.position, "index": self.key.index},
            "key_frames": [{"position": a.position, "index": a.index, "status": a.run.answer.status,
                            "masks": len(a.detections)} for a in self.answers],
            "votes": self.votes,
        }


def key_positions(position: int, total: int, spacing: int, count: int = KEY_FRAMES) -> list[int]:
    """`position` first, then frames `spacing` apart on either side of it, nearest first, all inside [0, total)."""
    if not 0 <= position < total:
        raise ValueError(f"key frame {position} is outside the video's {total} frame(s)")
    if count < 1 or spacing < 1:
        raise ValueError(f"need at least one key frame and a spacing of at least 1, got {count} and {spacing}")
    out, k = [position], 1
    while len(out) < count and k * spacing <= max(position, total - 1 - position):
        out += [p for p in (position - k * spacing, position + k * spacing) if 0 <= p < total][: count - len(out)]
        k += 1
    return out


def spread_positions(total: int, count: int = KEY_FRAMES) -> list[int]:
    """`count` frames evenly over a video of `total` frames (the middles of equal parts), for a query
    asked about no frame in particular."""
    if total < 1 or count < 1:
        raise ValueError(f"need a video of at least one frame and one key frame, got {total} and {count}")
    return sorted({int((i + 0.5) * total / count) for i in range(count)})


def key_spacing(video: VideoReader | np.ndarray) -> int:
    """Frames between key frames: KEY_SPACING_S at the video's frame rate (10 frames/s for an array)."""
    fps = video.info.fps / video.stride if isinstance(video, VideoReader) else 10.0
    return max(1, round(KEY_SPACING_S * fps))


def answer_around(
    agent: Agent,
    segmenter: Segmenter,
    video: VideoReader | np.ndarray,
    position: int | None,
    query: str,
    *,
    count: int = KEY_FRAMES,
    spacing: int | None = None,
    on_event: Callable[[object], None] | None = None,
) -> VideoAnswer:
    """The agent on `count` key frames; the answer most of them agree on.

    The key frames lie around `position` (`key_positions`), or, with `position` None (a query about no
    moment in particular, such as "the red circle"), evenly over the whole video (`spread_positions`).
    Answers on different frames are linked by following every object of their phrases through the
    frames between them (association mode, `agent.threshold` starting a track); each key frame votes
    for the set of objects it chose. The most voted non-empty set wins; ties, and which of the winning
    answers is followed (`key`), go to the frame nearest `position`, or without one to the answer whose
    masks score highest. `on_event` sees each step.
    """
    if position is None:
        positions = spread_positions(len(video), count)
    else:
        positions = key_positions(position, len(video), spacing or key_spacing(video), count)
    answers = [answer_key_frame(agent, segmenter, video, p, query, on_event) for p in positions]
    if position is None:  # most confident first
        answers.sort(key=lambda a: -float(np.mean(a.detections.scores)) if len(a.detections) else 0.0)
    moment = position is not None
    if len(answers) == 1:
        return VideoAnswer(answers[0], answers, 1, moment)
    chosen, seen = _linked_choices(video, answers, segmenter.loaded, agent.threshold)
    votes = Counter(c for c in chosen if c)
    if not votes:
        return VideoAnswer(answers[0], answers, sum(not len(a.detections) for a in answers), moment, seen)
    best = max(votes.values())
    winner = next(c for c in chosen if votes.get(c) == best)  # answers are in order of preference
    key = answers[chosen.index(winner)]
    return VideoAnswer(key, answers, best, moment, seen)


def _linked_choices(
    video, answers: list[KeyFrameAnswer], detector: LoadedSam3, threshold: float | None
) -> tuple[list[frozenset[int]], dict[int, FrameDetections]]:
    """Each answer's selection as ids of objects followed through the key frames' span, and the span's
    detections."""
    phrases = list(dict.fromkeys(p for a in answers for p in a.detections.phrases))
    if not phrases:
        return [frozenset() for _ in answers], {}
    at = {a.position: a for a in answers}
    first, last = min(at), max(at)
    tracker = AssociationTracker(detector, phrases, new_object_threshold=threshold)
    chosen: dict[int, frozenset[int]] = {}
    seen: dict[int, FrameDetections] = {}
    for pos, (_, image) in _positions(video, first, last + 1):
        det = tracker.detect(image)
        seen[pos] = FrameDetections.of(det, tracker)
        answer = at.get(pos)
        if answer is not None and len(answer.detections):
            det = _with_selection(det, answer.detections, tracker.new_object_threshold)
        result = tracker.update(det, image, pos)
        if answer is not None:
            chosen[pos] = frozenset(_ids_of(answer.detections, result))
    return [chosen[a.position] for a in answers], seen


def _with_selection(det: Detections, selection: Detections, start: float) -> Detections:
    """The frame's detections with the agent's selection in place of those it repeats, each selected
    mask scoring at least `start`, so it is followed even if the agent took a near miss."""
    selection = replace(selection, scores=np.maximum(selection.scores, start).astype(np.float32))
    if not len(det):
        return selection
    repeated = mask_iou(det.to_rle(), selection.to_rle()).max(axis=1) >= 0.5
    return Detections.merge([selection, det[~repeated]], image_size=det.image_size)


def _ids_of(selection: Detections, result: FrameResult) -> set[int]:
    if not len(result):
        return set()
    iou = mask_iou(selection.to_rle(), result.rles)
    return {result.object_ids[int(row.argmax())] for row in iou if row.max() >= 0.5}


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
    seen: dict[int, FrameDetections] | None = None,
) -> Iterator[FrameResult]:
    """Tracks the selected masks of frame `position` through `video`: the key frame, later frames, then earlier ones.

    Give `tracker` to use SAM 3's tracker, else `detector` for detection + association: `threshold` is
    then the detection score the selection was made at, from which the association's thresholds follow
    (`sam3.video.association.association_thresholds`); frames in `seen` (`VideoAnswer.seen`) are not
    detected again where they were found with the same thresholds.
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
    yield from _associate(video, position, selection, detector, ids, threshold, progress, seen or {})


def _associate(video, position, selection, detector, ids, threshold, progress, seen) -> Iterator[FrameResult]:
    phrases = list(dict.fromkeys(selection.phrases))
    rles = selection.to_rle()
    seeds = [(oid, p, rle, float(s)) for oid, p, rle, s in zip(ids, selection.phrases, rles, selection.scores)]
    size = selection.image_size
    _, key_image = _frame(video, position)
    total, done = len(video), 0

    def run(tracker: AssociationTracker, frames) -> Iterator[FrameResult]:
        nonlocal done
        thresholds = (tracker.low_threshold, tracker.new_object_threshold)
        for pos, (index, image) in frames:
            known = seen.get(pos)
            det = known.detections(tracker.prompts) if known is not None and known.thresholds == thresholds else None
            (result,) = tracker.step(image, index, det)
            result.position = pos
            done += 1
            if progress is not None:
                progress(done, total)
            yield result

    def tracker() -> AssociationTracker:
        return AssociationTracker(
            detector, phrases, size, new_object_threshold=threshold, seeds=seeds, seed_image=key_image, spawn=False
        )

    forward = tracker()
    yield from run(forward, _positions(video, position, total))
    if position > 0:
        backward = tracker()
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
