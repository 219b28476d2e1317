"""Shared fixtures: tiny random SAM 3 checkpoints saved and loaded like real ones."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("GRADIO_EXAMPLES_CACHE", os.path.join(tempfile.mkdtemp(prefix="sam3-examples-"), "cache"))

from shapesworld.phrases import vocabulary  # noqa: E402
from training.build import new_model, new_video_model, save_checkpoint  # noqa: E402
from training.configs import TINY, tiny_video_config  # noqa: E402


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> str:
    """A random-initialised SAM 3 in the facebook/sam3 directory layout."""
    model, processor = new_model(TINY, vocabulary(), seed=0)
    return str(save_checkpoint(model, processor, tmp_path_factory.mktemp("tiny-sam3")))


@pytest.fixture(scope="session")
def loaded_tiny(tiny_checkpoint):
    from sam3.loading import load_sam3

    return load_sam3(tiny_checkpoint, device="cpu")


@pytest.fixture(scope="session")
def tiny_video_checkpoint(tmp_path_factory) -> str:
    """A random-initialised SAM 3 video model (detector + tracker) that loads as every SAM 3 class."""
    config = tiny_video_config(score_threshold_detection=0.2, new_det_thresh=0.25, max_num_objects=3)
    model, processor = new_video_model(config, vocabulary(), seed=0)
    return str(save_checkpoint(model, processor, tmp_path_factory.mktemp("tiny-video")))


@pytest.fixture(scope="session")
def shapes_clip(tmp_path_factory):
    """A 12-frame 96x64 ShapesWorld clip with its true masks, and its mp4: (rendered, frames, path)."""
    from shapesworld.video import render_video, sample_video, write_mp4

    rendered = render_video(sample_video(3, width=96, height=64, fps=10, seconds=2.0))
    frames = rendered.frames[:12]
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_mp4(frames, path, 10)
    return rendered, frames, str(path)


@pytest.fixture
def photo() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
