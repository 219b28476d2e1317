"""Training SAM 3's point-and-box decoder (`Sam3TrackerModel`) on a trained detector's frozen features.

    python -m training.clicks --detector assets/models/sam3-shapes --out runs/clicks
    python -m training.clicks --detector assets/models/sam3-shapes --out runs/clicks --export DIR

A detector-only checkpoint has no tracker, so `sam3.refine` would answer clicks with an untrained decoder.
Here the tracker's vision encoder is the detector's (backbone and FPN neck, frozen, so `Refiner` keeps
sharing the cached encoding) and only the prompt encoder and mask decoder learn, as in SAM: a step asks
every image about a few of its shapes with one kind of prompt, drawn per step: one positive click (three
masks, only the best one trained, since one click is ambiguous), several positive and negative clicks, a
click then a correction (SAM's interactive training: a second click drawn from the larger error of the
decoder's own first mask, positive on what it missed, negative on what it spilled), or a jittered box.
Losses: focal x20 + dice on the low-resolution masks against area-resized ShapesWorld masks, the IoU head
regressed on each mask's real IoU, and the object-score head told an object is there.
Batches are a pure function of (seed, step); the run saves (safetensors) and resumes like `training`.
`--export DIR` writes the tracker in the `save_pretrained` layout; `sam3.refine` loads it from a
detector's `tracker/` folder.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from tqdm import tqdm
from transformers import Sam3Model, Sam3TrackerModel, Sam3TrackerProcessor

from sam3.refine import TRACKER_FOLDER, tracker_for
from shapesworld import render, sample_scene
from training.data import resize_masks
from training.export import write_card
from training.loop import StopFlag, load_optimizer, save_optimizer
from training.losses import dice, sigmoid_focal

MODES = ("click", "clicks", "correct", "box")
TRAINED = ("prompt_encoder.", "mask_decoder.", "shared_image_embedding.")
FOCAL_WEIGHT = 20.0
MIN_AREA = 16  # px: shapes mostly outside the frame are not prompted
EVAL_SEED = 7_000_003


@dataclass(frozen=True)
class ClickConfig:
    detector: str
    out_dir: str
    steps: int = 7000
    images_per_batch: int = 8
    prompts_per_image: int = 8
    lr: float = 2e-3
    warmup: int = 100
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    max_side: int = 512
    seed: int = 0
    save_every: int = 250
    eval_every: int = 250
    eval_scenes: int = 24
    threads: int = 2


@dataclass
class PromptBatch:
    """Prompts in the model's square input frame: points (B, P, N, 2) with labels (B, P, N) (-10 pads),
    or boxes (B, P, 4); targets (B, P, h, w) soft masks at the decoder's output size."""

    pixel_values: torch.Tensor
    mode: str
    targets: torch.Tensor
    points: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    boxes: torch.Tensor | None = None


def interior_point(mask: np.ndarray) -> tuple[float, float]:
    """The pixel deepest inside the mask: where a person clicks on an object."""
    dist = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    y, x = np.unravel_index(int(dist.argmax()), dist.shape)
    return float(x), float(y)


