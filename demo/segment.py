"""The Segment tab's logic: SAM 3 asked directly, with noun phrases, exemplar boxes and refinement points.

No Gradio here. The model work is `demo.work.segment` and `demo.work.refine`; the shared `Segmenter` keeps each
image's encoding, so changing the phrases, the threshold or the boxes re-runs only the prompt pass (the timing
line shows encode 0 ms). A visitor's state keeps the upload's path and the last picture's file, not pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from demo import work
from demo.export import SessionFiles, write_exports, write_png
from demo.inputs import PreparedImage, check_upload, parse_boxes, parse_phrases, prepare_image
from demo.models import DemoInputError, Models
from demo.render import as_array, draw_boxes, legend_html, tight, timing_markdown
from sam3.overlay import draw_overlay
from sam3.refine import Click
from sam3.session import BoxPrompt

MIN_BOX_SIDE = 2.0


@dataclass
class SegmentState:
    """Per-session state of the Segment tab (lives in a `gr.State`, which expires with the session)."""

    files: SessionFiles = field(default_factory=SessionFiles)
    image_path: str | None = None
    boxes: list[BoxPrompt] = field(default_factory=list)
    clicks: list[Click] = field(default_factory=list)  # refinement points of the object being refined
    pending: tuple[float, float] | None = None
    overlay_path: str | None = None  # the last result's picture, without boxes drawn on it

    def set_image(self, path: str | None, models: Models) -> None:
        """A new upload (clearing boxes and results); `DemoInputError` when it is not a usable image."""
        self.image_path, self.boxes, self.clicks, self.pending, self.overlay_path = None, [], [], None, None
        if path is not None:
            check_upload(path, models.settings)
            self.image_path = str(path)

    def prepared(self, models: Models, path: str | None = None) -> PreparedImage:
        if path is not None and path != self.image_path:
            self.set_image(path, models)
        if self.image_path is None:
            raise DemoInputError("upload an image first (or pick an example)")
        return prepare_image(self.image_path, models.settings)

    def canvas(self, models: Models) -> np.ndarray | None:
        """What the picture shows: the last result (or the plain image) with the boxes and points on top."""
        if self.image_path is None:
            return None
        if self.overlay_path is not None:
            base = np.asarray(Image.open(self.overlay_path).convert("RGB"))
        else:
            base = as_array(self.prepared(models).image)
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
    if state.image_path is None:
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


def refine_click(
    models: Models, state: SegmentState, x: float, y: float, positive: bool, namespace: str = ""
) -> str:
    """A refinement point: SAM 3's tracker turns all points so far into one mask (no re-encoding)."""
    prepared = state.prepared(models)
    models.require_segmenter()
    clicks = [*state.clicks, Click(float(x), float(y), positive=bool(positive))]
    out = work.refine(prepared.array, [(c.x, c.y, c.positive) for c in clicks], namespace)
    state.clicks = clicks
    folder = state.files.new_folder("refine")
    state.overlay_path = write_png(folder, "refined.png", draw_overlay(prepared.image, tight(out.detections)))
    pos = sum(c.positive for c in clicks)
    status = (
        f"**Refined mask** from {pos} positive / {len(clicks) - pos} negative point(s), "
        f"score {float(out.detections.scores[0]):.2f}. Clear to start a new object."
    )
    if not out.trained:
        status += (
            "\n\n⚠️ This checkpoint has no trained tracker: its point decoder is untrained, so refined masks "
            "are not meaningful here (they are with facebook/sam3)."
        )
    return status


@dataclass
class SegmentResult:
    canvas: np.ndarray
    legend: str
    status: str
    downloads: list[str]


def _boxes(boxes: list[BoxPrompt]) -> list[tuple]:
    return [(*b.box, b.positive) for b in boxes]


def segment_ui(
    models: Models, state: SegmentState, path: str | None, phrases_text: str, threshold: float, namespace: str = ""
) -> SegmentResult:
    prepared = state.prepared(models, path)
    phrases = parse_phrases(phrases_text, allow_empty=bool(state.boxes))
    models.require_segmenter()
    threshold = models.threshold(threshold)
    out = work.segment(prepared.array, phrases, _boxes(state.boxes), threshold, namespace)
    det = out.detections
    overlay = draw_overlay(prepared.image, tight(det)) if len(det) else as_array(prepared.image)
    asked = ", ".join(f"'{p}'" for p in phrases) or "the exemplar boxes alone"
    status = f"**{len(det)} mask(s)** for {asked} at threshold {float(threshold):.2f}. "
    status += timing_markdown(out.timing, out.encoded)
    if out.windows:
        status += f" · elongated image: also seen in {len(out.windows)} overlapping windows"
    if state.boxes:
        pos = sum(b.positive for b in state.boxes)
        status += f" · {pos} positive / {len(state.boxes) - pos} negative box(es)"
    if prepared.notice:
        status += f"\n\nℹ️ {prepared.notice}"
    downloads = write_exports(
        state.files, det, overlay, prepared.name, extra={"phrases": phrases, "threshold": float(threshold)}
    )
    state.overlay_path = next(p for p in downloads if p.endswith("_overlay.png"))
    return SegmentResult(state.canvas(models), legend_html(det), status, downloads)


def segment_json(
    models: Models,
    image_path: str | None,
    phrases_text: str,
    threshold: float | None = None,
    boxes_text: str = "",
    namespace: str = "",
) -> dict:
    """The `/segment` API: detections as in `python -m sam3 segment --json`; `DemoInputError` on bad input."""
    prepared = prepare_image(image_path, models.settings)
    boxes = parse_boxes(boxes_text, prepared.scale)
    phrases = parse_phrases(phrases_text, allow_empty=bool(boxes))
    threshold = models.threshold(threshold)
    models.require_segmenter()
    out = work.segment(prepared.array, phrases, _boxes(boxes), threshold, namespace)
    img = prepared.image
    result = {
        "image": {"width": img.width, "height": img.height},
        "model": models.source_name,
        "phrases": phrases,
        "threshold": float(threshold),
        "windows": [list(w) for w in out.windows],
        "detections": out.detections.to_json_list(),
        "timing_ms": out.timing,
    }
    if prepared.notice:
        result["notice"] = prepared.notice
    return result


def refine_json(models: Models, image_path: str | None, points_text: str, namespace: str = "") -> dict:
    """The `/refine` API: one object's mask from points `x,y[,neg]` separated by `;` (upload pixels)."""
    prepared = prepare_image(image_path, models.settings)
    clicks = []
    for part in (points_text or "").replace("\n", ";").split(";"):
        if not part.strip():
            continue
        fields = [f.strip() for f in part.split(",")]
        try:
            x, y = float(fields[0]), float(fields[1])
        except (ValueError, IndexError):
            raise DemoInputError(f"a point must be x,y or x,y,neg, got {part.strip()!r}") from None
        if len(fields) > 3 or (len(fields) == 3 and fields[2].lower() not in ("neg", "pos", "-", "+")):
            raise DemoInputError(f"a point must be x,y or x,y,neg, got {part.strip()!r}")
        clicks.append((x * prepared.scale, y * prepared.scale, not (len(fields) == 3 and fields[2] in ("neg", "-"))))
    if not clicks:
        raise DemoInputError("give at least one point, e.g. '120,80' (add ',neg' for a point outside the object)")
    models.require_segmenter()
    out = work.refine(prepared.array, clicks, namespace)
    img = prepared.image
    return {
        "image": {"width": img.width, "height": img.height},
        "model": models.source_name,
        "trained": out.trained,
        "detections": out.detections.to_json_list(),
    }
