"""Give a training state a deeper vision backbone that starts out computing exactly what it did.

    python -m training.deepen runs/shapes512/checkpoint runs/deep/checkpoint --layers 8

The ShapesWorld model's errors are mostly shape kinds it cannot tell apart, and its F1 flattened over the last
stretches: more backbone layers are the cheap capacity (4 -> 8 layers made steps ~15% slower). New layers are
copies of the trained ones (progressive stacking) whose attention output and MLP output projections are
zeroed: each starts as the identity on the residual stream, so the model is unchanged until training moves
those projections. Global-attention layers stay every fourth counting from the last
(`training.configs.global_layers`); the old layers keep their order and their kind of attention, the new ones
fill the free positions. Adam moments follow their parameters by name; new parameters start without moments.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file
from transformers import Sam3Model, Sam3Processor

from training.build import save_checkpoint
from training.configs import global_layers
from training.kind_head import KindHead
from training.loop import _param_groups, train_config_from_state

LAYERS = "vision_encoder.backbone.layers"
ZEROED = ("attention.o_proj", "mlp.fc2")  # the two writes into the residual stream


def layer_plan(old: int, new: int) -> list[tuple[int, bool]]:
    """For each new layer: (the old layer it copies, whether it is that layer itself). Old global layers
    take the last global positions, old windowed ones the first windowed positions; a new layer copies
    the old layer kept just before it."""
    if new <= old:
        raise ValueError(f"a deeper backbone needs more than {old} layers, got {new}")
    old_global, new_global = global_layers(old), global_layers(new)
    kept: dict[int, int] = {}
    for is_global in (True, False):
        olds = [i for i in range(old) if (i in old_global) == is_global]
        news = [j for j in range(new) if (j in new_global) == is_global]
        if len(news) < len(olds):
            raise ValueError(f"{new} layers have fewer {'global' if is_global else 'windowed'} positions than {old}")
        kept.update(zip(news[len(news) - len(olds) :] if is_global else news, olds))
    order = [kept[j] for j in sorted(kept)]
    if order != sorted(order):
        raise ValueError(f"{old} -> {new} layers would reorder the old layers")
    plan = []
    for j in range(new):
        before = [kept[k] for k in sorted(kept) if k < j]
        plan.append((kept[j], True) if j in kept else ((before[-1] if before else 0), False))
    return plan


def deepen(src: str | Path, dst: str | Path, layers: int) -> Path:
    """Writes the deepened copy of checkpoint `src` to `dst` (weights, processor, and when `src` is a
    training state, its optimizer moments, kind head and trainer state)."""
    src, dst = Path(src), Path(dst)
    if dst.exists():
        raise FileExistsError(f"{dst} exists")
    model = Sam3Model.from_pretrained(src)
    processor = Sam3Processor.from_pretrained(src)
    backbone = model.config.vision_config.backbone_config
    if list(backbone.global_attn_indexes) != global_layers(backbone.num_hidden_layers):
        raise ValueError(
            f"{src} has global attention at {backbone.global_attn_indexes}, not every fourth layer from the last"
        )
    plan = layer_plan(backbone.num_hidden_layers, layers)
    config = model.config
    config.vision_config.backbone_config.num_hidden_layers = layers
    config.vision_config.backbone_config.global_attn_indexes = global_layers(layers)
    state = model.state_dict()
    new_state = {k: v for k, v in state.items() if not k.startswith(LAYERS + ".")}
    for j, (i, kept) in enumerate(plan):
        for key, value in state.items():
            if key.startswith(f"{LAYERS}.{i}."):
                name = key[len(f"{LAYERS}.{i}.") :]
                value = value.clone()
                if not kept and name.startswith(ZEROED):
                    value.zero_()
                new_state[f"{LAYERS}.{j}.{name}"] = value
    deeper = Sam3Model(config)
    missing, unexpected = deeper.load_state_dict(new_state, strict=False)
    if unexpected or any(not k.endswith("position_ids") for k in missing):
        raise RuntimeError(f"layer copy mismatch: missing {missing}, unexpected {unexpected}")
    save_checkpoint(deeper.eval(), processor, dst)

    if (src / "kind_head.safetensors").is_file():
        shutil.copy2(src / "kind_head.safetensors", dst / "kind_head.safetensors")
    trainer_state = src / "trainer_state.json"
    if trainer_state.is_file():
        meta = json.loads(trainer_state.read_text())
        renames = {f"{LAYERS}.{i}.": f"{LAYERS}.{j}." for j, (i, kept) in enumerate(plan) if kept}
        _move_moments(model, deeper, renames, meta, src, dst)
        meta["config"]["size"]["vit_layers"] = layers
        (dst / "trainer_state.json").write_text(json.dumps(meta, indent=1))
    return dst


def _optimizer_order(model: Sam3Model, meta: dict) -> list[str]:
    """Parameter names in the optimizer's index order: the model's groups, then the kind head's."""
    cfg = train_config_from_state(meta)
    ids = {id(p): n for n, p in model.named_parameters()}
    names = [ids[id(p)] for group in _param_groups(model, cfg) for p in group["params"]]
    head = KindHead(model.config.vision_config.fpn_hidden_size)
    return names + [f"kind_head.{n}" for n, _ in head.named_parameters()]


def _move_moments(old: Sam3Model, new: Sam3Model, renames: dict[str, str], meta: dict, src: Path, dst: Path) -> None:
    def renamed(name: str) -> str:
        for a, b in renames.items():
            if name.startswith(a):
                return b + name[len(a) :]
        return name

    old_order = _optimizer_order(old, meta)
    new_index = {name: k for k, name in enumerate(_optimizer_order(new, meta))}
    tensors = load_file(str(src / "optimizer.safetensors"))
    moved, steps = {}, {}
    for pid, step in meta["optimizer"]["steps"].items():
        k = new_index[renamed(old_order[int(pid)])]
        steps[str(k)] = step
        for moment in ("exp_avg", "exp_avg_sq"):
            moved[f"{k}.{moment}"] = tensors[f"{pid}.{moment}"]
    meta["optimizer"]["steps"] = steps
    save_file(moved, str(dst / "optimizer.safetensors"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", help="checkpoint or training-state directory")
    ap.add_argument("dst", help="new directory to write")
    ap.add_argument("--layers", type=int, required=True, help="backbone layers in the deeper model")
    args = ap.parse_args(argv)
    print(f"wrote {deepen(args.src, args.dst, args.layers)}")


if __name__ == "__main__":
    main()