def sample_prompt(rng: np.random.Generator, mode: str, masks: np.ndarray, boxes: np.ndarray, i: int):
    """One prompt for object `i` in pixels: (points, labels) or a box."""
    mask = masks[i]
    h, w = mask.shape
    if mode == "box":
        x0, y0, x1, y1 = boxes[i]
        side = np.array([x1 - x0, y1 - y0, x1 - x0, y1 - y0])
        noisy = boxes[i] + np.clip(rng.normal(0, 0.1, 4) * side, -20, 20)
        noisy = np.clip(noisy, 0, [w - 1, h - 1, w - 1, h - 1])
        return np.array([min(noisy[0], noisy[2]), min(noisy[1], noisy[3]), max(noisy[0], noisy[2]),
                         max(noisy[1], noisy[3])], np.float32)
    ys, xs = np.nonzero(mask)
    n_pos = 1 if mode in ("click", "correct") else int(rng.integers(1, 4))
    pick = rng.integers(0, len(xs), n_pos)
    points = [(xs[j] + 0.5, ys[j] + 0.5) for j in pick]
    labels = [1] * n_pos
    if mode == "clicks":
        # negatives where a person would put them: on a neighbour or background near the object
        x0, y0, x1, y1 = boxes[i]
        mx, my = 0.5 * (x1 - x0) + 4, 0.5 * (y1 - y0) + 4
        region = np.zeros_like(mask)
        region[max(0, int(y0 - my)) : int(y1 + my) + 1, max(0, int(x0 - mx)) : int(x1 + mx) + 1] = True
        ny, nx = np.nonzero(region & ~mask)
        for j in rng.integers(0, len(nx), int(rng.integers(1, 3))) if len(nx) else []:
            points.append((nx[j] + 0.5, ny[j] + 0.5))
            labels.append(0)
    return np.array(points, np.float32), np.array(labels, np.int64)


def make_prompt_batch(
    rng: np.random.Generator,
    processor: Sam3TrackerProcessor,
    n_images: int,
    prompts_per_image: int,
    mask_size: int,
    input_size: int,
    max_side: int = 512,
    mode: str | None = None,
) -> PromptBatch:
    """`n_images` scenes with at least one visible shape, `prompts_per_image` of their shapes (drawn with
    replacement) each asked with one prompt of `mode` (drawn when None); a "correct" batch gets its
    corrections in the loop (`add_corrections`), which needs the decoder."""
    mode = mode or str(rng.choice(MODES))
    images, targets, prompts = [], [], []
    while len(images) < n_images:
        w, h = (int(v) for v in rng.integers(128, 1025, 2))
        scale = min(1.0, max_side / max(w, h))
        w, h = max(32, round(w * scale)), max(32, round(h * scale))
        shot = render(sample_scene(rng, width=w, height=h, max_shapes=10), renderer=str(rng.choice(["pil", "cv2"])),
                      seed=int(rng.integers(2**31)))
        visible = [i for i, m in enumerate(shot.masks) if m.sum() >= MIN_AREA]
        if not visible:
            continue
        chosen = rng.choice(visible, prompts_per_image)
        images.append(shot.image)
        targets.append(resize_masks(shot.masks[chosen], mask_size))
        frame = np.array([input_size / w, input_size / h], np.float32)
        for i in chosen:
            p = sample_prompt(rng, mode, shot.masks, shot.boxes, int(i))
            prompts.append(p * np.tile(frame, 2) if mode == "box" else (p[0] * frame, p[1]))
    pixel_values = processor.image_processor(images, return_tensors="pt").pixel_values
    batch = PromptBatch(pixel_values=pixel_values, mode=mode, targets=torch.stack(targets))
    shape = (n_images, prompts_per_image)
    if mode == "box":
        batch.boxes = torch.from_numpy(np.stack(prompts)).view(*shape, 4)
    else:
        n = max(len(p[1]) for p in prompts)
        points = np.zeros((len(prompts), n, 2), np.float32)
        labels = np.full((len(prompts), n), -10, np.int64)
        for k, (pts, lab) in enumerate(prompts):
            points[k, : len(lab)], labels[k, : len(lab)] = pts, lab
        batch.points = torch.from_numpy(points).view(*shape, n, 2)
        batch.labels = torch.from_numpy(labels).view(*shape, n)
    return batch


def chosen_masks(out) -> torch.Tensor:
    """(B, P, h, w) booleans: for each prompt, the mask its IoU head ranks first (what `Refiner` returns)."""
    best = out.iou_scores.argmax(-1)[..., None, None, None].expand(-1, -1, 1, *out.pred_masks.shape[-2:])
    return out.pred_masks.gather(2, best)[:, :, 0] > 0


