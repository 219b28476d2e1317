"""`segment`: every instance of 1-4 short noun phrases, added to the numbered masks."""

from __future__ import annotations

import time

from agent.tools.base import ParseError, Tool, ToolContext, ToolResult
from sam3.overlay import draw_overlay
from sam3.session import BoxPrompt

MAX_PHRASES = 4
MAX_PHRASE_CHARS = 80


def _norm(phrase: str) -> str:
    return " ".join(phrase.lower().split())


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
        isinstance(b, list) and len(b) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)
        for b in value
    ):
        raise ParseError('"boxes" must be a list of [x0, y0, x1, y1] pixel boxes')
    return [[float(v) for v in b] for b in value]


def tried_list(tried: list[str]) -> str:
    return ", ".join(f"'{p}'" for p in tried) or "none"


class Segment(Tool):
    name = "segment"
    description = (
        f"find every instance of 1-{MAX_PHRASES} short noun phrases; results are added to the numbered masks you "
        'already have. Optional "boxes": [[x0, y0, x1, y1], ...] (exemplars of the concept, in pixels of the image '
        'you see) and "negative_boxes". A phrase you already tried is refused: try another one'
    )
    example = {"phrases": ["cup", "red cup"]}

    def parse(self, call: dict, repaired: list[str]) -> dict:
        args = {"phrases": _phrases(call.get("phrases", call.get("phrase", call.get("text"))))}
        for key in ("boxes", "negative_boxes"):
            if call.get(key) is not None:
                args[key] = _boxes(call[key])
        return args

    def run(self, ctx: ToolContext, args: dict) -> ToolResult:
        try:
            boxes = [BoxPrompt(ctx.frame.to_image(b)) for b in args.get("boxes", [])]
            boxes += [BoxPrompt(ctx.frame.to_image(b), positive=False) for b in args.get("negative_boxes", [])]
        except ValueError as exc:  # a degenerate box from the model
            return ToolResult(f"Error: {exc}", notices=[f"segment failed: {exc}"], error=True)
        seen = {_norm(p) for p in ctx.tried}
        phrases = args["phrases"]
        fresh = [p for p in phrases if _norm(p) not in seen]
        if not fresh and not boxes:  # as SAM 3 Agent: the same search again would only repeat its answer
            return ToolResult(
                f"Error: {tried_list(phrases)} was already segmented; its masks are on the numbered list. Phrases "
                f"tried so far: {tried_list(ctx.tried)}. Try a different noun phrase (more general, a synonym, or "
                "another attribute), or answer with select / no_match.",
                error=True,
            )
        notices = [f"already tried, skipped: {tried_list([p for p in phrases if p not in fresh])}"] if (
            fresh != phrases and not boxes) else []
        phrases = phrases if boxes else fresh
        t0 = time.perf_counter()
        try:
            det = ctx.session.segment(phrases, boxes=boxes, threshold=ctx.threshold)
        except ValueError as exc:  # e.g. a box outside the image
            return ToolResult(f"Error: {exc}", notices=[f"segment failed: {exc}"], error=True)
        finally:
            ctx.count_sam3(1e3 * (time.perf_counter() - t0))
        ctx.tried.extend(p for p in phrases if _norm(p) not in seen)
        numbers = ctx.board.add(det)
        ctx.last_found = list(dict.fromkeys(numbers))
        asked = tried_list(phrases)
        if not numbers:
            text = (
                f"No masks found for {asked}. Phrases tried so far: {tried_list(ctx.tried)}. Try a more general noun "
                "phrase or a synonym (the head noun alone, e.g. 'cup' for 'chipped blue mug'); use no_match only if "
                "the object is truly absent."
            )
            return ToolResult(text, None, ctx.board.detections, notices)
        text = (
            f"Found {len(ctx.last_found)} mask(s) for {asked}; {len(ctx.board)} numbered mask(s) in total:\n"
            f"{ctx.board.describe(frame=ctx.frame)}"
        )
        image = draw_overlay(ctx.session.image, ctx.board.detections)
        return ToolResult(text, image, ctx.board.detections, notices, whole_image=True)
