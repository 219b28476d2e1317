"""The Video tab: says plainly that video segmentation is not implemented yet, and what is missing."""

from __future__ import annotations

import gradio as gr

NOT_YET = """### Video: not available yet

Segmenting and tracking objects through a video is **not implemented** in this project's backend yet, so this
tab has no inputs and produces nothing; it will not pretend to.

What exists today: ShapesWorld videos with exact per-frame masks and identities (`shapesworld.video`), used to
train and test the tracker to come.

What is missing: a SAM 3 **video session** in `sam3/` (`Sam3VideoModel` from `transformers`: propagate the
masks found on one frame to the others, keep object identities, let a person add or remove objects on any
frame), the agent's tool for it, and this tab's player. Until then, use the **Ask** and **Segment** tabs on
single frames.
"""


def layout() -> None:
    gr.Markdown(NOT_YET, elem_id="video-missing")
