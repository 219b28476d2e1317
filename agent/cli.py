"""`python -m agent run --image PATH --query "..."`: the agent from the shell, JSON out."""

from __future__ import annotations

import argparse
import sys

from agent.events import AgentRun, FinalEvent, Notice, Thought, ToolCallEvent, ToolResultEvent
from agent.llm import LLMError, make_backend
from agent.loop import Agent, Budget, run_to_end
from sam3.cli import UsageError, run_cli, write_json
from sam3.image_io import load_image
from sam3.session import Segmenter


def _progress(ev) -> None:
    """One line per step on stderr, so a person sees the run unfold."""
    if isinstance(ev, Thought):
        line = f"[{ev.round}] think: {ev.text[:200]}"
    elif isinstance(ev, ToolCallEvent):
        line = f"[{ev.round}] call {ev.tool} {ev.args}"
    elif isinstance(ev, ToolResultEvent):
        line = f"[{ev.round}] {ev.tool}: {ev.text.splitlines()[0][:200]}"
    elif isinstance(ev, Notice):
        line = f"[{ev.round}] {ev.level}: {ev.text[:200]}"
    elif isinstance(ev, FinalEvent):
        line = f"answer: {ev.answer.status}, {len(ev.answer.detections)} mask(s) {ev.answer.message[:200]}"
    else:
        return
    print(line, file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    query = " ".join((args.query or "").split())
    if not query:
        raise UsageError("--query must not be empty")
    image = load_image(args.image)
    llm = None if args.llm == "spatial" else make_backend(args.llm)
    agent = Agent(
        llm=llm,
        spatial=args.llm == "spatial" or not args.no_fast_path,
        budget=Budget(rounds=args.max_rounds, seconds=args.max_seconds),
        threshold=args.threshold,
    )
    segmenter = Segmenter.load(args.model, device=args.device)
    if segmenter.loaded.fallback_reason:
        print(f"note: {segmenter.loaded.fallback_reason}; using the bundled checkpoint", file=sys.stderr)
    session = segmenter.session(image)
    events, answer, counters, total_ms = run_to_end(agent, session, query, None if args.quiet else _progress)
    run = AgentRun(
        query=query,
        answer=answer,
        steps=events,
        llm_calls=counters.llm_calls,
        sam3_calls=counters.sam3_calls,
        timing_ms={"total": total_ms, "llm": counters.llm_ms, "sam3": counters.sam3_ms},
        backend=agent.name,
    )
    payload = run.to_json()
    payload["model"] = segmenter.loaded.source
    payload["image"] = {"width": image.width, "height": image.height}
    write_json(payload, args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m agent", description="Referring segmentation with SAM 3 as a tool.")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="answer one query on one image")
    run.add_argument("--image", required=True)
    run.add_argument("--query", required=True)
    run.add_argument(
        "--llm",
        default="spatial",
        help="spatial (default, no model), transformers:<model id or dir>, or openai:<base url>#<model>",
    )
    run.add_argument("--no-fast-path", action="store_true", help="send every query to the MLLM, even parseable ones")
    run.add_argument("--model", help="SAM 3 Hub id or directory (default as for python -m sam3)")
    run.add_argument("--device")
    run.add_argument("--threshold", type=float, default=0.5)
    run.add_argument("--max-rounds", type=int, default=Budget.rounds)
    run.add_argument("--max-seconds", type=float, default=Budget.seconds)
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    run.add_argument("--json", help="output file (default: stdout)")
    run.set_defaults(func=cmd_run)
    return ap


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv, errors=(LLMError,))
