"""The Segment tab's logic: SAM 3 asked directly, with noun phrases and exemplar boxes. No Gradio here.

The shared `Segmenter` keeps each image's encoding, so changing the phrases, the threshold or the
boxes re-runs only the prompt pass (the timing line shows encode 0 ms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from demo.export import SessionFiles, write_exports
from demo.gpu import gpu
from demo.inputs import PreparedImage, parse_boxes, parse_phrases, prepare_image
from demo.models import DemoInputError, Models
from demo.render import as_array, draw_boxes, legend_html, tight, timing_markdown
from sam3.detections import Detections
from sam3.overlay import draw_overlay
from sam3.refine import Click
from sam3.session import BoxPrompt, Timing
from sam3.tiling import Window

MIN_BOX_SIDE = 2.0


@dataclass
class SegmentState:
    """Per-session state of the Segment tab (lives in a `gr.State`)."""

    files: SessionFiles = field(default_factory=SessionFiles)
    image_path: str | None = None
    prepared: PreparedImage | None = None
    boxes: list[BoxPrompt] = field(default_factory=list)
    clicks: list[Click] = field(default_factory=list)  # refinement points of the object being refined
    pending: tuple[float, float] | None = None
    overlay: np.ndarray | None = None  # the last result without boxes drawn on it

    def set_image(self, path: str | None) -> PreparedImage | None:
        """Loads a new upload (clearing boxes and results); `DemoInputError` when it is not a usable image."""
        self.image_path, self.prepared, self.boxes, self.pending, self.overlay = path, None, [], None, None
        self.clicks = []
        if path is None:
            return None
        self.prepared = prepare_image(path)
        return self.prepared

    def image(self, path: str | None) -> PreparedImage:
        if path is None:
            raise DemoInputError("upload an image first (or pick an example)")
        if path != self.image_path or self.prepared is None:
            self.set_image(path)
        return self.prepared

    def canvas(self) -> np.ndarray | None:
        """What the picture shows: the last result (or the plain image) with the boxes on top."""
        if self.prepared is None:
            return None
        base = self.overlay if self.overlay is not None else as_array(self.prepared.image)
        canvas = draw_boxes(base, self.boxes, self.pending)
        radius = max(3, min(canvas.shape[:2]) // 120)
        for c in self.clicks:  # refinement points: green adds, red removes
            colour = (40, 200, 60) if c.positive else (230, 40, 40)
            cv2.circle(canvas, (int(c.x), int(c.y)), radius, colour, -1, cv2.LINE_AA)
            cv2.circle(canvas, (int(c.x), int(c.y)), radius, (255, 255, 255), 1, cv2.LINE_AA)
        return canvas

    def boxes_text(self) -> str:
        if not self.boxes and self.pending is None:
            return "No exemplar boxes. Click two opposite corners on the picture to add one."
        pos = sum(b.positive for b in self.boxes)
        text = f"{len(self.boxes)} exemplar box(es): {pos} positive, {len(self.boxes) - pos} negative."
        if self.pending is not None:
            text += " First corner set: click the opposite corner."
        return text


def add_corner(state: SegmentState, x: float, y: float, positive: bool) -> str:
    """A click on the picture: the first sets a corner, the second completes a box. Returns a status line."""
    if state.prepared is None:
        raise DemoInputError("upload an image first (or pick an example)")
    if state.pending is None:
        state.pending = (float(x), float(y))
        return state.boxes_text()
    (x0, y0), state.pending = state.pending, None
    box = (min(x0, x), min(y0, y), max(x0, x), max(y0, y))
    if box[2] - box[0] < MIN_BOX_SIDE or box[3] - box[1] < MIN_BOX_SIDE:
        raise DemoInputError("that box is too thin: click two opposite corners of the object")
    state.boxes.append(BoxPrompt(box, positive=bool(positive)))
    return state.boxes_text() + " Press Segment to use them."


def clear_boxes(state: SegmentState) -> str:
    state.boxes, state.pending, state.clicks = [], None, []
    return state.boxes_text()


@gpu
def refine_click(models: Models, state: SegmentState, x: float, y: float, positive: bool) -> tuple[Detections, str]:
    """A refinement point: SAM 3's tracker turns all points so far into one mask (no re-encoding)."""
    if state.prepared is None:
        raise DemoInputError("upload an image first (or pick an example)")
    state.clicks.append(Click(float(x), float(y), positive=bool(positive)))
    refiner = models.refiner()
    session = models.require_segmenter().session(state.prepared.image)
    try:
        det = refiner.refine(session, state.clicks)
    except ValueError as exc:
        state.clicks.pop()
        raise DemoInputError(str(exc)) from None
    state.overlay = draw_overlay(state.prepared.image, tight(det))
    pos = sum(c.positive for c in state.clicks)
    status = (
        f"**Refined mask** from {pos} positive / {len(state.clicks) - pos} negative point(s), "
        f"score {float(det.scores[0]):.2f}. Clear to start a new object."
    )
    if not refiner.trained:
        status += (
            "\n\n⚠️ This checkpoint has no trained tracker: its point decoder is untrained, so refined masks "
            "are not meaningful here (they are with facebook/sam3)."
        )
    return det, status


