"""`python -m training --out runs/shapes`: train (or resume) the ShapesWorld SAM 3."""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path

from training.loop import TrainConfig, train
from training.losses import LossWeights


def main(argv: list[str] | None = None) -> None:
    d = TrainConfig()
    ap = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    ap.add_argument("--out", default=d.out_dir, help="run directory; resumes from its checkpoint")
    ap.add_argument("--steps", type=int, default=d.steps, help="total optimiser steps (sets the LR schedule)")
    ap.add_argument("--stop-at", type=int, help="stop after this step, schedule unchanged (short ablations)")
    ap.add_argument("--images", type=int, default=d.images_per_batch, help="images per batch")
    ap.add_argument("--phrases", type=int, default=d.phrases_per_image, help="phrases asked per image")
    ap.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--eval-every", type=int, default=d.eval_every)
    ap.add_argument("--save-every", type=int, default=d.save_every)
    ap.add_argument("--snapshot-every", type=int, default=d.snapshot_every,
                    help="keep weights-only copies in OUT/snapshots every this many steps, to average (0: none)")
    ap.add_argument("--threads", type=int, default=d.threads)
    ap.add_argument("--device", default=d.device, help="auto (CUDA when there is one), cpu, cuda, cuda:1...")
    ap.add_argument("--workers", type=int, default=d.workers,
                    help="processes drawing batches ahead (use most cores when the model runs on a GPU)")
    ap.add_argument("--time-limit", type=float, metavar="MINUTES", help="save and stop after this long")
    ap.add_argument("--resume-from", help="a saved training state (checkpoint with optimizer) to continue from "
                    "when --out has none yet (docs/training.md: the last one is kept in git history)")
    ap.add_argument("--no-one-to-many", action="store_true", help="ablation: drop the one-to-many branch")
    ap.add_argument("--kind-loss", type=float, default=d.kind_loss,
                    help="weight of the auxiliary per-pixel shape-kind head (0: none)")
    ap.add_argument("--monochrome", type=float, default=d.monochrome,
                    help="share of one-colour scenes, where only shape can answer a phrase")
    ap.add_argument("--no-presence", action="store_true", help="ablation: drop the presence loss")
    a = ap.parse_args(argv)
    loss = replace(LossWeights(), use_one_to_many=not a.no_one_to_many, use_presence=not a.no_presence)
    cfg = replace(
        d,
        out_dir=a.out,
        steps=a.steps,
        stop_at=a.stop_at,
        images_per_batch=a.images,
        phrases_per_image=a.phrases,
        lr=a.lr,
        seed=a.seed,
        eval_every=a.eval_every,
        save_every=a.save_every,
        snapshot_every=a.snapshot_every,
        threads=a.threads,
        device=a.device,
        workers=a.workers,
        time_limit_min=a.time_limit,
        loss=loss,
        kind_loss=a.kind_loss,
        monochrome=a.monochrome,
    )
    ckpt = Path(cfg.out_dir) / "checkpoint"
    if a.resume_from and not (ckpt / "trainer_state.json").exists():
        shutil.copytree(a.resume_from, ckpt)
        print(f"resuming from {a.resume_from}")
    print(f"checkpoint: {train(cfg)}")


if __name__ == "__main__":
    main()
