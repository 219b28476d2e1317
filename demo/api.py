"""The programmatic endpoints `/segment` and `/ask` (for `gradio_client` or HTTP), on hidden components.

Inputs are plain files, not `gr.Image`s, so that a file which is not an image reaches our loader and comes
back as one clear error (`gr.Error`, an `AppError` in `gradio_client`) instead of a decoder traceback.
"""

from __future__ import annotations

import gradio as gr

from demo.ask import ask_json
from demo.models import DemoInputError, Models
from demo.segment import segment_json
from demo.tab_ask import MODEL_WORK

SEGMENT_DOC = (
    "SAM 3 on one image. image: an image file; phrases: noun phrases separated by commas or newlines; "
    "threshold: score threshold in [0, 1]; boxes: optional exemplar boxes 'x0,y0,x1,y1[,neg]' "
    "separated by ';' (pixels of the uploaded image). Returns {image, model, phrases, threshold, "
    "detections: [{phrase, score, box (XYXY pixels), mask (COCO RLE)}], timing_ms}."
)
ASK_DOC = (
    "The agent on one image. image: an image file; query: a referring expression; backend: 'spatial' "
    "(default, no model), 'transformers:<model id or dir>' or 'openai:<base url>#<model>'; threshold: "
    "SAM 3 score threshold; api_key: optional key for an OpenAI-compatible server. Returns the run as "
    "JSON: {query, backend, answer: {status, message, detections}, steps, llm_calls, sam3_calls, "
    "timing_ms, model, image}."
)


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

    with gr.Row(visible=False):
        s_image, s_phrases = gr.File(label="image"), gr.Textbox(label="phrases")
        s_threshold, s_boxes = gr.Number(0.5, label="threshold"), gr.Textbox("", label="boxes")
        s_out, s_button = gr.JSON(label="detections"), gr.Button()
        a_image, a_query = gr.File(label="image"), gr.Textbox(label="query")
        a_backend, a_threshold = gr.Textbox("spatial", label="backend"), gr.Number(0.5, label="threshold")
        a_key, a_out, a_button = (
            gr.Textbox("", label="api_key", type="password"),
            gr.JSON(label="run"),
            gr.Button(),
        )
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
