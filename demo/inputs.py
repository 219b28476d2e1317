"""Turning what a person typed or uploaded into model input, or one sentence saying what is wrong."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from agent.loop import MAX_QUERY_CHARS
from demo.models import DemoInputError
from sam3.image_io import ImageLoadError, downscale_to_limit, load_image
from sam3.session import BoxPrompt

# Larger pictures are shrunk (with a notice): full-size masks of a 100 MP photo would not fit in a browser.
MAX_SIDE = int(os.environ.get("SAM3_DEMO_MAX_SIDE", "2048"))
MAX_PHRASES = 16
MAX_PHRASE_CHARS = 100


@dataclass
class PreparedImage:
    """An upright RGB image the model sees; `scale` maps original pixels to it (1.0 when not resized)."""

    image: Image.Image
    name: str
    original_size: tuple[int, int]  # (W, H) of the upload
    scale: float = 1.0

    @property
    def notice(self) -> str | None:
        if self.scale == 1.0:
            return None
        w, h = self.original_size
        return (
            f"The image is {w}x{h}; it was downscaled to {self.image.width}x{self.image.height} "
            f"(longest side {MAX_SIDE} px), and masks and boxes are at that size."
        )


def prepare_image(path: str | os.PathLike | None) -> PreparedImage:
    """Load an upload (a path in Gradio's upload folder) as RGB, downscaled to `MAX_SIDE` if larger."""
    if path is None or str(path) == "":
        raise DemoInputError("upload an image first (or pick an example)")
    name = Path(path).name
    try:
        image = load_image(path)
    except ImageLoadError as exc:
        # The message names the server-side upload path; the person only knows the file's name.
        raise DemoInputError(str(exc).replace(os.fspath(path), name)) from None
    original = image.size
    image, scale = downscale_to_limit(image, MAX_SIDE)
    return PreparedImage(image, name, original, scale)


def clean_query(query: str | None) -> str:
    query = " ".join(str(query or "").split())
    if not query:
        raise DemoInputError("type a query first, e.g. 'the leftmost star'")
    if len(query) > MAX_QUERY_CHARS:
        raise DemoInputError(f"the query is too long ({len(query)} characters, at most {MAX_QUERY_CHARS})")
    return query


def parse_phrases(text: str | None, allow_empty: bool = False) -> list[str]:
    """Comma- or newline-separated noun phrases, whitespace-normalised, duplicates dropped."""
    phrases = list(dict.fromkeys(" ".join(p.split()) for p in re.split(r"[,\n;]", text or "")))
    phrases = [p for p in phrases if p]
    if not phrases and not allow_empty:
        raise DemoInputError("type at least one noun phrase, e.g. 'red circle, blue square'")
    if len(phrases) > MAX_PHRASES:
        raise DemoInputError(f"too many phrases ({len(phrases)}, at most {MAX_PHRASES})")
    long = [p for p in phrases if len(p) > MAX_PHRASE_CHARS]
    if long:
        raise DemoInputError(f"phrases must be short (at most {MAX_PHRASE_CHARS} characters): {long[0][:40]!r}...")
    return phrases


def parse_boxes(text: str | None, scale: float = 1.0) -> list[BoxPrompt]:
    """`x0,y0,x1,y1[,neg]` boxes separated by `;` or newlines, in upload pixels, scaled to the model image."""
    boxes = []
    for part in re.split(r"[;\n]", text or ""):
        if part.strip():
            try:
                box = BoxPrompt.parse(part)
            except ValueError as exc:
                raise DemoInputError(str(exc)) from None
            boxes.append(BoxPrompt(tuple(v * scale for v in box.box), box.positive))
    return boxes
