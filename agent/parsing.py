"""Turning whatever the model wrote into one tool call, checked by that tool, or a short error to send back.

Repairs only what is unambiguous (code fences, a think block, trailing commas, single quotes,
a reply cut off before its closing braces, nested arguments); everything else becomes a `ParseError`
whose message the agent shows the model. Each tool checks its own arguments (`agent.tools`). Nothing
here touches files or evaluates code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from agent.tools import TOOLS, ParseError


@dataclass
class ToolCall:
    tool: str
    args: dict = field(default_factory=dict)
    thought: str = ""
    repaired: list[str] = field(default_factory=list)


_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.S | re.I)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)


def _outer_object(text: str) -> tuple[str | None, bool]:
    """The first balanced {...} (strings respected); if the text ends inside it, the part so far."""
    start = text.find("{")
    if start < 0:
        return None, False
    depth, in_str, esc = 0, False, False
    for i in range(start, len(text)):
        c = text[i]
        if in_str:
            esc = c == "\\" and not esc
            if c == '"' and not esc:
                in_str = False
            elif c != "\\":
                esc = False
            continue
        if c == '"':
            in_str = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1], False
    return text[start:], True


def _close_truncated(obj: str) -> str:
    """Closes strings, lists and objects left open by a reply cut at the token limit."""
    stack, in_str, esc = [], False, False
    for c in obj:
        if in_str:
            if c == '"' and not esc:
                in_str = False
            esc = c == "\\" and not esc
            continue
        if c == '"':
            in_str = True
        elif c in "{[":
            stack.append("}" if c == "{" else "]")
        elif c in "}]" and stack:
            stack.pop()
    out = obj + ('"' if in_str else "")
    out = re.sub(r",\s*$", "", out)
    return out + "".join(reversed(stack))


def _loads(obj: str, repaired: list[str]) -> dict:
    for attempt in range(3):
        try:
            value = json.loads(obj)
            if not isinstance(value, dict):
                raise ParseError("the tool call must be a JSON object")
            return value
        except json.JSONDecodeError:
            if attempt == 0:
                fixed = re.sub(r",\s*([}\]])", r"\1", obj)
                if fixed != obj:
                    repaired.append("removed trailing commas")
                obj = fixed
            elif attempt == 1:
                if "'" in obj and '"' not in obj:
                    obj = obj.replace("'", '"')
                    repaired.append("replaced single quotes")
                else:
                    break
    raise ParseError(
        'the tool call is not valid JSON; reply with one object like {"tool": "segment", '
        '"phrases": ["red cup"]}'
    )


def parse_reply(text: str) -> ToolCall:
    """The single tool call in `text`; raises `ParseError` with a message for the model."""
    if not isinstance(text, str) or not text.strip():
        raise ParseError("empty reply: answer with one JSON tool call")
    repaired: list[str] = []
    thought = " ".join(m.strip() for m in _THINK.findall(text)).strip()
    body = _THINK.sub(" ", text)
    fence = _FENCE.search(body)
    if fence:
        body = fence.group(1)
    obj, truncated = _outer_object(body)
    if obj is None:
        raise ParseError(
            "no tool call found: end your reply with one JSON object such as "
            '{"tool": "segment", "phrases": ["cup"]}'
        )
    if truncated:
        obj = _close_truncated(obj)
        repaired.append("closed a reply cut off mid-object")
    if not thought:
        thought = body[: body.find("{")].strip()
    call = _loads(obj, repaired)
    tool = call.get("tool", call.get("name", call.get("action")))
    args = call.get("arguments", call.get("args", call.get("parameters")))
    if isinstance(args, dict):
        repaired.append("read nested arguments")
        call = {**call, **args}
    if not isinstance(tool, str) or tool not in TOOLS:
        raise ParseError(f"unknown tool {tool!r}; use one of: {', '.join(TOOLS)}")
    args = TOOLS[tool].parse(call, repaired)
    return ToolCall(tool=tool, args=args, thought=thought, repaired=repaired)
