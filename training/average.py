"""`python -m training.average OUT CHECKPOINT [CHECKPOINT ...]`: one model from the end of a run.

Late in a run with a small learning rate, successive checkpoints of this small model trade finding
shapes against rejecting absent phrases more than they improve. The uniform average of the weights of
four such checkpoints, 1,000 steps apart, is better than each on both counts (the measurements:
docs/training.md). Checkpoints of one run average well because they lie in one basin; models of different
runs do not, and different architectures cannot: those are refused. The training loop keeps the copies to
average (`--snapshot-every`, in OUT/snapshots).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from training.export import MODEL_FILES

AVERAGED = ("model.safetensors", "kind_head.safetensors")


def average_checkpoints(checkpoints: list[str | Path], out_dir: str | Path) -> Path:
    """Writes the mean of the checkpoints' weights to `out_dir`, with the last one's config and processor."""
    paths = [Path(c) for c in checkpoints]
    if len(paths) < 2:
        raise ValueError("give at least two checkpoints to average")
    for p in paths:
        missing = [f for f in (*MODEL_FILES, "trainer_state.json") if not (p / f).is_file()]
        if missing:
            raise ValueError(f"{p} is not a complete checkpoint: missing {', '.join(missing)}")
    states = [json.loads((p / "trainer_state.json").read_text()) for p in paths]
    if any(s["config"]["size"] != states[-1]["config"]["size"] for s in states):
        raise ValueError("the checkpoints have different sizes: only checkpoints of one run can be averaged")
    out = Path(out_dir)
    if out.resolve() in {p.resolve() for p in paths}:
        raise ValueError(f"{out} is one of the checkpoints: write the average elsewhere")
    out.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        if name != "model.safetensors":
            shutil.copy2(paths[-1] / name, out / name)
    for name in AVERAGED:
        if all((p / name).is_file() for p in paths):
            save_file(_mean([load_file(p / name) for p in paths], paths), out / name, metadata={"format": "pt"})
    state = {k: v for k, v in states[-1].items() if k != "optimizer"}  # weights to ship, not to resume
    state["averaged_steps"] = [int(s["step"]) for s in states]
    (out / "trainer_state.json").write_text(json.dumps(state, indent=1))
    return out


def _mean(tensors: list[dict[str, torch.Tensor]], paths: list[Path]) -> dict[str, torch.Tensor]:
    names = tensors[-1].keys()
    for t, p in zip(tensors, paths):
        if t.keys() != names or any(t[k].shape != tensors[-1][k].shape for k in names):
            raise ValueError(f"{p} does not have the same tensors as {paths[-1]}")
    out = {}
    for k, last in tensors[-1].items():
        if last.is_floating_point():
            out[k] = (sum(t[k].double() for t in tensors) / len(tensors)).to(last.dtype).contiguous()
        else:  # integer buffers (position ids) are equal in every checkpoint of a run
            out[k] = last
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m training.average", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("checkpoints", nargs="+", help="checkpoint directories of one run, e.g. runs/x/snapshots/step-*")
    a = ap.parse_args(argv)
    try:
        print(average_checkpoints(a.checkpoints, a.out_dir))
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    main()