@gpu
def run_segment(
    models: Models, prepared: PreparedImage, phrases: list[str], boxes: list[BoxPrompt], threshold: float
) -> tuple[Detections, Timing, bool, list[Window]]:
    """SAM 3 on the shared session cache: detections, the timing split, whether it encoded now, and the
    windows an elongated image was also seen in."""
    session = models.require_segmenter().session(prepared.image)
    encoded_before = session.encode_count
    timing = Timing()
    try:
        det = session.segment(phrases, boxes=boxes, threshold=float(threshold), timing=timing)
    except ValueError as exc:
        raise DemoInputError(str(exc)) from None
    return det, timing, session.encode_count > encoded_before, session.windows_seen


@dataclass
class SegmentResult:
    detections: Detections
    canvas: np.ndarray
    legend: str
    status: str
    downloads: list[str]


def segment_ui(
    models: Models, state: SegmentState, path: str | None, phrases_text: str, threshold: float
) -> SegmentResult:
    prepared = state.image(path)
    phrases = parse_phrases(phrases_text, allow_empty=bool(state.boxes))
    models.require_segmenter()
    det, timing, encoded, windows = run_segment(models, prepared, phrases, state.boxes, threshold)
    state.overlay = draw_overlay(prepared.image, tight(det)) if len(det) else as_array(prepared.image)
    asked = ", ".join(f"'{p}'" for p in phrases) or "the exemplar boxes alone"
    status = f"**{len(det)} mask(s)** for {asked} at threshold {float(threshold):.2f}. "
    status += timing_markdown(timing, encoded)
    if windows:
        status += f" · elongated image: also seen in {len(windows)} overlapping windows"
    if state.boxes:
        pos = sum(b.positive for b in state.boxes)
        status += f" · {pos} positive / {len(state.boxes) - pos} negative box(es)"
    if prepared.notice:
        status += f"\n\nℹ️ {prepared.notice}"
    downloads = write_exports(
        state.files,
        det,
        state.overlay,
        prepared.name,
        extra={"phrases": phrases, "threshold": float(threshold)},
    )
    return SegmentResult(det, state.canvas(), legend_html(det), status, downloads)


def segment_json(
    models: Models, image_path: str | None, phrases_text: str, threshold: float | None = None, boxes_text: str = ""
) -> dict:
    """The `/segment` API: detections as in `python -m sam3 segment --json`; `DemoInputError` on bad input."""
    prepared = prepare_image(image_path)
    boxes = parse_boxes(boxes_text, prepared.scale)
    phrases = parse_phrases(phrases_text, allow_empty=bool(boxes))
    threshold = models.threshold(threshold)
    models.require_segmenter()
    det, timing, _, windows = run_segment(models, prepared, phrases, boxes, threshold)
    img = prepared.image
    out = {
        "image": {"width": img.width, "height": img.height},
        "model": models.source_name,
        "phrases": phrases,
        "threshold": float(threshold),
        "windows": [list(w.box) for w in windows],
        "detections": det.to_json_list(),
        "timing_ms": timing.as_dict(),
    }
    if prepared.notice:
        out["notice"] = prepared.notice
    return out
