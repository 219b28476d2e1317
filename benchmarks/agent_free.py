"""The agent on free-phrased queries (hand-laid scenes): gIoU per category and how often it is silently wrong.

    python -m benchmarks.agent_free [--set dev|heldout|PATH] [--oracle] [--llm spatial] [--json OUT] [--md OUT]

Each query of a set (`benchmarks/free_queries.py`) is answered by the agent (default: the spatial planner
on the bundled SAM 3, no LLM; `--oracle` answers every phrase with the scene's exact masks instead, to
tell planning errors from perception errors). A query is
- correct: IoU >= 0.5 with the true masks and, for a count or a yes/no question, the right number or
  yes / no at the start of `answer.text`;
- flagged: not correct, and the status is neither `ok` nor `no_match` (the agent said it was unsure or
  could not answer);
- silent-wrong: neither (a wrong `ok`, or a `no_match` while the object is there).
Flagged answers still count in gIoU with their IoU; `flagged_right` counts right answers that came with a
flag anyway (noise for the user). The result JSON has one row per query.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from agent.llm import make_backend
from agent.loop import Agent, run_to_end
from agent.spatial import Vocabulary
from benchmarks.free_queries import DATA_DIR, FreeQuery, load_set, truth_mask
from benchmarks.output import save_json
from benchmarks.referring_metrics import union_mask
from sam3.loading import BUNDLED_DIR, read_vocabulary
from sam3.session import Segmenter
from shapesworld.oracle import GroundTruthSession

CORRECT_IOU = 0.5
BARS = {"gIoU": 0.65, "silent_wrong": 0.10}
_NUMBER_WORDS = {w: i for i, w in enumerate(
    ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"))}
_NUMBER_WORDS.update(none=0, zero=0)


def said_count(text: str) -> int | None:
    """The first number in an answer's text ("4 squares", "No: 0 red stars", "none")."""
    for word in re.findall(r"[a-z]+|\d+", text.lower()):
        if word.isdigit():
            return int(word)
        if word in _NUMBER_WORDS and word != "no":
            return _NUMBER_WORDS[word]
    return 0 if re.match(r"\s*no\b", text.lower()) else None


def said_yes(text: str) -> bool | None:
    m = re.match(r"\W*(yes|no)\b", text.lower())
    return None if m is None else m.group(1) == "yes"


def judge(query: FreeQuery, iou: float, status: str, text: str) -> dict:
    right = iou >= CORRECT_IOU
    if query.count is not None:
        right = right and said_count(text) == query.count
    if query.yes is not None:
        right = right and said_yes(text) == query.yes
    unsure = status not in ("ok", "no_match")
    return {"correct": right, "flagged": not right and unsure, "silent_wrong": not right and not unsure,
            "flagged_right": right and unsure}


def summarise(rows: list[dict]) -> dict:
    by: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by[r["category"]].append(r)
        by["all"].append(r)
    out = {}
    for cat in sorted(by, key=lambda c: (c == "all", c)):
        rs = by[cat]
        out[cat] = {
            "n": len(rs),
            "gIoU": round(float(np.mean([r["iou"] for r in rs])), 4),
            "correct": round(float(np.mean([r["correct"] for r in rs])), 4),
            "flagged": round(float(np.mean([r["flagged"] for r in rs])), 4),
            "silent_wrong": round(float(np.mean([r["silent_wrong"] for r in rs])), 4),
            "flagged_right": round(float(np.mean([r["flagged_right"] for r in rs])), 4),
        }
    return out


