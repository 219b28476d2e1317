"""Tracking on video: text prompts (detect and track every instance) and prompts on frames.

Text (`track_text`): SAM 3's `Sam3VideoModel` runs on one frame at a time. Each frame is
detected for every phrase, matched to the tracked masklets, and new objects start new masklets;
objects that leave and come back, duplicates and spurious tracks are handled by the model's own
heuristics (hot-start, keep-alive, occlusion suppression, periodic reconditioning). Frames are
fed one by one into a `StreamingVideoSession`, which forgets what no later frame reads, so memory
stays flat however long the video (see `sam3.video.session`). With `hotstart=True` (the default)
results come out `hotstart_delay` frames late, exactly as `propagate_in_video_iterator` yields
them, because the model may still remove an object born in the last `hotstart_delay` frames;
`hotstart=False` gives each frame's result at once (`transformers`' streaming mode, which skips
those removals).

Prompts on frames (`PromptTracker`, `track_from_masks`): `Sam3TrackerVideoModel` takes clicks,
boxes or masks for one object on any frame (add, refine, remove), runs after each
`add_inputs_to_inference_session`, then propagates forwards and backwards through the video,
reading frames lazily from the file.

Detector-only checkpoints whose size cannot host a tracker run text tracking through
`AssociationTracker` (`sam3.video.association`: the detector on each frame, identities by matching
detections to tracks that survive occlusion).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from sam3.video.association import AssociationTracker
from sam3.video.inputs import check_frame, check_unit, clean_prompts
from sam3.video.loading import LoadedTrackerVideo, LoadedVideoSam3, load_tracker_video, load_video_sam3
from sam3.video.reader import VideoReader
from sam3.video.results import FrameResult
from sam3.video.session import (
    LazyFrames,
    LazyTrackerSession,
    StreamingVideoSession,
    maskmem_window,
    memory_window,
)

Progress = Callable[[int, "int | None"], None]
VideoInput = "VideoReader | str | os.PathLike | np.ndarray | Iterable[np.ndarray]"


# -- frames ------------------------------------------------------------------------------------
@dataclass
class _Frames:
    """Any video input as (frame number, RGB uint8 image) pairs, plus what is known up front."""

    items: Iterator[tuple[int, np.ndarray]]
    total: int | None
    size: tuple[int, int] | None  # (H, W) when known before the first frame


def _as_frames(video) -> _Frames:
    if isinstance(video, (str, os.PathLike)):
        video = VideoReader(video)
    if isinstance(video, VideoReader):
        return _Frames(((f.index, f.image) for f in video), len(video), video.size)
    if isinstance(video, np.ndarray):
        if video.ndim != 4 or video.shape[-1] != 3:
            raise ValueError(f"a video array must be (T, H, W, 3), got {video.shape}")
        return _Frames(enumerate(video), len(video), video.shape[1:3])
    try:
        total = len(video)
    except TypeError:
        total = None
    return _Frames(enumerate(video), total, None)


def preprocess(image_processor, image: np.ndarray) -> torch.Tensor:
    """One RGB frame as the model's (3, S, S) input, exactly as the image path prepares images."""
    return image_processor(images=image, return_tensors="pt").pixel_values[0]


@contextmanager
def _model_overrides(model, **values):
    """Temporarily set the detect-and-track thresholds a `Sam3VideoModel` reads as attributes."""
    values = {k: v for k, v in values.items() if v is not None}
    saved = {k: getattr(model, k) for k in values}
    try:
        for k, v in values.items():
            setattr(model, k, v)
        yield
    finally:
        for k, v in saved.items():
            setattr(model, k, v)


