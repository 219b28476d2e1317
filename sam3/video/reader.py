"""Video files decoded lazily, one frame at a time, never the whole video in memory.

`VideoReader(path, start, end, stride)` probes the file once (with PyAV, which also reads the
rotation metadata and proves the first frame decodes), validates it, and then yields frames
as RGB uint8 arrays on demand: with decord when it is installed and the video is not rotated,
with PyAV otherwise (decord ignores or mangles rotation metadata: it returns 4-channel frames
with swapped sides). Rotation metadata is applied, so frames, sizes and masks are always in
display orientation; `info.rotation` says what was applied. Frames are numbered in display order
and, where the container stores timestamps, seeks and times ("4.5s") go by them, so variable-frame-
rate files (phone videos) give the same frame for a number whether read in order or at random.

Every problem with the input raises a `VideoError` (a `ValueError`) whose message is one
sentence: missing file, undecodable or truncated file, no video stream, no frames, sides out of
range or changing mid-video, a bad range, or a video longer than `max_seconds` (default 30 s of
the selected range at the file's own frame rate, the length SAM 3's concept tracking is defined
for; pass a range or raise the limit for longer ones). `max_side` downscales frames as they are decoded,
so a huge frame size costs the decoder, never the model or the masks.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

DEFAULT_MAX_SECONDS = 30.0
MIN_SIDE = 8
MAX_SIDE = 8192

try:  # PyAV: the probe, rotation metadata, and the decoder where decord is missing
    import av

    # No Python log callback: FFmpeg stays quiet and errors still reach the caller as exceptions.
    # PyAV's callback takes the GIL from decoder threads, which deadlocks when a threaded decoder is
    # closed mid-stream (PyAV issues #751, #909): a random access on a rotated phone video hung.
    av.logging.set_level(None)
except ImportError:  # pragma: no cover - both are project requirements
    av = None

try:
    import decord
except ImportError:  # pragma: no cover
    decord = None


class VideoError(ValueError):
    """A video file that cannot be used; the message is one sentence saying why."""


class VideoNotFoundError(VideoError):
    pass


class VideoDecodeError(VideoError):
    pass


class EmptyVideoError(VideoError):
    pass


class VideoSizeError(VideoError):
    pass


class VideoRangeError(VideoError):
    pass


class VideoTooLongError(VideoError):
    pass


@dataclass(frozen=True)
class VideoInfo:
    """What the file holds (display orientation: width/height are after rotation)."""

    path: str
    width: int
    height: int
    fps: float
    num_frames: int
    rotation: int = 0  # degrees counter-clockwise applied to each decoded frame
    codec: str = ""
    # Each frame's timestamp in display order, in `time_base` units, where the container stores them:
    # variable-frame-rate files (phone videos) need them to seek and to turn times into frame numbers.
    pts: np.ndarray | None = field(default=None, repr=False, compare=False)
    time_base: Fraction | None = field(default=None, repr=False, compare=False)

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def _timed(self) -> bool:
        return self.pts is not None and len(self.pts) == self.num_frames

    def times(self, indices) -> np.ndarray:
        """When each of these frames starts, in seconds from the first frame."""
        indices = np.asarray(indices, dtype=np.int64)
        if not self._timed():
            return indices / self.fps
        return (self.pts[indices] - self.pts[0]).astype(np.float64) * float(self.time_base)

    def frame_at(self, seconds: float) -> int:
        """The frame showing at `seconds` from the first frame, rounded to the nearest frame start
        (the video's end counts as one: a time at or past it gives `num_frames`)."""
        if not self._timed():
            return int(round(seconds * self.fps))
        starts = np.append(self.times(np.arange(self.num_frames)), self.duration)
        return int(np.argmin(np.abs(starts - seconds)))

    def index_of_pts(self, pts: int, start_time: int) -> int:
        """The frame number of a decoded frame's timestamp (the nearest frame's, if none has it)."""
        if self.pts is None:
            return int(round(float((pts - start_time) * self.time_base) * self.fps))
        i = int(np.searchsorted(self.pts, pts))
        if i == len(self.pts) or (i > 0 and self.pts[i] - pts > pts - self.pts[i - 1]):
            i -= 1
        return i

    def as_dict(self) -> dict:
        return {"width": self.width, "height": self.height, "fps": self.fps, "num_frames": self.num_frames}


class Frame(NamedTuple):
    index: int  # frame number in the file
    image: np.ndarray  # (H, W, 3) uint8 RGB, display orientation


def _rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    k = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


def _fps_of(stream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            value = float(rate)
            if math.isfinite(value) and value > 0:
                return value
    return 0.0


def _probe_pyav(path: str) -> VideoInfo:
    try:
        container = av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as exc:
        raise VideoDecodeError(f"{path} is not a video that can be decoded ({_reason(exc)})") from None
    with container:
        if not container.streams.video:
            raise EmptyVideoError(f"{path} has no video stream (no frames to track)")
        stream = container.streams.video[0]
        fps = _fps_of(stream)
        num = int(stream.frames or 0)
        try:
            first = next(container.decode(stream), None)
        except (av.error.FFmpegError, ValueError) as exc:
            raise VideoDecodeError(f"the first frame of {path} cannot be decoded ({_reason(exc)})") from None
        if first is None:
            raise EmptyVideoError(f"{path} has a video stream with no frames")
        rotation = int(round(getattr(first, "rotation", 0) or 0)) % 360
        if rotation % 90:
            raise VideoSizeError(
                f"{path} asks for a {rotation} degree rotation; only multiples of 90 are supported"
            )
        width, height = first.width, first.height
        # Count the packets (demuxing only, no decoding: about the cost of reading the file once), so a
        # truncated file fails here, quietly, rather than half way through tracking, and containers that
        # do not store a frame count (some mkv/webm) get one.
        try:
            container.seek(0, stream=stream)
            stamps = [p.pts for p in container.demux(stream) if p.size]
        except (av.error.FFmpegError, ValueError) as exc:
            raise VideoDecodeError(f"{path} cannot be read to its end ({_reason(exc)})") from None
        packets = len(stamps)
        if num > 0 and packets < num:
            raise VideoDecodeError(
                f"{path} holds {packets} of the {num} frames its header announces: the file is truncated"
            )
        num = num if num > 0 else packets
        codec = stream.codec_context.name
        time_base = stream.time_base
        pts = None
        if stamps and None not in stamps and time_base:
            pts = np.sort(np.asarray(stamps, dtype=np.int64))
            if len(np.unique(pts)) != len(pts):
                pts = None  # timestamps that do not tell frames apart: count at the average rate
    if fps <= 0:
        raise VideoDecodeError(f"{path} has no usable frame rate")
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(path, width, height, fps, num, rotation, codec, pts, time_base)


def _probe_decord(path: str) -> VideoInfo:
    try:
        vr = decord.VideoReader(path, num_threads=1)
        num, fps = len(vr), float(vr.get_avg_fps())
        first = vr[0].asnumpy() if num else None
    except Exception as exc:  # decord raises RuntimeError or its own DECORDError
        raise VideoDecodeError(f"{path} is not a video that can be decoded ({_reason(exc)})") from None
    if first is None:
        raise EmptyVideoError(f"{path} has a video stream with no frames")
    if not (math.isfinite(fps) and fps > 0):
        raise VideoDecodeError(f"{path} has no usable frame rate")
    return VideoInfo(path, first.shape[1], first.shape[0], fps, num, 0, "")


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.split(": '")[0]  # PyAV appends the file name, which the sentence already has
    text = re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", text)  # decord's "[time] file.cc:line: " prefix
    text = re.sub(r"\[Errno -?\d+\] ", "", text)
    return text.rstrip(".")[:160]


def probe(path: str | os.PathLike) -> VideoInfo:
    """Metadata of a video file, after checking that it exists and its first frame decodes."""
    path = str(path)
    if not Path(path).is_file():
        raise VideoNotFoundError(f"no video file at {path}")
    if os.path.getsize(path) == 0:
        raise EmptyVideoError(f"{path} is an empty file")
    info = _probe_pyav(path) if av is not None else _probe_decord(path)
    if info.num_frames <= 0:
        raise EmptyVideoError(f"{path} has a video stream with no frames")
    if min(info.width, info.height) < MIN_SIDE or max(info.width, info.height) > MAX_SIDE:
        raise VideoSizeError(
            f"{path} is {info.width}x{info.height}; frames must have sides "
            f"from {MIN_SIDE} to {MAX_SIDE} pixels"
        )
    return info


def parse_position(text: str | float | int | None, info: VideoInfo, name: str) -> int | None:
    """A frame number ("120") or a time in seconds ("4.5s") as a frame number; None stays None."""
    if text is None:
        return None
    raw = str(text).strip().lower()
    try:
        if raw.endswith("s"):
            seconds = float(raw[:-1])
            if not math.isfinite(seconds) or seconds < 0:
                raise ValueError
            return info.frame_at(seconds)
        value = float(raw)
        if not math.isfinite(value) or value < 0 or value != int(value):
            raise ValueError
        return int(value)
    except ValueError:
        raise VideoRangeError(
            f"{name} must be a frame number or seconds such as '4.5s', got {text!r}"
        ) from None


class VideoReader:
    """Lazy frames of `path[start:end:stride]`: `start`/`end` are frame numbers or times such as
    "4.5s" (`end` exclusive, clamped to the video's length).

    Iterating decodes sequentially (constant memory); `get(i)` gives the i-th selected frame
    by random access, for trackers that propagate backwards. With `max_side`, frames whose longer side
    exceeds it come out downscaled (area interpolation), and `width`, `height` and `size` are theirs.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        start: int | str | None = None,
        end: int | str | None = None,
        stride: int = 1,
        max_seconds: float | None = DEFAULT_MAX_SECONDS,
        backend: str = "auto",
        max_side: int | None = None,
    ):
        self.info = probe(path)
        self.path = self.info.path
        n = self.info.num_frames
        start = parse_position(start, self.info, "start")
        end = parse_position(end, self.info, "end")
        start = 0 if start is None else start
        end = n if end is None else min(end, n)
        if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
            raise VideoRangeError(f"stride must be a whole number of at least 1, got {stride}")
        if start < 0 or start >= n:
            raise VideoRangeError(f"start frame {start} is outside the video's {n} frames")
        if end <= start:
            raise VideoRangeError(f"the range [{start}, {end}) holds no frames: end must come after start")
        self.start, self.end, self.stride = start, end, int(stride)
        seconds = (end - start) / self.info.fps
        if max_seconds is not None and seconds > max_seconds + 1e-6:
            raise VideoTooLongError(
                f"{self.path} is {seconds:.1f} s long in the selected range, "
                f"over the {max_seconds:g} s limit "
                "that SAM 3's concept tracking is meant for: choose a range (start/end) or raise max_seconds"
            )
        if backend not in ("auto", "decord", "pyav"):
            raise ValueError(f"backend must be auto, decord or pyav, got {backend!r}")
        if backend == "auto":
            backend = "decord" if decord is not None and self.info.rotation == 0 else "pyav"
        if backend == "decord" and (decord is None or self.info.rotation):
            raise ValueError("decord is not installed" if decord is None else "decord cannot apply rotation")
        if backend == "pyav" and av is None:
            raise ValueError("PyAV is not installed")
        self.backend = backend
        self._decord = None
        if max_side is not None and max_side < MIN_SIDE:
            raise ValueError(f"max_side must be at least {MIN_SIDE}, got {max_side}")
        longest = max(self.info.width, self.info.height)
        self.scale = 1.0 if max_side is None or longest <= max_side else max_side / longest
        self._out = (
            max(1, round(self.info.height * self.scale)),
            max(1, round(self.info.width * self.scale)),
        )

    # -- metadata ---------------------------------------------------------------------------
    @property
    def indices(self) -> range:
        return range(self.start, self.end, self.stride)

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def width(self) -> int:
        """The width of the frames this reader yields (the file's, unless `max_side` shrinks them)."""
        return self._out[1]

    @property
    def height(self) -> int:
        return self._out[0]

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the frames this reader yields, the order masks use."""
        return self._out

    @property
    def fps(self) -> float:
        """Frames per second of the selected frames (the file's rate over the stride)."""
        return self.info.fps / self.stride

    def __repr__(self) -> str:
        i = self.info
        return (
            f"VideoReader({self.path!r}, {i.width}x{i.height} @ {i.fps:g} fps, frames "
            f"{self.start}:{self.end}:{self.stride} -> {len(self)}, backend={self.backend})"
        )

    # -- decoding ---------------------------------------------------------------------------
    def _check(self, image: np.ndarray, index: int) -> np.ndarray:
        """The decoded frame, checked against the file's size, at the size this reader yields."""
        file_size = (self.info.height, self.info.width)
        if image.ndim != 3 or image.shape[2] != 3 or image.shape[:2] != file_size:
            got = f"{image.shape[1]}x{image.shape[0]}" if image.ndim >= 2 else str(image.shape)
            raise VideoSizeError(
                f"frame {index} of {self.path} is {got} but the video is {self.info.width}x{self.info.height}; "
                "videos whose size changes are not supported"
            )
        if self._out != file_size:
            image = cv2.resize(image, (self._out[1], self._out[0]), interpolation=cv2.INTER_AREA)
        return image

    def _decord_reader(self):
        if self._decord is None:
            try:
                self._decord = decord.VideoReader(self.path, num_threads=1)
            except Exception as exc:
                raise VideoDecodeError(f"{self.path} cannot be decoded ({_reason(exc)})") from None
        return self._decord

    def _decord_frame(self, index: int) -> np.ndarray:
        try:
            image = self._decord_reader()[index].asnumpy()
        except VideoError:
            raise
        except Exception as exc:
            raise VideoDecodeError(
                f"frame {index} of {self.path} cannot be decoded: "
                f"the file is truncated or corrupt ({_reason(exc)})"
            ) from None
        return self._check(image, index)

    def _pyav_frames(self, start: int, end: int) -> Iterator[tuple[int, np.ndarray]]:
        """Every frame in [start, end) with its number, seeking near `start` first."""
        try:
            with av.open(self.path) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                base = stream.start_time or 0
                tb, fps = stream.time_base, self.info.fps
                if start > 0 and tb:
                    pts = self.info.pts
                    target = int(pts[start]) if pts is not None else base + int(start / fps / tb)
                    container.seek(target, stream=stream, backward=True)
                    counter = None  # numbered from timestamps after a seek
                else:
                    counter = 0
                for frame in container.decode(stream):
                    if counter is None:
                        if frame.pts is None:
                            raise VideoDecodeError(
                                f"{self.path} has frames without timestamps, so it cannot seek"
                            )
                        index = self.info.index_of_pts(frame.pts, base)
                    else:
                        index = counter
                        counter += 1
                    if index >= end:
                        return
                    if index >= start:
                        yield index, _rotate(frame.to_ndarray(format="rgb24"), self.info.rotation)
        except VideoError:
            raise
        except (av.error.FFmpegError, ValueError) as exc:
            raise VideoDecodeError(
                f"{self.path} stops decoding: the file is truncated or corrupt ({_reason(exc)})"
            ) from None

    def __iter__(self) -> Iterator[Frame]:
        return self.frames()

    def frames(self, first: int = 0, last: int | None = None) -> Iterator[Frame]:
        """Selected frames `first..last-1` (positions in the selection), in order, one at a time."""
        wanted = self.indices[first:last]
        if not len(wanted):
            return
        if self.backend == "decord":
            for index in wanted:
                yield Frame(index, self._decord_frame(index))
            return
        targets = iter(wanted)
        target = next(targets)
        for index, image in self._pyav_frames(wanted[0], wanted[-1] + 1):
            if index < target:
                continue
            if index > target:  # a frame number the decoder skipped: count it as missing
                raise VideoDecodeError(
                    f"frame {target} of {self.path} is missing: the file is truncated or corrupt"
                )
            yield Frame(index, self._check(image, index))
            target = next(targets, None)
            if target is None:
                return
        raise VideoDecodeError(
            f"{self.path} ended after {wanted.index(target)} of the {len(wanted)} selected frames: "
            "the file is truncated or corrupt"
        )

    def get(self, position: int) -> Frame:
        """The selected frame at `position` (0-based, negative counts from the end)."""
        index = self.indices[position]
        if self.backend == "decord":
            return Frame(index, self._decord_frame(index))
        for i, image in self._pyav_frames(index, index + 1):
            if i == index:
                return Frame(index, self._check(image, index))
        raise VideoDecodeError(
            f"frame {index} of {self.path} cannot be decoded: the file is truncated or corrupt"
        )

    def close(self) -> None:
        self._decord = None
