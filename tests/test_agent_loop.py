"""The agent loop driven by scripted models: tools, repairs, budgets and failures end in an answer."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image

from agent.events import FinalEvent, Notice, ToolCallEvent, ToolResultEvent
from agent.llm import LLMError, Message, Reply
from agent.loop import Agent, Budget, run_to_end
from sam3.session import Segmenter


class ScriptedModel:
    """Replies from a list; a callable entry computes the reply from the messages it was sent."""

    name = "scripted"

    def __init__(self, replies):
        self.replies = list(replies)
        self.seen: list[list[Message]] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def generate(self, messages, max_tokens=1024, timeout=None):
        with self.lock:
            self.seen.append(messages)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            reply = self.replies.pop(0) if self.replies else '{"tool": "no_match"}'
        try:
            if isinstance(reply, Exception):
                raise reply
            if callable(reply):
                reply = reply(messages)
            return Reply(reply, prompt_tokens=100, completion_tokens=20)
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture
def segmenter(loaded_tiny):
    return Segmenter(loaded_tiny)


@pytest.fixture
def image():
    return Image.fromarray(np.random.default_rng(3).integers(0, 255, (96, 128, 3), dtype=np.uint8))


def agent_with(replies, **budget):
    model = ScriptedModel(replies)
    # threshold 0: the tiny random SAM 3 scores near 0.25, and these tests are about the loop
    return Agent(llm=model, spatial=False, budget=Budget(**budget), threshold=0.0), model


def run(agent, segmenter, image, query="the leftmost cup"):
    events, answer, counters, _ = run_to_end(agent, segmenter.session(image), query)
    assert isinstance(events[-1], FinalEvent) and events[-1].answer is answer
    return events, answer, counters


def test_segment_then_select(segmenter, image):
    agent, model = agent_with(
        [
            '<think>find cups</think>{"tool": "segment", "phrases": ["cup"]}',
            '{"tool": "select", "masks": [1, 2]}',
        ]
    )
    events, answer, counters = run(agent, segmenter, image)
    assert answer.status == "ok" and len(answer.detections) == 2
    results = [e for e in events if isinstance(e, ToolResultEvent)]
    assert results[0].image.shape == (96, 128, 3)
    assert "1: 'cup' score" in results[0].text
    second_call = model.seen[1]
    assert second_call[-1].images, "the model sees the numbered overlay"
    assert counters.llm_calls == 2 and counters.sam3_calls == 1


def test_many_phrases_and_rounds_encode_once(segmenter, image):
    calls = [0]
    segmenter.loaded.model.vision_encoder.register_forward_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    agent, _ = agent_with(
        [
            '{"tool": "segment", "phrases": ["cup", "red cup", "mug"]}',
            '{"tool": "segment", "phrases": ["plate"]}',
            '{"tool": "segment", "phrases": ["saucer"]}',
            '{"tool": "select", "masks": [1]}',
        ]
    )
    _, answer, counters = run(agent, segmenter, image)
    assert answer.status == "ok" and counters.sam3_calls == 3
    assert calls[0] == 1


def test_malformed_replies_are_repaired_or_sent_back(segmenter, image):
    agent, model = agent_with(
        [
            "I think the answer is the cup on the left.",
            '{"tool": "segment", "phrases": ["cup"],}',
            '{"tool": "select", "masks": [1, 99]}',
            '```json\n{"tool": "select", "masks": ["1"]}\n```',
        ]
    )
    events, answer, _ = run(agent, segmenter, image)
    assert answer.status == "ok" and len(answer.detections) == 1
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert any("no tool call found" in n for n in notices)
    assert any("do not exist" in n for n in notices)
    calls = [e for e in events if isinstance(e, ToolCallEvent)]
    assert "removed trailing commas" in calls[0].repaired
    assert "Error:" in model.seen[1][-1].joined_text


def test_unreadable_replies_end_with_the_best_answer_so_far(segmenter, image):
    agent, _ = agent_with(['{"tool": "segment", "phrases": ["cup"]}', "{{{", "no json", '{"tool": "fly"}'])
    _, answer, _ = run(agent, segmenter, image)
    assert answer.status == "budget"
    assert len(answer.detections) > 0 and "best answer so far" in answer.message


def test_round_budget_returns_best_answer(segmenter, image):
    replies = ['{"tool": "segment", "phrases": ["cup"]}', '{"tool": "segment", "phrases": ["mug"]}'] * 5
    agent, model = agent_with(replies, rounds=3)
    events, answer, counters = run(agent, segmenter, image)
    assert answer.status == "budget" and "round limit" in answer.message
    assert counters.llm_calls == 3
    assert any("round(s) left" in m.joined_text for m in model.seen[-1])


def test_token_budget(segmenter, image):
    agent, _ = agent_with(['{"tool": "segment", "phrases": ["cup"]}'] * 10, tokens=250)
    _, answer, counters = run(agent, segmenter, image)
    assert answer.status == "budget" and "token limit" in answer.message and counters.llm_calls == 3


def test_backend_failure_is_an_answer_not_an_exception(segmenter, image):
    agent, _ = agent_with(
        ['{"tool": "segment", "phrases": ["cup"]}', LLMError("server closed the connection")]
    )
    _, answer, _ = run(agent, segmenter, image)
    assert answer.status == "error" and "server closed the connection" in answer.message
    assert len(answer.detections) > 0


def test_no_match(segmenter, image):
    agent, _ = agent_with(
        ['{"tool": "segment", "phrases": ["giraffe"]}', '{"tool": "no_match", "reason": "none"}']
    )
    _, answer, _ = run(agent, segmenter, image)
    assert answer.status == "no_match" and len(answer.detections) == 0 and answer.message == "none"


def test_check_asks_about_all_masks_at_once(segmenter, image):
    def slow_verdict(messages):
        time.sleep(0.2)
        return "It is red. <verdict>Accept</verdict>" if "Red?" in messages[0].joined_text else "Yes"

    agent, model = agent_with(
        [
            '{"tool": "segment", "phrases": ["cup"]}',
            '{"tool": "check", "masks": [1, 2, 3], "question": "Red?"}',
        ]
        + [slow_verdict] * 3
        + ['{"tool": "select", "masks": [2]}']
    )
    events, answer, counters = run(agent, segmenter, image)
    check = [e for e in events if isinstance(e, ToolResultEvent) and e.tool == "check"][0]
    assert check.text.count(": accept") == 3
    assert model.max_in_flight >= 2, "per-mask checks must not run one after another"
    assert answer.status == "ok" and counters.llm_calls == 6
    one_look = model.seen[2]  # a check: one message, the query restated, two views side by side
    assert len(one_look) == 1 and "the leftmost cup" in one_look[0].joined_text
    view = one_look[0].images[0]
    assert view.height == 336 and view.width > 336


def test_rejected_masks_are_left_out_of_the_answer(segmenter, image):
    agent, _ = agent_with(
        [
            '{"tool": "segment", "phrases": ["cup"]}',
            '{"tool": "check", "masks": [1, 2]}',
            lambda m: "A plate, not a cup. <verdict>Reject</verdict>",
            lambda m: "<verdict>Accept</verdict>",
            '{"tool": "select", "masks": [1]}',  # only a rejected mask: refused, the model must choose again
            '{"tool": "select", "masks": [1, 2]}',
        ],
        check_workers=1,  # the verdicts come back in mask order
    )
    events, answer, _ = run(agent, segmenter, image)
    assert answer.status == "ok" and len(answer.detections) == 1
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert any("rejected by check; select others" in n for n in notices)
    assert any("[1] were rejected by check and are left out" in n for n in notices)


def test_inspect_shows_crops(segmenter, image):
    agent, model = agent_with(
        [
            '{"tool": "segment", "phrases": ["cup"]}',
            '{"tool": "inspect", "masks": [1, 2]}',
            '{"tool": "select", "masks": [1]}',
        ]
    )
    events, answer, _ = run(agent, segmenter, image)
    inspect = [e for e in events if isinstance(e, ToolResultEvent) and e.tool == "inspect"][0]
    assert inspect.image is not None and inspect.image.shape[2] == 3
    assert answer.status == "ok"
    last = model.seen[-1]
    assert sum(bool(m.images) for m in last[2:]) == 1, "only the newest tool image is resent"


def test_degenerate_box_from_model_is_sent_back(segmenter, image):
    agent, _ = agent_with(
        [
            '{"tool": "segment", "phrases": ["cup"], "boxes": [[50, 50, 10, 10]]}',
            '{"tool": "segment", "phrases": ["cup"], "boxes": [[10, 10, 50, 50]]}',
            '{"tool": "select", "masks": [1]}',
        ]
    )
    events, answer, _ = run(agent, segmenter, image)
    assert any(isinstance(e, Notice) and "x1 > x0" in e.text for e in events)
    assert answer.status == "ok"


@pytest.mark.parametrize("query, message", [("   ", "empty"), ("x" * 600, "too long")])
def test_bad_queries(segmenter, image, query, message):
    agent, model = agent_with([])
    _, answer, _ = run(agent, segmenter, image, query)
    assert answer.status == "error" and message in answer.message and not model.seen


def test_hostile_phrases_are_just_text(segmenter, image, tmp_path):
    agent, _ = agent_with(
        ['{"tool": "segment", "phrases": ["../../etc/passwd", "$(rm -rf /)"]}', '{"tool": "no_match"}']
    )
    events, answer, _ = run(agent, segmenter, image)
    assert answer.status == "no_match"
    result = [e for e in events if isinstance(e, ToolResultEvent)][0]
    assert "'../../etc/passwd'" in result.text
