"""The Ask tab: an image, a referring query, a reasoning backend; the agent's trace streams into a chat and
the answer's masks land on a picture where a click adds or removes a mask."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import gradio as gr

from demo.ask import AskState, prepare_request, run_ask, toggle_mask
from demo.components import image_input
from demo.limits import MODEL_WORK
from demo.models import LOCAL_VLM, DemoInputError, Models, backend_spec, backend_status
from demo.picker import BackendPicker, backend_picker

log = logging.getLogger(__name__)

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


def layout(examples: list[list[str]], threshold: float) -> AskTab:
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            image = image_input(label="Image", sources=["upload", "clipboard"], height=300, elem_id="ask-image")
            query = gr.Textbox(
                label="Query",
                placeholder="the leftmost star · every square except the red ones",
                lines=1,
                max_lines=3,
                elem_id="ask-query",
            )
            with gr.Row():
                run = gr.Button("Run", variant="primary", elem_id="ask-run")
                stop = gr.Button("Stop", variant="stop", elem_id="ask-stop")
            picker = backend_picker()
            with gr.Accordion("Options", open=False):
                fast_path = gr.Checkbox(
                    True,
                    label="Try the spatial planner first (no model call when it parses the query)",
                    elem_id="ask-fast-path",
                )
                threshold = gr.Slider(
                    0.0, 1.0, value=threshold, step=0.01, label="SAM 3 score threshold", elem_id="ask-threshold"
                )
            if examples:
                gr.Examples(
                    examples,
                    inputs=[image, query],
                    label="Examples (ShapesWorld scenes)",
                    examples_per_page=8,
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
    state = gr.State(AskState(), delete_callback=lambda s: s.files.cleanup())
    return AskTab(
        image,
        query,
        picker,
        fast_path,
        threshold,
        run,
        stop,
        chat,
        status,
        result,
        legend,
        files,
        state,
    )


def wire(tab: AskTab, models: Models, concurrency: int) -> None:
    def on_run(image, query, choice, model_id, url, model_name, api_key, fast_path, threshold, state: AskState):
        try:
            spec = backend_spec(choice, model_id, url, model_name)
            request = prepare_request(models, state.image(image), query, spec, api_key, threshold, fast_path)
        except DemoInputError as exc:
            gr.Warning(str(exc))
            yield gr.skip(), f"⚠️ {exc}", None, "", None, state
            return
        if choice == LOCAL_VLM:
            note = next(b.note for b in backend_status() if b.name == LOCAL_VLM)
            if "no GPU" in note:
                gr.Warning(note)
        try:
            for up in run_ask(models, state, request):
                yield (
                    up.messages,
                    up.status,
                    up.overlay if up.result else None,
                    up.legend,
                    up.downloads or None,
                    state,
                )
        except DemoInputError as exc:
            gr.Warning(str(exc))
            yield gr.skip(), f"⚠️ {exc}", None, "", None, state
        except Exception as exc:  # the app keeps serving whatever went wrong in one run
            log.exception("ask run failed")
            gr.Warning(f"the run failed: {type(exc).__name__}: {exc}")
            yield gr.skip(), f"❌ The run failed: {type(exc).__name__}: {exc}", None, "", None, state

    def on_stop(chat: list, state: AskState):
        state.run_id += 1  # whatever the stopped run's last step returns is dropped
        chat = [*(chat or []), {"role": "assistant", "content": "⏹️ Stopped."}]
        return chat, "⏹️ Stopped: the run was cancelled.", state

    def on_upload(image, state: AskState):
        """Checks an upload at once (a rejected one is cleared), and says when it was downscaled."""
        if image is None:
            return gr.skip(), gr.skip(), state
        try:
            prepared = state.image(image)
        except DemoInputError as exc:
            gr.Warning(str(exc))
            return None, f"⚠️ {exc}", state
        if prepared.notice:
            gr.Info(prepared.notice)
            return gr.skip(), f"ℹ️ {prepared.notice}", state
        return gr.skip(), "Image ready: type a query and press **Run**.", state

    def on_select(state: AskState, evt: gr.SelectData):
        x, y = evt.index[:2]
        update, message = toggle_mask(state, x, y)
        if update is None:
            gr.Info(message)
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), state
        return update.overlay, update.legend, f"{update.status}\n\n_{message}._", update.downloads, state

    tab.image.upload(on_upload, [tab.image, tab.state], [tab.image, tab.status, tab.state], api_visibility="private")
    inputs = [
        tab.image,
        tab.query,
        *tab.picker.inputs,
        tab.fast_path,
        tab.threshold,
        tab.state,
    ]
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
    tab.stop.click(
        on_stop,
        [tab.chat, tab.state],
        [tab.chat, tab.status, tab.state],
        cancels=[event],
        api_visibility="private",
        queue=False,
    )
    tab.result.select(
        on_select,
        tab.state,
        [tab.result, tab.legend, tab.status, tab.files, tab.state],
        api_visibility="private",
    )
