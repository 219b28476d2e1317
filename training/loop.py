"""The training loop: `train(cfg)` runs, logs, evaluates and saves resumable checkpoints.

A checkpoint directory is a loadable model (`from_pretrained` layout) plus
`optimizer.safetensors` and `trainer_state.json`, so resuming needs no pickle. Batches are
a pure function of (seed, step), so a resumed run sees the data it would have seen.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm
from transformers import Sam3Model, Sam3Processor

from sam3.features import select_vision
from sam3.loading import default_device
from shapesworld.phrases import phrase_kind, vocabulary
from training.build import new_model, save_checkpoint
from training.configs import SHAPES, Sam3Size
from training.data import Batch, StepBatches, as_is, make_batch
from training.kind_head import KindHead
from training.losses import LossWeights, Sam3Criterion
from training.outputs import forward_all_layers

EVAL_SEED = 1_000_003  # held out: training seeds are (cfg.seed, step) pairs
# Scores track box IoU (IoU-aware targets), so a young model's detections sit well below 0.5: the
# indicator is the best box F1 over these thresholds, and the threshold that gave it.
EVAL_THRESHOLDS = (0.1, 0.15, 0.2, 0.3, 0.4, 0.5)


@dataclass
class TrainConfig:
    out_dir: str = "runs/shapes"
    steps: int = 20_000
    images_per_batch: int = 8
    phrases_per_image: int = 4
    lr: float = 5e-4
    text_lr_mult: float = 1.0  # for the text encoder when it trains, and SAM 3's text projection
    # A trained text encoder this small collapsed (every word gave the same features by step ~750): keep
    # it at its initialisation, with word embeddings large enough to dominate its residual stream.
    freeze_text_encoder: bool = True
    word_embedding_std: float = 1.0
    dropout: float = 0.0  # ShapesWorld never repeats a batch: dropout would only add noise
    # Weight of the auxiliary per-pixel shape-kind head (training/kind_head.py; 0: none). At 5 its gradient
    # on the backbone was too small to move it: the kind loss sat flat for 1,700 steps.
    kind_loss: float = 30.0
    weight_decay: float = 0.05
    warmup: int = 300
    grad_clip: float = 0.5
    seed: int = 0
    side_range: tuple[int, int] = (128, 1024)  # the benchmark's sides, rendered at most max_side
    max_side: int = 384  # raised to the model's input side when that is larger
    # Share of one-colour scenes: where colour explains most of the loss, a model can answer "red square"
    # with the red circle and never learn shapes. One colour leaves only shape.
    monochrome: float = 0.3
    eval_every: int = 500
    save_every: int = 250
    # Weights-only copies in <out_dir>/snapshots/step-NNNNNN (0: none), for `training.average`: late in a
    # run successive checkpoints differ more than they improve, and their average beats each of them.
    snapshot_every: int = 1000
    eval_images: int = 48
    stop_at: int | None = None  # stop early without changing the schedule (ablations)
    time_limit_min: float | None = None  # save and stop after this many minutes (a lent GPU's budget)
    threads: int = 2
    device: str = "auto"  # "auto": CUDA when there is one
    workers: int = 0  # processes drawing batches ahead of the model (0: in the training process)
    size: Sam3Size = field(default_factory=lambda: SHAPES)
    loss: LossWeights = field(default_factory=LossWeights)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay to 5% of the peak."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def spread_word_embeddings(model: Sam3Model, std: float, seed: int) -> None:
    """Re-draws the token embeddings at `std`: at the default 0.02 a word is ~5% of what the text encoder
    outputs, so different phrases start out with near-identical features."""
    weight = model.text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        weight.copy_(torch.randn(weight.shape, generator=torch.Generator().manual_seed(seed)) * std)


def set_dropout(model: Sam3Model, p: float) -> None:
    """Every dropout layer, and the config it is saved with."""
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = p
    for sub in ("detr_encoder_config", "detr_decoder_config", "geometry_encoder_config"):
        getattr(model.config, sub).dropout = p


def _mask_size(model: Sam3Model) -> int:
    """Mask targets at the model's 4x FPN level: four cells per patch of the (resumed) model's grid."""
    backbone = model.config.vision_config.backbone_config
    return 4 * backbone.image_size // backbone.patch_size


def _param_groups(model: Sam3Model, cfg: TrainConfig) -> list[dict]:
    for p in model.text_encoder.parameters():
        p.requires_grad_(not cfg.freeze_text_encoder)
    text = [
        p
        for n, p in model.named_parameters()
        if n.startswith(("text_encoder.", "text_projection.")) and p.requires_grad
    ]
    ids = {id(p) for p in text}
    rest = [p for n, p in model.named_parameters() if id(p) not in ids and not n.startswith("text_encoder.")]
    return [{"params": rest, "mult": 1.0}, {"params": text, "mult": cfg.text_lr_mult}]


def train_config_from_state(meta: dict) -> TrainConfig:
    """The run settings a saved trainer state records (its size and loss weights left at their defaults):
    enough to rebuild the optimizer's parameter order."""
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in meta["config"].items() if k in known and k not in ("size", "loss")})


