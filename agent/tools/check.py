"""`check`: one close look per mask, all at once, each ending in Accept or Reject (SAM 3 Agent's
`examine_each_mask`); rejected masks are left out of the answer."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

from agent.llm import ImagePart, Message, TextPart
from agent.tools.base import ParseError, Tool, ToolContext, ToolResult, check_numbers, mask_numbers, short_text
from sam3.overlay import crop_grid, draw_overlay

CELL = 336  # pixels: the height of each view the model is shown


def verdict(text: str) -> bool | None:
    """True for Accept, False for Reject: the last <verdict> tag, else a leading yes / no / accept / reject,
    else the last accept / reject word; None when the reply says neither."""
    tagged = re.findall(r"<verdict>\s*(accept|reject)", text, re.I)
    if tagged:
        return tagged[-1].lower() == "accept"
    lead = re.match(r"\W*(yes|no|accept|reject)\b", text, re.I)
    if lead:
        return lead.group(1).lower() in ("yes", "accept")
    words = re.findall(r"\b(accept|reject)\b", text, re.I)
    return None if not words else words[-1].lower() == "accept"


def views(image: Image.Image, det, index: int, frame) -> np.ndarray:
    """The whole image (as the model sees it) with only this mask drawn, beside a close-up of it."""
    whole = frame.show(draw_overlay(image, det[[index]]))
    w = max(1, round(whole.width * CELL / whole.height))
    whole = np.asarray(whole.resize((w, CELL), Image.BILINEAR))
    crop = crop_grid(image, det, [index], cell=CELL)
    crop = crop[:CELL] if crop.shape[0] >= CELL else np.pad(crop, ((0, CELL - crop.shape[0]), (0, 0), (0, 0)))
    gap = np.full((CELL, 8, 3), 255, np.uint8)
    return np.concatenate([whole, gap, crop], axis=1)


def check_prompt(question: str, query: str) -> str:
    return (
        f'The user\'s query: "{query}". Left: the whole image with one candidate mask drawn; right: a close-up of '
        f"it. {question}\nThink in one or two short sentences, then end with <verdict>Accept</verdict> if it does "
        "or <verdict>Reject</verdict> if it does not."
    )


class Check(Tool):
    name = "check"
    description = (
        "look at each of some masks on its own: the whole image with only that mask drawn and a close-up, judged "
        'Accept or Reject against your "question" (default: does it answer the query?), all masks at once; '
        "rejected masks are left out of the answer"
    )
    example = {"masks": [1, 2, 3], "question": "Is this cup red?"}

    def parse(self, call: dict, repaired: list[str]) -> dict:
        question = short_text(call.get("question"), "question", 300)
        if call.get("question") is not None and not question:
            raise ParseError('"question" must say what to judge, e.g. "Is this cup red?"')
        return {"masks": mask_numbers(call.get("masks", call.get("mask")), "masks", repaired), "question": question}

    def run(self, ctx: ToolContext, args: dict) -> ToolResult:
        numbers, problem = check_numbers(args["masks"], len(ctx.board))
        if not numbers:
            return ToolResult(f"Error: {problem}", notices=[problem], error=True)
        question = args["question"] or "Does this mask show what the query asks for?"
        det = ctx.board.detections
        requests = [
            [Message("user", [ImagePart(Image.fromarray(views(ctx.session.image, det, n - 1, ctx.frame))),
                              TextPart(check_prompt(question, ctx.query))])]
            for n in numbers
        ]
        replies = ctx.ask_all(requests, 160)
        lines = []
        for n, reply in zip(numbers, replies):
            said = verdict(reply)
            if said is False:
                ctx.board.reject(n)
            word = {True: "accept", False: "reject", None: "unclear"}[said]
            lines.append(f"{n}: {word} ({' '.join(reply.split())[:160]})")
        text = f"Verdicts on '{question}':\n" + "\n".join(lines)
        if ctx.board.rejected:
            text += f"\nRejected masks {sorted(ctx.board.rejected)} are left out of any answer."
        return ToolResult(text, None, ctx.board.pick(numbers), [problem] if problem else [])
