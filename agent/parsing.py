"""Turning whatever the model wrote into one validated tool call, or a short error to send back.

Repairs only what is unambiguous (code fences, a think block, trailing commas, single quotes,
a reply cut off before its closing braces, indices given as strings); everything else becomes
a `ParseError` whose message the agent shows the model. Nothing here touches files or evaluates code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

TOOLS = {
    "segment": "find every instance of 1-4 short noun phrases (optionally with exemplar boxes)",
    "inspect": "look closer at some masks (a grid of crops)",
    "check": "ask a yes/no question about each of some masks, answered for all masks at once",
    "select": "give the final answer: the masks that answer the query",
    "no_match": "give the final answer: nothing in the image matches",
}
MAX_PHRASES = 4
MAX_PHRASE_CHARS = 80


class ParseError(ValueError):
    """The reply cannot be read as a tool call; the message is meant for the model."""


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


def _indices(value, name: str, repaired: list[str]) -> list[int]:
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


def _phrases(value) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ParseError('"phrases" must be a list of 1 to 4 short noun phrases')
    phrases = []
    for p in value:
        if not isinstance(p, str) or not " ".join(p.split()):
            raise ParseError('"phrases" must hold non-empty strings')
        p = " ".join(p.split())
        if len(p) > MAX_PHRASE_CHARS:
            raise ParseError(f"phrase too long ({len(p)} characters): use a short noun phrase like 'red cup'")
        phrases.append(p)
    phrases = list(dict.fromkeys(phrases))
    if len(phrases) > MAX_PHRASES:
        raise ParseError(f"at most {MAX_PHRASES} phrases per call")
    return phrases


def _boxes(value) -> list[list[float]]:
    if not isinstance(value, list) or not all(
        isinstance(b, list)
        and len(b) == 4
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)
        for b in value
    ):
        raise ParseError('"boxes" must be a list of [x0, y0, x1, y1] pixel boxes')
    return [[float(v) for v in b] for b in value]


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
    args = _validate(tool, call, repaired)
    return ToolCall(tool=tool, args=args, thought=thought, repaired=repaired)


def _validate(tool: str, call: dict, repaired: list[str]) -> dict:
    if tool == "segment":
        args = {"phrases": _phrases(call.get("phrases", call.get("phrase", call.get("text"))))}
        if call.get("boxes") is not None:
            args["boxes"] = _boxes(call["boxes"])
        if call.get("negative_boxes") is not None:
            args["negative_boxes"] = _boxes(call["negative_boxes"])
        return args
    if tool in ("inspect", "select"):
        return {"masks": _indices(call.get("masks", call.get("mask")), "masks", repaired)}
    if tool == "check":
        question = call.get("question")
        if not isinstance(question, str) or not question.strip():
            raise ParseError('"check" needs a "question" to ask about each mask, e.g. "Is this cup red?"')
        return {"masks": _indices(call.get("masks"), "masks", repaired), "question": question.strip()[:300]}
    reason = call.get("reason", "")
    return {"reason": reason.strip()[:500] if isinstance(reason, str) else ""}


def check_indices(indices: list[int], available: int) -> tuple[list[int], str | None]:
    """Keeps valid 1-based numbers; says which were dropped (None when all were valid)."""
    valid = [i for i in indices if 1 <= i <= available]
    bad = [i for i in indices if i not in valid]
    if not bad:
        return valid, None
    what = (
        f"mask numbers {bad} do not exist (there are {available})" if available else "there are no masks yet"
    )
    return valid, what
