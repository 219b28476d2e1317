"""Pictures and small HTML for the tabs: answer overlays with selection, exemplar boxes, legends, hit tests.

Mask i always has colour `sam3.overlay.colour(i)` and number i + 1, as in the agent's own overlays,
so the numbers in the trace, on the picture and in the legend agree.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image

from sam3.detections import Detections, boxes_from_masks
from sam3.overlay import colour, draw_overlay
from sam3.session import BoxPrompt

OFF_COLOUR = (235, 235, 235)
POSITIVE_BOX = (40, 200, 70)
NEGATIVE_BOX = (230, 40, 40)


def as_array(image: Image.Image | np.ndarray) -> np.ndarray:
    return np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)


def tight(detections: Detections) -> Detections:
    """The same detections with boxes fitted to their masks.

    `draw_overlay` paints each mask only inside its box, and a model's box can be smaller than its mask;
    what the person sees (and clicks) must be exactly the mask that is exported.
    """
    return Detections(
        detections.masks,
        boxes_from_masks(detections.masks),
        detections.scores,
        detections.phrases,
        detections.image_size,
    )


def selection_overlay(image: Image.Image | np.ndarray, detections: Detections, selected: Sequence[bool]) -> np.ndarray:
    """Selected masks filled and numbered in their colours; the others outlined in grey, still numbered."""
    img = as_array(image)
    detections = tight(detections)
    on = [i for i, s in enumerate(selected) if s]
    off = [i for i, s in enumerate(selected) if not s]
    out = draw_overlay(img, detections[on], labels=[str(i + 1) for i in on], colour_ids=on) if on else img.copy()
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 300))
    for i in off:
        contours, _ = cv2.findContours(detections.masks[i].astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, (40, 40, 40), thick + 2, cv2.LINE_AA)
        cv2.drawContours(out, contours, -1, OFF_COLOUR, thick, cv2.LINE_AA)
        _tag(out, str(i + 1), detections.masks[i], detections.boxes[i])
    return out


def _tag(img: np.ndarray, text: str, mask: np.ndarray, box: np.ndarray) -> None:
    """A grey number tag at the mask's centroid, for masks that are not in the answer."""
    ys, xs = np.nonzero(mask)
    cx, cy = (int(xs.mean()), int(ys.mean())) if len(xs) else (int(box[0] + box[2]) // 2, int(box[1] + box[3]) // 2)
    h, w = img.shape[:2]
    scale = max(0.4, min(h, w) / 900)
    thick = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x0 = min(max(cx - tw // 2 - 3, 0), max(w - tw - 6, 0))
    y0 = min(max(cy - th // 2 - 3, 0), max(h - th - base - 6, 0))
    cv2.rectangle(img, (x0, y0), (x0 + tw + 6, y0 + th + base + 6), (90, 90, 90), -1)
    cv2.putText(img, text, (x0 + 3, y0 + 3 + th), cv2.FONT_HERSHEY_SIMPLEX, scale, OFF_COLOUR, thick, cv2.LINE_AA)


def draw_boxes(image: np.ndarray, boxes: Sequence[BoxPrompt], pending: tuple[float, float] | None = None) -> np.ndarray:
    """Exemplar boxes (green positive, red negative) and the first corner of a box being drawn."""
    out = np.array(image, copy=True)
    h, w = out.shape[:2]
    thick = max(2, round(min(h, w) / 250))
    for b in boxes:
        x0, y0, x1, y1 = (int(round(v)) for v in b.box)
        col = POSITIVE_BOX if b.positive else NEGATIVE_BOX
        cv2.rectangle(out, (x0, y0), (x1, y1), (255, 255, 255), thick + 2)
        cv2.rectangle(out, (x0, y0), (x1, y1), col, thick)
    if pending is not None:
        x, y = (int(round(v)) for v in pending)
        size = max(6, min(h, w) // 40)
        for col, t in (((255, 255, 255), thick + 2), ((255, 0, 255), thick)):
            cv2.line(out, (x - size, y), (x + size, y), col, t)
            cv2.line(out, (x, y - size), (x, y + size), col, t)
    return out


def hit_test(detections: Detections, x: float, y: float) -> int | None:
    """The mask under pixel (x, y): the smallest one containing it (the most specific), else None."""
    h, w = detections.image_size
    xi, yi = int(x), int(y)
    if not (0 <= xi < w and 0 <= yi < h) or not len(detections):
        return None
    hits = np.flatnonzero(detections.masks[:, yi, xi])
    if not len(hits):
        return None
    return int(hits[np.argmin(detections.areas[hits])])


def _swatch(i: int, on: bool) -> str:
    r, g, b = colour(i) if on else OFF_COLOUR
    border = "#333" if on else "#999"
    return (
        f'<span style="display:inline-block;width:14px;height:14px;border-radius:3px;vertical-align:middle;'
        f'background:rgb({r},{g},{b});border:1px solid {border};margin-right:6px"></span>'
    )


def legend_html(detections: Detections, selected: Sequence[bool] | None = None, title: str = "") -> str:
    """A table: number, colour, phrase, score, size and (with `selected`) whether it is in the answer."""
    if not len(detections):
        return f"<p>{html.escape(title)} No masks.</p>" if title else "<p>No masks.</p>"
    h, w = detections.image_size
    areas = detections.areas
    rows = []
    for i in range(len(detections)):
        on = True if selected is None else bool(selected[i])
        state = "" if selected is None else ("<td>in the answer</td>" if on else "<td><i>left out</i></td>")
        style = "" if on else ' style="opacity:0.6"'
        rows.append(
            f'<tr class="legend-row" data-mask="{i + 1}" data-selected="{str(on).lower()}"{style}>'
            f"<td>{_swatch(i, on)}<b>{i + 1}</b></td><td>{html.escape(detections.phrases[i])}</td>"
            f"<td>{detections.scores[i]:.2f}</td><td>{100 * areas[i] / (h * w):.1f}%</td>{state}</tr>"
        )
    head = "<th>answer</th>" if selected is not None else ""
    caption = f"<caption style='text-align:left'>{html.escape(title)}</caption>" if title else ""
    return (
        f'<table class="mask-legend" style="width:100%;font-size:0.9em">{caption}'
        f"<thead><tr><th>mask</th><th>phrase</th><th>score</th><th>area</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def timing_markdown(t: dict[str, float], encoded_now: bool) -> str:
    """One line from `sam3.session.Timing.as_dict()`."""
    encode = f"{t['encode_ms']:.0f} ms" if encoded_now else "0 ms (image already encoded: cached)"
    return (
        f"encode {encode} · text {t['text_ms']:.1f} ms · prompt {t['prompt_ms']:.1f} ms · "
        f"post-process {t['postprocess_ms']:.1f} ms"
        + (f" · closer look at unsure masks {t['closer_ms']:.0f} ms" if t["closer_ms"] >= 0.5 else "")
    )
