"""The programmatic endpoints `/segment`, `/refine`, `/ask`, `/track` and `/ask_video` (for `gradio_client` or
HTTP), on hidden components.

Inputs are plain files, not `gr.Image`s, so that a file which is not an image reaches our loader (after its
header is checked) and comes back as one clear error (`gr.Error`, an `AppError` in `gradio_client`) instead of a
decoder traceback; they accept image or video files only. Every call is one model run of its visitor (`GATE`),
and answers carry no server paths.
"""

from __future__ import annotations

from contextlib import contextmanager

import gradio as gr

from demo.ask import ask_json, prepare_request
from demo.handling import GATE, explain, namespace
from demo.limits import MODEL_WORK, client_id
from demo.models import Models
from demo.segment import refine_json, segment_json
from demo.video import VideoState, answer_video, result_json, track_video

IMAGE_TYPES = ["image"]
VIDEO_TYPES = ["video"]

SEGMENT_DOC = (
    "SAM 3 on one image. image: an image file; phrases: noun phrases separated by commas or newlines; "
    "threshold: score threshold in [0, 1] (default: the checkpoint's); boxes: optional exemplar boxes "
    "'x0,y0,x1,y1[,neg]' separated by ';' (pixels of the uploaded image). Returns {image, model, phrases, threshold, "
    "detections: [{phrase, score, box (XYXY pixels), mask (COCO RLE)}], timing_ms}."
)
REFINE_DOC = (
    "One object's mask from points, with SAM 3's point decoder. image: an image file; points: 'x,y' (on the object) "
    "or 'x,y,neg' (off it) separated by ';' (pixels of the uploaded image). Returns {image, model, trained, "
    "detections: [one mask]}."
)
ASK_DOC = (
    "The agent on one image. image: an image file; query: a referring expression or a question; backend: "
    "'spatial' (default, no model) or one the app's owner set up ('openai' for their model server, "
    "'transformers:<id>' for a loaded VLM; a local app also takes 'openai:<base url>#<model>' and any "
    "'transformers:<id or folder>'); threshold: SAM 3 score threshold; api_key: a key for a server you name "
    "(local apps only). Returns the run as JSON: {query, backend, answer: {status ('ok'; 'unsure': a best guess "
    "the message qualifies; 'no_match'; 'budget'; 'error'), text (the answer in words: a count, yes or no), message, "
    "detections}, steps, llm_calls, sam3_calls, timing_ms, model, image}."
)
TRACK_DOC = (
    "SAM 3 tracking on one video (up to 30 s of it; long ranges are strided to the app's frame limit). video: a "
    "video file; phrases: noun phrases separated by commas or newlines; start, end: seconds (empty or 0 end: to the "
    "end); stride: every n-th frame. Returns {video: {width, height, fps, num_frames, scale}, objects: [{id, phrase, "
    "score}], frames: [{index, objects: [{id, box, mask (COCO RLE)}]}], model, mode, tracker_trained}."
)
ASK_VIDEO_DOC = (
    "The agent on a video. video: a video file; query: a referring expression; key_s: the moment it is about, in "
    "seconds (empty: the whole clip); backend, threshold, api_key as for /ask; start, end, stride as for /track. "
    "The agent answers on 5 key frames (around key_s, or spread over the clip) and the objects most of them "
    "chose are followed through the clip with ids 1..N as in the answer; agent.answer.status is unsure when "
    "most did not. Returns /track's JSON plus key_frame: {position, index} (the answer followed), key_frames: "
    "[{position, index, status, masks}], votes and agent (that frame's run as /ask returns it); objects and "
    "frames are empty when the agent selected nothing."
)


def register(models: Models, concurrency: int) -> None:
    settings = models.settings

    @contextmanager
    def call(request: gr.Request, what: str):
        """One model run of this visitor; every failure comes back as one sentence (`gr.Error`)."""
        try:
            with GATE.hold(client_id(request)):
                yield
        except Exception as exc:  # noqa: BLE001 - the API answers with a message, never a traceback
            raise gr.Error(explain(exc, settings, what), print_exception=False) from None

    def segment(image, phrases, threshold, boxes, request: gr.Request):
        with call(request, "segmentation"):
            return segment_json(models, image, phrases, threshold, boxes, namespace(request, settings))

    def refine(image, points, request: gr.Request):
        with call(request, "refining"):
            return refine_json(models, image, points, namespace(request, settings))

    def ask(image, query, backend, threshold, api_key, request: gr.Request):
        with call(request, "the agent"):
            req = prepare_request(models, image, query, backend, api_key, threshold,
                                  namespace=namespace(request, settings))
            return ask_json(models, req)

    def track(video, phrases, start, end, stride, request: gr.Request):
        state = VideoState()
        try:
            with call(request, "tracking"):
                return result_json(track_video(models, state, video, phrases, start, end, stride or 1))
        finally:
            state.files.cleanup()  # the JSON carries every result

    def ask_video(video, query, key_s, backend, threshold, api_key, start, end, stride, request: gr.Request):
        state = VideoState()
        try:
            with call(request, "the agent on video"):
                res = answer_video(models, state, video, query, key_s, backend or "spatial", api_key, start, end,
                                   stride or 1, threshold)
                return result_json(res)
        finally:
            state.files.cleanup()

    default_threshold = models.score_threshold
    with gr.Row(visible=False):
        s_in = [gr.File(label="image", file_types=IMAGE_TYPES), gr.Textbox(label="phrases"),
                gr.Number(default_threshold, label="threshold"), gr.Textbox("", label="boxes")]
        r_in = [gr.File(label="image", file_types=IMAGE_TYPES), gr.Textbox(label="points")]
        a_in = [gr.File(label="image", file_types=IMAGE_TYPES), gr.Textbox(label="query"),
                gr.Textbox("spatial", label="backend"), gr.Number(default_threshold, label="threshold"),
                gr.Textbox("", label="api_key", type="password")]
        t_in = [gr.File(label="video", file_types=VIDEO_TYPES), gr.Textbox(label="phrases"),
                gr.Number(None, label="start"), gr.Number(None, label="end"), gr.Number(1, label="stride")]
        v_in = [gr.File(label="video", file_types=VIDEO_TYPES), gr.Textbox(label="query"),
                gr.Number(None, label="key_s"), gr.Textbox("spatial", label="backend"),
                gr.Number(default_threshold, label="threshold"), gr.Textbox("", label="api_key", type="password"),
                gr.Number(None, label="start"), gr.Number(None, label="end"), gr.Number(1, label="stride")]
        outputs = {name: gr.JSON(label=name) for name in ("segment", "refine", "ask", "track", "ask_video")}
        buttons = {name: gr.Button() for name in outputs}
    for name, fn, inputs, doc in (
        ("segment", segment, s_in, SEGMENT_DOC),
        ("refine", refine, r_in, REFINE_DOC),
        ("ask", ask, a_in, ASK_DOC),
        ("track", track, t_in, TRACK_DOC),
        ("ask_video", ask_video, v_in, ASK_VIDEO_DOC),
    ):
        buttons[name].click(
            fn,
            inputs,
            outputs[name],
            api_name=name,
            api_description=doc,
            concurrency_id=MODEL_WORK,
            concurrency_limit=concurrency,
        )
