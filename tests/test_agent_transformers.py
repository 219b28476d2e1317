"""The agent with a local transformers VLM (tiny, random): plumbing runs, garbage output is survived."""

from __future__ import annotations

import numpy as np
from PIL import Image

from agent.backends.hf_local import TransformersVLM
from agent.events import Notice
from agent.loop import Agent, Budget, run_to_end
from sam3.session import Segmenter
from tests.tiny_vlm import save_tiny_vlm


def test_garbage_from_a_random_vlm_ends_in_an_answer(tmp_path, loaded_tiny):
    path = save_tiny_vlm("qwen2_5_vl", tmp_path / "vlm")
    agent = Agent(llm=TransformersVLM(str(path)), spatial=False, budget=Budget(rounds=4, max_reply_tokens=24))
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    events, answer, counters, _ = run_to_end(agent, Segmenter(loaded_tiny).session(image), "the red cup")
    assert answer.status == "budget" and len(answer.detections) == 0
    assert counters.llm_calls == 3, "three unreadable replies in a row end the run"
    assert sum(isinstance(e, Notice) for e in events) >= 3
