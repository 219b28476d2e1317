"""The Ask tab: an image, a referring query, a reasoning backend; the agent's trace streams into a chat and
the answer's masks land on a picture where a click adds or removes a mask."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from demo.ask import AskState, ask_json, prepare_request, run_ask, toggle_mask
from demo.components import image_input
from demo.handling import GATE, explain, namespace
from demo.inputs import prepare_image
from demo.limits import MODEL_WORK, client_id
from demo.models import DemoInputError, Models
from demo.picker import BackendPicker, backend_picker, spec
from demo.render import legend_html, selection_overlay
from sam3.detections import Detections


@dataclass
class AskTab:
    image: gr.Image
    query: gr.Textbox
    picker: BackendPicker
    fast_path: gr.Checkbox
    threshold: gr.Slider
    run: gr.Button
    stop: gr.Button
    chat: gr.Chatbot
    status: gr.Markdown
    result: gr.Image
    legend: gr.HTML
    files: gr.File
    state: gr.State


def layout(examples: list[list[str]], models: Models) -> AskTab:
    settings = models.settings
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            image = image_input(
                settings, label="Image", sources=["upload", "clipboard"], height=300, elem_id="ask-image"
            )
            query = gr.Textbox(
                label="Query",
                placeholder="the leftmost star · every square except the red ones · how many circles?",
                lines=1,
                max_lines=3,
                elem_id="ask-query",
            )
            with gr.Row():
                run = gr.Button("Run", variant="primary", elem_id="ask-run")
                stop = gr.Button("Stop", variant="stop", elem_id="ask-stop")
            picker = backend_picker(settings)
            with gr.Accordion("Options", open=False):
                fast_path = gr.Checkbox(
                    True,
                    label="Try the spatial planner first (no model call when it fully understands the query)",
                    elem_id="ask-fast-path",
                )
                threshold = gr.Slider(
                    0.0, 1.0, value=models.score_threshold, step=0.01, label="SAM 3 score threshold",
                    elem_id="ask-threshold",
                )
        with gr.Column(scale=6):
            chat = gr.Chatbot(label="Agent trace", height=380, elem_id="ask-chat", group_consecutive_messages=False)
            status = gr.Markdown(
                "Upload an image (or pick an example), type a query and press **Run**.", elem_id="ask-status"
            )
            result = gr.Image(
                label="Answer: click a mask to add it or take it out",
                interactive=False,
                format="png",
                height=440,
                elem_id="ask-result",
            )
            legend = gr.HTML(elem_id="ask-legend")
            files = gr.File(
                label="Downloads: COCO JSON (RLE), PNG masks (zip), overlay, agent trace",
                file_count="multiple",
                interactive=False,
                elem_id="ask-files",
            )
    if examples:
        gr.Examples(
            examples,
            inputs=[image, query],
            outputs=[chat, status, result, legend],
            fn=lambda image, query: cached_example(models, image, query),
            cache_examples=True,
            cache_mode="lazy",
            label="Examples (ShapesWorld scenes): answered once by the offline planner, then from the cache",
            examples_per_page=8,
        )
    state = gr.State(AskState(), time_to_live=settings.session_ttl_s, delete_callback=lambda s: s.files.cleanup())
    return AskTab(image, query, picker, fast_path, threshold, run, stop, chat, status, result, legend, files, state)


def cached_example(models: Models, image: str, query: str):
    """An example's answer by the offline planner, computed on the first click and cached for every visitor."""
    try:
        out = ask_json(models, prepare_request(models, image, query, "spatial"))
        prepared = prepare_image(image, models.settings)
    except Exception as exc:  # noqa: BLE001 - told like a run's failure
        return [], f"⚠️ {explain(exc, models.settings, 'the example')}", None, ""
    answer = out["answer"]
    det = Detections.from_json_list(answer["detections"], (prepared.image.height, prepared.image.width))
    chat = [{"role": "user", "content": query}, {"role": "assistant", "content": f"💭 {answer['message']}"}]
    status = (f"**Example** ({answer['status']}): {len(det)} mask(s). Press **Run** to see every step and to "
              "toggle masks.")
    return chat, status, selection_overlay(prepared.image, det, [True] * len(det)), legend_html(det)


def wire(tab: AskTab, models: Models, concurrency: int) -> None:
    settings = models.settings

    def on_run(image, query, choice, model_id, url, model_name, api_key, fast_path, threshold, state: AskState,
               request: gr.Request):
        try:
            backend, key = spec(settings, choice, model_id, url, model_name, api_key)
            req = prepare_request(models, image, query, backend, key, threshold, fast_path,
                                  namespace(request, settings))
        except DemoInputError as exc:
            gr.Warning(str(exc))
            yield gr.skip(), f"⚠️ {exc}", None, "", None, state
            return
        try:
            with GATE.hold(client_id(request)):
                for up in run_ask(models, state, req):
                    picture = up.overlay if up.result else None
                    yield up.messages, up.status, picture, up.legend, up.downloads or None, state
        except Exception as exc:  # the app keeps serving whatever went wrong in one run
            message = explain(exc, settings, "the run")
            gr.Warning(message)
            yield gr.skip(), f"{'⚠️' if isinstance(exc, DemoInputError) else '❌'} {message}", None, "", None, state

    def on_stop(chat: list, state: AskState, request: gr.Request):
        state.run_id += 1  # whatever the stopped run's last step returns is dropped
        GATE.release(client_id(request))
        chat = [*(chat or []), {"role": "assistant", "content": "⏹️ Stopped."}]
        return chat, "⏹️ Stopped: the run was cancelled.", state

    def on_upload(image):
        """Checks an upload at once (a rejected one is cleared), and says when it will be downscaled."""
        if image is None:
            return gr.skip(), gr.skip()
        try:
            prepared = prepare_image(image, settings)
        except DemoInputError as exc:
            gr.Warning(str(exc))
            return None, f"⚠️ {exc}"
        if prepared.notice:
            return gr.skip(), f"ℹ️ {prepared.notice}"
        return gr.skip(), "Image ready: type a query and press **Run**."

    def on_select(state: AskState, evt: gr.SelectData):
        x, y = evt.index[:2]
        try:
            update, message = toggle_mask(models, state, x, y)
        except DemoInputError as exc:  # the upload expired with the session's files
            return gr.skip(), gr.skip(), f"⚠️ {exc}", gr.skip(), state
        if update is None:
            gr.Info(message)
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), state
        return update.overlay, update.legend, f"{update.status}\n\n_{message}._", update.downloads, state

    # light events: off the queue, so a busy queue never holds them up
    tab.image.upload(on_upload, tab.image, [tab.image, tab.status], api_visibility="private", queue=False)
    inputs = [tab.image, tab.query, *tab.picker.inputs, tab.fast_path, tab.threshold, tab.state]
    event = gr.on(
        [tab.run.click, tab.query.submit],
        on_run,
        inputs,
        [tab.chat, tab.status, tab.result, tab.legend, tab.files, tab.state],
        api_visibility="private",
        concurrency_id=MODEL_WORK,
        concurrency_limit=concurrency,
        # A stopped run's step in flight (a model call) keeps going in its thread; with the default
        # trigger mode the browser would ignore Run until it ends. The newest run wins (see run_ask).
        trigger_mode="multiple",
    )
    tab.stop.click(on_stop, [tab.chat, tab.state], [tab.chat, tab.status, tab.state], cancels=[event],
                   api_visibility="private", queue=False)
    tab.result.select(on_select, tab.state, [tab.result, tab.legend, tab.status, tab.files, tab.state],
                      api_visibility="private", queue=False)