# -- text prompts: SAM 3's detect-and-track --------------------------------------------------------
class TextTracker:
    """Streams frames through `Sam3VideoModel` for one or more noun phrases.

    `step(frame)` returns the results that are ready (none while the hot-start buffer fills);
    `flush()` returns the rest at the end of the video.
    """

    def __init__(
        self,
        loaded: LoadedVideoSam3,
        prompts: str | Sequence[str],
        video_size: tuple[int, int],
        total_frames: int | None = None,
        threshold: float | None = None,
        new_object_threshold: float | None = None,
        max_objects: int | None = None,
        hotstart: bool = True,
        trim: bool = True,
    ):
        if loaded.mode != "sam3" or loaded.model is None:
            raise ValueError(
                "TextTracker needs SAM 3's video model; use AssociationTracker in associate mode"
            )
        check_unit("threshold", threshold)
        check_unit("new_object_threshold", new_object_threshold)
        self.loaded = loaded
        self.model = loaded.model
        self.prompts = clean_prompts(prompts)
        self.size = tuple(int(s) for s in video_size)
        self.overrides = {
            "score_threshold_detection": threshold,
            "new_det_thresh": new_object_threshold,
            "max_num_objects": max_objects,
        }
        self.hotstart = hotstart and self.model.hotstart_delay > 0
        tracker_cfg = self.model.config.tracker_config
        self.session = StreamingVideoSession(
            video_height=self.size[0],
            video_width=self.size[1],
            window=memory_window(tracker_cfg),
            maskmem_window=maskmem_window(tracker_cfg),
            keep_cond_frames=tracker_cfg.max_cond_frame_num,
            hotstart_delay=self.model.hotstart_delay,
            total_frames=total_frames,
            device=loaded.device,
            dtype=loaded.dtype,
            trim=trim,
        )
        loaded.processor.add_text_prompt(self.session, self.prompts)
        self.position = 0
        self._buffer: list[tuple[int, int, object]] = []

    def step(self, image: np.ndarray, index: int | None = None) -> list[FrameResult]:
        index = self.position if index is None else index
        image = check_frame(image, self.size, index)
        pixels = preprocess(self.loaded.processor.image_processor, image).to(self.loaded.device)
        pos = self.position
        with _model_overrides(self.model, **self.overrides), torch.inference_mode():
            if self.hotstart:
                # frames added by us, so the model runs its full (non-streaming) hot-start heuristics
                self.session.add_new_frame(pixels, pos)
                out = self.model(inference_session=self.session, frame_idx=pos)
            else:
                out = self.model(inference_session=self.session, frame=pixels, frame_idx=pos)
        self.session.trim(pos)
        self.position += 1
        if not self.hotstart:
            return [self._result(index, pos, out)]
        self.session.hotstart_removed_obj_ids.update(out.removed_obj_ids)
        self._buffer.append((index, pos, out))
        ready = []
        while len(self._buffer) >= self.model.hotstart_delay:
            ready.append(self._result(*self._buffer.pop(0)))
        return ready

    def flush(self) -> list[FrameResult]:
        ready = [self._result(*item) for item in self._buffer]
        self._buffer.clear()
        return ready

    def _result(self, index: int, pos: int, out) -> FrameResult:
        post = self.loaded.processor.postprocess_outputs(self.session, out)
        ids = post["object_ids"].tolist()
        phrase_of = {oid: phrase for phrase, oids in post["prompt_to_obj_ids"].items() for oid in oids}
        tracker = out.obj_id_to_tracker_score or {}
        return FrameResult.from_masks(
            index,
            pos,
            post["masks"].cpu().numpy(),
            ids,
            [phrase_of[i] for i in ids],
            post["scores"].float().tolist(),
            tracker_scores=[float(tracker.get(i, np.nan)) for i in ids],
            size=self.size,
        )

    @property
    def object_phrases(self) -> dict[int, str]:
        s = self.session
        return {oid: s.prompts[pid] for oid, pid in s.obj_id_to_prompt_id.items()}


def track_text(
    video,
    prompts: str | Sequence[str],
    model: LoadedVideoSam3 | str | os.PathLike | None = None,
    *,
    threshold: float | None = None,
    new_object_threshold: float | None = None,
    max_objects: int | None = None,
    hotstart: bool = True,
    progress: Progress | None = None,
    tracker_out: list | None = None,
) -> Iterator[FrameResult]:
    """Every instance of each phrase, tracked through `video`, one `FrameResult` per frame.

    `video`: a `VideoReader`, a file path (read with the default 30 s limit), a (T, H, W, 3)
    uint8 array, or any iterable of such frames (streamed: nothing is held but the current frame).
    `model`: a `LoadedVideoSam3` or anything `load_video_sam3` takes. `threshold` is the
    detection score to keep a detection (SAM 3's `score_threshold_detection`; default: the checkpoint's),
    `new_object_threshold` the score to start a new object (`new_det_thresh`, 0.7);
    `progress(done, total)` is called after each frame (total None when unknown). Results come
    in frame order. `tracker_out`, if given, receives the tracker object (for inspection).
    """
    loaded = model if isinstance(model, LoadedVideoSam3) else load_video_sam3(model)
    prompts = clean_prompts(prompts)
    frames = _as_frames(video)
    tracker = None
    done = 0
    for index, image in frames.items:
        if tracker is None:
            size = frames.size or np.asarray(image).shape[:2]
            if loaded.mode == "sam3":
                tracker = TextTracker(
                    loaded,
                    prompts,
                    size,
                    total_frames=frames.total,
                    threshold=threshold,
                    new_object_threshold=new_object_threshold,
                    max_objects=max_objects,
                    hotstart=hotstart,
                )
            else:
                tracker = AssociationTracker(
                    loaded.detector,
                    prompts,
                    size,
                    threshold=threshold,
                    new_object_threshold=new_object_threshold,
                    max_objects=max_objects,
                )
            if tracker_out is not None:
                tracker_out.append(tracker)
        yield from tracker.step(image, index)
        done += 1
        if progress is not None:
            progress(done, frames.total)
    if tracker is not None:
        yield from tracker.flush()


