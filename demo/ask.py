"""The Ask tab's logic: run the agent on an image and a query, as a stream of chat updates.

No Gradio here. `run_ask` yields `AskUpdate`s (chat messages in Gradio's messages format, plain dicts,
plus the answer once known); `toggle_mask` flips one mask in or out of the answer; `ask_json` is the
same run for the `/ask` API, returning the final JSON only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from agent.events import AgentRun, FinalEvent, Notice, Thought, ToolCallEvent, ToolResultEvent
from agent.loop import Agent, Budget, Counters
from demo.export import SessionFiles, write_exports, write_png
from demo.gpu import gpu
from demo.inputs import PreparedImage, clean_query, prepare_image
from demo.models import Models
from demo.render import hit_test, legend_html, selection_overlay
from sam3.detections import Detections

MAX_LISTED_LINES = 20


@dataclass
class AskResult:
    """The answer as the person sees it: the candidate masks (numbered as in the trace) and which are in."""

    prepared: PreparedImage
    query: str
    pool: Detections
    selected: list[bool]
    trace: dict
    status: str
    message: str

    @property
    def answer(self) -> Detections:
        return self.pool[np.asarray(self.selected, dtype=bool)]

    @property
    def selected_numbers(self) -> list[int]:
        return [i + 1 for i, s in enumerate(self.selected) if s]

    def overlay(self) -> np.ndarray:
        return selection_overlay(self.prepared.image, self.pool, self.selected)

    def legend(self) -> str:
        return legend_html(self.pool, self.selected)

    def summary(self) -> str:
        n, k = len(self.pool), sum(self.selected)
        label = {
            "ok": "Answer",
            "no_match": "No match",
            "budget": "Best answer within the budget",
            "error": "Error",
        }.get(self.status, self.status)
        picked = ", ".join(map(str, self.selected_numbers)) or "none"
        text = f"**{label}**: {k} of {n} mask(s) selected (masks {picked})."
        if n:
            text += " Click a mask on the picture to add it to the answer or take it out."
        return text


@dataclass
class AskState:
    """Per-session state of the Ask tab (lives in a `gr.State`)."""

    files: SessionFiles = field(default_factory=SessionFiles)
    result: AskResult | None = None
    run_id: int = 0  # the newest run; an older one (stopped, or overtaken by a new click) stops updating
    loaded: tuple[str, PreparedImage] | None = None  # the last upload, decoded once

    def image(self, path: str | None) -> PreparedImage:
        """The upload at `path`, loaded (and checked) once; `DemoInputError` when it is not a usable image."""
        if path is None or self.loaded is None or self.loaded[0] != path:
            self.loaded = None
            self.loaded = (path, prepare_image(path))
        return self.loaded[1]


@dataclass
class AskUpdate:
    messages: list[dict]
    status: str
    result: AskResult | None = None
    overlay: np.ndarray | None = None
    legend: str = ""
    downloads: list[str] = field(default_factory=list)


@dataclass
class AskRequest:
    prepared: PreparedImage
    query: str
    agent: Agent


def prepare_request(
    models: Models,
    image: str | PreparedImage | None,
    query: str | None,
    spec: str,
    api_key: str | None = None,
    threshold: float | None = None,
    fast_path: bool = True,
) -> AskRequest:
    """Checks every input before any model work; raises `DemoInputError` saying what is wrong."""
    prepared = image if isinstance(image, PreparedImage) else prepare_image(image)
    query = clean_query(query)
    models.require_segmenter()
    threshold = models.threshold(threshold)
    llm = models.chat_model(spec, api_key)
    agent = Agent(llm=llm, spatial=llm is None or bool(fast_path), budget=Budget(), threshold=threshold)
    return AskRequest(prepared, query, agent)


@gpu
def run_agent(models: Models, request: AskRequest, counters: Counters) -> Iterator:
    """The agent's events on the shared SAM 3 (the only function here that runs models)."""
    session = models.require_segmenter().session(request.prepared.image)
    yield from request.agent.run(session, request.query, counters)


