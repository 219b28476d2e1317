"""Checks shared by the video trackers: frames, prompts and thresholds, each failing with one sentence."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def check_frame(image: np.ndarray, size: tuple[int, int] | None, index: int) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"frame {index} must be (H, W, 3) RGB, got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"frame {index} must be uint8, got {image.dtype}")
    if size is not None and image.shape[:2] != tuple(size):
        raise ValueError(
            f"frame {index} is {image.shape[1]}x{image.shape[0]}, the video is {size[1]}x{size[0]}"
        )
    return image


def clean_prompts(prompts: str | Sequence[str]) -> list[str]:
    prompts = [prompts] if isinstance(prompts, str) else list(prompts)
    prompts = [" ".join(str(p).split()) for p in prompts]
    if not prompts or any(not p for p in prompts):
        raise ValueError("give at least one non-empty noun phrase such as 'red circle'")
    return list(dict.fromkeys(prompts))


def check_unit(name: str, value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