# -- prompts on frames: SAM 3's tracker ---------------------------------------------------------------
class _FrameLoader:
    """Model-ready frame `pos` of a reader or array: sequential reads stream, backward reads
    decode a chunk at once, so neither direction decodes a frame more than about twice."""

    def __init__(self, video, image_processor, chunk: int = 8):
        self.video, self.ip, self.chunk = video, image_processor, chunk
        self._chunk: dict[int, torch.Tensor] = {}
        self._iter: Iterator | None = None
        self._next = -1  # the position the sequential iterator yields next
        self._last: int | None = None

    def __call__(self, pos: int) -> torch.Tensor:
        if isinstance(self.video, np.ndarray):
            return preprocess(self.ip, self.video[pos])
        last, self._last = self._last, pos
        if pos in self._chunk:
            return self._chunk[pos]
        if self._iter is not None and pos == self._next:
            self._next += 1
            return preprocess(self.ip, next(self._iter).image)
        if last is not None and pos < last:  # going backwards: decode the chunk that ends here
            first = max(0, pos - self.chunk + 1)
            self._chunk = {
                first + i: preprocess(self.ip, f.image)
                for i, f in enumerate(self.video.frames(first, pos + 1))
            }
            self._iter = None
            return self._chunk[pos]
        self._iter, self._next = self.video.frames(pos), pos + 1
        return preprocess(self.ip, next(self._iter).image)


