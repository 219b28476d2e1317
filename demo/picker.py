"""The reasoning-backend picker that the Ask and Video tabs share: which backend, and what it needs."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from agent.backends.hf_local import DEFAULT_VLM
from demo.models import BACKENDS, LOCAL_VLM, OPENAI, SPATIAL, backend_status


@dataclass
class BackendPicker:
    backend: gr.Radio
    model_id: gr.Textbox
    url: gr.Textbox
    model_name: gr.Textbox
    api_key: gr.Textbox

    @property
    def inputs(self) -> list[gr.components.Component]:
        """In the order `demo.models.backend_spec` (then the API key) takes them."""
        return [self.backend, self.model_id, self.url, self.model_name, self.api_key]


def _status_markdown() -> str:
    return "\n".join(f"- {'✅' if b.usable else '❌'} **{b.name}**: {b.note}" for b in backend_status())


def backend_picker() -> BackendPicker:
    backend = gr.Radio(list(BACKENDS), value=SPATIAL, label="Reasoning backend", elem_id="ask-backend")
    with gr.Accordion("Backends on this machine", open=False):
        gr.Markdown(_status_markdown(), elem_id="ask-backend-status")
    with gr.Group(visible=False) as local_box:
        model_id = gr.Textbox(DEFAULT_VLM, label="VLM model id or local directory", elem_id="ask-vlm-id")
    with gr.Group(visible=False) as openai_box:
        url = gr.Textbox(label="Server base URL", placeholder="http://localhost:8000/v1", elem_id="ask-url")
        model_name = gr.Textbox(label="Model name", placeholder="Qwen/Qwen2.5-VL-7B-Instruct", elem_id="ask-model-name")
        api_key = gr.Textbox(
            label="API key (optional; used for this run only, never stored or logged)",
            type="password",
            elem_id="ask-api-key",
        )
    backend.change(
        lambda choice: (gr.update(visible=choice == LOCAL_VLM), gr.update(visible=choice == OPENAI)),
        backend,
        [local_box, openai_box],
        api_visibility="private",
        queue=False,
    )
    return BackendPicker(backend, model_id, url, model_name, api_key)
