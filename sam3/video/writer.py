"""The one mp4 writer: H.264/yuv420p (MPEG-4 part 2 where PyAV has no libx264), frames appended one at a time.

Browsers and decord both read what it writes; frames stream in, so an overlay of a long clip never sits in
memory whole.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ENCODERS = ("libx264", "mpeg4")  # first one this PyAV build can encode with wins


def _encoder() -> str:
    for name in ENCODERS:
        try:
            av.codec.Codec(name, "w")
        except Exception:  # PyAV's not-found error types differ across versions
            continue
        return name
    raise RuntimeError(f"none of the encoders {ENCODERS} is available in this PyAV build")


class Mp4Writer:
    """(H, W, 3) uint8 RGB frames appended one at a time; yuv420p needs even sides, so odd ones are padded
    by one pixel."""

    def __init__(self, path: str | os.PathLike, fps: float, width: int, height: int):
        if not fps or fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.width, self.height = width, height
        self.codec = _encoder()
        self._container = av.open(self.path, mode="w")
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream(self.codec, rate=rate)
        self._stream.width, self._stream.height = width + width % 2, height + height % 2
        self._stream.pix_fmt = "yuv420p"
        if self.codec == "libx264":
            self._stream.options = {"crf": "18"}
        else:
            self._stream.bit_rate = 8_000_000  # the mpeg4 default (~200 kb/s) smears small objects

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"frame is {frame.shape[1]}x{frame.shape[0]} {frame.dtype}, "
                f"the writer {self.width}x{self.height} uint8 RGB"
            )
        if self.width % 2 or self.height % 2:
            frame = np.pad(frame, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
        self._container.mux(
            self._stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24"))
        )

    def close(self) -> None:
        if self._container is not None:
            self._container.mux(self._stream.encode())
            self._container.close()
            self._container = None

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_mp4(frames: np.ndarray, path: str | os.PathLike, fps: float) -> str:
    """Writes (T, H, W, 3) uint8 RGB frames; returns the codec used."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"frames must be non-empty (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    with Mp4Writer(path, fps, frames.shape[2], frames.shape[1]) as writer:
        for frame in frames:
            writer.write(frame)
        return writer.codec
