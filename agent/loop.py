"""The agent loop: a generator of events, so every consumer sees each step as it happens.

Budgets (rounds, seconds, tokens, malformed replies) end a run with the best answer so far,
marked `budget`, never with an exception. The spatial planner answers the queries it can
parse without any model call; the rest go to the configured MLLM.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from agent import prompts
from agent.board import MaskBoard
from agent.events import AgentRun, Answer, FinalEvent, Notice, Thought, ToolCallEvent, ToolResultEvent
from agent.llm import ChatModel, ImagePart, LLMError, Message, TextPart
from agent.parsing import ParseError, ToolCall, check_indices, parse_reply
from sam3.detections import Detections
from sam3.overlay import crop_grid, draw_overlay
from sam3.session import BoxPrompt, ImageSession

MAX_QUERY_CHARS = 500
# The spatial planner asks SAM 3 down to this fraction of the threshold: below-threshold instances count
# only where the query says something exists and no or too few confident ones do (agent/spatial.py:
# a relation's anchor, a closest / farthest target, a union's part, a count).
WEAK_FLOOR = 0.5


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
    ):
        if llm is None and not spatial:
            raise ValueError("the agent needs an LLM backend or the spatial planner")
        self.llm = llm
        self.spatial = spatial
        self.budget = budget
        self.threshold = threshold

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
            done = yield from self._spatial(session, query, counters)
            if done:
                return
        if self.llm is None:
            msg = (
                "the spatial planner cannot parse this query; choose an MLLM backend "
                "(a local VLM or an OpenAI-compatible server) for free-form queries"
            )
            yield FinalEvent(Answer("error", Detections.empty(session.size), msg), 0)
            return
        yield from _LLMRun(self, session, query, counters).events()

    def _spatial(self, session: ImageSession, query: str, counters: Counters):
        from agent.spatial import execute, parse_query

        plan = parse_query(query)
        if plan is None:
            if self.llm is not None:
                yield Notice("the spatial planner cannot parse this query; asking the model", 0)
            return False
        yield Thought(plan.describe(), 0, source="spatial")
        yield ToolCallEvent("segment", {"phrases": list(plan.phrases)}, 0)

        confident = session.score_threshold if self.threshold is None else self.threshold

        def segment(phrases: list[str]) -> Detections:
            t0 = time.perf_counter()
            det = session.segment(phrases, threshold=WEAK_FLOOR * confident, closer_below=confident)
            counters.sam3_calls += 1
            counters.sam3_ms += 1e3 * (time.perf_counter() - t0)
            return det

        answer = execute(plan, segment, confident)
        image = draw_overlay(session.image, answer.candidates) if len(answer.candidates) else None
        yield ToolResultEvent(
            "segment", f"{len(answer.candidates)} candidate masks", 0, image, answer.candidates
        )
        status = "ok" if len(answer.detections) else "no_match"
        yield FinalEvent(Answer(status, answer.detections, answer.explanation), 0)
        return True


def _yes(text: str) -> bool | None:
    m = re.match(r"\W*(yes|no)\b", text.strip().lower())
    return None if m is None else m.group(1) == "yes"


class _LLMRun:
    """State of one model-driven run."""

    def __init__(self, agent: Agent, session: ImageSession, query: str, counters: Counters):
        self.agent, self.session, self.query, self.c = agent, session, query, counters
        self.board = MaskBoard(session.size)
        self.last_found: list[int] = []
        self.t0 = time.perf_counter()
        self._count_lock = threading.Lock()
        h, w = session.size
        self.history = [
            Message.text("system", prompts.SYSTEM_PROMPT),
            Message("user", [ImagePart(session.image), TextPart(prompts.first_user_message(query, w, h))]),
        ]

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
            det = self.board.pick(self.last_found)
            msg = f"{reason}; returning the masks of the last search as the best answer so far"
        else:
            det = Detections.empty(self.session.size)
            msg = f"{reason}; no masks were found before it"
        return FinalEvent(Answer(status, det, msg), 0)

    # -- model calls -----------------------------------------------------------------------------
    def _ask(self, messages: list[Message], max_tokens: int) -> str:
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
                text = self._ask(self._visible_history(), self.agent.budget.max_reply_tokens)
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
                self.history.append(Message.text("user", prompts.tool_error(str(exc))))
                round_ += 1
                continue
            bad = 0
            if call.thought:
                yield Thought(call.thought, round_)
            yield ToolCallEvent(call.tool, call.args, round_, call.repaired)
            final = yield from self._execute(call, round_)
            if final is not None:
                yield final
                return
            left = self.agent.budget.rounds - round_
            if 0 < left <= 2:
                self.history[-1].parts.append(TextPart(prompts.budget_warning(left)))
            round_ += 1

    def _reply(self, text: str, image: np.ndarray | None = None) -> None:
        parts = [TextPart(text)] + ([ImagePart(Image.fromarray(image))] if image is not None else [])
        self.history.append(Message("user", parts))

    def _numbers(self, call: ToolCall, round_: int):
        numbers, problem = check_indices(call.args["masks"], len(self.board))
        if problem:
            yield Notice(problem, round_, "warning")
        return numbers, problem

    def _execute(self, call: ToolCall, round_: int):
        tool = call.tool
        if tool == "segment":
            return (yield from self._segment(call, round_))
        if tool == "no_match":
            return FinalEvent(
                Answer("no_match", Detections.empty(self.session.size), call.args.get("reason", "")), round_
            )
        numbers, problem = yield from self._numbers(call, round_)
        if problem and not numbers:
            self._reply(prompts.tool_error(problem))
            return None
        if tool == "select":
            if problem:  # some numbers were invalid: ambiguous, ask again rather than guess
                self._reply(prompts.tool_error(problem + "; select again with valid numbers"))
                return None
            return FinalEvent(Answer("ok", self.board.pick(numbers), call.thought), round_)
        if tool == "inspect":
            grid = crop_grid(self.session.image, self.board.detections, [n - 1 for n in numbers])
            text = "Close-up crops, each tagged with its mask number:\n" + self.board.describe(numbers)
            yield ToolResultEvent("inspect", text, round_, grid, self.board.pick(numbers))
            self._reply(text, grid)
            return None
        return (yield from self._check(call, numbers, round_))

    def _segment(self, call: ToolCall, round_: int):
        t0 = time.perf_counter()
        try:
            boxes = [BoxPrompt(tuple(b)) for b in call.args.get("boxes", [])]
            boxes += [BoxPrompt(tuple(b), positive=False) for b in call.args.get("negative_boxes", [])]
            det = self.session.segment(call.args["phrases"], boxes=boxes, threshold=self.agent.threshold)
        except ValueError as exc:  # e.g. a degenerate box from the model
            yield Notice(f"segment failed: {exc}", round_, "warning")
            self._reply(prompts.tool_error(str(exc)))
            return None
        finally:
            self.c.sam3_calls += 1
            self.c.sam3_ms += 1e3 * (time.perf_counter() - t0)
        numbers = self.board.add(det)
        self.last_found = list(dict.fromkeys(numbers))
        phrases = ", ".join(f"'{p}'" for p in call.args["phrases"])
        if not numbers:
            text = f"No masks found for {phrases}."
            image = None
        else:
            text = (
                f"Found {len(self.last_found)} mask(s) for {phrases}; {len(self.board)} numbered mask(s) in "
                f"total:\n{self.board.describe()}"
            )
            image = draw_overlay(self.session.image, self.board.detections)
        yield ToolResultEvent("segment", text, round_, image, self.board.detections)
        self._reply(text, image)
        return None

    def _check(self, call: ToolCall, numbers: list[int], round_: int):
        """One model call per mask, all at once (threads), never N sequential round trips."""
        question = call.args["question"]
        det = self.board.detections

        def ask(n: int) -> str:
            crop = crop_grid(self.session.image, det, [n - 1], cell=336)
            msg = Message(
                "user", [ImagePart(Image.fromarray(crop)), TextPart(prompts.check_prompt(question))]
            )
            try:
                return self._ask([msg], 64)
            except LLMError as exc:
                return f"(no answer: {exc})"

        with ThreadPoolExecutor(max_workers=min(self.agent.budget.check_workers, len(numbers))) as pool:
            answers = list(pool.map(ask, numbers))
        lines = []
        for n, a in zip(numbers, answers):
            verdict = {True: "yes", False: "no", None: "unclear"}[_yes(a)]
            lines.append(f"{n}: {verdict} ({' '.join(a.split())[:160]})")
        text = f"Answers to '{question}':\n" + "\n".join(lines)
        yield ToolResultEvent("check", text, round_, None, self.board.pick(numbers))
        self._reply(text)
        return None


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
