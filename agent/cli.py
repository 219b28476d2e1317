"""`python -m agent run --image PATH --query "..."` (one image) and `python -m agent video --video PATH
--query "..." [--frame N]` (the answer on key frames, followed through the clip): the agent from the shell,
JSON out. The exit status says whether an answer could be given (`EXIT_CODES`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.events import FinalEvent, Notice, Thought, ToolCallEvent, ToolResultEvent
from agent.llm import LLMError, make_backend, owner_credentials
from agent.loop import Agent, Budget, run_record
from sam3.cli import UsageError, run_cli, write_json
from sam3.image_io import load_image
from sam3.session import Segmenter

# The exit status by the answer's status: 0 when an answer was given (ok, no_match, or a flagged best guess,
# unsure), 3 when none could be (error), 4 when a limit ended the run (budget: the JSON holds the best so far);
# 2 is bad input, as for every CLI here.
EXIT_CODES = {"ok": 0, "no_match": 0, "unsure": 0, "error": 3, "budget": 4}
EPILOG = (
    "exit status: 0 an answer was given (status ok, no_match, or unsure: a flagged best guess); 2 bad input; "
    "3 no answer could be given (status error: the query could not be read, or the model backend failed); "
    "4 a limit (rounds, seconds, tokens) ended the run, the JSON holds the best answer so far (status budget)"
)


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
        said = f" \"{ev.answer.text}\"" if ev.answer.text else ""
        line = f"answer: {ev.answer.status}, {len(ev.answer.detections)} mask(s){said} {ev.answer.message[:200]}"
    else:
        return
    print(line, file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    query = " ".join((args.query or "").split())
    if not query:
        raise UsageError("--query must not be empty")
    image = load_image(args.image)
    agent = _make_agent(args)
    segmenter = Segmenter.load(args.model, device=args.device)
    if segmenter.loaded.fallback_reason:
        print(f"note: {segmenter.loaded.fallback_reason}; using the bundled checkpoint", file=sys.stderr)
    session = segmenter.session(image)
    run = run_record(agent, session, query, None if args.quiet else _progress)
    payload = run.to_json()
    payload["model"] = segmenter.loaded.source
    payload["image"] = {"width": image.width, "height": image.height}
    write_json(payload, args.json)
    return EXIT_CODES[run.answer.status]


def _make_agent(args: argparse.Namespace) -> Agent:
    llm = None if args.llm == "spatial" else make_backend(args.llm, **owner_credentials(args.llm))
    return Agent(
        llm=llm,
        spatial=args.llm == "spatial" or not args.no_fast_path,
        budget=Budget(rounds=args.max_rounds, seconds=args.max_seconds),
        threshold=args.threshold,
    )


def cmd_video(args: argparse.Namespace) -> int:
    from agent.video import KEY_FRAMES, answer_around, follow_selection, trained_tracker
    from sam3.cli import progress_printer
    from sam3.video.export import TrackRecorder, write_overlay
    from sam3.video.reader import VideoReader

    query = " ".join((args.query or "").split())
    if not query:
        raise UsageError("--query must not be empty")
    if args.stride < 1:
        raise UsageError(f"--stride must be at least 1, got {args.stride}")
    for flag, out in (("--overlay", args.overlay), ("--json", args.json)):
        if out and out != "-" and Path(out).is_dir():
            raise UsageError(f"{flag} {out} is a directory; give a file name")
    reader = VideoReader(
        args.video, start=args.start, end=args.end, stride=args.stride, max_seconds=args.max_video_seconds or None
    )
    if args.frame is not None and not 0 <= args.frame < len(reader):
        raise UsageError(f"--frame {args.frame} is outside the {len(reader)} selected frame(s) (0-based)")
    count = KEY_FRAMES if args.key_frames is None else args.key_frames
    if count < 1:
        raise UsageError(f"--key-frames must be at least 1, got {count}")
    agent = _make_agent(args)
    segmenter = Segmenter.load(args.model, device=args.device)
    if segmenter.loaded.fallback_reason:
        print(f"note: {segmenter.loaded.fallback_reason}; using the bundled checkpoint", file=sys.stderr)
    tracker = None if args.tracker == "associate" else trained_tracker(args.model, device=args.device)
    if args.tracker == "sam3" and tracker is None:
        raise UsageError(f"{segmenter.loaded.source} has no trained video tracker; use --tracker auto or associate")
    found = answer_around(agent, segmenter, reader, args.frame, query, count=count,
                          on_event=None if args.quiet else _progress)
    key = found.key
    selection = found.answer.detections
    recorder = TrackRecorder(
        {**reader.info.as_dict(), "range": {"start": reader.start, "end": reader.end, "stride": reader.stride}},
        list(dict.fromkeys(selection.phrases)),
    )
    recorder.extend(
        follow_selection(
            reader,
            key.position,
            selection,
            detector=segmenter.loaded,
            tracker=tracker,
            threshold=args.threshold,
            progress=progress_printer(args.quiet),
            seen=found.seen,
        )
    )
    payload = recorder.to_json(
        model=segmenter.loaded.source,
        mode="sam3" if tracker is not None else "associate",
        agent=found.run_json(),
        **found.summary(),
    )
    if args.overlay:
        write_overlay(reader, recorder, args.overlay)
    write_json(payload, args.json)
    return EXIT_CODES[found.answer.status]


def _agent_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--query", required=True)
    p.add_argument(
        "--llm",
        default="spatial",
        help="spatial (default, no model), transformers:<model id or dir>, or openai:<base url>#<model>",
    )
    p.add_argument(
        "--no-fast-path", action="store_true",
        help="send every query to the MLLM, even those the spatial planner fully understands",
    )
    p.add_argument("--model", help="SAM 3 Hub id or directory (default as for python -m sam3)")
    p.add_argument("--device")
    p.add_argument("--threshold", type=float, help="SAM 3 score threshold (default: the checkpoint's)")
    p.add_argument("--max-rounds", type=int, default=Budget.rounds)
    p.add_argument("--max-seconds", type=float, default=Budget.seconds)
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--json", help="output file (default: stdout)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m agent", description="Referring segmentation with SAM 3 as a tool.", epilog=EPILOG
    )
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="answer one query on one image", epilog=EPILOG)
    run.add_argument("--image", required=True)
    _agent_options(run)
    run.set_defaults(func=cmd_run)
    vid = sub.add_parser(
        "video", help="answer a query on a key frame of a video and follow the answer through it", epilog=EPILOG
    )
    vid.add_argument("--video", required=True)
    vid.add_argument("--frame", type=int,
                     help="the frame the query is about: 0-based position among the selected frames (default: none; "
                          "key frames spread over the clip)")
    vid.add_argument("--key-frames", type=int,
                     help="frames the agent answers on, around --frame or spread over the clip (default: "
                          "agent.video.KEY_FRAMES, 5); the objects most of them choose are followed")
    vid.add_argument("--start", help="first frame: a frame number or seconds such as 2.5s")
    vid.add_argument("--end", help="end (exclusive): a frame number or seconds")
    vid.add_argument("--stride", type=int, default=1, help="every n-th frame")
    vid.add_argument("--max-video-seconds", type=float, default=30.0, help="refuse longer selections (0: no limit)")
    vid.add_argument(
        "--tracker",
        choices=("auto", "sam3", "associate"),
        default="auto",
        help="auto: SAM 3's tracker when the checkpoint has a trained one, else detection + association",
    )
    vid.add_argument("--overlay", help="write the overlay mp4 here")
    _agent_options(vid)
    vid.set_defaults(func=cmd_video)
    return ap


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv, errors=(LLMError,))
