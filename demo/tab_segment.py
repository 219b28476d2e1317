"""The Segment tab: SAM 3 directly. Noun phrases, a score threshold and exemplar boxes drawn by clicking two
corners on the picture; the image is encoded once, whatever is asked of it afterwards."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from demo.components import image_input
from demo.handling import GATE, explain, namespace
from demo.inputs import prepare_image
from demo.limits import MODEL_WORK, client_id
from demo.models import DemoInputError, Models
from demo.render import legend_html
from demo.segment import SegmentState, add_corner, clear_boxes, refine_click, segment_json, segment_ui
from sam3.detections import Detections
from sam3.overlay import draw_overlay

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


def layout(examples: list[list[str]], models: Models) -> SegmentTab:
    settings = models.settings
    with gr.Row(equal_height=False):
        with gr.Column(scale=4):
            image = image_input(settings, label="Image", sources=["upload", "clipboard"], height=300,
                                elem_id="seg-image")
            phrases = gr.Textbox(
                label="Noun phrases (comma or newline separated)",
                placeholder="red circle, square",
                lines=2,
                elem_id="seg-phrases",
            )
            threshold = gr.Slider(
                0.0, 1.0, value=models.score_threshold, step=0.01, label="Score threshold", elem_id="seg-threshold"
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
    if examples:
        gr.Examples(
            examples,
            inputs=[image, phrases],
            outputs=[canvas, status, legend],
            fn=lambda image, phrases: cached_example(models, image, phrases),
            cache_examples=True,
            cache_mode="lazy",
            label="Examples (ShapesWorld scenes): segmented once, then from the cache",
        )
    state = gr.State(SegmentState(), time_to_live=settings.session_ttl_s, delete_callback=lambda s: s.files.cleanup())
    return SegmentTab(image, phrases, threshold, box_kind, clear, run, canvas, boxes_info, status, legend, files, state)


def cached_example(models: Models, image: str, phrases: str):
    """An example's masks, computed on the first click and cached for every visitor."""
    try:
        out = segment_json(models, image, phrases)
    except Exception as exc:  # noqa: BLE001 - told like a run's failure
        return None, f"⚠️ {explain(exc, models.settings, 'the example')}", ""
    prepared = prepare_image(image, models.settings)
    det = Detections.from_json_list(out["detections"], (prepared.image.height, prepared.image.width))
    status = f"**Example**: {len(det)} mask(s) for {phrases}. Press **Segment** to work with them (boxes, points)."
    return draw_overlay(prepared.image, det) if len(det) else prepared.array, status, legend_html(det)


def wire(tab: SegmentTab, models: Models, concurrency: int) -> None:
    settings = models.settings

    def on_upload(image, state: SegmentState):
        try:
            state.set_image(image, models)
        except DemoInputError as exc:
            gr.Warning(str(exc))
            return None, state.boxes_text(), f"⚠️ {exc}", "", None, state
        status = "Type noun phrases and press **Segment**." if image else "Upload an image."
        canvas = None
        if image:
            try:
                prepared = state.prepared(models)
            except DemoInputError as exc:
                state.image_path = None
                gr.Warning(str(exc))
                return None, state.boxes_text(), f"⚠️ {exc}", "", None, state
            canvas = state.canvas(models)
            if prepared.notice:
                status += f"\n\nℹ️ {prepared.notice}"
        return canvas, state.boxes_text(), status, "", None, state

    def on_click(kind: str, state: SegmentState, evt: gr.SelectData, request: gr.Request):
        try:
            if kind in (REFINE_ADD, REFINE_REMOVE):
                with GATE.hold(client_id(request)):
                    text = refine_click(models, state, *evt.index[:2], positive=kind == REFINE_ADD,
                                        namespace=namespace(request, settings))
            else:
                text = add_corner(state, *evt.index[:2], positive=kind == POSITIVE)
        except Exception as exc:  # noqa: BLE001 - told, and the picture stays as it was
            gr.Warning(explain(exc, settings, "refining"))
            text = state.boxes_text()
        return state.canvas(models), text, state

    def on_clear(state: SegmentState):
        return state.canvas(models), clear_boxes(state), state

    def on_segment(image, phrases, threshold, state: SegmentState, request: gr.Request):
        try:
            with GATE.hold(client_id(request)):
                res = segment_ui(models, state, image, phrases, threshold, namespace(request, settings))
        except Exception as exc:  # keep serving
            message = explain(exc, settings, "segmentation")
            gr.Warning(message)
            icon = "⚠️" if isinstance(exc, DemoInputError) else "❌"
            return gr.skip(), f"{icon} {message}", gr.skip(), gr.skip(), state
        return res.canvas, res.status, res.legend, res.downloads, state

    def on_threshold(image, phrases, threshold, state: SegmentState, request: gr.Request):
        """A new threshold re-runs only a segmentation already on show (no warnings before the first)."""
        if state.overlay_path is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), state
        return on_segment(image, phrases, threshold, state, request)

    # a person's own upload or clear (an example's click shows its cached answer instead)
    gr.on(
        [tab.image.upload, tab.image.clear],
        on_upload,
        [tab.image, tab.state],
        [tab.canvas, tab.boxes_info, tab.status, tab.legend, tab.files, tab.state],
        api_visibility="private",
        queue=False,
    )
    tab.canvas.select(
        on_click,
        [tab.box_kind, tab.state],
        [tab.canvas, tab.boxes_info, tab.state],
        api_visibility="private",
        concurrency_id=MODEL_WORK,  # a refinement point runs the model
        concurrency_limit=concurrency,
    )
    tab.clear.click(on_clear, tab.state, [tab.canvas, tab.boxes_info, tab.state], api_visibility="private",
                    queue=False)
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
