"""`select`: the final answer, some of the numbered masks and, for a count or a yes / no question, its text."""

from __future__ import annotations

from agent.events import Answer
from agent.tools.base import Tool, ToolContext, ToolResult, check_numbers, mask_numbers, short_text

MAX_TEXT_CHARS = 300


class Select(Tool):
    name = "select"
    description = (
        'give the final answer: the masks that answer the query, and an optional short "text" answer for a count '
        'or a yes/no question ("3 red cups", "Yes: 1 dog")'
    )
    example = {"masks": [3], "text": ""}

    def parse(self, call: dict, repaired: list[str]) -> dict:
        return {
            "masks": mask_numbers(call.get("masks", call.get("mask")), "masks", repaired),
            "text": short_text(call.get("text", call.get("answer")), "text", MAX_TEXT_CHARS),
        }

    def run(self, ctx: ToolContext, args: dict) -> ToolResult:
        numbers, problem = check_numbers(args["masks"], len(ctx.board))
        if problem:  # some numbers were invalid: ambiguous, ask again rather than guess
            return ToolResult(f"Error: {problem}; select again with valid numbers", notices=[problem], error=True)
        rejected = [n for n in numbers if n in ctx.board.rejected]
        kept = [n for n in numbers if n not in ctx.board.rejected]
        if not kept:
            msg = f"masks {rejected} were rejected by check; select others, or use no_match"
            return ToolResult(f"Error: {msg}", notices=[msg], error=True)
        notices = [f"masks {rejected} were rejected by check and are left out"] if rejected else []
        final = Answer("ok", ctx.board.pick(kept), text=args["text"])
        return ToolResult("", None, final.detections, notices, final=final)
