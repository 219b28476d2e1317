"""Give a training state a k-times larger input with k-times larger patches: more pixels, same cost.

    python -m sam3.train.enlarge_input runs/shapes/checkpoint runs/shapes256/checkpoint --factor 2

The token grid, and so every layer after the patch embedding, stays as it was; only the patch
kernel grows, each weight spread over a k x k block at 1/k^2. The enlarged model on an image then
computes what the old one computed on that image box-downsampled by k: it starts where it was, and
training can go on to use the detail inside each patch. (Each spread weight's gradient is its
parent's on smooth images, so its Adam moments are copied as they are; the patch embedding's
effective step in the old kernel's directions is then k^2 times larger: resumed late in a schedule,
at a fifth of the peak rate, that is still below the rate the old kernel trained at.)
For the ShapesWorld model (128 px, patch 8) this is how shapes a few pixels across became visible
without a GPU: the detector's 16x16 grid, its speed and its memory do not change.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import fields
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import Sam3Model, Sam3Processor

from sam3.build import save_checkpoint
from sam3.train.loop import TrainConfig, _param_groups

PATCH_WEIGHT = "vision_encoder.backbone.embeddings.patch_embeddings.projection.weight"


def _spread(t: torch.Tensor, factor: int, scale: float) -> torch.Tensor:
    return (t.repeat_interleave(factor, 2).repeat_interleave(factor, 3) * scale).contiguous()


def enlarge_input(src: str | Path, dst: str | Path, factor: int) -> Path:
    """Writes the enlarged copy of checkpoint `src` to `dst` (weights, processor, and when `src` is a
    training state, its optimizer moments, kind head and trainer state)."""
    src, dst = Path(src), Path(dst)
    if factor < 2:
        raise ValueError(f"factor must be at least 2, got {factor}")
    if dst.exists():
        raise FileExistsError(f"{dst} exists")
    model = Sam3Model.from_pretrained(src)
    processor = Sam3Processor.from_pretrained(src)
    backbone = model.config.vision_config.backbone_config  # edited in place: the enlarged model's config
    side, patch = backbone.image_size * factor, backbone.patch_size * factor
    backbone.image_size, backbone.patch_size = side, patch
    backbone.pretrain_image_size *= factor
    state = model.state_dict()
    state[PATCH_WEIGHT] = _spread(state[PATCH_WEIGHT], factor, 1 / factor**2)
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
        _enlarge_moments(model, meta, src, dst, factor)
        size = meta["config"]["size"]
        size["image_size"], size["patch_size"] = side, patch
        (dst / "trainer_state.json").write_text(json.dumps(meta, indent=1))
    return dst


def _enlarge_moments(model: Sam3Model, meta: dict, src: Path, dst: Path, factor: int) -> None:
    """Each spread weight inherits its parent's Adam moments (the optimizer keys them by parameter index)."""
    known = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in meta["config"].items() if k in known and k not in ("size", "loss")})
    params = [p for group in _param_groups(model, cfg) for p in group["params"]]
    pid = next(i for i, p in enumerate(params) if p is model.get_parameter(PATCH_WEIGHT))
    tensors = load_file(str(src / "optimizer.safetensors"))
    for moment in ("exp_avg", "exp_avg_sq"):
        tensors[f"{pid}.{moment}"] = _spread(tensors[f"{pid}.{moment}"], factor, 1.0)
    save_file(tensors, str(dst / "optimizer.safetensors"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="checkpoint or training-state directory")
    ap.add_argument("dst", help="new directory to write")
    ap.add_argument("--factor", type=int, default=2)
    args = ap.parse_args(argv)
    out = enlarge_input(args.src, args.dst, args.factor)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