def _answer_indices(pool: Detections, answer: Detections) -> tuple[Detections, list[bool]]:
    """Where each answer mask sits among the candidates (appended when it is not one of them)."""
    selected = [False] * len(pool)
    extra = []
    for j in range(len(answer)):
        same = [i for i in range(len(pool)) if np.array_equal(pool.masks[i], answer.masks[j])]
        if same:
            selected[same[0]] = True
        else:
            extra.append(j)
    if extra:
        pool = Detections.merge([pool, answer[extra]])
        selected += [True] * len(extra)
    return pool, selected


def _bullets(text: str) -> str:
    lines = text.splitlines()
    head, rest = lines[0], lines[1:]
    if len(rest) > MAX_LISTED_LINES:
        rest = rest[:MAX_LISTED_LINES] + [f"... and {len(rest) - MAX_LISTED_LINES} more"]
    return "\n".join([head, *[f"- {line}" for line in rest]])


class _Chat:
    """Turns agent events into chat messages (tool calls collapsible, their results with the overlay)."""

    def __init__(self, query: str, folder, notice: str | None):
        self.folder = folder
        self.messages: list[dict] = [{"role": "user", "content": query}]
        if notice:
            self.messages.append({"role": "assistant", "content": f"ℹ️ {notice}"})
        self.open_call: tuple[int, float] | None = None
        self.images = 0

    def add(self, ev) -> None:
        if isinstance(ev, Thought):
            who = "Planner" if ev.source == "spatial" else "Model"
            self.messages.append({"role": "assistant", "content": f"💭 **{who}**: {ev.text}"})
        elif isinstance(ev, ToolCallEvent):
            args = ", ".join(f"{k}={v!r}" for k, v in ev.args.items())
            body = f"```json\n{json.dumps(ev.args, indent=1)}\n```"
            if ev.repaired:
                body += "\nrepaired: " + "; ".join(ev.repaired)
            self.messages.append(
                {
                    "role": "assistant",
                    "content": body,
                    "metadata": {"title": f"🛠️ {ev.tool}({args})"[:160], "status": "pending"},
                }
            )
            self.open_call = (len(self.messages) - 1, time.perf_counter())
        elif isinstance(ev, ToolResultEvent):
            self._close_call()
            content: list = [f"📎 **{ev.tool}**: {_bullets(ev.text)}"]
            if ev.image is not None:
                self.images += 1
                content.append({"path": write_png(self.folder, f"step_{self.images:02d}_{ev.tool}.png", ev.image)})
            self.messages.append({"role": "assistant", "content": content})
        elif isinstance(ev, Notice):
            icon = {"info": "ℹ️", "warning": "⚠️", "error": "❌"}.get(ev.level, "ℹ️")
            self.messages.append({"role": "assistant", "content": f"{icon} {ev.text}"})
        elif isinstance(ev, FinalEvent):
            self._close_call()
            a = ev.answer
            icon = {"ok": "✅", "no_match": "🚫", "budget": "⏱️", "error": "❌"}.get(a.status, "")
            label = {
                "ok": "Answer",
                "no_match": "No match",
                "budget": "Budget reached",
                "error": "Error",
            }.get(a.status, a.status)
            text = f"{icon} **{label}**: {len(a.detections)} mask(s)."
            if a.message:
                text += f" {a.message}"
            self.messages.append({"role": "assistant", "content": text})

    def _close_call(self) -> None:
        if self.open_call is not None:
            i, t0 = self.open_call
            self.messages[i]["metadata"] = {
                **self.messages[i]["metadata"],
                "status": "done",
                "duration": round(time.perf_counter() - t0, 2),
            }
            self.open_call = None


