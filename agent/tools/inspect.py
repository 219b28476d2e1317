"""`inspect`: a grid of close-up crops of some masks."""

from __future__ import annotations

from agent.tools.base import Tool, ToolContext, ToolResult, check_numbers, mask_numbers
from sam3.overlay import crop_grid


class Inspect(Tool):
    name = "inspect"
    description = "look closer at some masks (a grid of crops, each tagged with its number)"
    example = {"masks": [2, 5]}

    def parse(self, call: dict, repaired: list[str]) -> dict:
        return {"masks": mask_numbers(call.get("masks", call.get("mask")), "masks", repaired)}

    def run(self, ctx: ToolContext, args: dict) -> ToolResult:
        numbers, problem = check_numbers(args["masks"], len(ctx.board))
        if not numbers:
            return ToolResult(f"Error: {problem}", notices=[problem], error=True)
        grid = crop_grid(ctx.session.image, ctx.board.detections, [n - 1 for n in numbers])
        text = "Close-up crops, each tagged with its mask number:\n" + ctx.board.describe(numbers, ctx.frame)
        return ToolResult(text, grid, ctx.board.pick(numbers), [problem] if problem else [])