def mask_iou(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """IoU over the last two axes; 1 where both are empty."""
    inter = (pred & truth).flatten(-2).sum(-1).float()
    union = (pred | truth).flatten(-2).sum(-1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


@torch.no_grad()
def add_corrections(
    tracker: Sam3TrackerModel, embeddings: list[torch.Tensor], batch: PromptBatch, rng: np.random.Generator
) -> None:
    """Appends to each prompt's click one drawn from the larger error region of the decoder's own mask for it."""
    out = tracker(image_embeddings=embeddings, input_points=batch.points, input_labels=batch.labels,
                  multimask_output=True)
    pred = chosen_masks(out).numpy()
    truth = (batch.targets > 0.5).numpy()
    scale = batch.pixel_values.shape[-1] / truth.shape[-1]
    points = torch.zeros(*batch.points.shape[:2], 1, 2)
    labels = torch.full(batch.labels.shape[:2] + (1,), -10, dtype=torch.long)
    for b, p in np.ndindex(*truth.shape[:2]):
        missed, spilled = truth[b, p] & ~pred[b, p], pred[b, p] & ~truth[b, p]
        region = missed if missed.sum() >= spilled.sum() else spilled
        ys, xs = np.nonzero(region)
        if len(xs):
            j = int(rng.integers(len(xs)))
            points[b, p, 0] = torch.tensor([(xs[j] + rng.random()) * scale, (ys[j] + rng.random()) * scale])
            labels[b, p, 0] = int(region is missed)
    batch.points = torch.cat([batch.points, points], 2)
    batch.labels = torch.cat([batch.labels, labels], 2)


def prompt_loss(tracker: Sam3TrackerModel, embeddings: list[torch.Tensor], batch: PromptBatch):
    """(loss, parts): focal + dice on the best of the masks, IoU regression, object score."""
    multimask = batch.mode == "click"
    if batch.boxes is not None:
        out = tracker(image_embeddings=embeddings, input_boxes=batch.boxes, multimask_output=multimask)
    else:
        out = tracker(image_embeddings=embeddings, input_points=batch.points, input_labels=batch.labels,
                      multimask_output=multimask)
    logits = out.pred_masks  # (B, P, M, h, w)
    target = batch.targets.unsqueeze(2).expand_as(logits)
    focal = sigmoid_focal(logits, target).flatten(-2).mean(-1)
    per_mask = FOCAL_WEIGHT * focal + dice(logits, target)
    best = per_mask.argmin(-1, keepdim=True)
    mask_loss = per_mask.gather(-1, best).mean()
    with torch.no_grad():
        iou = mask_iou(logits > 0, target > 0.5)
    iou_loss = F.mse_loss(out.iou_scores, iou)
    obj_loss = F.binary_cross_entropy_with_logits(out.object_score_logits, torch.ones_like(out.object_score_logits))
    loss = mask_loss + iou_loss + obj_loss
    best_iou = iou.gather(-1, best).mean()
    parts = {"mask": mask_loss, "iou_head": iou_loss, "object": obj_loss, "iou": best_iou}
    return loss, {k: float(v.detach()) for k, v in parts.items()}


def trainable(tracker: Sam3TrackerModel) -> dict[str, torch.nn.Parameter]:
    return {n: p for n, p in tracker.named_parameters() if n.startswith(TRAINED)}


def decoder_state(tracker: Sam3TrackerModel) -> dict[str, torch.Tensor]:
    """Everything but the (frozen, detector-owned) vision encoder, buffers included: the prompt
    encoder's random Fourier features are a buffer drawn at construction, and the decoder is only
    right with the ones it was trained with."""
    return {k: v.detach().contiguous() for k, v in tracker.state_dict().items() if not k.startswith("vision_encoder.")}


def load_decoder_state(tracker: Sam3TrackerModel, directory: Path) -> None:
    state = load_file(str(directory / "decoder.safetensors"))
    missing, unexpected = tracker.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("vision_encoder.")]
    if missing or unexpected:
        raise ValueError(f"{directory} does not hold this tracker's decoder: missing {missing}, "
                         f"unexpected {unexpected}")


def lr_at(step: int, cfg: ClickConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * min(1.0, t))))


