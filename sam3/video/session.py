"""Inference sessions whose memory stays flat however long the video runs.

`transformers`' `Sam3VideoInferenceSession` keeps, for the whole video:

- `processed_frames`: every frame at model resolution (3 x 1008 x 1008 fp32 = 12 MB a frame);
- `output_dict_per_obj[obj]["non_cond_frame_outputs"][t]`: per object and frame, the low-res mask
  logits, the image-size `high_res_masks`, the memory features and their position encoding and
  the object pointer (about 6 MB per object and frame at 1008 px);
- `cond_frame_outputs`: the same for conditioning frames (where an object was added, and every
  `recondition_every_nth_frame` frames where the detector confirms a track);
- `frames_tracked_per_obj`, `mask_inputs_per_obj`, `obj_id_to_tracker_score_frame_wise`,
  `suppressed_obj_ids`, and the hot-start lists `unmatched_frame_inds` and
  `overlap_pair_to_frame_inds`, each one entry per frame (and deep-copied on every frame, so the
  cost per frame grows too);
- `cache`: vision features, already bounded (`max_vision_features_cache_size`, 1).

What the next frame can read (tracking forwards, frame t+1):

- memory attention: non-conditioning memories of frames t+1-k for k = 1..num_maskmem-1 (6), and
  the `max_cond_frame_num` (4) conditioning frames closest in time;
- object pointers: non-conditioning frames t+1-k for k = 1..max_object_pointers_in_encoder-1
  (15), plus conditioning frames;
- hot-start removal: unmatched/overlap frame lists only for objects born within the last
  `hotstart_delay` frames;
- the frame itself and its vision features (the detector and memory encoder run on it).

So `trim()` keeps the last `window` = max(num_maskmem, max_object_pointers_in_encoder) - 1 = 15
frames of non-conditioning outputs (without their `high_res_masks` and `pred_masks`, which are
never read again; beyond the last num_maskmem - 1 = 6 frames, only their object pointer), the
`max_cond_frame_num` most recent conditioning frames per object (the set SAM 2/3's reference
code reads memories *and* object pointers from; the `transformers` port also reads pointers
from older conditioning frames, so results match it exactly until an object has more than
`max_cond_frame_num` conditioning frames), only the current frame's pixels, score and
suppression entries, and hot-start lists cut to the last `hotstart_delay` frames. What is left
grows only with the number of distinct objects (a few scalars each), not with frames. Tracking
forwards with the trimmed session gives the same masks as with the untrimmed one (see
`tests/test_video.py`).

The click tracker (`Sam3TrackerVideoInferenceSession`) gets the same 15-frame window while it
propagates (whole entries, since a later prompt may read any of them), keeps every conditioning
frame (they are the user's prompts), and reads its frames lazily from the video file through
`LazyFrames` instead of holding them all. A prompt on a frame whose tracked state was forgotten
starts from the prompt alone, as on a frame never tracked.

At facebook/sam3 size (1008 px, 72x72 memory grid) that is, per object, 6 frames x ~2 MB of
memory features + 15 pointers, instead of ~6.4 MB per object *and frame*, plus one 12 MB frame
instead of 12 MB per frame.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping

import torch
from transformers.models.sam3_tracker_video.modeling_sam3_tracker_video import (
    Sam3TrackerVideoInferenceSession,
)
from transformers.models.sam3_video.modeling_sam3_video import Sam3VideoInferenceSession

# keys of a stored per-frame output that no later frame reads
_TRANSIENT_KEYS = ("high_res_masks",)
_TRANSIENT_NON_COND_KEYS = ("high_res_masks", "pred_masks")


def memory_window(tracker_config) -> int:
    """How many past frames' non-conditioning outputs the next frame can read."""
    return max(tracker_config.num_maskmem, tracker_config.max_object_pointers_in_encoder) - 1


