"""The README's front matter is a Space configuration the Hub accepts: parsed with huggingface_hub's own reader."""

from __future__ import annotations

import re
from pathlib import Path

import gradio
from huggingface_hub import SpaceCard

ROOT = Path(__file__).resolve().parent.parent


def test_the_front_matter_configures_a_gradio_space():
    data = SpaceCard.load(ROOT / "README.md").data
    assert data.sdk == "gradio" and data.app_file == "app.py" and (ROOT / data.app_file).is_file()
    assert data.python_version == "3.12"  # offered by ZeroGPU and GPU Spaces; transformers 5 needs >= 3.11
    assert data.sdk_version == gradio.__version__  # the Space runs the Gradio the tests ran
    requirement = re.search(r"^gradio([<>=,.\d]+)", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert data.sdk_version.split(".")[0] in requirement
    assert 0 < len(data.short_description) <= 60
    assert data.license == "apache-2.0" and (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")
    assert data.models == ["facebook/sam3"] and "sam3" in data.tags
    assert data.suggested_hardware == "zero-a10g"
    assert data.startup_duration_timeout == "1h"  # the first download of facebook/sam3 is about 3.4 GB
