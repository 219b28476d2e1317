"""The MLLM loop's protocol over HTTP, against a real local server replaying scripted replies: repeated
phrases refused, the query restated, text answers, coordinates in the frame the model sees, and the
planner's fast path only for what it fully understood."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from agent.backends.openai_compat import OpenAICompatible
from agent.events import Notice, ToolResultEvent
from agent.frame import Frame
from agent.loop import Agent, Budget, run_record, run_to_end
from agent.spatial import Vocabulary
from sam3.session import Segmenter
from tests.llm_server import ScriptedLLMServer, ok

SHAPES = Vocabulary(("red", "blue"), ("circle", "square"), ("shape",))


@pytest.fixture
def image():
    return Image.fromarray(np.random.default_rng(7).integers(0, 255, (90, 120, 3), dtype=np.uint8))


def run(script, session, query, spatial=False, vocabulary=None, max_image_side=1024):
    with ScriptedLLMServer(script) as srv:
        llm = OpenAICompatible(srv.url, "scripted", backoff=0.01, max_attempts=1, max_image_side=max_image_side)
        agent = Agent(llm=llm, spatial=spatial, budget=Budget(), threshold=0.0, vocabulary=vocabulary)
        events, answer, counters, _ = run_to_end(agent, session, query)
        return events, answer, counters, srv.requests


def test_a_repeated_phrase_is_refused_and_the_query_restated(loaded_tiny, image):
    session = Segmenter(loaded_tiny).session(image)
    events, answer, counters, requests = run(
        [ok('{"tool": "segment", "phrases": ["cup"]}'), ok('{"tool": "segment", "phrases": [" Cup "]}'),
         ok('{"tool": "select", "masks": [1]}')], session, "the chipped cup")
    assert answer.status == "ok" and counters.sam3_calls == 1
    refusal = requests[2].texts[-1]
    assert "already segmented" in refusal and "Phrases tried so far: 'cup'" in refusal
    assert requests[1].texts[-1].startswith('Query: "the chipped cup"'), "each tool result restates the query"
    assert [e.tool for e in events if isinstance(e, ToolResultEvent)] == ["segment"]


def test_a_new_phrase_beside_a_tried_one_is_searched_alone(loaded_tiny, image):
    session = Segmenter(loaded_tiny).session(image)
    events, answer, counters, requests = run(
        [ok('{"tool": "segment", "phrases": ["cup"]}'), ok('{"tool": "segment", "phrases": ["cup", "mug"]}'),
         ok('{"tool": "no_match", "reason": "none"}')], session, "the mug")
    assert counters.sam3_calls == 2
    assert any(isinstance(e, Notice) and "already tried, skipped: 'cup'" in e.text for e in events)
    assert "for 'mug'" in requests[2].texts[-1]


def test_select_and_no_match_carry_a_text_answer(loaded_tiny, image):
    session = Segmenter(loaded_tiny).session(image)
    _, answer, _, _ = run(
        [ok('{"tool": "segment", "phrases": ["cup"]}'), ok('{"tool": "select", "masks": [1, 2], "text": "2 cups"}')],
        session, "how many cups are there?")
    assert answer.status == "ok" and answer.text == "2 cups" and len(answer.detections) == 2
    _, answer, _, _ = run([ok('{"tool": "no_match", "reason": "no dog here", "text": "No"}')], session,
                          "is there a dog?")
    assert answer.status == "no_match" and answer.text == "No" and answer.message == "no dog here"
    with ScriptedLLMServer([ok('{"tool": "no_match", "text": "0"}')]) as srv:
        agent = Agent(llm=OpenAICompatible(srv.url, "scripted", max_attempts=1), spatial=False, threshold=0.0)
        record = run_record(agent, session, "how many dogs?").to_json()
    assert record["answer"]["text"] == "0" and record["answer"]["status"] == "no_match"


class RecordingSession:
    """A real image session that also records the exemplar boxes SAM 3 is given."""

    def __init__(self, session):
        self._session = session
        self.boxes = []

    def __getattr__(self, name):
        return getattr(self._session, name)

    def segment(self, phrases, boxes=(), **kwargs):
        self.boxes.extend(b.box for b in boxes)
        return self._session.segment(phrases, boxes=boxes, **kwargs)


def test_coordinates_are_exchanged_in_the_frame_the_model_sees(loaded_tiny):
    big = Image.fromarray(np.random.default_rng(2).integers(0, 255, (600, 1600, 3), dtype=np.uint8))
    session = RecordingSession(Segmenter(loaded_tiny).session(big))
    _, answer, _, requests = run(
        [ok('{"tool": "segment", "phrases": ["cup"], "boxes": [[40, 20, 100, 80]]}'),
         ok('{"tool": "select", "masks": [1]}')], session, "the cup", max_image_side=400)
    assert answer.status == "ok"
    first = requests[0]
    assert first.images[0].size == (400, 150) and "400x150 pixels" in " ".join(first.texts)
    # the box the model drew on the 400 x 150 image is 4 times larger on the original
    assert session.boxes == [(160.0, 80.0, 400.0, 320.0)]
    listing = requests[1].texts[-1]
    boxes = [[int(v) for v in line.split("box [")[1].split("]")[0].split(", ")]
             for line in listing.splitlines() if "box [" in line]
    assert boxes and all(max(b[0], b[2]) <= 400 and max(b[1], b[3]) <= 150 for b in boxes)
    assert requests[1].images[-1].size == (400, 150), "the numbered overlay is shown in the same frame"
    assert answer.detections.image_size == (600, 1600), "the answer stays at the original size"


def test_frame_converts_both_ways():
    frame = Frame.for_model((1000, 3000), 1500)
    assert frame.shown_size == (500, 1500)
    assert frame.to_model([300, 100, 900, 600]) == [150, 50, 450, 300]
    assert frame.to_image([150, 50, 450, 300]) == (300.0, 100.0, 900.0, 600.0)
    assert frame.to_image([-5, 0, 2000, 10]) == (0.0, 0.0, 3000.0, 20.0)  # clipped to the image
    assert Frame.for_model((100, 200), 1024).scale == 1.0 and Frame.for_model((100, 200), None).scale == 1.0


def test_the_fast_path_answers_only_what_the_planner_fully_understood(loaded_tiny, image):
    session = Segmenter(loaded_tiny).session(image)
    # understood: the planner answers, the model is never asked
    events, answer, counters, requests = run([], session, "the leftmost red circle", spatial=True,
                                             vocabulary=SHAPES)
    assert counters.llm_calls == 0 and not requests and answer.status in ("ok", "no_match", "unsure")
    # a word the planner cannot use: the model gets the query, untouched
    events, answer, counters, requests = run(
        [ok('{"tool": "segment", "phrases": ["shiny red circle"]}'), ok('{"tool": "select", "masks": [1]}')],
        session, "the shiny red circle", spatial=True, vocabulary=SHAPES)
    assert counters.llm_calls == 2 and answer.status == "ok"
    assert any(isinstance(e, Notice) and "did not understand 'shiny'" in e.text for e in events)
    assert 'Query: "the shiny red circle"' in " ".join(requests[0].texts)
