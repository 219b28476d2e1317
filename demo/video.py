"""The Video tab's logic: SAM 3 tracking of noun phrases through a short video. No Gradio here.

Frames stream through `sam3.video.track_text` (flat memory whatever the length); the result is an
overlay mp4 with a stable colour and number per object, and the tracking JSON of `python -m sam3 track`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from demo.export import SessionFiles, safe_stem
from demo.gpu import gpu
from demo.inputs import parse_phrases
from demo.models import DemoInputError, Models
from sam3.video.export import TrackRecorder, write_overlay
from sam3.video.reader import VideoError, VideoReader
from sam3.video.tracking import track_text

MAX_SECONDS = 30.0  # SAM 3's concept task is defined for videos of up to about 30 s


@dataclass
class VideoState:
    files: SessionFiles = field(default_factory=SessionFiles)


@dataclass
class VideoResult:
    overlay_path: str
    json_path: str
    status: str
    objects: list[dict]


def _seconds(text: str | float | None, name: str) -> float | None:
    if text in (None, ""):
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise DemoInputError(f"{name} must be a number of seconds, got {text!r}") from None
    if value < 0:
        raise DemoInputError(f"{name} must not be negative, got {value}")
    return value


@gpu
def track_video(
    models: Models,
    state: VideoState,
    video_path: str | None,
    phrases: str,
    start_s: str | float | None = None,
    end_s: str | float | None = None,
    stride: int = 1,
    progress: Callable[[int, int | None], None] | None = None,
) -> VideoResult:
    """Tracks every instance of the phrases; raises `DemoInputError` with a sentence for bad input."""
    if not video_path:
        raise DemoInputError("upload a video first")
    prompts = parse_phrases(phrases)
    start, end = _seconds(start_s, "start"), _seconds(end_s, "end")
    end = end or None  # 0 (the empty number box) means: to the end of the video
    if start is not None and end is not None and end <= start:
        raise DemoInputError(f"end ({end} s) must come after start ({start} s)")
    try:
        reader = VideoReader(
            video_path,
            start=f"{start}s" if start is not None else None,
            end=f"{end}s" if end is not None else None,
            stride=max(1, int(stride)),
            max_seconds=MAX_SECONDS,
        )
    except VideoError as exc:
        raise DemoInputError(str(exc)) from None
    loaded = models.video()
    recorder = TrackRecorder({**reader.info.as_dict()}, prompts)
    recorder.extend(track_text(reader, prompts, loaded, progress=progress))
    folder = state.files.new_folder("video")
    stem = safe_stem(Path(video_path).stem, "video")
    overlay = folder / f"{stem}_tracked.mp4"
    write_overlay(reader, recorder, overlay)
    payload = recorder.to_json(model=loaded.source, mode=loaded.mode, tracker_trained=loaded.tracker_trained)
    json_path = folder / f"{stem}_tracks.json"
    json_path.write_text(json.dumps(payload))
    objects = payload["objects"]
    note = f" Note: {loaded.note}" if loaded.note else ""
    status = (
        f"Tracked {len(objects)} object(s) for {', '.join(repr(p) for p in prompts)} over "
        f"{len(recorder.frames)} frame(s).{note}"
    )
    return VideoResult(str(overlay), str(json_path), status, objects)
