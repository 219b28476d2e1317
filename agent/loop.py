"""The agent loop: a generator of events, so every consumer sees each step as it happens.

Budgets (rounds, seconds, tokens, malformed replies) end a run with the best answer so far,
marked `budget`, never with an exception. The spatial planner answers the queries it fully
understands without any model call (`agent.fast_path`); the rest go to the configured MLLM,
which calls the tools of `agent.tools` by name. The model sees the image downscaled to its
backend's `max_image_side` and exchanges boxes in that frame (`agent.frame`); every tool result
restates the query.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from agent import prompts
from agent.board import MaskBoard
from agent.events import AgentRun, Answer, FinalEvent, Notice, Thought, ToolCallEvent, ToolResultEvent
from agent.fast_path import planner_events, session_vocabulary
from agent.frame import Frame
from agent.llm import ChatModel, ImagePart, LLMError, Message, TextPart
from agent.parsing import ParseError, parse_reply
from agent.spatial import Vocabulary
from agent.tools import TOOLS
from sam3.detections import Detections
from sam3.session import ImageSession

MAX_QUERY_CHARS = 500


@dataclass(frozen=True)
class Budget:
    rounds: int = 8
    seconds: float = 180.0
    tokens: int = 40_000
    bad_replies: int = 3
    max_reply_tokens: int = 768
    check_workers: int = 8


@dataclass
class Counters:
    llm_calls: int = 0
    sam3_calls: int = 0
    tokens: int = 0
    llm_ms: float = 0.0
    sam3_ms: float = 0.0


class Agent:
    """Answers referring queries on one image with SAM 3 as its tool.

    `llm` may be None: then only the spatial planner answers. `spatial` turns the planner's
    fast path on or off.
    """

    def __init__(
        self,
        llm: ChatModel | None = None,
        spatial: bool = True,
        budget: Budget = Budget(),
        threshold: float | None = None,
        vocabulary: Vocabulary | None = None,
    ):
        if llm is None and not spatial:
            raise ValueError("the agent needs an LLM backend or the spatial planner")
        self.llm = llm
        self.spatial = spatial
        self.budget = budget
        self.threshold = threshold
        self.vocabulary = vocabulary  # None: the words the session's checkpoint declares, if any

    @property
    def name(self) -> str:
        parts = (["spatial"] if self.spatial else []) + ([self.llm.name] if self.llm else [])
        return "+".join(parts)

    def run(self, session: ImageSession, query: str, counters: Counters | None = None) -> Iterator:
        """Yields events; the last one is always a `FinalEvent`."""
        counters = counters if counters is not None else Counters()
        query = " ".join(str(query).split())
        if not query:
            yield FinalEvent(Answer("error", Detections.empty(session.size), "the query is empty"), 0)
            return
        if len(query) > MAX_QUERY_CHARS:
            msg = f"the query is too long ({len(query)} characters, at most {MAX_QUERY_CHARS})"
            yield FinalEvent(Answer("error", Detections.empty(session.size), msg), 0)
            return
        if self.spatial:
            vocabulary = self.vocabulary or session_vocabulary(session)
            handed = yield from planner_events(
                session, query, counters, self.threshold, vocabulary, has_llm=self.llm is not None
            )
            if handed is None:
                return
        yield from _LLMRun(self, session, query, counters).events()


class _LLMRun:
    """State of one model-driven run; the tools (`agent.tools`) work on it."""

    def __init__(self, agent: Agent, session: ImageSession, query: str, counters: Counters):
        self.agent, self.session, self.query, self.c = agent, session, query, counters
        self.board = MaskBoard(session.size)
        self.frame = Frame.for_model(session.size, getattr(agent.llm, "max_image_side", None))
        self.threshold = agent.threshold
        self.tried: list[str] = []
        self.last_found: list[int] = []
        self.t0 = time.perf_counter()
        self._count_lock = threading.Lock()
        h, w = self.frame.shown_size
        first = [ImagePart(self.frame.show(session.image)), TextPart(prompts.first_user_message(query, w, h))]
        self.history = [Message.text("system", prompts.SYSTEM_PROMPT), Message("user", first)]

    # -- budgets -------------------------------------------------------------------------------
    def _over_budget(self, round_: int) -> str | None:
        b = self.agent.budget
        if round_ > b.rounds:
            return f"the round limit ({b.rounds}) was reached"
        if time.perf_counter() - self.t0 > b.seconds:
            return f"the time limit ({b.seconds:.0f} s) was reached"
        if self.c.tokens > b.tokens:
            return f"the token limit ({b.tokens}) was reached"
        return None

    def _best_so_far(self, reason: str, status: str = "budget") -> FinalEvent:
        if self.last_found:
            det = self.board.pick([n for n in self.last_found if n not in self.board.rejected])
            msg = f"{reason}; returning the masks of the last search as the best answer so far"
        else:
            det = Detections.empty(self.session.size)
            msg = f"{reason}; no masks were found before it"
        return FinalEvent(Answer(status, det, msg), 0)

    # -- what tools call (ToolContext) -----------------------------------------------------------
    def ask(self, messages: list[Message], max_tokens: int) -> str:
        remaining = self.agent.budget.seconds - (time.perf_counter() - self.t0)
        t0 = time.perf_counter()
        try:
            reply = self.agent.llm.generate(messages, max_tokens=max_tokens, timeout=max(1.0, remaining))
        finally:
            with self._count_lock:
                self.c.llm_calls += 1
                self.c.llm_ms += 1e3 * (time.perf_counter() - t0)
        with self._count_lock:
            self.c.tokens += reply.prompt_tokens + reply.completion_tokens
        return reply.text

    def ask_all(self, requests: list[list[Message]], max_tokens: int) -> list[str]:
        """One model call per request, all at once (threads), never N sequential round trips."""

        def one(messages: list[Message]) -> str:
            try:
                return self.ask(messages, max_tokens)
            except LLMError as exc:
                return f"(no answer: {exc})"

        with ThreadPoolExecutor(max_workers=max(1, min(self.agent.budget.check_workers, len(requests)))) as pool:
            return list(pool.map(one, requests))

    def count_sam3(self, ms: float) -> None:
        self.c.sam3_calls += 1
        self.c.sam3_ms += ms

    def _visible_history(self) -> list[Message]:
        """Only the newest tool image is resent; older ones become a note (bounded context)."""
        last_image = max((i for i, m in enumerate(self.history) if i > 1 and m.images), default=None)
        out = []
        for i, m in enumerate(self.history):
            if i > 1 and m.images and i != last_image:
                out.append(
                    Message(
                        m.role,
                        [p for p in m.parts if isinstance(p, TextPart)]
                        + [TextPart("(image omitted: see the latest one)")],
                    )
                )
            else:
                out.append(m)
        return out

    # -- the loop ----------------------------------------------------------------------------------
    def events(self) -> Iterator:
        bad = 0
        round_ = 1
        while True:
            reason = self._over_budget(round_)
            if reason:
                yield Notice(reason, round_, "warning")
                yield self._best_so_far(reason)
                return
            try:
                text = self.ask(self._visible_history(), self.agent.budget.max_reply_tokens)
            except LLMError as exc:
                yield Notice(f"the model backend failed: {exc}", round_, "error")
                yield self._best_so_far(f"the model backend failed ({exc})", status="error")
                return
            self.history.append(Message.text("assistant", text))
            try:
                call = parse_reply(text)
            except ParseError as exc:
                bad += 1
                yield Thought(text[:2000], round_)
                yield Notice(f"could not read the reply: {exc}", round_, "warning")
                if bad >= self.agent.budget.bad_replies:
                    yield self._best_so_far(f"{bad} unreadable replies in a row")
                    return
                self._reply(prompts.tool_error(str(exc)))
                round_ += 1
                continue
            bad = 0
            if call.thought:
                yield Thought(call.thought, round_)
            yield ToolCallEvent(call.tool, call.args, round_, call.repaired)
            result = TOOLS[call.tool].run(self, call.args)
            for notice in result.notices:
                yield Notice(notice, round_, "warning")
            if result.final is not None:
                if not result.final.message:
                    result.final.message = call.thought
                yield FinalEvent(result.final, round_)
                return
            if result.error:
                self._reply(prompts.tool_error(result.text.removeprefix("Error: ")))
            else:
                yield ToolResultEvent(call.tool, result.text, round_, result.image, result.detections)
                shown = None
                if result.image is not None:
                    shown = self.frame.show(result.image) if result.whole_image else Image.fromarray(result.image)
                self._reply(prompts.restate(self.query, result.text), shown)
            left = self.agent.budget.rounds - round_
            if 0 < left <= 2:
                self.history[-1].parts.append(TextPart(prompts.budget_warning(left)))
            round_ += 1

    def _reply(self, text: str, image: Image.Image | None = None) -> None:
        parts = [TextPart(text)] + ([ImagePart(image)] if image is not None else [])
        self.history.append(Message("user", parts))


def run_to_end(
    agent: Agent, session: ImageSession, query: str, on_event: Callable[[object], None] | None = None
):
    """Consumes the event stream; returns (events, answer, counters, elapsed ms)."""
    counters = Counters()
    events = []
    t0 = time.perf_counter()
    answer = None
    for ev in agent.run(session, query, counters):
        events.append(ev)
        if on_event:
            on_event(ev)
        if isinstance(ev, FinalEvent):
            answer = ev.answer
    return events, answer, counters, 1e3 * (time.perf_counter() - t0)


def run_record(
    agent: Agent, session: ImageSession, query: str, on_event: Callable[[object], None] | None = None
) -> AgentRun:
    """The whole run as saved to JSON, with its counters and timings."""
    events, answer, counters, total_ms = run_to_end(agent, session, query, on_event)
    return AgentRun(
        query=query,
        answer=answer,
        steps=events,
        llm_calls=counters.llm_calls,
        sam3_calls=counters.sam3_calls,
        timing_ms={"total": total_ms, "llm": counters.llm_ms, "sam3": counters.sam3_ms},
        backend=agent.name,
    )
