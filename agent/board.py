"""The numbered masks the model is looking at. Numbers are stable: new masks are appended,
and a mask that repeats one already on the board (same object) keeps the old number."""

from __future__ import annotations

import numpy as np

from agent.frame import Frame
from sam3.detections import Detections, mask_iou

SAME_OBJECT_IOU = 0.85


class MaskBoard:
    def __init__(self, image_size: tuple[int, int]):
        self.detections = Detections.empty(image_size)
        self.rejected: set[int] = set()  # numbers a check rejected: left out of any answer

    def __len__(self) -> int:
        return len(self.detections)

    def add(self, new: Detections) -> list[int]:
        """Adds `new`; returns the 1-based number of each of its masks on the board."""
        if len(new) == 0:
            return []
        numbers = [0] * len(new)
        fresh = []
        iou = mask_iou(new.masks, self.detections.masks) if len(self.detections) else np.zeros((len(new), 0))
        for i in range(len(new)):
            if iou.shape[1] and iou[i].max() > SAME_OBJECT_IOU:
                numbers[i] = int(iou[i].argmax()) + 1
            else:
                fresh.append(i)
                numbers[i] = len(self.detections) + len(fresh)
        if fresh:
            self.detections = Detections.merge([self.detections, new[fresh]])
        return numbers

    def reject(self, number: int) -> None:
        self.rejected.add(number)

    def pick(self, numbers: list[int]) -> Detections:
        return self.detections[[n - 1 for n in numbers]]

    def describe(self, numbers: list[int] | None = None, frame: Frame | None = None) -> str:
        """One line per mask: number, phrase, score, box (in `frame`'s shown pixels), area (% of the image)."""
        det = self.detections
        frame = frame or Frame(det.image_size)
        h, w = det.image_size
        numbers = numbers if numbers is not None else list(range(1, len(det) + 1))
        areas = det.areas
        lines = []
        for n in numbers:
            i = n - 1
            box = ", ".join(str(v) for v in frame.to_model(det.boxes[i]))
            rejected = " (rejected)" if n in self.rejected else ""
            lines.append(
                f"{n}: '{det.phrases[i]}' score {det.scores[i]:.2f} box [{box}] "
                f"area {100 * areas[i] / (h * w):.1f}%{rejected}"
            )
        return "\n".join(lines)