def _trace(models: Models, request: AskRequest, events: list, counters: Counters, total_ms: float) -> dict:
    """The run as JSON, as `python -m agent run --json` writes it (plus the image's name and size)."""
    final = next(ev.answer for ev in reversed(events) if isinstance(ev, FinalEvent))
    run = AgentRun(
        query=request.query,
        answer=final,
        steps=events,
        llm_calls=counters.llm_calls,
        sam3_calls=counters.sam3_calls,
        timing_ms={"total": total_ms, "llm": counters.llm_ms, "sam3": counters.sam3_ms},
        backend=request.agent.name,
    )
    img = request.prepared.image
    return {
        **run.to_json(),
        "model": models.source_name,
        "image": {"name": request.prepared.name, "width": img.width, "height": img.height},
    }


def run_ask(models: Models, state: AskState, request: AskRequest) -> Iterator[AskUpdate]:
    """Streams the run: one update per agent event; the last carries the result and the downloads.

    Stops early, without touching `state.result`, once a newer run of the same session has started.
    """
    state.run_id += 1
    run_id = state.run_id
    state.result = None
    folder = state.files.new_folder("run")
    chat = _Chat(request.query, folder, request.prepared.notice)
    yield AskUpdate(list(chat.messages), f"Running **{request.agent.name}** on “{request.query}”…")
    counters, events, pool, final = Counters(), [], None, None
    t0 = time.perf_counter()
    for ev in run_agent(models, request, counters):
        if state.run_id != run_id:
            return
        events.append(ev)
        if isinstance(ev, ToolResultEvent) and ev.tool == "segment" and ev.detections is not None:
            pool = ev.detections
        if isinstance(ev, FinalEvent):
            final = ev.answer
        chat.add(ev)
        if not isinstance(ev, FinalEvent):
            step = sum(isinstance(e, ToolCallEvent) for e in events)
            yield AskUpdate(list(chat.messages), f"Running **{request.agent.name}**… (step {step})")
    total_ms = 1e3 * (time.perf_counter() - t0)
    trace = _trace(models, request, events, counters, total_ms)
    if pool is None:
        pool = Detections.empty(final.detections.image_size)
    pool, selected = _answer_indices(pool, final.detections)
    result = AskResult(request.prepared, request.query, pool, selected, trace, final.status, final.message)
    if state.run_id == run_id:
        state.result = result
        yield _result_update(state, list(chat.messages), total_ms)


def _result_update(state: AskState, messages: list[dict], total_ms: float | None = None) -> AskUpdate:
    result = state.result
    overlay = result.overlay()
    trace = dict(result.trace, selected_masks=result.selected_numbers)
    downloads = write_exports(
        state.files,
        result.answer,
        overlay,
        result.prepared.name,
        trace=trace,
        extra={"query": result.query},
        numbers=result.selected_numbers,
    )
    status = result.summary()
    if total_ms is not None:
        status += f" ({total_ms / 1e3:.1f} s)"
    return AskUpdate(messages, status, result, overlay, result.legend(), downloads)


def toggle_mask(state: AskState, x: float, y: float) -> tuple[AskUpdate | None, str]:
    """Flips the mask under pixel (x, y) in or out of the answer; returns the update and what happened."""
    result = state.result
    if result is None:
        return None, "run a query first"
    i = hit_test(result.pool, x, y)
    if i is None:
        return None, "no mask there: click inside a mask to add or remove it"
    result.selected[i] = not result.selected[i]
    verb = "added to" if result.selected[i] else "removed from"
    return _result_update(state, []), f"mask {i + 1} ({result.pool.phrases[i]}) {verb} the answer"


def ask_json(
    models: Models,
    image_path: str | None,
    query: str | None,
    spec: str = "spatial",
    threshold: float | None = None,
    api_key: str | None = None,
    fast_path: bool = True,
) -> dict:
    """The `/ask` API: the run as JSON (as `python -m agent run --json` writes it).

    Raises `DemoInputError` on bad input.
    """
    request = prepare_request(models, image_path, query, spec or "spatial", api_key, threshold, fast_path)
    counters, events = Counters(), []
    t0 = time.perf_counter()
    for ev in run_agent(models, request, counters):
        events.append(ev)
    out = _trace(models, request, events, counters, 1e3 * (time.perf_counter() - t0))
    if request.prepared.notice:
        out["notice"] = request.prepared.notice
    return out
