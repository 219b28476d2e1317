"""The image as the model sees it: downscaled to the backend's `max_image_side`, and boxes converted both ways.

A VLM such as Qwen2.5-VL grounds in the pixels it is shown, so every box the agent tells it is given in the
shown image's pixels, and every box it gives back is scaled to the original image before SAM 3 sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Frame:
    """(H, W) of the original image and the scale from it to the image the model sees (<= 1)."""

    size: tuple[int, int]
    scale: float = 1.0

    @classmethod
    def for_model(cls, size: tuple[int, int], max_side: int | None) -> Frame:
        """The frame a backend that downscales images to `max_side` (None: no limit) shows the model."""
        h, w = size
        if not max_side or max(h, w) <= max_side:
            return cls(size)
        return cls(size, max_side / max(h, w))

    @property
    def shown_size(self) -> tuple[int, int]:
        """(H, W) of the image the model sees."""
        h, w = self.size
        return max(1, round(h * self.scale)), max(1, round(w * self.scale))

    def show(self, image: Image.Image | np.ndarray) -> Image.Image:
        """An original-size image (photo or overlay) as the model sees it."""
        image = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
        if self.scale == 1.0:
            return image
        h, w = self.shown_size
        return image.resize((w, h), Image.BILINEAR)

    def to_model(self, box) -> list[int]:
        """An [x0, y0, x1, y1] box in original pixels, in the shown image's pixels."""
        return [int(round(float(v) * self.scale)) for v in box]

    def to_image(self, box) -> tuple[float, float, float, float]:
        """A box the model gave (shown pixels) in original pixels, clipped to the image."""
        h, w = self.size
        x0, y0, x1, y1 = (float(v) / self.scale for v in box)
        return (min(max(x0, 0.0), w), min(max(y0, 0.0), h), min(max(x1, 0.0), w), min(max(y1, 0.0), h))