def batch_loss(
    model: Sam3Model,
    batch: Batch,
    criterion: Sam3Criterion,
    kind_head: KindHead | None = None,
    kind_weight: float = 0.0,
):
    vision = model.get_vision_features(pixel_values=batch.pixel_values)
    out = forward_all_layers(
        model,
        vision_embeds=select_vision(vision, batch.row_image),
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
    )
    loss, parts = criterion(out, batch.targets)
    if kind_head is not None:
        kind, accuracy = kind_head(vision.fpn_hidden_states, batch.kind_maps)
        parts["kind"] = float(kind.detach())
        if accuracy is not None:
            parts["kind_acc"] = accuracy
        loss = loss + kind_weight * kind
    return (loss, parts), out


def _save(model, processor, optimizer, cfg: TrainConfig, step: int, directory: Path, kind_head=None) -> None:
    tmp = directory.with_name(directory.name + ".tmp")
    save_checkpoint(model, processor, tmp)
    if kind_head is not None:
        kind_head.save(tmp)
    meta = save_optimizer(optimizer, tmp)
    config = asdict(cfg)
    (tmp / "trainer_state.json").write_text(json.dumps({"step": step, "config": config, "optimizer": meta}, indent=1))
    if directory.exists():
        old = directory.with_name(directory.name + ".old")
        directory.rename(old)
        tmp.rename(directory)
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    else:
        tmp.rename(directory)


def _snapshot(checkpoint: Path, directory: Path) -> None:
    """The checkpoint without its optimizer state (two thirds of its size): weights to average, not to resume."""
    shutil.rmtree(directory, ignore_errors=True)
    shutil.copytree(checkpoint, directory, ignore=shutil.ignore_patterns("optimizer.safetensors"))
    state = json.loads((directory / "trainer_state.json").read_text())
    state.pop("optimizer")
    (directory / "trainer_state.json").write_text(json.dumps(state, indent=1))


def save_optimizer(optimizer: torch.optim.Optimizer, directory: Path) -> dict:
    """AdamW's moments to `directory`/optimizer.safetensors; returns the step counts to keep beside them."""
    tensors, meta = {}, {"steps": {}}
    for pid, state in optimizer.state_dict()["state"].items():
        meta["steps"][str(pid)] = float(state["step"])
        tensors[f"{pid}.exp_avg"] = state["exp_avg"].contiguous().cpu()
        tensors[f"{pid}.exp_avg_sq"] = state["exp_avg_sq"].contiguous().cpu()
    save_file(tensors, str(directory / "optimizer.safetensors"))
    return meta


def load_optimizer(optimizer: torch.optim.Optimizer, directory: Path, meta: dict) -> None:
    tensors = load_file(str(directory / "optimizer.safetensors"))
    state = optimizer.state_dict()
    for pid_str, step in meta["steps"].items():
        pid = int(pid_str)
        state["state"][pid] = {
            "step": torch.tensor(step),
            "exp_avg": tensors[f"{pid}.exp_avg"],
            "exp_avg_sq": tensors[f"{pid}.exp_avg_sq"],
        }
    optimizer.load_state_dict(state)


