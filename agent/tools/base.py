"""What every agent tool is: a name, a description and an example for the prompt, argument checks, and a run.

The loop dispatches the model's call by name (`agent.tools.TOOLS`); a tool's `parse` turns the call's raw
JSON into checked arguments or raises `ParseError` with a message for the model, and its `run` does the work
on the run's state (`ToolContext`) and returns what the model is told, and the final answer when it ends
the run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np

from agent.events import Answer
from sam3.detections import Detections

if TYPE_CHECKING:
    from agent.board import MaskBoard
    from agent.frame import Frame
    from agent.llm import Message


class ParseError(ValueError):
    """The reply cannot be read as a tool call; the message is meant for the model."""


@dataclass
class ToolResult:
    """What the model is told (`text` and `image`), the masks it refers to, warnings for the user, and the
    final answer when the tool ends the run. A `whole_image` picture is at the original size (the user sees
    it so) and reaches the model in its frame; other pictures (crops) reach it as they are."""

    text: str
    image: np.ndarray | None = None
    detections: Detections | None = None
    notices: list[str] = field(default_factory=list)
    final: Answer | None = None
    error: bool = False  # the call was refused: the text says why and what to do instead
    whole_image: bool = False


class ToolContext(Protocol):
    """The run's state a tool works on (implemented by the agent loop)."""

    session: object  # an ImageSession
    board: MaskBoard
    frame: Frame
    query: str
    tried: list[str]  # every phrase segmented so far, in order
    last_found: list[int]  # the masks the newest segment call found (the best answer so far)
    threshold: float | None

    def ask(self, messages: list[Message], max_tokens: int) -> str: ...

    def ask_all(self, requests: list[list[Message]], max_tokens: int) -> list[str]: ...

    def count_sam3(self, ms: float) -> None: ...


class Tool:
    name: ClassVar[str]
    description: ClassVar[str]
    example: ClassVar[dict]

    def prompt_line(self) -> str:
        """How the system prompt presents the tool: an example call and what it does."""
        return f"- {json.dumps({'tool': self.name, **self.example})}: {self.description}"

    def parse(self, call: dict, repaired: list[str]) -> dict:
        """The call's checked arguments; raises `ParseError`."""
        raise NotImplementedError

    def run(self, ctx: ToolContext, args: dict) -> ToolResult:
        raise NotImplementedError


def mask_numbers(value, name: str, repaired: list[str]) -> list[int]:
    """A list of 1-based mask numbers, from ints or strings such as "3", "#3" or "mask 3"."""
    if isinstance(value, (int, str)):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ParseError(f'"{name}" must be a non-empty list of mask numbers')
    out = []
    for v in value:
        if isinstance(v, bool):
            raise ParseError(f'"{name}" must hold mask numbers, got {v!r}')
        if isinstance(v, str):
            m = re.fullmatch(r"\s*(?:mask\s*)?#?(\d+)\s*", v, re.I)
            if not m:
                raise ParseError(f'"{name}" must hold mask numbers, got {v!r}')
            v = int(m.group(1))
            repaired.append("read mask numbers given as text")
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if not isinstance(v, int):
            raise ParseError(f'"{name}" must hold mask numbers, got {v!r}')
        out.append(v)
    return list(dict.fromkeys(out))


def check_numbers(numbers: list[int], available: int) -> tuple[list[int], str | None]:
    """Keeps valid 1-based numbers; says which were dropped (None when all were valid)."""
    valid = [i for i in numbers if 1 <= i <= available]
    bad = [i for i in numbers if i not in valid]
    if not bad:
        return valid, None
    what = f"mask numbers {bad} do not exist (there are {available})" if available else "there are no masks yet"
    return valid, what


def short_text(value, name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ParseError(f'"{name}" must be a string')
    return " ".join(value.split())[:limit]
