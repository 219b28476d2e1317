"""What the one-to-many branch and the presence loss each change: training curves of three runs.

    python -m training --out runs/ablate-no-one-to-many --steps 20000 --stop-at 1500 --eval-every 250 \\
        --no-one-to-many
    python -m training --out runs/ablate-no-presence --steps 20000 --stop-at 1500 --eval-every 250 --no-presence
    python -m benchmarks.training_ablation --full runs/full/log.jsonl \\
        --no-one-to-many runs/ablate-no-one-to-many/log.jsonl --no-presence runs/ablate-no-presence/log.jsonl

The runs share the seed, the initial weights, the data (batches are a function of seed and step) and the
learning-rate schedule of the full run, so the curves differ only by the ablated loss. Curves are moving
averages of the per-step losses the runs all compute (the ablated term is still logged as zero), plus the
held-out indicators logged at each evaluation: presence accuracy and the gap between the top query score
on phrases that are present and on phrases that are absent. The figures in `benchmarks/results/` compare
the first 850 steps of the original recipe (trainable text encoder; the full run's log is in git history:
`git show 926f1d1:train_state/sam3-shapes-log.jsonl`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

CURVES = ("cls", "giou", "l1", "mask_dice")
INDICATORS = ("presence_acc", "top_score_pos", "top_score_neg")


def read_log(path: str | Path, last_step: int) -> list[dict]:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return [r for r in rows if r["step"] <= last_step]


def smooth(values: list[float], window: int = 50) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if len(v) < window:
        return v
    return np.convolve(v, np.ones(window) / window, mode="valid")


def summary(rows: list[dict], tail: int = 200) -> dict:
    """Mean of each loss over the last `tail` steps, and every evaluation's indicators."""
    out = {f"{k}_last{tail}": float(np.mean([r[k] for r in rows[-tail:] if k in r])) for k in CURVES}
    out["evals"] = [
        {
            "step": r["step"],
            **{k: round(r[k], 4) for k in INDICATORS},
            "gap": round(r["top_score_pos"] - r["top_score_neg"], 4),
        }
        for r in rows
        if "presence_acc" in r
    ]
    return out


def plot(runs: dict[str, list[dict]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for ax, key in zip(axes.flat[:4], CURVES):
        for name, rows in runs.items():
            y = smooth([r[key] for r in rows])
            ax.plot(np.arange(len(y)) + (len(rows) - len(y)) + 1, y, label=name)
        ax.set_title(f"{key} (sum over decoder layers, 50-step mean)")
        ax.set_xlabel("step")
    for name, rows in runs.items():
        ev = [r for r in rows if "presence_acc" in r]
        steps = [r["step"] for r in ev]
        axes.flat[4].plot(steps, [r["presence_acc"] for r in ev], "o-", label=name)
        axes.flat[5].plot(steps, [r["top_score_pos"] - r["top_score_neg"] for r in ev], "o-", label=name)
    axes.flat[4].set_title("held-out presence accuracy")
    axes.flat[5].set_title("held-out top score: present minus absent phrases")
    for ax in axes.flat:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=90)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", required=True, help="log.jsonl of the full recipe")
    ap.add_argument("--no-one-to-many", required=True, help="log.jsonl of the run without the one-to-many branch")
    ap.add_argument("--no-presence", required=True, help="log.jsonl of the run without the presence loss")
    ap.add_argument("--steps", type=int, default=1500, help="compare the first N steps")
    ap.add_argument("--png", default="benchmarks/results/training_ablation.png")
    ap.add_argument("--json", default="benchmarks/results/training_ablation.json")
    a = ap.parse_args(argv)
    runs = {
        "full recipe": read_log(a.full, a.steps),
        "no one-to-many": read_log(a.no_one_to_many, a.steps),
        "no presence loss": read_log(a.no_presence, a.steps),
    }
    for name, rows in runs.items():
        if not rows or rows[-1]["step"] < a.steps:
            raise SystemExit(f"{name}: the log stops at step {rows[-1]['step'] if rows else 0}, before {a.steps}")
    plot(runs, Path(a.png))
    results = {"steps": a.steps, "runs": {name: summary(rows) for name, rows in runs.items()}}
    Path(a.json).write_text(json.dumps(results, indent=1) + "\n")
    for name, s in results["runs"].items():
        last = s["evals"][-1] if s["evals"] else {}
        losses = " ".join(f"{k}={s[f'{k}_last200']:.3f}" for k in CURVES)
        print(f"{name:18} {losses}  presence_acc={last.get('presence_acc')} gap={last.get('gap')}")
    return results


if __name__ == "__main__":
    main()