@torch.no_grad()
def evaluate(
    model: Sam3Model, processor: Sam3Processor, cfg: TrainConfig, kind_head: KindHead | None = None
) -> dict[str, float]:
    """Leading indicators on held-out scenes: presence accuracy, score gap, box F1 at IoU 0.5 (also on
    bare "<shape>" phrases alone, the form the model finds hardest), and the kind head's pixel accuracy."""
    model.eval()
    rng = np.random.default_rng(EVAL_SEED)
    mask_size = _mask_size(model)
    pres_ok, pos_top, neg_top = 0, [], []
    counts = np.zeros((len(EVAL_THRESHOLDS), 3))  # tp, fp, fn per threshold
    kind_counts = np.zeros_like(counts)  # the same on bare "<shape>" phrases
    n_rows = 0
    kind_accuracies = []
    for _ in range(max(1, cfg.eval_images // 8)):
        batch = make_batch(rng, processor, **{**_batch_args(cfg, 8, mask_size), "monochrome": 0.0})  # as benchmarked
        batch = batch.to(_device_of(model))
        vision = model.get_vision_features(pixel_values=batch.pixel_values)
        if kind_head is not None:
            kind_accuracies.append(kind_head(vision.fpn_hidden_states, batch.kind_maps)[1])
        out = model(
            vision_embeds=select_vision(vision, batch.row_image),
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
        )
        scores = out.pred_logits.sigmoid() * out.presence_logits.sigmoid()
        for r, target in enumerate(batch.targets):
            n_rows += 1
            present = len(target.boxes) > 0
            pres_ok += int(bool(out.presence_logits[r, 0] > 0) == present)
            (pos_top if present else neg_top).append(float(scores[r].max()))
            for k, threshold in enumerate(EVAL_THRESHOLDS):
                pred = out.pred_boxes[r][scores[r] > threshold]
                matched = _greedy_matches(pred.cpu(), target.boxes.cpu())
                counts[k] += (matched, len(pred) - matched, len(target.boxes) - matched)
                if phrase_kind(batch.phrases[r]) == "kind":
                    kind_counts[k] += (matched, len(pred) - matched, len(target.boxes) - matched)
    model.train()
    kind = [a for a in kind_accuracies if a is not None]
    f1, f1_kind = (2 * c[:, 0] / np.maximum(1, 2 * c[:, 0] + c[:, 1] + c[:, 2]) for c in (counts, kind_counts))
    best = int(np.argmax(f1))
    return {
        "presence_acc": pres_ok / max(1, n_rows),
        "top_score_pos": float(np.mean(pos_top)) if pos_top else 0.0,
        "top_score_neg": float(np.mean(neg_top)) if neg_top else 0.0,
        "f1@0.5": float(f1[best]),
        "f1_threshold": EVAL_THRESHOLDS[best],
        "f1_kind@0.5": float(f1_kind[best]),
        **({"kind_acc_heldout": float(np.mean(kind))} if kind else {}),
    }


def _greedy_matches(pred: torch.Tensor, gt: torch.Tensor, thr: float = 0.5) -> int:
    from torchvision.ops import box_iou

    if len(pred) == 0 or len(gt) == 0:
        return 0
    iou = box_iou(pred, gt)
    n = 0
    while True:
        v, flat = iou.flatten().max(0)
        if v < thr:
            return n
        i, j = divmod(int(flat), iou.shape[1])
        iou[i, :] = -1
        iou[:, j] = -1
        n += 1


class StopFlag:
    """SIGTERM/SIGINT finish the current step, save, and stop: a stopped run resumes where it was."""

    def __init__(self):
        self.requested = False
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, *_):
        self.requested = True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _batch_args(cfg: TrainConfig, n_images: int, mask_size: int) -> dict:
    return dict(
        n_images=n_images,
        phrases_per_image=cfg.phrases_per_image,
        mask_size=mask_size,
        side_range=cfg.side_range,
        max_side=cfg.max_side,
        monochrome=cfg.monochrome,
    )


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def train(cfg: TrainConfig) -> Path:
    """Trains (or resumes) into `cfg.out_dir`; returns the checkpoint directory."""
    torch.set_num_threads(cfg.threads)
    device = default_device() if cfg.device == "auto" else torch.device(cfg.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = Path(cfg.out_dir)
    ckpt = out / "checkpoint"
    out.mkdir(parents=True, exist_ok=True)
    start = 0
    if (ckpt / "trainer_state.json").exists():
        state = json.loads((ckpt / "trainer_state.json").read_text())
        if "optimizer" not in state:
            raise ValueError(f"{ckpt} holds weights without optimizer state (a snapshot or an averaged model): "
                             "resume from a run's checkpoint")
        start = int(state["step"])
        cfg = replace(cfg, size=Sam3Size(**state["config"]["size"]))  # the checkpoint's (enlarge_input changes it)
        model = Sam3Model.from_pretrained(ckpt)
        processor = Sam3Processor.from_pretrained(ckpt)
    else:
        model, processor = new_model(cfg.size, vocabulary(), seed=cfg.seed)
        if cfg.word_embedding_std:
            spread_word_embeddings(model, cfg.word_embedding_std, cfg.seed)
        state = None
    # renders are never smaller than the model's input: an enlarged model would otherwise see upsampled pixels
    cfg = replace(cfg, max_side=max(cfg.max_side, cfg.size.image_size))
    set_dropout(model, cfg.dropout)
    model.to(device)
    model.train()
    groups = _param_groups(model, cfg)
    kind_head = None
    if cfg.kind_loss:
        kind_head = KindHead(model.config.vision_config.fpn_hidden_size)
        if state is not None and not kind_head.load_if_saved(ckpt):
            print("the auxiliary kind head starts fresh on a checkpoint trained without it")
        kind_head.to(device).train()
        groups.append({"params": list(kind_head.parameters()), "mult": 1.0})  # after the model's: saved ids stay
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if state is not None:
        load_optimizer(optimizer, ckpt, state["optimizer"])
    criterion = Sam3Criterion(cfg.loss)
    mask_size = _mask_size(model)
    log_path = out / "log.jsonl"
    if log_path.exists():  # drop records past the checkpoint: they are about to be redone
        kept = [line for line in log_path.read_text().splitlines() if json.loads(line)["step"] <= start]
        log_path.write_text("".join(line + "\n" for line in kept))
    log = log_path.open("a")
    stop = StopFlag()
    end = min(cfg.steps, cfg.stop_at or cfg.steps)
    batches = torch.utils.data.DataLoader(
        StepBatches(processor, cfg.seed, end, **_batch_args(cfg, cfg.images_per_batch, mask_size)),
        batch_size=None,
        sampler=range(start, end),
        num_workers=cfg.workers,
        collate_fn=as_is,
        prefetch_factor=4 if cfg.workers else None,
    )
    bar = tqdm(zip(range(start, end), batches), initial=start, total=end, desc="train", mininterval=10)
    t0 = time.time()
    for step, batch in bar:
        batch = batch.to(device)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg) * group["mult"]
        (loss, parts), _ = batch_loss(model, batch, criterion, kind_head, cfg.kind_loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(
            [p for group in optimizer.param_groups for p in group["params"]], cfg.grad_clip
        )
        optimizer.step()
        done = step + 1
        loss = float(loss.detach())
        record = {"step": done, "loss": loss, "grad_norm": float(grad_norm), **parts}
        if done % cfg.eval_every == 0 or done == end:
            record.update(evaluate(model, processor, cfg, kind_head))
            bar.write(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}))
        record["elapsed_s"] = round(time.time() - t0, 1)
        log.write(json.dumps(record) + "\n")
        log.flush()
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        out_of_time = cfg.time_limit_min is not None and time.time() - t0 > 60 * cfg.time_limit_min
        snapshot = cfg.snapshot_every and done % cfg.snapshot_every == 0
        if done % cfg.save_every == 0 or done == end or stop.requested or out_of_time or snapshot:
            _save(model, processor, optimizer, cfg, done, ckpt, kind_head)
        if snapshot:
            _snapshot(ckpt, out / "snapshots" / f"step-{done:06d}")
        if stop.requested or out_of_time:
            bar.write(f"stopped by {'signal' if stop.requested else 'the time limit'} at step {done}; checkpoint saved")
            break
    stop.restore()
    log.close()
    return ckpt


def config_with(cfg: TrainConfig, **overrides) -> TrainConfig:
    return replace(cfg, **overrides)
