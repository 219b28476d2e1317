"""The Segment tab: SAM 3 directly. Noun phrases, a score threshold and exemplar boxes drawn by clicking two
corners on the picture; the image is encoded once, whatever is asked of it afterwards."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import gradio as gr

from demo.components import image_input
from demo.limits import MODEL_WORK
from demo.models import DemoInputError, Models
from demo.segment import SegmentState, add_corner, clear_boxes, refine_click, segment_ui

log = logging.getLogger(__name__)

POSITIVE, NEGATIVE = "box: positive (more like this)", "box: negative (not this)"
REFINE_ADD, REFINE_REMOVE = "refine one object: add point", "refine one object: remove point"


@dataclass
class SegmentTab:
    image: gr.Image
    phrases: gr.Textbox
    threshold: gr.Slider
    box_kind: gr.Radio
    clear: gr.Button
    run: gr.Button
    canvas: gr.Image
    boxes_info: gr.Markdown
    status: gr.Markdown
    legend: gr.HTML
    files: gr.File
    state: gr.State


def layout(examples: list[list[str]], threshold: float) -> SegmentTab:
    with gr.Row(equal_height=False):
        with gr.Column(scale=4):
            image = image_input(label="Image", sources=["upload", "clipboard"], height=300, elem_id="seg-image")
            phrases = gr.Textbox(
                label="Noun phrases (comma or newline separated)",
                placeholder="red circle, square",
                lines=2,
                elem_id="seg-phrases",
            )
            threshold = gr.Slider(
                0.0, 1.0, value=threshold, step=0.01, label="Score threshold", elem_id="seg-threshold"
            )
            box_kind = gr.Radio(
                [POSITIVE, NEGATIVE, REFINE_ADD, REFINE_REMOVE],
                value=POSITIVE,
                elem_id="seg-box-kind",
                label="Clicks on the picture: exemplar boxes (two opposite corners) or points refining one object",
            )
            with gr.Row():
                clear = gr.Button("Clear boxes and points", elem_id="seg-clear")
                run = gr.Button("Segment", variant="primary", elem_id="seg-run")
            if examples:
                gr.Examples(examples, inputs=[image, phrases], label="Examples (ShapesWorld scenes)")
        with gr.Column(scale=6):
            canvas = gr.Image(
                label="Masks and exemplar boxes (click to draw a box)",
                interactive=False,
                height=480,
                format="png",
                elem_id="seg-canvas",
            )
            boxes_info = gr.Markdown("No exemplar boxes.", elem_id="seg-boxes")
            status = gr.Markdown("Upload an image, type noun phrases and press **Segment**.", elem_id="seg-status")
            legend = gr.HTML(elem_id="seg-legend")
            files = gr.File(
                label="Downloads: COCO JSON (RLE), PNG masks (zip), overlay",
                file_count="multiple",
                interactive=False,
                elem_id="seg-files",
            )
    state = gr.State(SegmentState(), delete_callback=lambda s: s.files.cleanup())
    return SegmentTab(image, phrases, threshold, box_kind, clear, run, canvas, boxes_info, status, legend, files, state)


def wire(tab: SegmentTab, models: Models, concurrency: int) -> None:
    def on_upload(image, state: SegmentState):
        try:
            prepared = state.set_image(image)
        except DemoInputError as exc:
            gr.Warning(str(exc))
            return None, state.boxes_text(), f"⚠️ {exc}", "", None, state
        status = "Type noun phrases and press **Segment**." if prepared else "Upload an image."
        if prepared and prepared.notice:
            status += f"\n\nℹ️ {prepared.notice}"
        return state.canvas(), state.boxes_text(), status, "", None, state

    def on_click(kind: str, state: SegmentState, evt: gr.SelectData):
        try:
            if kind in (REFINE_ADD, REFINE_REMOVE):
                _, text = refine_click(models, state, *evt.index[:2], positive=kind == REFINE_ADD)
            else:
                text = add_corner(state, *evt.index[:2], positive=kind == POSITIVE)
        except DemoInputError as exc:
            gr.Warning(str(exc))
            text = state.boxes_text()
        return state.canvas(), text, state

    def on_clear(state: SegmentState):
        return state.canvas(), clear_boxes(state), state

    def on_segment(image, phrases, threshold, state: SegmentState):
        try:
            res = segment_ui(models, state, image, phrases, threshold)
        except DemoInputError as exc:
            gr.Warning(str(exc))
            return gr.skip(), f"⚠️ {exc}", gr.skip(), gr.skip(), state
        except Exception as exc:  # keep serving
            log.exception("segment failed")
            gr.Warning(f"segmentation failed: {type(exc).__name__}: {exc}")
            return (
                gr.skip(),
                f"❌ Segmentation failed: {type(exc).__name__}: {exc}",
                gr.skip(),
                gr.skip(),
                state,
            )
        return res.canvas, res.status, res.legend, res.downloads, state

    def on_threshold(image, phrases, threshold, state: SegmentState):
        """A new threshold re-runs only a segmentation already on show (no warnings before the first)."""
        if state.overlay is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), state
        return on_segment(image, phrases, threshold, state)

    tab.image.change(
        on_upload,
        [tab.image, tab.state],
        [tab.canvas, tab.boxes_info, tab.status, tab.legend, tab.files, tab.state],
        api_visibility="private",
    )
    tab.canvas.select(
        on_click,
        [tab.box_kind, tab.state],
        [tab.canvas, tab.boxes_info, tab.state],
        api_visibility="private",
        concurrency_id=MODEL_WORK,  # a refinement point runs the model
        concurrency_limit=concurrency,
    )
    tab.clear.click(on_clear, tab.state, [tab.canvas, tab.boxes_info, tab.state], api_visibility="private")
    inputs = [tab.image, tab.phrases, tab.threshold, tab.state]
    outputs = [tab.canvas, tab.status, tab.legend, tab.files, tab.state]
    gr.on(
        [tab.run.click, tab.phrases.submit],
        on_segment,
        inputs,
        outputs,
        api_visibility="private",
        concurrency_id=MODEL_WORK,
        concurrency_limit=concurrency,
    )
    tab.threshold.release(
        on_threshold,
        inputs,
        outputs,
        api_visibility="private",
        concurrency_id=MODEL_WORK,
        concurrency_limit=concurrency,
    )
