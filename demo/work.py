"""Every model call of the app, one function each, in the shape ZeroGPU needs.

On a ZeroGPU Space `@gpu` runs each of these in a forked worker and pickles its arguments and results: so they
take only plain values (arrays, strings, numbers, lists, paths to files the app wrote) and return plain results
(`Detections` and dataclasses of plain values), reach the models through `demo.models.current()`, and change
nothing that outlives the call (the worker's changes are lost). `namespace` keeps a public app's visitors' image
encodings apart (empty: shared by content, for a local app). Inputs are checked before they get here, in the
app's own process, so a bad upload never costs GPU time. Durations are estimates from the arguments (shorter ones
get a GPU sooner); everywhere else the decorator does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from agent.llm import LLMError
from agent.loop import Agent, Budget, Counters
from agent.video import KEY_FRAMES
from demo.backends import chat_model
from demo.gpu import gpu
from demo.limits import Deadline, load_within
from demo.models import DemoInputError, current
from sam3.detections import Detections
from sam3.refine import Click
from sam3.session import BoxPrompt, Timing

SEGMENT_SECONDS = 30
REFINE_SECONDS = 15
SECONDS_PER_FRAME = 0.25  # per phrase, on a ZeroGPU slice, for the full-size video model; an upper estimate
VIDEO_OVERHEAD_SECONDS = 20


@dataclass
class SegmentOutput:
    detections: Detections
    timing: dict[str, float]
    encoded: bool  # whether this call encoded the image (False: a cached encoding answered)
    windows: list[tuple[int, int, int, int]]


@gpu(duration=SEGMENT_SECONDS)
def segment(
    image: np.ndarray, phrases: list[str], boxes: list[tuple], threshold: float, namespace: str = ""
) -> SegmentOutput:
    """SAM 3 on one image; `boxes` are (x0, y0, x1, y1, positive) exemplars in the image's pixels."""
    session = current().require_segmenter().session(Image.fromarray(image), namespace)
    before = session.encode_count
    timing = Timing()
    prompts = [BoxPrompt(tuple(b[:4]), positive=bool(b[4])) for b in boxes]
    try:
        det = session.segment(phrases, boxes=prompts, threshold=float(threshold), timing=timing)
    except ValueError as exc:
        raise DemoInputError(str(exc)) from None
    windows = [tuple(w.box) for w in session.windows_seen]
    return SegmentOutput(det, timing.as_dict(), session.encode_count > before, windows)


@dataclass
class RefineOutput:
    detections: Detections
    trained: bool  # False: the checkpoint's point decoder is untrained and its masks mean nothing


@gpu(duration=REFINE_SECONDS)
def refine(image: np.ndarray, clicks: list[tuple[float, float, bool]], namespace: str = "") -> RefineOutput:
    """One object's mask from all its refinement points, on the cached encoding."""
    models = current()
    session = models.require_segmenter().session(Image.fromarray(image), namespace)
    try:
        det = models.refiner.refine(session, [Click(float(x), float(y), bool(p)) for x, y, p in clicks])
    except ValueError as exc:
        raise DemoInputError(str(exc)) from None
    return RefineOutput(det, bool(models.refiner.trained))


def _agent_seconds(image, query, backend, api_key, threshold, fast_path, budget_s, namespace="") -> float:
    return 30 if backend == "spatial" else budget_s + 30


def make_agent(
    backend: str, api_key: str | None, threshold: float, fast_path: bool, budget_s: float, runs: int = 1
) -> Agent:
    """The agent for a checked backend string; a typed VLM is loaded within the budget, and each of `runs`
    runs (the video's key frames) gets an equal share of it."""
    models = current()
    llm = chat_model(backend, models, api_key)
    if llm is not None:
        try:
            load_within(llm, budget_s)
        except LLMError as exc:  # a typed VLM that cannot load: its message says why, for the person
            raise DemoInputError(str(exc)) from None
    return Agent(llm=llm, spatial=llm is None or bool(fast_path), budget=Budget(seconds=budget_s / runs),
                 threshold=threshold)


@gpu(duration=_agent_seconds)
def agent_events(
    image: np.ndarray,
    query: str,
    backend: str,
    api_key: str | None,
    threshold: float,
    fast_path: bool,
    budget_s: float,
    namespace: str = "",
) -> Iterator[tuple[object, dict]]:
    """The agent's events as they happen, each with the run's counters so far (calls, tokens, milliseconds)."""
    agent = make_agent(backend, api_key, threshold, fast_path, budget_s)
    session = current().require_segmenter().session(Image.fromarray(image), namespace)
    counters = Counters()
    for event in agent.run(session, query, counters):
        yield event, dict(vars(counters), backend=agent.name)


def video_seconds(frames: int, phrases: int = 1) -> float:
    """ZeroGPU duration of a video call: frames x phrases at an upper per-frame estimate, plus loading."""
    return VIDEO_OVERHEAD_SECONDS + SECONDS_PER_FRAME * frames * max(1, phrases)


@dataclass
class VideoRequest:
    """A checked video call: the file, the frames to read, and where to write the results."""

    path: str
    start: float | None
    end: float | None
    stride: int
    frames: int  # how many frames that selects
    max_side: int
    folder: str  # the visitor's result folder
    seconds: float  # the run's deadline


