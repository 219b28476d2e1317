"""The agent's steps as typed events, streamed to the UI, the CLI, the tests and the benchmarks alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from sam3.detections import Detections

# ok: answered; no_match: nothing answers; unsure: a best guess, flagged (the message says why);
# budget: a limit ended the run (best answer so far); error: no answer could be given
Status = Literal["ok", "no_match", "unsure", "budget", "error"]


@dataclass
class Thought:
    """What the model (or the planner) said before its tool call."""

    text: str
    round: int
    source: str = "model"

    def to_json(self) -> dict:
        return {"type": "thought", "round": self.round, "source": self.source, "text": self.text}


@dataclass
class ToolCallEvent:
    tool: str
    args: dict
    round: int
    repaired: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        out = {"type": "tool_call", "round": self.round, "tool": self.tool, "args": self.args}
        if self.repaired:
            out["repaired"] = self.repaired
        return out


@dataclass
class ToolResultEvent:
    """`image` is what the model was shown (overlay or crops); `detections` the masks it refers to."""

    tool: str
    text: str
    round: int
    image: np.ndarray | None = None
    detections: Detections | None = None

    def to_json(self) -> dict:
        out = {"type": "tool_result", "round": self.round, "tool": self.tool, "text": self.text}
        if self.detections is not None:
            out["num_masks"] = len(self.detections)
        return out


@dataclass
class Notice:
    """Something the agent did on its own: a repair, an error sent back to the model, a budget warning."""

    text: str
    round: int
    level: Literal["info", "warning", "error"] = "info"

    def to_json(self) -> dict:
        return {"type": "notice", "round": self.round, "level": self.level, "text": self.text}


@dataclass
class Answer:
    """`text` is the short answer a person reads ("4 squares", "Yes: 1 purple star"); `message` how it came
    about (and why it is flagged, when the status is `unsure`)."""

    status: Status
    detections: Detections
    message: str = ""
    text: str = ""

    def to_json(self) -> dict:
        return {"status": self.status, "text": self.text, "message": self.message,
                "detections": self.detections.to_json_list()}


@dataclass
class FinalEvent:
    answer: Answer
    round: int

    def to_json(self) -> dict:
        return {
            "type": "final",
            "round": self.round,
            "status": self.answer.status,
            "text": self.answer.text,
            "message": self.answer.message,
            "num_masks": len(self.answer.detections),
        }


Event = Thought | ToolCallEvent | ToolResultEvent | Notice | FinalEvent


@dataclass
class AgentRun:
    """A whole run, as saved to JSON (`python -m agent run --json`)."""

    query: str
    answer: Answer
    steps: list[Event]
    llm_calls: int
    sam3_calls: int
    timing_ms: dict[str, float]
    backend: str = ""

    def to_json(self) -> dict:
        return {
            "query": self.query,
            "backend": self.backend,
            "answer": self.answer.to_json(),
            "steps": [s.to_json() for s in self.steps],
            "llm_calls": self.llm_calls,
            "sam3_calls": self.sam3_calls,
            "timing_ms": {k: round(v, 2) for k, v in self.timing_ms.items()},
        }
