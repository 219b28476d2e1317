"""The reasoning-backend picker that the Ask and Video tabs share: the deployment's choices, and what they need."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from agent.backends.hf_local import DEFAULT_VLM
from demo.backends import SPATIAL, TYPED_SERVER, TYPED_VLM, backend_status, choices, spec_for
from demo.settings import Settings


@dataclass
class BackendPicker:
    backend: gr.Radio
    model_id: gr.Textbox
    url: gr.Textbox
    model_name: gr.Textbox
    api_key: gr.Textbox

    @property
    def inputs(self) -> list[gr.components.Component]:
        """In the order `spec` takes them."""
        return [self.backend, self.model_id, self.url, self.model_name, self.api_key]


def spec(settings: Settings, choice: str, model_id: str, url: str, model_name: str, api_key: str) -> tuple[str, str]:
    """(backend string, API key) for the picker's values; the key only ever goes to a server the person typed."""
    backend = spec_for(choice, settings, model_id, url, model_name)
    return backend, (api_key or "") if choice == TYPED_SERVER else ""


def _status_markdown(settings: Settings) -> str:
    return "\n".join(f"- **{b.name}**: {b.note}" for b in backend_status(settings))


def backend_picker(settings: Settings) -> BackendPicker:
    backend = gr.Radio(choices(settings), value=SPATIAL, label="Reasoning backend", elem_id="ask-backend")
    with gr.Accordion("Backends on this machine", open=False):
        gr.Markdown(_status_markdown(settings), elem_id="ask-backend-status")
    # Local mode only: in public mode these stay hidden and `spec` never reads them.
    with gr.Group(visible=False) as local_box:
        model_id = gr.Textbox(DEFAULT_VLM, label="VLM model id or local folder", elem_id="ask-vlm-id")
    with gr.Group(visible=False) as openai_box:
        url = gr.Textbox(label="Server base URL", placeholder="https://host/v1", elem_id="ask-url")
        model_name = gr.Textbox(label="Model name", placeholder="Qwen/Qwen2.5-VL-7B-Instruct", elem_id="ask-model-name")
        api_key = gr.Textbox(
            label="API key (optional; sent to this server for this run only, never stored or logged)",
            type="password",
            elem_id="ask-api-key",
        )
    backend.change(
        lambda choice: (gr.update(visible=choice == TYPED_VLM), gr.update(visible=choice == TYPED_SERVER)),
        backend,
        [local_box, openai_box],
        api_visibility="private",
        queue=False,
    )
    return BackendPicker(backend, model_id, url, model_name, api_key)
