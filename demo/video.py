"""The Video tab's logic: SAM 3 tracking of noun phrases, or of the agent's answer on a key frame. No Gradio here.

The clip is checked here (`demo.inputs.open_video`: header and packets, a stride that keeps it within the
frame limit, frames downscaled past the side limit); the tracking itself is `demo.work.track` or
`demo.work.answer_video`, which stream the frames (flat memory whatever the length), stop at the run's deadline
and write an overlay mp4 (a stable colour and number per object) and the tracking JSON of `python -m sam3 track`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from demo import work
from demo.backends import check_spec
from demo.export import SessionFiles, safe_stem
from demo.inputs import MAX_VIDEO_SECONDS, clean_query, open_video, parse_phrases, seconds
from demo.models import DemoInputError, Models

__all__ = ["MAX_VIDEO_SECONDS", "VideoResult", "VideoState", "answer_video", "track_video"]


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
    unsure: bool = False  # the agent's answer is flagged: shown as a warning, not a success


def key_position(reader, key_s: str | float | None) -> int | None:
    """The selected frame nearest `key_s` seconds into the file (None when empty: a query about the whole clip)."""
    t = seconds(key_s, "the key frame")
    if t is None:
        return None
    times = reader.info.times(reader.indices)
    first, last, half = times[0], times[-1], 0.5 / reader.info.fps
    if not first - half <= t <= last + half:
        raise DemoInputError(f"the key frame at {t:g} s is outside the chosen range ({first:.2f} s to {last:.2f} s)")
    return int(np.abs(times - t).argmin())


def _request(models: Models, state: VideoState, video_path, start_s, end_s, stride):
    choice = open_video(video_path, start_s, end_s, stride, models.settings)
    folder = state.files.new_folder("video")
    request = work.VideoRequest(
        str(video_path),
        choice.start,
        choice.end,
        choice.stride,
        len(choice.reader),
        models.settings.max_video_side,
        str(folder),
        models.settings.video_seconds,
    )
    return choice, request


def _named(path: str, stem: str) -> str:
    """A result file renamed after the upload (downloads keep a recognisable name)."""
    if not path:
        return path
    target = Path(path).with_name(f"{stem}_{Path(path).name}")
    Path(path).replace(target)
    return str(target)


def track_video(
    models: Models,
    state: VideoState,
    video_path: str | None,
    phrases: str,
    start_s: str | float | None = None,
    end_s: str | float | None = None,
    stride: int = 1,
    progress: Callable | None = None,
) -> VideoResult:
    """Tracks every instance of the phrases; raises `DemoInputError` with a sentence for bad input."""
    prompts = parse_phrases(phrases)
    models.require_segmenter()
    choice, request = _request(models, state, video_path, start_s, end_s, stride)
    out = work.track(request, prompts, progress)
    stem = safe_stem(Path(video_path).stem, "video")
    note = f" Note: {out['note']}" if out["note"] else ""
    limits = f" {choice.notice}" if choice.notice else ""
    status = (
        f"Tracked {len(out['objects'])} object(s) for {', '.join(repr(p) for p in prompts)} over "
        f"{out['frames']} frame(s).{limits}{note}"
    )
    return VideoResult(_named(out["overlay"], stem), _named(out["json"], stem), status, out["objects"])


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
    progress: Callable | None = None,
) -> VideoResult:
    """The agent answers `query` on key frames around `key_s` (over the whole clip when empty); the objects most
    of them chose are followed through the video."""
    query = clean_query(query)
    models.require_segmenter()
    threshold = models.threshold(threshold)
    spec = check_spec(spec, models.settings)
    choice, request = _request(models, state, video_path, start_s, end_s, stride)
    position = key_position(choice.reader, key_s)
    out = work.answer_video(
        request, query, position, spec, api_key or None, threshold, models.settings.agent_seconds, progress
    )
    stem = safe_stem(Path(video_path).stem, "video")
    key_png = _named(out["key_frame_png"], stem)
    at = f"frame {out['key_index']} ({choice.reader.info.times([out['key_index']])[0]:.2f} s)"
    agreed = "" if out["status"] == "unsure" else f"; {out['votes']} of {out['key_frames']} key frames chose them"
    if not out["selected"]:
        message = out["message"] or "no mask matches the query"
        return VideoResult("", _named(out["json"], stem), f"Nothing to follow: on {at} the agent answered: {message}",
                           [], key_png)
    limits = f" {choice.notice}" if choice.notice else ""
    unsure = out["status"] == "unsure"
    flag = "**Unsure**: " if unsure else ""
    status = (
        f"{flag}On {at} the agent chose {out['selected']} mask(s) ({out['message']}{agreed}); followed over "
        f"{out['frames']} frame(s) by {out['how']}.{limits}"
    )
    return VideoResult(_named(out["overlay"], stem), _named(out["json"], stem), status, out["objects"], key_png, unsure)


def result_json(result: VideoResult) -> dict:
    """What the `/track` and `/ask_video` APIs return: the JSON the run wrote."""
    return json.loads(Path(result.json_path).read_text())
