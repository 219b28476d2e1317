"""Shared fixtures: tiny random SAM 3 checkpoints saved and loaded like real ones."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from sam3.build import new_model, save_checkpoint  # noqa: E402
from sam3.configs import TINY  # noqa: E402
from shapesworld.phrases import vocabulary  # noqa: E402


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> str:
    """A random-initialised SAM 3 in the facebook/sam3 directory layout."""
    model, processor = new_model(TINY, vocabulary(), seed=0)
    return str(save_checkpoint(model, processor, tmp_path_factory.mktemp("tiny-sam3")))


@pytest.fixture(scope="session")
def loaded_tiny(tiny_checkpoint):
    from sam3.loading import load_sam3

    return load_sam3(tiny_checkpoint, device="cpu")


@pytest.fixture
def photo() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