class PromptTracker:
    """Objects given by clicks, boxes or masks on any frame, propagated through the video.

    Frame numbers here are positions in the video as given (for a `VideoReader` with a range or
    stride: positions in its selection). Each `add_*` call adds an object (`obj_id=None` picks a
    new id) or refines one (its id), and returns that frame's result at once; `remove_object`
    drops one; `propagate()` tracks every object forwards from its first prompted frame and
    backwards to the start, yielding each frame once.
    """

    def __init__(self, video, model: LoadedTrackerVideo | str | os.PathLike | None = None):
        self.loaded = model if isinstance(model, LoadedTrackerVideo) else load_tracker_video(model)
        if isinstance(video, (str, os.PathLike)):
            video = VideoReader(video)
        if isinstance(video, np.ndarray):
            if video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
                raise ValueError(f"a video array must be (T, H, W, 3) uint8, got {video.shape} {video.dtype}")
            count, size = len(video), tuple(video.shape[1:3])
            self.indices = list(range(count))
        elif isinstance(video, VideoReader):
            count, size = len(video), video.size
            self.indices = list(video.indices)
        else:
            raise TypeError("video must be a VideoReader, a path or a (T, H, W, 3) uint8 array")
        self.video, self.size, self.num_frames = video, size, count
        self.frames = LazyFrames(count, _FrameLoader(video, self.loaded.image_processor), capacity=2)
        cfg = self.loaded.model.config
        self.session = LazyTrackerSession(
            self.frames,
            video_height=size[0],
            video_width=size[1],
            window=memory_window(cfg),
            device=self.loaded.device,
            dtype=self.loaded.dtype,
        )
        self.labels: dict[int, str] = {}
        self._next_id = 0

    # -- prompts ---------------------------------------------------------------------------
    @property
    def object_ids(self) -> list[int]:
        return list(self.session.obj_ids)

    def _frame(self, frame: int) -> int:
        if not -self.num_frames <= frame < self.num_frames:
            raise ValueError(f"frame {frame} is outside the video's {self.num_frames} frames")
        return frame % self.num_frames

    def _new_id(self, obj_id: int | None, label: str) -> int:
        if obj_id is None:
            obj_id = self._next_id
        obj_id = int(obj_id)
        self._next_id = max(self._next_id, obj_id + 1)
        if label or obj_id not in self.labels:
            self.labels[obj_id] = label
        return obj_id

    def _check_xy(self, x: float, y: float, what: str) -> None:
        h, w = self.size
        if not (0 <= x <= w and 0 <= y <= h):
            raise ValueError(f"{what} ({x:g}, {y:g}) lies outside the {w}x{h} video")

    def add_points(
        self,
        frame: int,
        points: Sequence[Sequence[float]],
        labels: Sequence[int] | None = None,
        obj_id: int | None = None,
        label: str = "",
        clear: bool = True,
    ) -> FrameResult:
        """Clicks (x, y in pixels) on `frame`: label 1 = on the object, 0 = not on it.
        `clear=False` adds to the object's earlier clicks on this frame (refinement)."""
        frame = self._frame(frame)
        points = [[float(x), float(y)] for x, y in points]
        if not points:
            raise ValueError("give at least one point")
        labels = [1] * len(points) if labels is None else [int(v) for v in labels]
        if len(labels) != len(points) or any(v not in (0, 1) for v in labels):
            raise ValueError("labels must be one 0 or 1 per point")
        for x, y in points:
            self._check_xy(x, y, "point")
        obj_id = self._new_id(obj_id, label)
        self.loaded.processor.add_inputs_to_inference_session(
            self.session,
            frame_idx=frame,
            obj_ids=obj_id,
            input_points=[[points]],
            input_labels=[[labels]],
            clear_old_inputs=clear,
        )
        return self._run(frame)

    def add_box(
        self, frame: int, box: Sequence[float], obj_id: int | None = None, label: str = ""
    ) -> FrameResult:
        """A box x0, y0, x1, y1 in pixels around one object on `frame` (replaces its clicks there)."""
        frame = self._frame(frame)
        x0, y0, x1, y1 = (float(v) for v in box)
        if not (x1 > x0 and y1 > y0):
            raise ValueError(f"box must have x1 > x0 and y1 > y0, got {tuple(box)}")
        self._check_xy(x0, y0, "box corner")
        self._check_xy(x1, y1, "box corner")
        obj_id = self._new_id(obj_id, label)
        self.loaded.processor.add_inputs_to_inference_session(
            self.session,
            frame_idx=frame,
            obj_ids=obj_id,
            input_boxes=[[[x0, y0, x1, y1]]],
        )
        return self._run(frame)

    def add_mask(
        self, frame: int, mask: np.ndarray, obj_id: int | None = None, label: str = ""
    ) -> FrameResult:
        """A full-resolution (H, W) mask of one object on `frame`."""
        frame = self._frame(frame)
        mask = np.asarray(mask)
        if mask.shape != tuple(self.size):
            raise ValueError(f"mask is {mask.shape}, the video frames are {tuple(self.size)}")
        if not mask.any():
            raise ValueError("mask is empty")
        obj_id = self._new_id(obj_id, label)
        self.loaded.processor.add_inputs_to_inference_session(
            self.session,
            frame_idx=frame,
            obj_ids=obj_id,
            input_masks=mask.astype(bool),
        )
        return self._run(frame)

    def add_masks(
        self,
        frame: int,
        masks: np.ndarray | Sequence[np.ndarray],
        obj_ids: Sequence[int] | None = None,
        labels: Sequence[str] | None = None,
    ) -> FrameResult:
        """Several objects' masks on one frame (one model run for all of them)."""
        frame = self._frame(frame)
        masks = [np.asarray(m) for m in masks]
        if not masks:
            raise ValueError("give at least one mask")
        for m in masks:
            if m.shape != tuple(self.size):
                raise ValueError(f"mask is {m.shape}, the video frames are {tuple(self.size)}")
            if not m.any():
                raise ValueError("a mask is empty")
        obj_ids = list(obj_ids) if obj_ids is not None else [None] * len(masks)
        labels = list(labels) if labels is not None else [""] * len(masks)
        if len(obj_ids) != len(masks) or len(labels) != len(masks):
            raise ValueError("give one obj_id and one label per mask")
        ids = [self._new_id(o, lab) for o, lab in zip(obj_ids, labels, strict=True)]
        if len(set(ids)) != len(ids):
            raise ValueError(f"object ids must be distinct, got {ids}")
        self.loaded.processor.add_inputs_to_inference_session(
            self.session,
            frame_idx=frame,
            obj_ids=ids,
            input_masks=[m.astype(bool) for m in masks],
        )
        return self._run(frame)

    def remove_object(self, obj_id: int) -> None:
        """Forget one object everywhere (its prompts and tracked frames)."""
        s = self.session
        if obj_id not in s._obj_id_to_idx:
            raise ValueError(f"no object {obj_id}; objects are {s.obj_ids}")
        remaining = [o for o in s.obj_ids if o != obj_id]
        old = {o: s._obj_id_to_idx[o] for o in remaining}
        stores = [
            s.point_inputs_per_obj,
            s.mask_inputs_per_obj,
            s.output_dict_per_obj,
            s.frames_tracked_per_obj,
        ]
        moved = [{new: store[old[o]] for new, o in enumerate(remaining)} for store in stores]
        for store, values in zip(stores, moved, strict=True):
            store.clear()
            store.update(values)
        s._obj_id_to_idx.clear()
        s._obj_idx_to_id.clear()
        for new, o in enumerate(remaining):
            s._obj_id_to_idx[o] = new
            s._obj_idx_to_id[new] = o
        s.obj_ids = remaining
        s.obj_with_new_inputs = [o for o in s.obj_with_new_inputs if o != obj_id]
        self.labels.pop(obj_id, None)

    # -- running ----------------------------------------------------------------------------
    def _run(self, frame: int, reverse: bool = False) -> FrameResult:
        with torch.inference_mode():
            out = self.loaded.model(inference_session=self.session, frame_idx=frame, reverse=reverse)
        return self._result(frame, out)

    def _result(self, frame: int, out) -> FrameResult:
        masks = self.loaded.processor.post_process_masks(
            [out.pred_masks.float().cpu()], original_sizes=[list(self.size)], binarize=True
        )[0][:, 0].numpy()
        ids = list(out.object_ids)
        scores = torch.sigmoid(out.object_score_logits.float().reshape(len(ids), -1)[:, 0]).cpu().numpy()
        return FrameResult.from_masks(
            self.indices[frame],
            frame,
            masks,
            ids,
            [self.labels.get(i, "") for i in ids],
            scores,
            tracker_scores=scores,
            size=self.size,
        )

    def prompted_frames(self) -> list[int]:
        return sorted(
            {t for out in self.session.output_dict_per_obj.values() for t in out["cond_frame_outputs"]}
        )

    def propagate(
        self, direction: str = "both", start: int | None = None, progress: Progress | None = None
    ) -> Iterator[FrameResult]:
        """Track every object through the video, one `FrameResult` per frame.

        "forward" runs from `start` (default: the first prompted frame) to the end, "backward"
        from `start` (default: the first prompted frame) to frame 0, "both" does forward then
        backward, each frame once. Earlier propagated results are recomputed, so call it again
        after refining an object.
        """
        if direction not in ("forward", "backward", "both"):
            raise ValueError(f"direction must be forward, backward or both, got {direction!r}")
        prompted = self.prompted_frames()
        if not prompted:
            raise ValueError("add a click, box or mask on some frame before propagating")
        if self.session.obj_with_new_inputs:
            raise ValueError("objects have prompts that were not run yet")
        first = prompted[0] if start is None else self._frame(start)
        plan = []
        if direction in ("forward", "both"):
            plan.append((range(first, self.num_frames), False))
        if direction in ("backward", "both"):
            top = first - 1 if direction == "both" else first
            plan.append((range(top, -1, -1), True))
        total = sum(len(r) for r, _ in plan)
        done = 0
        for frames, reverse in plan:
            self.session.clear_propagation()
            for t in frames:
                result = self._run(t, reverse=reverse)
                self.session.trim(t, reverse=reverse)
                done += 1
                if progress is not None:
                    progress(done, total)
                yield result


def track_from_masks(
    video,
    frame_index: int,
    masks: np.ndarray | Sequence[np.ndarray],
    model: LoadedTrackerVideo | str | os.PathLike | None = None,
    *,
    obj_ids: Sequence[int] | None = None,
    labels: Sequence[str] | None = None,
    direction: str = "both",
    progress: Progress | None = None,
) -> Iterator[FrameResult]:
    """Seed SAM 3's tracker with full-resolution masks on a key frame and track them.

    The hand-over from an image-level selection (e.g. the agent's chosen masks on one frame) to
    video: each (H, W) mask becomes one object (ids 0..N-1 unless `obj_ids` are given), then
    propagates forwards and backwards (`direction`). `frame_index` is a position in `video` as
    `PromptTracker` counts them. Yields one `FrameResult` per frame, the key frame first.
    """
    masks = list(masks) if not isinstance(masks, np.ndarray) or masks.ndim == 3 else [masks]
    tracker = PromptTracker(video, model)
    tracker.add_masks(frame_index, masks, obj_ids=obj_ids, labels=labels)
    yield from tracker.propagate(direction=direction, start=frame_index, progress=progress)
