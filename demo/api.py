"""The programmatic endpoints `/segment`, `/ask`, `/track` and `/ask_video` (for `gradio_client` or HTTP),
on hidden components.

Inputs are plain files, not `gr.Image`s, so that a file which is not an image reaches our loader and comes
back as one clear error (`gr.Error`, an `AppError` in `gradio_client`) instead of a decoder traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import gradio as gr

from demo.ask import ask_json
from demo.limits import MODEL_WORK
from demo.models import DemoInputError, Models
from demo.segment import segment_json
from demo.video import VideoState, answer_video, track_video

SEGMENT_DOC = (
    "SAM 3 on one image. image: an image file; phrases: noun phrases separated by commas or newlines; "
    "threshold: score threshold in [0, 1] (default: the checkpoint's); boxes: optional exemplar boxes "
    "'x0,y0,x1,y1[,neg]' separated by ';' (pixels of the uploaded image). Returns {image, model, phrases, threshold, "
    "detections: [{phrase, score, box (XYXY pixels), mask (COCO RLE)}], timing_ms}."
)
ASK_DOC = (
    "The agent on one image. image: an image file; query: a referring expression; backend: 'spatial' "
    "(default, no model), 'transformers:<model id or dir>' or 'openai:<base url>#<model>'; threshold: "
    "SAM 3 score threshold; api_key: optional key for an OpenAI-compatible server. Returns the run as "
    "JSON: {query, backend, answer: {status, message, detections}, steps, llm_calls, sam3_calls, "
    "timing_ms, model, image}."
)

TRACK_DOC = (
    "SAM 3 tracking on one video (up to 30 s of it). video: a video file; phrases: noun phrases separated by "
    "commas or newlines; start, end: seconds (empty or 0 end: to the end); stride: every n-th frame. Returns "
    "{video: {width, height, fps, num_frames}, objects: [{id, phrase, score}], frames: [{index, objects: "
    "[{id, box, mask (COCO RLE, full resolution)}]}], model, mode, tracker_trained}."
)
ASK_VIDEO_DOC = (
    "The agent on a video. video: a video file; query: a referring expression answered on the key frame; "
    "key_s: the key frame's time in seconds (empty: the first selected frame); backend, threshold, api_key as "
    "for /ask; start, end, stride as for /track. The masks chosen on the key frame are followed through the "
    "clip with ids 1..N as in the answer. Returns /track's JSON plus key_frame: {position, index} and agent "
    "(the run as /ask returns it); objects and frames are empty when the agent selected nothing."
)


@contextmanager
def _video_call() -> Iterator[VideoState]:
    """One video call in its own temporary folder, removed afterwards (the JSON carries every result)."""
    state = VideoState()
    try:
        yield state
    except DemoInputError as exc:
        raise gr.Error(str(exc), print_exception=False) from None
    finally:
        state.files.cleanup()


def _range_inputs() -> tuple[gr.Number, gr.Number, gr.Number]:
    return gr.Number(None, label="start"), gr.Number(None, label="end"), gr.Number(1, label="stride")


def register(models: Models, concurrency: int) -> None:
    def segment(image, phrases, threshold, boxes):
        try:
            return segment_json(models, image, phrases, threshold, boxes)
        except DemoInputError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def ask(image, query, backend, threshold, api_key):
        try:
            return ask_json(models, image, query, backend, threshold, api_key)
        except DemoInputError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    def track(video, phrases, start, end, stride):
        with _video_call() as state:
            res = track_video(models, state, video, phrases, start, end, int(stride or 1))
            return json.loads(Path(res.json_path).read_text())

    def ask_video(video, query, key_s, backend, threshold, api_key, start, end, stride):
        with _video_call() as state:
            spec, stride = backend or "spatial", int(stride or 1)
            res = answer_video(models, state, video, query, key_s, spec, api_key, start, end, stride, threshold)
            return json.loads(Path(res.json_path).read_text())

    default_threshold = models.score_threshold
    with gr.Row(visible=False):
        s_image, s_phrases = gr.File(label="image"), gr.Textbox(label="phrases")
        s_threshold, s_boxes = gr.Number(default_threshold, label="threshold"), gr.Textbox("", label="boxes")
        s_out, s_button = gr.JSON(label="detections"), gr.Button()
        a_image, a_query = gr.File(label="image"), gr.Textbox(label="query")
        a_backend, a_threshold = gr.Textbox("spatial", label="backend"), gr.Number(default_threshold, label="threshold")
        a_key, a_out, a_button = (
            gr.Textbox("", label="api_key", type="password"),
            gr.JSON(label="run"),
            gr.Button(),
        )
        t_video, t_phrases = gr.File(label="video"), gr.Textbox(label="phrases")
        t_start, t_end, t_stride = _range_inputs()
        t_out, t_button = gr.JSON(label="tracks"), gr.Button()
        v_video, v_query, v_key = gr.File(label="video"), gr.Textbox(label="query"), gr.Number(None, label="key_s")
        v_backend, v_threshold = gr.Textbox("spatial", label="backend"), gr.Number(default_threshold, label="threshold")
        v_api_key = gr.Textbox("", label="api_key", type="password")
        v_start, v_end, v_stride = _range_inputs()
        v_out, v_button = gr.JSON(label="tracks"), gr.Button()
    s_button.click(
        segment,
        [s_image, s_phrases, s_threshold, s_boxes],
        s_out,
        api_name="segment",
        api_description=SEGMENT_DOC,
        concurrency_id=MODEL_WORK,
        concurrency_limit=concurrency,
    )
    a_button.click(
        ask,
        [a_image, a_query, a_backend, a_threshold, a_key],
        a_out,
        api_name="ask",
        api_description=ASK_DOC,
        concurrency_id=MODEL_WORK,
        concurrency_limit=concurrency,
    )
    t_button.click(
        track,
        [t_video, t_phrases, t_start, t_end, t_stride],
        t_out,
        api_name="track",
        api_description=TRACK_DOC,
        concurrency_id=MODEL_WORK,
        concurrency_limit=concurrency,
    )
    v_button.click(
        ask_video,
        [v_video, v_query, v_key, v_backend, v_threshold, v_api_key, v_start, v_end, v_stride],
        v_out,
        api_name="ask_video",
        api_description=ASK_VIDEO_DOC,
        concurrency_id=MODEL_WORK,
        concurrency_limit=concurrency,
    )