def run(agent: Agent, path: Path, segmenter: Segmenter | None) -> list[dict]:
    """One row per query; without a segmenter, perception is the scene's ground truth."""
    scenes, queries = load_set(path)
    sessions = {}
    rows = []
    for q in queries:
        scene = scenes[q.scene]
        if q.scene not in sessions:
            sessions[q.scene] = (
                segmenter.session(Image.fromarray(scene.image)) if segmenter else GroundTruthSession(scene)
            )
        t0 = time.perf_counter()
        _, answer, counters, _ = run_to_end(agent, sessions[q.scene], q.query)
        ms = 1e3 * (time.perf_counter() - t0)
        gt = truth_mask(scene, q)
        pred = union_mask(answer.detections.masks, gt.shape)
        union = float((pred | gt).sum())
        iou = 1.0 if union == 0 else float((pred & gt).sum()) / union
        rows.append({
            "id": q.id, "scene": q.scene, "category": q.category, "query": q.query,
            "status": answer.status, "text": answer.text, "message": answer.message,
            "masks": len(answer.detections), "truth": len(q.answer), "iou": round(iou, 4),
            **judge(q, iou, answer.status, answer.text), "llm_calls": counters.llm_calls, "ms": round(ms, 1),
        })
    return rows


def markdown(results: dict) -> str:
    lines = [f"# agent_free: {results['set']} ({results['llm']}, {results['model']})", "",
             "| category | n | gIoU | correct | flagged | silent-wrong | right but flagged |",
             "|---|---|---|---|---|---|---|"]
    for cat, m in results["metrics"].items():
        lines.append(f"| {cat} | {m['n']} | {m['gIoU']:.3f} | {m['correct']:.3f} | {m['flagged']:.3f} | "
                     f"{m['silent_wrong']:.3f} | {m['flagged_right']:.3f} |")
    lines += ["", "Silent-wrong queries:", ""]
    lines += [f"- {r['id']} ({r['category']}) \"{r['query']}\": {r['status']} IoU {r['iou']:.2f} {r['text']!r}"
              for r in results["rows"] if r["silent_wrong"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="dev", help="dev, heldout or a path to a set's JSON")
    ap.add_argument("--llm", default="spatial", help="spatial, transformers:<id>, openai:<url>#<model>")
    ap.add_argument("--model", default="bundled", help="SAM 3 checkpoint (default: the bundled one)")
    ap.add_argument("--oracle", action="store_true", help="the scenes' exact masks instead of SAM 3")
    ap.add_argument("--json")
    ap.add_argument("--md", help="also write a markdown table here")
    args = ap.parse_args(argv)
    path = Path(args.set) if args.set.endswith(".json") else DATA_DIR / f"free_queries_{args.set}.json"
    torch.set_num_threads(2)
    segmenter = None if args.oracle else Segmenter.load(args.model)
    # the oracle perceives as the bundled checkpoint would, knowing the same words
    vocabulary = Vocabulary.from_config(read_vocabulary(BUNDLED_DIR)) if args.oracle else None
    llm = None if args.llm == "spatial" else make_backend(args.llm)
    agent = Agent(llm=llm, spatial=True, vocabulary=vocabulary)
    rows = run(agent, path, segmenter)
    results = {
        "set": path.name,
        "model": segmenter.loaded.source if segmenter else "oracle (exact masks)",
        "llm": agent.name,
        "metrics": summarise(rows),
        "rows": rows,
    }
    print(f"{'category':16} {'n':>3} {'gIoU':>6} {'correct':>8} {'flagged':>8} {'silent':>7} {'noise':>6}")
    for cat, m in results["metrics"].items():
        print(f"{cat:16} {m['n']:3d} {m['gIoU']:6.3f} {m['correct']:8.3f} {m['flagged']:8.3f} "
              f"{m['silent_wrong']:7.3f} {m['flagged_right']:6.3f}")
    overall = results["metrics"]["all"]
    for key, bar in BARS.items():
        ok = overall[key] >= bar if key == "gIoU" else overall[key] <= bar
        print(f"bar {key} {'>=' if key == 'gIoU' else '<='} {bar}: {'PASS' if ok else 'FAIL'} ({overall[key]:.3f})")
    save_json(results, args.json)
    if args.md:
        Path(args.md).parent.mkdir(parents=True, exist_ok=True)
        Path(args.md).write_text(markdown(results))
    return results


if __name__ == "__main__":
    main()