def _save(tracker, optimizer, cfg: ClickConfig, step: int, directory: Path) -> None:
    tmp = directory.with_name(directory.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    save_file(decoder_state(tracker), str(tmp / "decoder.safetensors"))
    meta = save_optimizer(optimizer, tmp)
    (tmp / "state.json").write_text(json.dumps({"step": step, "config": asdict(cfg), "optimizer": meta}))
    if directory.exists():
        for f in directory.iterdir():
            f.unlink()
        directory.rmdir()
    tmp.rename(directory)


def _resume(tracker, optimizer, directory: Path) -> int:
    meta = json.loads((directory / "state.json").read_text())
    load_decoder_state(tracker, directory)
    load_optimizer(optimizer, directory, meta["optimizer"])
    return int(meta["step"])


def load_detector(path: str) -> tuple[Sam3Model, Sam3TrackerProcessor]:
    detector = Sam3Model.from_pretrained(path).eval()
    return detector, Sam3TrackerProcessor.from_pretrained(path)


@torch.no_grad()
def evaluate(
    tracker: Sam3TrackerModel, processor: Sam3TrackerProcessor, scenes: int = 24, max_side: int = 512
) -> dict[str, float]:
    """Low-resolution mask IoU on held-out scenes: one click deepest inside each shape, and its exact box."""
    mask_size, input_size = prompt_sizes(tracker)
    rng = np.random.default_rng(EVAL_SEED)
    ious = {"click": [], "box": []}
    for mode in ious:
        batch = make_prompt_batch(rng, processor, scenes, 1, mask_size, input_size, max_side, mode="clicks")
        if mode == "box":
            batch.boxes, batch.points, batch.labels = _exact_boxes(batch.targets, input_size), None, None
        else:  # a deliberate click: the target's deepest pixel, alone
            batch.points = torch.tensor([_deepest(t, input_size) for t in batch.targets[:, 0]]).view(-1, 1, 1, 2)
            batch.labels = torch.ones(len(batch.targets), 1, 1, dtype=torch.long)
        batch.mode = "click" if mode == "click" else "box"
        emb = tracker.get_image_embeddings(batch.pixel_values)
        out = tracker(image_embeddings=emb, input_points=batch.points, input_labels=batch.labels,
                      input_boxes=batch.boxes, multimask_output=batch.mode == "click")
        ious[mode] = mask_iou(chosen_masks(out), batch.targets > 0.5).flatten().tolist()
    return {f"miou_{k}": float(np.mean(v)) for k, v in ious.items()}


def _deepest(target: torch.Tensor, input_size: int) -> list[float]:
    x, y = interior_point(target.numpy() > 0.5)
    scale = input_size / target.shape[-1]
    return [(x + 0.5) * scale, (y + 0.5) * scale]


def _exact_boxes(targets: torch.Tensor, input_size: int) -> torch.Tensor:
    scale = input_size / targets.shape[-1]
    out = []
    for t in targets[:, 0]:
        ys, xs = np.nonzero(t.numpy() > 0.5)
        out.append([xs.min() * scale, ys.min() * scale, (xs.max() + 1) * scale, (ys.max() + 1) * scale])
    return torch.tensor(out, dtype=torch.float32).view(-1, 1, 4)


def prompt_sizes(tracker: Sam3TrackerModel) -> tuple[int, int]:
    """(low-res mask side, input side): the decoder upsamples its embedding grid 4x."""
    grid = tracker.prompt_encoder.image_embedding_size[0]
    return 4 * grid, tracker.config.vision_config.backbone_config.image_size


def train(cfg: ClickConfig) -> Path:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    detector, processor = load_detector(cfg.detector)
    tracker = tracker_for(detector)
    del detector
    tracker.train()
    tracker.vision_encoder.eval().requires_grad_(False)
    tracker.no_memory_embedding.requires_grad_(False)  # zeros: the image predictor has no memory
    params = trainable(tracker)
    optimizer = torch.optim.AdamW(list(params.values()), lr=cfg.lr, weight_decay=cfg.weight_decay)
    out = Path(cfg.out_dir)
    ckpt = out / "checkpoint"
    out.mkdir(parents=True, exist_ok=True)
    start = _resume(tracker, optimizer, ckpt) if (ckpt / "state.json").exists() else 0
    mask_size, input_size = prompt_sizes(tracker)
    log_path = out / "log.jsonl"
    if log_path.exists():  # records past the checkpoint are about to be redone
        kept = [line for line in log_path.read_text().splitlines() if json.loads(line)["step"] <= start]
        log_path.write_text("".join(line + "\n" for line in kept))
    log = log_path.open("a")
    stop = StopFlag()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="clicks", mininterval=10)
    t0 = time.time()
    for step in bar:
        rng = np.random.default_rng([cfg.seed, step])
        batch = make_prompt_batch(rng, processor, cfg.images_per_batch, cfg.prompts_per_image, mask_size,
                                  input_size, cfg.max_side)
        with torch.no_grad():
            emb = tracker.get_image_embeddings(batch.pixel_values)
        if batch.mode == "correct":
            add_corrections(tracker, emb, batch, rng)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss, parts = prompt_loss(tracker, emb, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), cfg.grad_clip)
        optimizer.step()
        done = step + 1
        record = {"step": done, "mode": batch.mode, "loss": float(loss.detach()), **parts}
        if done % cfg.eval_every == 0 or done == cfg.steps:
            tracker.eval()
            record.update(evaluate(tracker, processor, cfg.eval_scenes, cfg.max_side))
            tracker.train()
            bar.write(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in record.items()}))
        record["elapsed_s"] = round(time.time() - t0, 1)
        log.write(json.dumps(record) + "\n")
        log.flush()
        bar.set_postfix(loss=f"{record['loss']:.3f}", refresh=False)
        if done % cfg.save_every == 0 or done == cfg.steps or stop.requested:
            _save(tracker, optimizer, cfg, done, ckpt)
        if stop.requested:
            bar.write(f"stopped by signal at step {done}; checkpoint saved")
            break
    stop.restore()
    log.close()
    return ckpt


