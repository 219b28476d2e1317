"""`no_match`: the final answer that nothing in the image answers the query."""

from __future__ import annotations

from agent.events import Answer
from agent.tools.base import Tool, ToolContext, ToolResult, short_text
from sam3.detections import Detections


class NoMatch(Tool):
    name = "no_match"
    description = 'give the final answer: nothing in the image matches (say why in "reason"; "text" for "No" or "0")'
    example = {"reason": "there is no dog", "text": "No"}

    def parse(self, call: dict, repaired: list[str]) -> dict:
        return {"reason": short_text(call.get("reason", ""), "reason", 500),
                "text": short_text(call.get("text", call.get("answer")), "text", 300)}

    def run(self, ctx: ToolContext, args: dict) -> ToolResult:
        final = Answer("no_match", Detections.empty(ctx.session.size), args["reason"], text=args["text"])
        return ToolResult("", final=final)
