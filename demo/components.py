"""`image_input`: a `gr.Image` upload whose file is checked from its header before anything decodes it.

`gr.Image` opens and converts every upload with Pillow before any handler runs, so a decompression bomb (a
small file that decodes to gigabytes) would cost memory and seconds there, and a renamed text file would fail as
a bare "Error". Here the header is read first: a file that is no image, or holds more pixels than the app takes,
goes to the handler as a path, unopened, and `demo.inputs.prepare_image` says in one sentence what is wrong.
The instance's `preprocess` is wrapped rather than subclassed: a `gr.Image` subclass would make Gradio write a
`.pyi` stub next to this file and need its own frontend id.
"""

from __future__ import annotations

import gradio as gr

from demo.settings import Settings
from sam3.image_io import ImageLoadError, check_image_file


def image_input(settings: Settings, **kwargs) -> gr.Image:
    image = gr.Image(type="filepath", **kwargs)
    strict = image.preprocess

    def preprocess(payload):
        path = payload.path if payload is not None else None
        local = path and not (payload.url or "").startswith("data:")
        if local:
            try:
                check_image_file(path, max_pixels=settings.max_pixels)
            except ImageLoadError:
                return str(path)
        try:
            return strict(payload)
        except Exception:
            if local:
                return str(path)
            raise

    image.preprocess = preprocess
    return image
