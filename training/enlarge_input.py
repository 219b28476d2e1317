"""Give a training state a k-times larger input with k-times larger patches: more pixels, same cost.

    python -m training.enlarge_input runs/shapes/checkpoint runs/shapes256/checkpoint --factor 2

The token grid, and so every layer after the patch embedding, stays as it was; only the patch
kernel grows: the new kernel is the old one composed with area downsampling by k (for whole k,
each weight spread over a k x k block at 1/k^2; k may be any ratio that keeps the sides whole, such
as 1.5 for 256 -> 384 px). The enlarged model on an image then computes what the old one computed
on that image area-downsampled by k: it starts where it was, and training can go on to use the
detail inside each patch. (Each spread weight's gradient is about its parents' on smooth images,
so its Adam moments are interpolated, not scaled; the patch embedding's effective step in the old
kernel's directions is then about k^2 times larger: resumed late in a schedule, at a fifth of the
peak rate, that is still below the rate the old kernel trained at.)
For the ShapesWorld model (128 px, patch 8) this is how shapes a few pixels across became visible
without a GPU: the detector's 16x16 grid, its speed and its memory do not change.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import Sam3Model, Sam3Processor

from training.build import save_checkpoint
from training.loop import _param_groups, train_config_from_state

PATCH_WEIGHT = "vision_encoder.backbone.embeddings.patch_embeddings.projection.weight"


def area_matrix(old: int, new: int) -> torch.Tensor:
    """(old, new): row i averages the new pixels that old pixel i covers (area downsampling)."""
    k = new / old
    a = torch.zeros(old, new, dtype=torch.float64)
    for i in range(old):
        lo, hi = i * k, (i + 1) * k
        for j in range(int(lo), min(new, math.ceil(hi))):
            a[i, j] = (min(hi, j + 1) - max(lo, j)) / k
    return a


def _spread(t: torch.Tensor, new: int, moments: bool = False) -> torch.Tensor:
    """A (out, in, p, p) kernel on p x p patches as one on new x new patches."""
    a = area_matrix(t.shape[-1], new)
    if moments:  # each new weight takes the overlap-weighted mean of its parents' moments
        a = a / a.sum(0, keepdim=True)
    out = torch.einsum("ip,ocij,jq->ocpq", a, t.double(), a)
    return out.to(t.dtype).contiguous()


def _scaled(value: int, factor: float, name: str) -> int:
    out = value * factor
    if abs(out - round(out)) > 1e-9:
        raise ValueError(f"factor {factor:g} turns the {name} {value} into {out:g}, not a whole number")
    return round(out)


def enlarge_input(src: str | Path, dst: str | Path, factor: float) -> Path:
    """Writes the enlarged copy of checkpoint `src` to `dst` (weights, processor, and when `src` is a
    training state, its optimizer moments, kind head and trainer state)."""
    src, dst = Path(src), Path(dst)
    if not factor > 1:
        raise ValueError(f"factor must be more than 1, got {factor}")
    if dst.exists():
        raise FileExistsError(f"{dst} exists")
    model = Sam3Model.from_pretrained(src)
    processor = Sam3Processor.from_pretrained(src)
    backbone = model.config.vision_config.backbone_config  # edited in place: the enlarged model's config
    side = _scaled(backbone.image_size, factor, "input side")
    patch = _scaled(backbone.patch_size, factor, "patch size")
    backbone.image_size, backbone.patch_size = side, patch
    backbone.pretrain_image_size = _scaled(backbone.pretrain_image_size, factor, "pretraining side")
    state = model.state_dict()
    state[PATCH_WEIGHT] = _spread(state[PATCH_WEIGHT], patch)
    enlarged = Sam3Model(model.config)
    enlarged.load_state_dict(state)
    processor.image_processor.size = {"height": side, "width": side}
    processor.target_size = side
    save_checkpoint(enlarged.eval(), processor, dst)

    if (src / "kind_head.safetensors").is_file():  # reads the FPN, whose grid is unchanged
        shutil.copy2(src / "kind_head.safetensors", dst / "kind_head.safetensors")
    trainer_state = src / "trainer_state.json"
    if trainer_state.is_file():
        meta = json.loads(trainer_state.read_text())
        _enlarge_moments(model, meta, src, dst, patch)
        size = meta["config"]["size"]
        size["image_size"], size["patch_size"] = side, patch
        (dst / "trainer_state.json").write_text(json.dumps(meta, indent=1))
    return dst


def _enlarge_moments(model: Sam3Model, meta: dict, src: Path, dst: Path, patch: int) -> None:
    """Each spread weight inherits its parent's Adam moments (the optimizer keys them by parameter index)."""
    cfg = train_config_from_state(meta)
    params = [p for group in _param_groups(model, cfg) for p in group["params"]]
    pid = next(i for i, p in enumerate(params) if p is model.get_parameter(PATCH_WEIGHT))
    tensors = load_file(str(src / "optimizer.safetensors"))
    for moment in ("exp_avg", "exp_avg_sq"):
        tensors[f"{pid}.{moment}"] = _spread(tensors[f"{pid}.{moment}"], patch, moments=True)
    save_file(tensors, str(dst / "optimizer.safetensors"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="checkpoint or training-state directory")
    ap.add_argument("dst", help="new directory to write")
    ap.add_argument("--factor", type=float, default=2.0, help="any ratio keeping the sides whole, e.g. 1.5")
    args = ap.parse_args(argv)
    out = enlarge_input(args.src, args.dst, args.factor)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
