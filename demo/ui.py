"""`build_app()`: the whole Gradio app (Ask, Segment and Video tabs, and the programmatic API), and `launch()`."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr

from demo import api, tab_ask, tab_segment, tab_video
from demo.export import start_sweeper
from demo.limits import LIGHT_CONCURRENCY, MODEL_CONCURRENCY, QUEUE_MAX_SIZE
from demo.models import Models, install
from demo.settings import Settings

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"
CACHE_SECONDS = 3600

INTRO = """# SAM 3 Agent
Ask for things in a picture the way you would ask a person, and get their masks. The agent turns the query
into short noun phrases, asks **SAM 3** for every instance of each, and picks the answer by geometry (the
offline spatial planner) or with a vision-language model. It says so when it is not sure."""


def load_examples(directory: Path = EXAMPLES_DIR, index: str = "examples.json") -> list[dict]:
    index = directory / index
    if not index.is_file():
        return []
    entries = json.loads(index.read_text())
    return [dict(e, path=str(directory / e["file"])) for e in entries if (directory / e["file"]).is_file()]


def build_app(models: Models | None = None, concurrency: int = MODEL_CONCURRENCY) -> gr.Blocks:
    """The app on `models` (default: loaded now from the environment), which become the ones every model call
    uses (`demo.models.install`)."""
    models = install(models if models is not None else Models.load(settings=Settings.from_env()))
    settings = models.settings
    start_sweeper(max_age_s=2 * settings.session_ttl_s)
    examples = load_examples()
    clips = load_examples(index="videos.json")
    mode = "public" if settings.public else "local"
    with gr.Blocks(title="SAM 3 Agent", delete_cache=(CACHE_SECONDS, CACHE_SECONDS)) as app:
        gr.Markdown(INTRO)
        gr.Markdown(
            ("⚠️ " if models.fallback_reason or models.load_error else "") + models.banner(),
            elem_id="model-banner",
        )
        with gr.Tabs():
            with gr.Tab("Ask", id="ask"):
                ask = tab_ask.layout([[e["path"], e["query"]] for e in examples], models)
            with gr.Tab("Segment", id="segment"):
                seg = tab_segment.layout([[e["path"], e["phrases"]] for e in examples], models)
            with gr.Tab("Video", id="video"):
                vid = tab_video.layout(
                    models,
                    [[e["path"], e["phrases"]] for e in clips],
                    [[e["path"], tab_video.AGENT, e["query"], e["key_s"]] for e in clips],
                )
        gr.Markdown(f"<sub>Running in {mode} mode.</sub>", elem_id="mode-note")
        api.register(models, concurrency)  # first, so that it gets the plain endpoint names
        tab_ask.wire(ask, models, concurrency)
        tab_segment.wire(seg, models, concurrency)
        tab_video.wire(vid, models, concurrency, ask.picker, ask.threshold)
    return app


def launch(app: gr.Blocks, **kwargs) -> None:
    """Queues and launches `app` with the limits its settings set (upload size, sessions kept, queue length)."""
    from demo.models import current

    settings = current().settings
    app.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=LIGHT_CONCURRENCY).launch(
        max_file_size=f"{settings.max_upload_mb}mb",
        state_session_capacity=settings.max_sessions,
        **kwargs,
    )
