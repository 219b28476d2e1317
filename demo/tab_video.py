"""The Video tab: noun phrases tracked through a short video, played back as an overlay."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from demo.models import DemoInputError, Models
from demo.tab_ask import MODEL_WORK
from demo.video import MAX_SECONDS, VideoState, track_video
from sam3.video.reader import VideoError

INTRO = f"""Upload a short video (SAM 3's concept tracking is defined for up to about {MAX_SECONDS:.0f} s: pick a
range for longer ones), give one or several noun phrases, and every instance is tracked with a stable colour
and number. With the bundled ShapesWorld checkpoint, which has no trained tracker yet, identities are kept by
matching the detector's masks from frame to frame (an object that leaves and returns gets a new number)."""


@dataclass
class VideoTab:
    video: gr.Video
    phrases: gr.Textbox
    start: gr.Number
    end: gr.Number
    stride: gr.Slider
    run: gr.Button
    status: gr.Markdown
    result: gr.Video
    files: gr.File
    state: gr.State


def layout(examples: list[list[str]] = ()) -> VideoTab:
    gr.Markdown(INTRO)
    with gr.Row():
        with gr.Column():
            video = gr.Video(label="Video", sources=["upload"], elem_id="video-input")
            phrases = gr.Textbox(
                label="Noun phrases (comma separated)", placeholder="red circle, blue square", elem_id="video-phrases"
            )
            with gr.Row():
                start = gr.Number(label="Start (s)", value=None, minimum=0, elem_id="video-start")
                end = gr.Number(label="End (s, 0 = to the end)", value=None, minimum=0, elem_id="video-end")
                stride = gr.Slider(1, 10, value=1, step=1, label="Every n-th frame", elem_id="video-stride")
            run = gr.Button("Track", variant="primary", elem_id="video-run")
            if examples:
                gr.Examples(examples, [video, phrases], label="Examples (ShapesWorld clips)")
        with gr.Column():
            status = gr.Markdown("Upload a video and type a phrase.", elem_id="video-status")
            result = gr.Video(label="Tracked objects", interactive=False, elem_id="video-result")
            files = gr.File(label="Tracks (JSON: per-frame RLE masks and boxes)", elem_id="video-files")
    return VideoTab(video, phrases, start, end, stride, run, status, result, files, gr.State(VideoState()))


def wire(tab: VideoTab, models: Models, concurrency: int) -> None:
    def on_track(video, phrases, start, end, stride, state, progress=gr.Progress()):
        def report(done: int, total: int | None) -> None:
            progress((done, total) if total else done, desc="tracking", unit="frames")

        try:
            res = track_video(models, state, video, phrases, start, end, int(stride), report)
        except (DemoInputError, VideoError) as exc:
            gr.Warning(str(exc))
            return gr.skip(), f"❌ {exc}", gr.skip(), state
        return res.overlay_path, f"✅ {res.status}", res.json_path, state

    tab.run.click(
        on_track,
        [tab.video, tab.phrases, tab.start, tab.end, tab.stride, tab.state],
        [tab.result, tab.status, tab.files, tab.state],
        api_visibility="private",
        concurrency_id=MODEL_WORK,
        concurrency_limit=concurrency,
    )