def maskmem_window(tracker_config) -> int:
    """How many past frames' memory features (not just object pointers) the next frame reads."""
    return tracker_config.num_maskmem - 1


def _drop_keys(outputs: dict, keys: tuple[str, ...]) -> None:
    for out in outputs.values():
        for key in keys:
            out.pop(key, None)


def trim_object_outputs(
    session,
    frame_idx: int,
    window: int,
    reverse: bool = False,
    keep_cond: int | None = None,
    pointer_only_after: int | None = None,
) -> None:
    """Forget per-object outputs that no frame after `frame_idx` (in the direction of travel) reads.

    `pointer_only_after`: frames that far behind keep only their object pointer (their memory
    features are out of memory attention's reach); only for sessions that never go back.
    """
    for obj_idx, outputs in session.output_dict_per_obj.items():
        non_cond = outputs["non_cond_frame_outputs"]
        for t in list(non_cond):
            behind = frame_idx - t if not reverse else t - frame_idx
            if behind >= window or behind < -window:
                del non_cond[t]
            elif pointer_only_after is not None and behind >= pointer_only_after:
                non_cond[t] = {"object_pointer": non_cond[t]["object_pointer"]}
        _drop_keys(non_cond, _TRANSIENT_KEYS)
        _drop_keys({t: o for t, o in non_cond.items() if t != frame_idx}, _TRANSIENT_NON_COND_KEYS)
        cond = outputs["cond_frame_outputs"]
        _drop_keys(cond, _TRANSIENT_KEYS)
        if keep_cond is not None and len(cond) > keep_cond:
            # the closest in time win, as in `_select_closest_cond_frames`
            for t in sorted(cond, key=lambda t: (abs(frame_idx - t), -t))[keep_cond:]:
                del cond[t]
        tracked = session.frames_tracked_per_obj.get(obj_idx)
        if tracked:
            for t in list(tracked):
                if abs(frame_idx - t) >= window:
                    del tracked[t]


def _frameless_session(height: int, width: int, device: torch.device | str, dtype: torch.dtype) -> dict:
    """Arguments of a `transformers` video session that holds no frames itself and caches one frame's features."""
    return dict(
        video=None,
        video_height=height,
        video_width=width,
        inference_device=device,
        inference_state_device=device,
        video_storage_device=device,
        dtype=dtype,
        max_vision_features_cache_size=1,
    )


