"""The spatial planner's run as agent events: read the query, ask SAM 3 every phrase once, compute the answer.

With an MLLM configured, only a query the planner fully understood is answered here; any other is handed
over. Without one, the planner answers what it could read and flags the answer `unsure`, naming the words
it could not use.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from agent.events import Answer, FinalEvent, Notice, Thought, ToolCallEvent, ToolResultEvent
from agent.spatial import Vocabulary, execute, understand
from agent.spatial.reply import compose, not_read
from sam3.detections import Detections, mask_iou
from sam3.overlay import draw_overlay
from sam3.postprocess import NMS_IOU

# The spatial planner asks SAM 3 down to this fraction of the threshold: below-threshold instances count
# only where the query says something exists and no or too few confident ones do (agent/spatial/execute.py).
WEAK_FLOOR = 0.5


def one_mask_per_object(candidates: Detections, answer: Detections) -> Detections:
    """The candidates to show, without the copies of one object that several phrases found ("red shape" and
    "circle"): of masks overlapping more than NMS_IOU, the answer's, else the best scoring. Answer masks all
    stay, so every answer mask has its number among the candidates."""
    if len(candidates) < 2:
        return candidates
    in_answer = np.array([any(np.array_equal(c, a) for a in answer.masks) for c in candidates.masks], dtype=bool)
    same = mask_iou(candidates.masks, candidates.masks) > NMS_IOU
    dropped = np.zeros(len(candidates), dtype=bool)
    for i in np.lexsort((-candidates.scores, ~in_answer)):
        if not dropped[i]:
            dropped |= same[i] & ~in_answer
            dropped[i] = False
    return candidates[np.flatnonzero(~dropped)]


def session_vocabulary(session) -> Vocabulary | None:
    """The words the session's checkpoint declares it knows (None: open vocabulary)."""
    loaded = getattr(session, "loaded", None)
    return Vocabulary.from_config(getattr(loaded, "vocabulary", None)) if loaded is not None else None


def planner_events(
    session, query: str, counters, threshold: float | None, vocabulary: Vocabulary | None, has_llm: bool
) -> Iterator:
    """Yields the planner's events; returns the Reading when the MLLM should take over, else None (the last
    event was then a FinalEvent)."""
    reading = understand(query, vocabulary)
    if reading.plan is None or (has_llm and not reading.understood):
        if has_llm:
            why = "cannot read this query" if reading.plan is None else (
                "did not understand " + ", ".join(f"'{w}'" for w in reading.unused))
            yield Notice(f"the spatial planner {why}; asking the model", 0)
            return reading
        msg = not_read(reading, vocabulary)
        if vocabulary is None:
            msg += " For free-form queries choose an MLLM backend (a local VLM or an OpenAI-compatible server)."
        yield FinalEvent(Answer("error", Detections.empty(session.size), msg, text="I could not read this query"), 0)
        return None
    plan = reading.plan
    thought = plan.describe()
    if reading.notes:
        thought += "; " + "; ".join(reading.notes)
    yield Thought(thought, 0, source="spatial")
    yield ToolCallEvent("segment", {"phrases": list(plan.phrases)}, 0)
    confident = session.score_threshold if threshold is None else threshold

    def segment(phrases: list[str], closer: bool | None = None) -> Detections:
        t0 = time.perf_counter()
        det = session.segment(phrases, threshold=WEAK_FLOOR * confident, closer_below=confident, look_closer=closer)
        counters.sam3_calls += 1
        counters.sam3_ms += 1e3 * (time.perf_counter() - t0)
        return det

    def segment_narrower(phrases: list[str]) -> Detections:  # no closer look: they only add to the others
        return segment(phrases, closer=False)

    answer = execute(plan, segment, confident, segment_narrower)
    shown = one_mask_per_object(answer.candidates, answer.detections)
    image = draw_overlay(session.image, shown) if len(shown) else None
    yield ToolResultEvent("segment", f"{len(shown)} candidate masks", 0, image, shown)
    reply = compose(reading, answer, confident, vocabulary, segment, segment_narrower)
    yield FinalEvent(Answer(reply.status, reply.detections, reply.message, text=reply.text), 0)
    return None

