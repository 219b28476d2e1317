"""The whole agent loop over HTTP against a real local server that replays scripted replies."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from agent.backends.openai_compat import OpenAICompatible
from agent.loop import Agent, Budget, run_to_end
from sam3.session import Segmenter
from tests.llm_server import ScriptedLLMServer, die, ok, slow, status


@pytest.fixture
def image():
    return Image.fromarray(np.random.default_rng(5).integers(0, 255, (80, 120, 3), dtype=np.uint8))


def run(script, loaded_tiny, image, query="every cup except the broken one", **budget):
    with ScriptedLLMServer(script) as srv:
        llm = OpenAICompatible(srv.url, "scripted", backoff=0.01, max_attempts=2)
        agent = Agent(llm=llm, spatial=False, budget=Budget(**budget), threshold=0.0)
        events, answer, counters, _ = run_to_end(agent, Segmenter(loaded_tiny).session(image), query)
        return answer, counters, srv.requests


def test_segment_then_select_over_http(loaded_tiny, image):
    answer, counters, requests = run(
        [ok('<think>cups first</think>{"tool": "segment", "phrases": ["cup"]}'), status(503),
         ok('{"tool": "select", "masks": [1]}')], loaded_tiny, image)
    assert answer.status == "ok" and len(answer.detections) == 1
    assert counters.llm_calls == 2 and len(requests) == 3  # the 503 was retried inside one call
    first, last = requests[0], requests[-1]
    assert first.images[0].size == (120, 80), "the photo goes inline with the first message"
    assert "every cup except the broken one" in " ".join(first.texts)
    assert len(last.images) == 2, "the photo and the newest numbered overlay"
    assert any("1: 'cup' score" in t for t in last.texts)


def test_server_dying_mid_run_gives_best_answer(loaded_tiny, image):
    answer, _, _ = run([ok('{"tool": "segment", "phrases": ["cup"]}'), die()], loaded_tiny, image)
    assert answer.status == "error" and len(answer.detections) > 0
    assert "model backend failed" in answer.message


def test_slow_server_cannot_outlast_the_time_budget(loaded_tiny, image):
    answer, _, _ = run([slow(30.0, ok('{"tool": "no_match"}'))], loaded_tiny, image, seconds=1.0)
    assert answer.status in ("error", "budget") and len(answer.detections) == 0


def test_malformed_replies_over_http(loaded_tiny, image):
    answer, counters, requests = run(
        [ok("Sure! The cup on the left."), ok('{"tool": "segment", "phrases": ["cup"]'),
         ok('{"tool": "select", "masks": [1]}')], loaded_tiny, image)
    assert answer.status == "ok" and counters.llm_calls == 3
    assert any("no tool call found" in t for t in requests[1].texts)
