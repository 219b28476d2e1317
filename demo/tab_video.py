"""The Video tab: noun phrases tracked through a short video, or the agent's answer on a key frame followed."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from demo.handling import GATE, explain
from demo.limits import MODEL_WORK, client_id
from demo.models import DemoInputError, Models
from demo.picker import BackendPicker, spec
from demo.video import MAX_VIDEO_SECONDS, VideoState, answer_video, track_video

PHRASES, AGENT = "Noun phrases: every instance", "Agent query"


def intro(models: Models) -> str:
    s = models.settings
    return f"""Upload a short video (SAM 3's concept tracking is defined for up to about {MAX_VIDEO_SECONDS:.0f} s:
pick a range for longer ones; one run tracks at most {s.max_video_frames} frames, so a longer range is strided,
and frames are tracked at most {s.max_video_side} px wide). Either give noun phrases, and every instance is tracked
with a stable colour and number, or ask the agent a query ("the leftmost star", "the red circle"): it answers on 5 key
frames (around the moment you give, or spread over the clip), and the objects most of them chose are followed
through the whole clip, numbered as in its answer, and flagged unsure when most key frames chose otherwise (it uses
the backend and score threshold chosen on the Ask tab). With the bundled ShapesWorld checkpoint, which has no video
tracker, objects are followed by matching the detector's masks from frame to frame, by their motion and colour, so
they keep their numbers when they pass behind another and come back."""


@dataclass
class VideoTab:
    video: gr.Video
    mode: gr.Radio
    phrases: gr.Textbox
    query: gr.Textbox
    key_s: gr.Textbox
    start: gr.Number
    end: gr.Number
    stride: gr.Slider
    run: gr.Button
    status: gr.Markdown
    key_frame: gr.Image
    result: gr.Video
    files: gr.File
    state: gr.State


def layout(models: Models, examples: list[list] = (), agent_examples: list[list] = ()) -> VideoTab:
    gr.Markdown(intro(models))
    with gr.Row():
        with gr.Column():
            video = gr.Video(label="Video", sources=["upload"], elem_id="video-input")
            mode = gr.Radio([PHRASES, AGENT], value=PHRASES, label="What to follow", elem_id="video-mode")
            phrases = gr.Textbox(
                label="Noun phrases (comma separated)", placeholder="red circle, blue square", elem_id="video-phrases"
            )
            with gr.Group(visible=False) as agent_box:
                query = gr.Textbox(
                    label="Query", placeholder="the leftmost triangle · the two largest circles", elem_id="video-query"
                )
                # a Textbox, not a Number: an untouched Number sends 0, and empty has a meaning here
                key_s = gr.Textbox(label="Asked about the moment at (seconds)", placeholder="empty: the whole clip",
                                   elem_id="video-key")
            with gr.Row():
                start = gr.Number(label="Start (s)", value=None, minimum=0, elem_id="video-start")
                end = gr.Number(label="End (s, 0 = to the end)", value=None, minimum=0, elem_id="video-end")
                stride = gr.Slider(1, 10, value=1, step=1, label="Every n-th frame", elem_id="video-stride")
            run = gr.Button("Track", variant="primary", elem_id="video-run")
        with gr.Column():
            status = gr.Markdown("Upload a video and type a phrase.", elem_id="video-status")
            key_frame = gr.Image(
                label="The agent's answer on the key frame it followed", interactive=False, visible=False,
                elem_id="video-key-frame",
            )
            result = gr.Video(label="Tracked objects", interactive=False, elem_id="video-result")
            files = gr.File(label="Tracks (JSON: per-frame RLE masks and boxes)", elem_id="video-files")
    if examples:
        gr.Examples(
            examples,
            [video, phrases],
            outputs=[result, status, files],
            fn=lambda video, phrases: cached_example(models, video, phrases),
            cache_examples=True,
            cache_mode="lazy",
            label="Examples (ShapesWorld clips): tracked once, then from the cache",
        )
    if agent_examples:
        gr.Examples(agent_examples, [video, mode, query, key_s], label="Agent examples")
    mode.change(
        lambda m: (gr.update(visible=m == PHRASES), gr.update(visible=m == AGENT), gr.update(visible=m == AGENT)),
        mode,
        [phrases, agent_box, key_frame],
        api_visibility="private",
        queue=False,
    )
    state = gr.State(VideoState(), time_to_live=models.settings.session_ttl_s,
                     delete_callback=lambda s: s.files.cleanup())
    return VideoTab(
        video, mode, phrases, query, key_s, start, end, stride, run, status, key_frame, result, files, state
    )


def cached_example(models: Models, video: str, phrases: str):
    """An example clip tracked on the first click and cached for every visitor."""
    try:
        res = track_video(models, VideoState(), video, phrases)
    except Exception as exc:  # noqa: BLE001 - told like a run's failure
        return None, f"⚠️ {explain(exc, models.settings, 'the example')}", None
    return res.overlay_path, f"✅ {res.status}", res.json_path


def wire(tab: VideoTab, models: Models, concurrency: int, picker: BackendPicker, threshold: gr.Slider) -> None:
    settings = models.settings

    def on_track(video, mode, phrases, query, key_s, start, end, stride, choice, model_id, url, model_name, api_key,
                 threshold, state, request: gr.Request, progress=gr.Progress()):
        try:
            with GATE.hold(client_id(request)):
                if mode == AGENT:
                    backend, key = spec(settings, choice, model_id, url, model_name, api_key)
                    progress(0, desc="the agent on the key frames")
                    res = answer_video(
                        models, state, video, query, key_s, backend, key, start, end, int(stride), threshold, progress
                    )
                else:
                    res = track_video(models, state, video, phrases, start, end, int(stride), progress)
        except Exception as exc:  # the app keeps serving whatever went wrong in one run
            message = explain(exc, settings, "tracking")
            gr.Warning(message)
            icon = "⚠️" if isinstance(exc, DemoInputError) else "❌"
            return gr.skip(), f"{icon} {message}", gr.skip(), gr.skip(), state
        icon = "⚠️" if res.unsure else "✅"
        return res.overlay_path or None, f"{icon} {res.status}", res.json_path, res.key_frame_path, state

    tab.run.click(
        on_track,
        [tab.video, tab.mode, tab.phrases, tab.query, tab.key_s, tab.start, tab.end, tab.stride, *picker.inputs,
         threshold, tab.state],
        [tab.result, tab.status, tab.files, tab.key_frame, tab.state],
        api_visibility="private",
        concurrency_id=MODEL_WORK,
        concurrency_limit=concurrency,
    )
