"""Turning what a person typed or uploaded into model input, or one sentence saying what is wrong.

Uploads are checked from their headers first (size, pixel count, kind), so a decompression bomb or a huge
video is refused before anything decodes it; messages name the file as the person knows it, never the
server's path to it.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from agent.loop import MAX_QUERY_CHARS
from demo.models import DemoInputError
from demo.settings import Settings
from sam3.image_io import ImageLoadError, check_image_file, downscale_to_limit, load_image
from sam3.session import BoxPrompt

MAX_PHRASES = 16
MAX_PHRASE_CHARS = 100
MAX_VIDEO_SECONDS = 30.0  # SAM 3's concept task is defined for videos of up to about 30 s


@dataclass
class PreparedImage:
    """An upright RGB image the model sees; `scale` maps original pixels to it (1.0 when not resized)."""

    image: Image.Image
    name: str
    original_size: tuple[int, int]  # (W, H) of the upload
    scale: float = 1.0
    max_side: int = 0

    @property
    def array(self) -> np.ndarray:
        return np.asarray(self.image)

    @property
    def notice(self) -> str | None:
        if self.scale == 1.0:
            return None
        w, h = self.original_size
        return (
            f"The image is {w}x{h}; it was downscaled to {self.image.width}x{self.image.height} "
            f"(longest side {self.max_side} px), and masks and boxes are at that size."
        )


def _public(exc: Exception, path: str | os.PathLike) -> str:
    """The error with the server's path to the upload replaced by the file's name."""
    return str(exc).replace(os.fspath(path), Path(path).name)


def _check_file_size(path: str | os.PathLike, settings: Settings) -> None:
    size = Path(path).stat().st_size if Path(path).is_file() else 0
    if size > settings.max_upload_mb << 20:
        raise DemoInputError(
            f"{Path(path).name} is {size / 2**20:.0f} MB; uploads are limited to {settings.max_upload_mb} MB"
        )


def check_upload(path: str | os.PathLike | None, settings: Settings) -> None:
    """Refuses files over the upload limit, and images over the pixel limit from their header alone."""
    if path is None or str(path) == "":
        raise DemoInputError("upload an image first (or pick an example)")
    _check_file_size(path, settings)
    try:
        check_image_file(path, max_pixels=settings.max_pixels)
    except ImageLoadError as exc:
        raise DemoInputError(_public(exc, path)) from None


def prepare_image(path: str | os.PathLike | None, settings: Settings) -> PreparedImage:
    """Load an upload (a path in Gradio's upload folder) as RGB, downscaled to `max_side` if larger."""
    check_upload(path, settings)
    try:
        image = load_image(path, max_pixels=settings.max_pixels)
    except ImageLoadError as exc:
        raise DemoInputError(_public(exc, path)) from None
    original = image.size
    image, scale = downscale_to_limit(image, settings.max_side)
    return PreparedImage(image, Path(path).name, original, scale, settings.max_side)


def clean_query(query: str | None) -> str:
    query = " ".join(str(query or "").split())
    if not query:
        raise DemoInputError("type a query first, e.g. 'the leftmost star'")
    if len(query) > MAX_QUERY_CHARS:
        raise DemoInputError(f"the query is too long ({len(query)} characters, at most {MAX_QUERY_CHARS})")
    return query


def parse_phrases(text: str | None, allow_empty: bool = False) -> list[str]:
    """Comma- or newline-separated noun phrases, whitespace-normalised, duplicates dropped."""
    phrases = list(dict.fromkeys(" ".join(p.split()) for p in re.split(r"[,\n;]", text or "")))
    phrases = [p for p in phrases if p]
    if not phrases and not allow_empty:
        raise DemoInputError("type at least one noun phrase, e.g. 'red circle, blue square'")
    if len(phrases) > MAX_PHRASES:
        raise DemoInputError(f"too many phrases ({len(phrases)}, at most {MAX_PHRASES})")
    long = [p for p in phrases if len(p) > MAX_PHRASE_CHARS]
    if long:
        raise DemoInputError(f"phrases must be short (at most {MAX_PHRASE_CHARS} characters): {long[0][:40]!r}...")
    return phrases


def parse_boxes(text: str | None, scale: float = 1.0) -> list[BoxPrompt]:
    """`x0,y0,x1,y1[,neg]` boxes separated by `;` or newlines, in upload pixels, scaled to the model image."""
    boxes = []
    for part in re.split(r"[;\n]", text or ""):
        if part.strip():
            try:
                box = BoxPrompt.parse(part)
            except ValueError as exc:
                raise DemoInputError(str(exc)) from None
            boxes.append(BoxPrompt(tuple(v * scale for v in box.box), box.positive))
    return boxes


def seconds(text: str | float | None, name: str) -> float | None:
    """A time in seconds from a page or API field (empty: None)."""
    if text in (None, ""):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise DemoInputError(f"{name} must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise DemoInputError(f"{name} must be a number of seconds, not negative, got {value}")
    return value


@dataclass
class VideoChoice:
    """A checked video range: the reader to decode it with, and what was adjusted to stay within the limits."""

    reader: object  # sam3.video.reader.VideoReader
    start: float | None
    end: float | None
    stride: int
    notice: str | None  # said to the person when the stride or the frame size was changed


def open_video(path: str | None, start_s, end_s, stride, settings: Settings) -> VideoChoice:
    """Probes the upload (header and packets, no decoding beyond the first frame) and picks a stride that keeps
    the clip within `settings.max_video_frames`, whatever frame rate the header claims; frames larger than
    `settings.max_video_side` are downscaled as they are decoded."""
    from sam3.video.reader import VideoError, VideoReader

    if not path:
        raise DemoInputError("upload a video first")
    _check_file_size(path, settings)
    start, end = seconds(start_s, "start"), seconds(end_s, "end")
    end = end or None  # 0 (the empty number box) means: to the end of the video
    if start is not None and end is not None and end <= start:
        raise DemoInputError(f"end ({end} s) must come after start ({start} s)")
    try:
        stride = int(stride or 1)
    except (TypeError, ValueError):
        raise DemoInputError(f"the frame stride must be a whole number, got {stride!r}") from None
    if stride < 1:
        raise DemoInputError(f"the frame stride must be at least 1, got {stride}")

    def reader(step: int) -> VideoReader:
        return VideoReader(
            path,
            start=f"{start}s" if start is not None else None,
            end=f"{end}s" if end is not None else None,
            stride=step,
            max_seconds=MAX_VIDEO_SECONDS,
            max_side=settings.max_video_side,
        )

    try:
        video = reader(stride)
        notes = []
        if len(video) > settings.max_video_frames:
            wanted = len(video)
            stride *= math.ceil(wanted / settings.max_video_frames)
            video = reader(stride)
            notes.append(f"the range holds {wanted} frames at the chosen stride, more than the "
                         f"{settings.max_video_frames} one run may track: every {stride}th frame is tracked")
        if video.scale < 1:
            notes.append(f"frames are tracked at {video.width}x{video.height} "
                         f"(from {video.info.width}x{video.info.height})")
    except VideoError as exc:
        raise DemoInputError(_public(exc, path)) from None
    return VideoChoice(video, start, end, stride, "; ".join(notes).capitalize() + "." if notes else None)