def export(detector_dir: str, checkpoint: Path, out_dir: Path) -> Path:
    """The trained tracker in the `save_pretrained` layout, with the detector's processor files."""
    detector, processor = load_detector(detector_dir)
    tracker = tracker_for(detector)
    load_decoder_state(tracker, checkpoint)
    step = json.loads((checkpoint / "state.json").read_text())["step"]
    tracker.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    write_card(
        out_dir,
        f"# {Path(detector_dir).name} tracker\n\nSAM 3's point-and-box decoder for the detector one folder up, trained "
        f"{step} steps by `python -m training.clicks` on its frozen features (its vision encoder is a copy of the "
        "detector's). `sam3.refine.Refiner` loads it from here.\n",
    )
    return out_dir


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m training.clicks", description=__doc__.splitlines()[0])
    ap.add_argument("--detector", required=True, help="a detector checkpoint directory (Sam3Model layout)")
    ap.add_argument("--out", required=True, help="run directory: checkpoint/, log.jsonl")
    ap.add_argument("--steps", type=int, default=ClickConfig.steps)
    ap.add_argument("--images", type=int, default=ClickConfig.images_per_batch)
    ap.add_argument("--prompts", type=int, default=ClickConfig.prompts_per_image, help="objects asked per image")
    ap.add_argument("--lr", type=float, default=ClickConfig.lr)
    ap.add_argument("--export", type=Path,
                    help=f"write the run's tracker here, not train (`sam3.refine` reads DETECTOR/{TRACKER_FOLDER})")
    a = ap.parse_args(argv)
    if a.export:
        print(export(a.detector, Path(a.out) / "checkpoint", a.export))
        return
    train(ClickConfig(detector=a.detector, out_dir=a.out, steps=a.steps, images_per_batch=a.images,
                      prompts_per_image=a.prompts, lr=a.lr))


if __name__ == "__main__":
    main()
