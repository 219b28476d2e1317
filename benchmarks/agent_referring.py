"""The agent on referring expressions: gIoU / cIoU per query kind, LLM calls and latency.

    python -m benchmarks.agent_referring [--llm spatial] [--model DIR] [--scenes 40] [--json OUT]
    python -m benchmarks.agent_referring --reasonseg DIR --model facebook/sam3 --llm openai:URL#MODEL
    python -m benchmarks.agent_referring --refcoco instances.json refs.json IMAGE_DIR --model ...
    python -m benchmarks.agent_referring --oracle   # the planner alone, on perfect perception

By default: ShapesWorld scenes from a held-out seed, queries from `shapesworld.referring`,
the bundled checkpoint. Metrics follow ReasonSeg / LISA (benchmarks/referring_metrics.py). --oracle answers every
phrase with the scene's ground truth instead of SAM 3 (shapesworld.oracle): what is lost there is the
planner's, the rest is perception's.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np
import torch

from agent.llm import make_backend
from agent.loop import Agent, run_to_end
from benchmarks.datasets import file_samples, load_reasonseg, load_refcoco, shapes_samples
from benchmarks.output import save_json
from benchmarks.referring_metrics import ReferringScores, union_mask
from sam3.session import Segmenter
from shapesworld.oracle import GroundTruthSession

HELD_OUT_SEED = 3_000_017
TARGETS = {"all": 0.85, "empty": 0.95}


def run(agent: Agent, segmenter: Segmenter | None, samples, limit: int | None = None) -> dict:
    """Without a segmenter, perception is the ShapesWorld ground truth (the samples' scenes)."""
    scores = ReferringScores()
    calls, latency, statuses = defaultdict(list), [], defaultdict(int)
    worst = []
    for n, (image, query, kind, gt, ignore, scene) in enumerate(samples):
        if limit is not None and n >= limit:
            break
        session = segmenter.session(image) if segmenter else GroundTruthSession(scene)
        t0 = time.perf_counter()
        _, answer, counters, _ = run_to_end(agent, session, query)
        latency.append(1e3 * (time.perf_counter() - t0))
        pred = union_mask(answer.detections.masks, gt.shape)
        iou = scores.add(pred, gt, kind, ignore)
        calls["llm"].append(counters.llm_calls)
        calls["sam3"].append(counters.sam3_calls)
        statuses[answer.status] += 1
        worst.append((iou, kind, query, answer.status))
    worst.sort()
    return {
        "metrics": scores.table(),
        "llm_calls_per_query": float(np.mean(calls["llm"])) if calls["llm"] else 0.0,
        "sam3_calls_per_query": float(np.mean(calls["sam3"])) if calls["sam3"] else 0.0,
        "latency_ms_median": float(np.median(latency)) if latency else 0.0,
        "latency_ms_p90": float(np.percentile(latency, 90)) if latency else 0.0,
        "statuses": dict(statuses),
        "worst": [{"iou": round(i, 3), "kind": k, "query": q, "status": s} for i, k, q, s in worst[:15]],
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llm", default="spatial", help="spatial, transformers:<id>, openai:<url>#<model>")
    ap.add_argument("--model", default="bundled", help="SAM 3 checkpoint (default: the bundled one)")
    ap.add_argument("--scenes", type=int, default=40)
    ap.add_argument("--seed", type=int, default=HELD_OUT_SEED)
    ap.add_argument("--limit", type=int, help="at most this many queries")
    ap.add_argument("--threshold", type=float, help="default: the checkpoint's calibrated one")
    ap.add_argument("--reasonseg", help="a ReasonSeg split folder")
    ap.add_argument("--refcoco", nargs=3, metavar=("INSTANCES", "REFS", "IMAGES"))
    ap.add_argument("--oracle", action="store_true", help="ShapesWorld ground truth instead of SAM 3")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if args.oracle and (args.reasonseg or args.refcoco):
        ap.error("--oracle needs ShapesWorld scenes (their ground truth is the oracle)")
    torch.set_num_threads(2)
    segmenter = None if args.oracle else Segmenter.load(args.model)
    if segmenter and args.threshold is None:
        args.threshold = segmenter.loaded.score_threshold
    llm = None if args.llm == "spatial" else make_backend(args.llm)
    agent = Agent(llm=llm, spatial=True, threshold=args.threshold)
    if args.reasonseg:
        samples = file_samples(list(load_reasonseg(args.reasonseg)))
    elif args.refcoco:
        samples = file_samples(list(load_refcoco(*args.refcoco)))
    else:
        samples = shapes_samples(args.scenes, args.seed)
    results = {
        "model": segmenter.loaded.source if segmenter else "oracle (ShapesWorld ground truth)",
        "llm": agent.name,
        "threshold": args.threshold,
        **run(agent, segmenter, samples, args.limit),
    }
    print(f"{'kind':12} {'gIoU':>6} {'cIoU':>6} {'n':>5}")
    for kind, m in results["metrics"].items():
        print(f"{kind:12} {m['gIoU']:6.3f} {m['cIoU']:6.3f} {m['n']:5d}")
    print(
        f"LLM calls/query {results['llm_calls_per_query']:.2f}, SAM 3 calls/query "
        f"{results['sam3_calls_per_query']:.2f}, latency median {results['latency_ms_median']:.0f} ms "
        f"(p90 {results['latency_ms_p90']:.0f} ms)"
    )
    for kind, bar in TARGETS.items():
        got = results["metrics"].get(kind, {}).get("gIoU", 0.0)
        print(f"target gIoU[{kind}] >= {bar}: {'PASS' if got >= bar else 'FAIL'} ({got:.3f})")
    save_json(results, args.json)
    return results


if __name__ == "__main__":
    main()
