"""`image_input`: a `gr.Image` upload that hands even undecodable files to our loader.

`gr.Image` opens every upload with Pillow before any handler runs, so a renamed text file or a decompression
bomb fails there as a bare "Error". With `type="filepath"` a handler needs only the path (Gradio has already
checked that it lies in its upload folder), and `sam3.image_io.load_image` then says in one sentence what is
wrong. The instance's `preprocess` is wrapped rather than subclassed: a `gr.Image` subclass would make
Gradio write a `.pyi` stub next to this file and need its own frontend id.
"""

from __future__ import annotations

import gradio as gr


def image_input(**kwargs) -> gr.Image:
    image = gr.Image(type="filepath", **kwargs)
    strict = image.preprocess

    def preprocess(payload):
        try:
            return strict(payload)
        except Exception:
            if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
                return str(payload.path)
            raise

    image.preprocess = preprocess
    return image