def _reader(request: VideoRequest):
    from sam3.video.reader import VideoReader

    return VideoReader(
        request.path,
        start=f"{request.start}s" if request.start is not None else None,
        end=f"{request.end}s" if request.end is not None else None,
        stride=request.stride,
        max_seconds=None,  # the range was checked when the request was made
        max_side=request.max_side,
    )


@contextmanager
def _decoding(path: str) -> Iterator[None]:
    """A file that breaks half way (truncated, corrupt) is bad input, named as the person knows it."""
    from sam3.video.reader import VideoError

    try:
        yield
    except VideoError as exc:
        raise DemoInputError(str(exc).replace(path, Path(path).name)) from None


def _progress(deadline: Deadline, progress: Callable | None) -> Callable[[int, int | None], None]:
    def report(done: int, total: int | None) -> None:
        deadline.check()
        if progress is not None:
            progress((done, total) if total else done, desc="tracking", unit="frames")

    return report


def _video_info(reader) -> dict:
    return {"width": reader.width, "height": reader.height, "fps": reader.info.fps,
            "num_frames": reader.info.num_frames, "scale": round(reader.scale, 6)}


@gpu(duration=lambda request, phrases, progress=None: video_seconds(request.frames, len(phrases)))
def track(request: VideoRequest, phrases: list[str], progress: Callable | None = None) -> dict:
    """Every instance of the phrases through the clip; writes the overlay and the JSON into the folder."""
    from sam3.files import write_json_file
    from sam3.video.export import TrackRecorder, write_overlay
    from sam3.video.tracking import track_text

    models = current()
    deadline = Deadline(request.seconds, "tracking")
    folder = Path(request.folder)
    overlay = folder / "tracked.mp4"
    with _decoding(request.path):
        reader = _reader(request)
        recorder = TrackRecorder(_video_info(reader), phrases)
        recorder.extend(track_text(reader, phrases, models.video, progress=_progress(deadline, progress)))
        write_overlay(reader, recorder, overlay)
    payload = recorder.to_json(model=models.source_name, mode=models.video.mode,
                               tracker_trained=models.video.tracker_trained)
    write_json_file(payload, folder / "tracks.json")
    return {"overlay": str(overlay), "json": str(folder / "tracks.json"), "objects": payload["objects"],
            "frames": len(recorder.frames), "note": models.video.note}


@gpu(duration=lambda request, query, position, backend, api_key, threshold, budget_s, progress=None:
     budget_s + video_seconds(request.frames))
def answer_video(
    request: VideoRequest,
    query: str,
    position: int | None,
    backend: str,
    api_key: str | None,
    threshold: float,
    budget_s: float,
    progress: Callable | None = None,
) -> dict:
    """The agent answers on key frames around `position` (a position among the selected frames; None: spread
    over the clip) and the objects most of them chose are followed through the clip. The key frames share the
    agent's budget (`budget_s`), and following the answer reuses the detections of the frames that linking the
    key frames' answers went through, so the call asks for an image's agent run plus one tracking of the clip.
    Writes the followed key frame's picture, the overlay and the JSON into the folder."""
    from agent.video import answer_around, follow_selection
    from sam3.files import write_json_file
    from sam3.overlay import draw_overlay
    from sam3.video.export import TrackRecorder, write_overlay

    models = current()
    deadline = Deadline(request.seconds, "following the answer")
    agent = make_agent(backend, api_key, threshold, True, budget_s, runs=KEY_FRAMES)
    folder = Path(request.folder)
    with _decoding(request.path):
        reader = _reader(request)
        found = answer_around(agent, models.require_segmenter(), reader, position, query)
        key = found.key
        key_image = reader.get(key.position).image
    answer = found.answer
    selection = answer.detections
    ids = list(range(1, len(selection) + 1))
    key_png = folder / "key_frame.png"
    Image.fromarray(draw_overlay(key_image, selection, colour_ids=ids)).save(key_png)
    out = {"key_frame_png": str(key_png), "key_index": key.index, "agent": found.run_json(),
           "selected": len(selection), "status": answer.status,
           "message": answer.message, "votes": found.votes, "key_frames": len(found.answers), "objects": []}
    if not len(selection):
        write_json_file({**found.summary(), "agent": out["agent"]}, folder / "agent_trace.json")
        return {**out, "json": str(folder / "agent_trace.json"), "overlay": ""}
    recorder = TrackRecorder(_video_info(reader), list(dict.fromkeys(selection.phrases)))
    overlay = folder / "answer.mp4"
    with _decoding(request.path):
        recorder.extend(follow_selection(reader, key.position, selection, detector=models.segmenter.loaded,
                                         tracker=models.tracker, ids=ids, threshold=threshold,
                                         progress=_progress(deadline, progress), seen=found.seen))
        write_overlay(reader, recorder, overlay)
    payload = recorder.to_json(model=models.source_name, mode="sam3" if models.tracker is not None else "associate",
                               agent=out["agent"], **found.summary())
    write_json_file(payload, folder / "answer_tracks.json")
    return {**out, "json": str(folder / "answer_tracks.json"), "overlay": str(overlay),
            "objects": payload["objects"], "frames": len(recorder.frames),
            "how": "SAM 3's tracker" if models.tracker is not None else "matching the detector's masks frame to frame"}