class StreamingVideoSession(Sam3VideoInferenceSession):
    """A `Sam3VideoInferenceSession` fed one frame at a time that forgets what no later frame reads.

    `total_frames` is the length of the video when known: `num_frames` then reports it, exactly
    as a session built from the whole video would (it scales the object pointers' temporal
    encoding). Unknown, it reports the frames seen so far, as `transformers`' own streaming does.
    """

    def __init__(
        self,
        *,
        video_height: int,
        video_width: int,
        window: int,
        keep_cond_frames: int,
        hotstart_delay: int,
        maskmem_window: int | None = None,
        total_frames: int | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        trim: bool = True,
    ):
        super().__init__(**_frameless_session(video_height, video_width, device, dtype))
        self.total_frames = total_frames
        self.window = window
        self.maskmem_window = maskmem_window
        self.keep_cond_frames = keep_cond_frames
        self.hotstart_delay = hotstart_delay
        self.trim_enabled = trim
        self.last_frame_idx = -1

    @property
    def num_frames(self) -> int | None:
        if self.total_frames is not None:
            return self.total_frames
        return self.last_frame_idx + 1 if self.last_frame_idx >= 0 else None

    def add_new_frame(self, pixel_values: torch.Tensor, frame_idx: int | None = None) -> int:
        frame_idx = self.last_frame_idx + 1 if frame_idx is None else frame_idx
        if self.trim_enabled and self.processed_frames:
            self.processed_frames.clear()  # only the current frame is ever read
        frame_idx = super().add_new_frame(pixel_values, frame_idx)
        self.last_frame_idx = max(self.last_frame_idx, frame_idx)
        return frame_idx

    def trim(self, frame_idx: int) -> None:
        """Call after the model has processed `frame_idx` (tracking forwards)."""
        if not self.trim_enabled:
            return
        trim_object_outputs(
            self,
            frame_idx,
            self.window,
            keep_cond=self.keep_cond_frames,
            pointer_only_after=self.maskmem_window,
        )
        for inputs in self.mask_inputs_per_obj.values():  # consumed when the object was added
            for t in [t for t in inputs if t < frame_idx]:
                del inputs[t]
        for per_frame in (self.obj_id_to_tracker_score_frame_wise, self.suppressed_obj_ids):
            for t in [t for t in per_frame if t != frame_idx]:
                del per_frame[t]
        cutoff = frame_idx - self.hotstart_delay
        for obj_id, frames in self.unmatched_frame_inds.items():
            # keys stay: the keep-alive check iterates over them
            self.unmatched_frame_inds[obj_id] = [t for t in frames if t > cutoff]
        for pair in list(self.overlap_pair_to_frame_inds):
            kept = [t for t in self.overlap_pair_to_frame_inds[pair] if t > cutoff]
            if kept:
                self.overlap_pair_to_frame_inds[pair] = kept
            else:
                del self.overlap_pair_to_frame_inds[pair]

    def stored_frames(self) -> dict[str, int]:
        """How many frames each per-frame store holds now (what the memory tests watch)."""
        outputs = [o for per_obj in self.output_dict_per_obj.values() for o in per_obj.values()]
        return {
            "pixels": len(self.processed_frames or {}),
            "vision_features": len(self.cache._vision_features),
            "outputs": max((len(o) for o in outputs), default=0),
            "tracker_scores": len(self.obj_id_to_tracker_score_frame_wise),
            "suppressed": len(self.suppressed_obj_ids),
            "unmatched": max((len(v) for v in self.unmatched_frame_inds.values()), default=0),
            "mask_inputs": max((len(v) for v in self.mask_inputs_per_obj.values()), default=0),
        }


class LazyFrames(Mapping):
    """Model-ready frames by index, decoded on demand and kept in a small LRU.

    Stands in for a session's `processed_frames` dict: the tracker reads a frame (once per object
    with new inputs, then from its vision-feature cache), so at most `capacity` preprocessed frames
    are ever held, however long the video.
    """

    def __init__(self, count: int, load: Callable[[int], torch.Tensor], capacity: int = 2):
        self.count = count
        self.load = load
        self.capacity = capacity
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.count:
            raise KeyError(index)
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        value = self.load(index)
        self._cache[index] = value
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return value

    def __setitem__(self, index: int, value: torch.Tensor) -> None:
        raise TypeError("frames of a video file are read from the file, not added")

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.count))

    def __contains__(self, index) -> bool:
        return isinstance(index, int) and 0 <= index < self.count

    @property
    def cached(self) -> int:
        return len(self._cache)


class LazyTrackerSession(Sam3TrackerVideoInferenceSession):
    """A `Sam3TrackerVideoInferenceSession` over `LazyFrames` with a bounded output window."""

    def __init__(
        self,
        frames: LazyFrames,
        *,
        video_height: int,
        video_width: int,
        window: int,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__(**_frameless_session(video_height, video_width, device, dtype))
        self.processed_frames = frames
        self.window = window

    def trim(self, frame_idx: int, reverse: bool = False) -> None:
        trim_object_outputs(self, frame_idx, self.window, reverse=reverse, keep_cond=None)

    def clear_propagation(self) -> None:
        """Forget tracked (non-conditioning) frames, keeping the prompts and their outputs."""
        for obj_idx, outputs in self.output_dict_per_obj.items():
            outputs["non_cond_frame_outputs"].clear()
            self.frames_tracked_per_obj[obj_idx].clear()
