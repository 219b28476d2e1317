"""The Ask tab's logic: run the agent on an image and a query, as a stream of chat updates.

No Gradio here. `run_ask` yields `AskUpdate`s (chat messages in Gradio's messages format, plain dicts, plus the
answer once known); `toggle_mask` flips one mask in or out of the answer; `ask_json` is the same run for the
`/ask` API, returning the final JSON only. The model work is `demo.work.agent_events`; a visitor's state keeps
the upload's path and the answer's masks as RLE, not pixels.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from agent.events import AgentRun, FinalEvent, Notice, Thought, ToolCallEvent, ToolResultEvent
from demo import work
from demo.backends import check_spec
from demo.export import SessionFiles, write_exports, write_png
from demo.inputs import PreparedImage, clean_query, prepare_image
from demo.models import Models
from demo.render import hit_test, legend_html, selection_overlay
from sam3.detections import Detections

MAX_LISTED_LINES = 20
STATUS_LABELS = {
    "ok": ("✅", "Answer"),
    "unsure": ("⚠️", "Unsure answer"),
    "no_match": ("🚫", "No match"),
    "budget": ("⏱️", "Best answer within the budget"),
    "error": ("❌", "No answer"),
}


@dataclass
class AskResult:
    """The answer as the person sees it: the candidate masks (numbered as in the trace) and which are in."""

    image_path: str
    image_name: str
    query: str
    pool: list[dict]  # the candidates as `Detections.to_json_list` (RLE): small, whatever the image size
    image_size: tuple[int, int]
    selected: list[bool]
    trace: dict
    status: str
    message: str
    text: str = ""  # a count or a yes/no the agent answered in words

    @property
    def detections(self) -> Detections:
        return Detections.from_json_list(self.pool, self.image_size)

    def answer(self, pool: Detections | None = None) -> Detections:
        pool = self.detections if pool is None else pool
        return pool[np.asarray(self.selected, dtype=bool)]

    @property
    def selected_numbers(self) -> list[int]:
        return [i + 1 for i, s in enumerate(self.selected) if s]

    def summary(self) -> str:
        n, k = len(self.selected), sum(self.selected)
        label = STATUS_LABELS.get(self.status, ("", self.status))[1]
        picked = ", ".join(map(str, self.selected_numbers)) or "none"
        text = f"**{label}**: " + (f"{self.text}. " if self.text else "")
        text += f"{k} of {n} mask(s) selected (masks {picked})."
        if self.status == "unsure" and self.message:
            text += f" ⚠️ {self.message}"
        if n:
            text += " Click a mask on the picture to add it to the answer or take it out."
        return text


@dataclass
class AskState:
    """Per-session state of the Ask tab (lives in a `gr.State`, which expires with the session)."""

    files: SessionFiles = field(default_factory=SessionFiles)
    result: AskResult | None = None
    run_id: int = 0  # the newest run; an older one (stopped, or overtaken by a new click) stops updating


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
    """A checked request: everything the model call needs, as plain values."""

    path: str
    prepared: PreparedImage
    query: str
    backend: str
    api_key: str | None
    threshold: float
    fast_path: bool
    namespace: str = ""


def prepare_request(
    models: Models,
    image: str | None,
    query: str | None,
    spec: str,
    api_key: str | None = None,
    threshold: float | None = None,
    fast_path: bool = True,
    namespace: str = "",
) -> AskRequest:
    """Checks every input before any model work; raises `DemoInputError` saying what is wrong."""
    prepared = prepare_image(image, models.settings)
    query = clean_query(query)
    models.require_segmenter()
    threshold = models.threshold(threshold)
    spec = check_spec(spec, models.settings)
    return AskRequest(str(image), prepared, query, spec, api_key or None, threshold, bool(fast_path), namespace)


def events(models: Models, request: AskRequest) -> Iterator[tuple[object, dict]]:
    return work.agent_events(
        request.prepared.array,
        request.query,
        request.backend,
        request.api_key,
        request.threshold,
        request.fast_path,
        models.settings.agent_seconds,
        request.namespace,
    )


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
    lines = text.splitlines() or [""]
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
            icon, label = STATUS_LABELS.get(a.status, ("", a.status))
            text = f"{icon} **{label}**: " + (f"{a.text}; " if a.text else "") + f"{len(a.detections)} mask(s)."
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


def _trace(models: Models, request: AskRequest, steps: list, counters: dict, total_ms: float) -> dict:
    """The run as JSON, as `python -m agent run --json` writes it (plus the image's name and size)."""
    final = next(ev.answer for ev in reversed(steps) if isinstance(ev, FinalEvent))
    timing = {"total": total_ms}
    if not models.settings.public:  # per-stage times would tell a visitor what the shared cache already held
        timing.update(llm=counters.get("llm_ms", 0.0), sam3=counters.get("sam3_ms", 0.0))
    run = AgentRun(
        query=request.query,
        answer=final,
        steps=steps,
        llm_calls=counters.get("llm_calls", 0),
        sam3_calls=counters.get("sam3_calls", 0),
        timing_ms=timing,
        backend=counters.get("backend", request.backend),
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
    yield AskUpdate(list(chat.messages), f"Running on “{request.query}”…")
    steps, pool, final, counters = [], None, None, {}
    t0 = time.perf_counter()
    for ev, counters in events(models, request):
        if state.run_id != run_id:
            return
        steps.append(ev)
        if isinstance(ev, ToolResultEvent) and ev.tool == "segment" and ev.detections is not None:
            pool = ev.detections
        if isinstance(ev, FinalEvent):
            final = ev.answer
        chat.add(ev)
        if not isinstance(ev, FinalEvent):
            step = sum(isinstance(e, ToolCallEvent) for e in steps)
            yield AskUpdate(list(chat.messages), f"Running **{counters.get('backend', '')}**… (step {step})")
    total_ms = 1e3 * (time.perf_counter() - t0)
    trace = _trace(models, request, steps, counters, total_ms)
    if pool is None:
        pool = Detections.empty(final.detections.image_size)
    pool, selected = _answer_indices(pool, final.detections)
    result = AskResult(
        request.path,
        request.prepared.name,
        request.query,
        pool.to_json_list(),
        pool.image_size,
        selected,
        trace,
        final.status,
        final.message,
        final.text,
    )
    if state.run_id == run_id:
        state.result = result
        yield _result_update(models, state, list(chat.messages), pool, total_ms)


def _result_update(
    models: Models, state: AskState, messages: list[dict], pool: Detections | None = None, total_ms: float | None = None
) -> AskUpdate:
    result = state.result
    pool = result.detections if pool is None else pool
    image = prepare_image(result.image_path, models.settings).image
    overlay = selection_overlay(image, pool, result.selected)
    trace = dict(result.trace, selected_masks=result.selected_numbers)
    downloads = write_exports(
        state.files,
        result.answer(pool),
        overlay,
        result.image_name,
        trace=trace,
        extra={"query": result.query},
        numbers=result.selected_numbers,
    )
    status = result.summary()
    if total_ms is not None:
        status += f" ({total_ms / 1e3:.1f} s)"
    return AskUpdate(messages, status, result, overlay, legend_html(pool, result.selected), downloads)


def toggle_mask(models: Models, state: AskState, x: float, y: float) -> tuple[AskUpdate | None, str]:
    """Flips the mask under pixel (x, y) in or out of the answer; returns the update and what happened."""
    result = state.result
    if result is None:
        return None, "run a query first"
    pool = result.detections
    i = hit_test(pool, x, y)
    if i is None:
        return None, "no mask there: click inside a mask to add or remove it"
    result.selected[i] = not result.selected[i]
    verb = "added to" if result.selected[i] else "removed from"
    return _result_update(models, state, [], pool), f"mask {i + 1} ({pool.phrases[i]}) {verb} the answer"


def ask_json(models: Models, request: AskRequest) -> dict:
    """The `/ask` API: the run as JSON (as `python -m agent run --json` writes it)."""
    steps, counters = [], {}
    t0 = time.perf_counter()
    for ev, latest in events(models, request):
        steps.append(ev)
        counters = latest
    out = _trace(models, request, steps, counters, 1e3 * (time.perf_counter() - t0))
    if request.prepared.notice:
        out["notice"] = request.prepared.notice
    return out
