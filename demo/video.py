"""The Video tab's logic: SAM 3 tracking of noun phrases, or of the agent's answer on a key frame. No Gradio here.

Frames stream through `sam3.video.track_text` (flat memory whatever the length); the result is an
overlay mp4 with a stable colour and number per object, and the tracking JSON of `python -m sam3 track`.
An agent query runs on one key frame (`agent.video`) and the masks it selects are followed through
the clip, numbered as in its answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agent.loop import Agent, Budget
from agent.video import answer_key_frame, follow_selection
from demo.export import SessionFiles, safe_stem, write_png
from demo.gpu import gpu
from demo.inputs import clean_query, parse_phrases
from demo.models import DemoInputError, Models
from sam3.overlay import draw_overlay
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
    key_frame_path: str | None = None


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


def _open(video_path: str | None, start_s, end_s, stride: int) -> VideoReader:
    if not video_path:
        raise DemoInputError("upload a video first")
    start, end = _seconds(start_s, "start"), _seconds(end_s, "end")
    end = end or None  # 0 (the empty number box) means: to the end of the video
    if start is not None and end is not None and end <= start:
        raise DemoInputError(f"end ({end} s) must come after start ({start} s)")
    try:
        return VideoReader(
            video_path,
            start=f"{start}s" if start is not None else None,
            end=f"{end}s" if end is not None else None,
            stride=max(1, int(stride)),
            max_seconds=MAX_SECONDS,
        )
    except VideoError as exc:
        raise DemoInputError(public_message(exc, video_path)) from None


def public_message(exc: Exception, video_path: str) -> str:
    """The error with the server's path to the upload replaced by the file's name."""
    return str(exc).replace(str(video_path), Path(video_path).name)


@contextmanager
def _decoding(video_path: str) -> Iterator[None]:
    """A file that breaks mid-way (truncated, corrupt) is bad input too, reported like the others."""
    try:
        yield
    except VideoError as exc:
        raise DemoInputError(public_message(exc, video_path)) from None


def key_position(reader: VideoReader, key_s: str | float | None) -> int:
    """The selected frame nearest `key_s` seconds into the file (the range's first frame when empty)."""
    t = _seconds(key_s, "the key frame")
    if t is None:
        return 0
    times = reader.info.times(reader.indices)
    first, last, half = times[0], times[-1], 0.5 / reader.info.fps
    if not first - half <= t <= last + half:
        raise DemoInputError(f"the key frame at {t:g} s is outside the chosen range ({first:.2f} s to {last:.2f} s)")
    return int(np.abs(times - t).argmin())


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
    reader = _open(video_path, start_s, end_s, stride)
    prompts = parse_phrases(phrases)
    loaded = models.video()
    recorder = TrackRecorder({**reader.info.as_dict()}, prompts)
    with _decoding(video_path):
        recorder.extend(track_text(reader, prompts, loaded, progress=progress))
    folder = state.files.new_folder("video")
    stem = safe_stem(Path(video_path).stem, "video")
    overlay = folder / f"{stem}_tracked.mp4"
    with _decoding(video_path):
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


@gpu
def answer_video(
    models: Models,
    state: VideoState,
    video_path: str | None,
    query: str | None,
    key_s: str | float | None = None,
    spec: str = "spatial",
    api_key: str | None = None,
    start_s: str | float | None = None,
    end_s: str | float | None = None,
    stride: int = 1,
    threshold: float | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> VideoResult:
    """The agent answers `query` on the key frame; its selection is followed through the video."""
    query = clean_query(query)
    reader = _open(video_path, start_s, end_s, stride)
    position = key_position(reader, key_s)
    segmenter = models.require_segmenter()
    threshold = models.threshold(threshold)
    llm = models.chat_model(spec, api_key)
    agent = Agent(llm=llm, spatial=True, budget=Budget(), threshold=threshold)
    with _decoding(video_path):
        key = answer_key_frame(agent, segmenter, reader, position, query)
        frame = reader.get(position).image
    selection = key.detections
    folder = state.files.new_folder("video")
    stem = safe_stem(Path(video_path).stem, "video")
    ids = list(range(1, len(selection) + 1))
    key_png = write_png(folder, f"{stem}_key_frame.png", draw_overlay(frame, selection, colour_ids=ids))
    at = f"frame {key.index} ({reader.info.times([key.index])[0]:.2f} s)"
    if not len(selection):
        trace = folder / f"{stem}_agent_trace.json"
        key_frame = {"position": position, "index": key.index}
        trace.write_text(json.dumps({"key_frame": key_frame, "agent": key.run.to_json()}))
        message = key.run.answer.message or "no mask matches the query"
        return VideoResult("", str(trace), f"Nothing to follow: on {at} the agent answered: {message}", [], key_png)
    tracker = models.tracker()
    recorder = TrackRecorder({**reader.info.as_dict()}, list(dict.fromkeys(selection.phrases)))
    with _decoding(video_path):
        recorder.extend(
            follow_selection(
                reader,
                position,
                selection,
                detector=segmenter.loaded,
                tracker=tracker,
                ids=ids,
                threshold=threshold,
                progress=progress,
            )
        )
    overlay = folder / f"{stem}_answer.mp4"
    with _decoding(video_path):
        write_overlay(reader, recorder, overlay)
    payload = recorder.to_json(
        model=segmenter.loaded.source,
        mode="sam3" if tracker is not None else "associate",
        key_frame={"position": position, "index": key.index},
        agent=key.run.to_json(),
    )
    json_path = folder / f"{stem}_answer_tracks.json"
    json_path.write_text(json.dumps(payload))
    how = "SAM 3's tracker" if tracker is not None else "matching the detector's masks frame to frame"
    status = (
        f"On {at} the agent chose {len(selection)} mask(s) ({key.run.answer.message}); followed over "
        f"{len(recorder.frames)} frame(s) by {how}."
    )
    return VideoResult(str(overlay), str(json_path), status, payload["objects"], key_png)
