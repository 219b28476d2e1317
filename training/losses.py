"""SAM 3's training criterion, written for `transformers`' `Sam3Model` (which has none).

Per (image, phrase) row: Hungarian one-to-one matching on every decoder layer; IoU-aware
classification (a query's target is the IoU of its box, so confidence tracks localisation);
presence BCE on every layer (the only signal on rows whose phrase is absent, where
per-query classification is zeroed); boxes L1 + GIoU; masks focal + dice on the last layer;
the semantic head against the union of the phrase's instances; and a one-to-many branch
(top-k queries per target) on the auxiliary layers, which gives more queries positive
signal early without teaching the final layer to emit duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.ops import box_iou, generalized_box_iou

from training.matcher import hungarian, one_to_many
from training.outputs import LayerOutputs


@dataclass(frozen=True)
class LossWeights:
    cls: float = 2.0
    presence: float = 2.0
    l1: float = 5.0
    giou: float = 2.0
    mask_focal: float = 50.0
    mask_dice: float = 5.0
    semantic: float = 2.0
    one_to_many: float = 2.0
    use_one_to_many: bool = True
    use_presence: bool = True


@dataclass
class RowTarget:
    """Ground truth of one (image, phrase) row: boxes (T, 4) normalised xyxy, masks (T, h, w) in {0, 1}."""

    boxes: torch.Tensor
    masks: torch.Tensor


def sigmoid_focal(logits: torch.Tensor, targets: torch.Tensor, alpha=0.25, gamma=2.0) -> torch.Tensor:
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    return (alpha * targets + (1 - alpha) * (1 - targets)) * loss


def dice(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-mask dice loss over the trailing two axes."""
    p = logits.sigmoid().flatten(-2)
    t = targets.flatten(-2)
    return 1 - (2 * (p * t).sum(-1) + 1) / (p.sum(-1) + t.sum(-1) + 1)


def varifocal(logits: torch.Tensor, quality: torch.Tensor, alpha=0.75, gamma=2.0) -> torch.Tensor:
    """IoU-aware BCE: positives aim at their IoU, negatives are down-weighted focal-style."""
    p = logits.sigmoid().detach()
    weight = torch.where(quality > 0, quality, alpha * p**gamma)
    return F.binary_cross_entropy_with_logits(logits, quality, weight=weight, reduction="none")


class Sam3Criterion:
    def __init__(self, weights: LossWeights = LossWeights()):
        self.w = weights

    def __call__(self, out: LayerOutputs, targets: list[RowTarget]) -> tuple[torch.Tensor, dict[str, float]]:
        w = self.w
        n_layers, n_rows = out.logits.shape[:2]
        device = out.logits.device
        has_target = torch.tensor([len(t.boxes) > 0 for t in targets], device=device)
        num_targets = max(1.0, float(sum(len(t.boxes) for t in targets)))
        parts: dict[str, torch.Tensor] = {}

        def add(name, value):
            parts[name] = parts.get(name, 0.0) + value

        gt_cpu = [t.boxes.detach().float().cpu() for t in targets]
        for layer in range(n_layers):
            last = layer == n_layers - 1
            # matching runs on the CPU (scipy): one copy per layer, not one device sync per row
            logits_cpu, boxes_cpu = out.logits[layer].detach().float().cpu(), out.boxes[layer].detach().float().cpu()
            o2o = [hungarian(logits_cpu[r], boxes_cpu[r], gt_cpu[r]) for r in range(n_rows)]
            add("cls", self._classification(out, layer, targets, o2o, has_target) / num_targets)
            l1, giou = self._boxes(out, layer, targets, o2o)
            add("l1", l1 / num_targets)
            add("giou", giou / num_targets)
            if w.use_presence:
                add("presence", F.binary_cross_entropy_with_logits(out.presence[layer], has_target.float()))
            if w.use_one_to_many and not last:
                o2m = [one_to_many(logits_cpu[r], boxes_cpu[r], gt_cpu[r]) for r in range(n_rows)]
                n_o2m = max(1.0, float(sum(len(q) for q, _ in o2m)))
                add("o2m_cls", self._classification(out, layer, targets, o2m, has_target) / num_targets)
                l1, giou = self._boxes(out, layer, targets, o2m)
                add("o2m_box", (w.l1 * l1 + w.giou * giou) / n_o2m)
            if last:
                focal, dice_loss = self._masks(out, targets, o2o)
                add("mask_focal", focal / num_targets)
                add("mask_dice", dice_loss / num_targets)
        add("semantic", self._semantic(out, targets))

        scale = {
            "cls": w.cls,
            "l1": w.l1,
            "giou": w.giou,
            "presence": w.presence,
            "o2m_cls": w.one_to_many * w.cls,
            "o2m_box": w.one_to_many,
            "mask_focal": w.mask_focal,
            "mask_dice": w.mask_dice,
            "semantic": w.semantic,
        }
        total = sum(scale[k] * v for k, v in parts.items())
        return total, {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in parts.items()}

    @staticmethod
    def _flat(assignments, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows, queries, tgts = [], [], []
        for r, (q, t) in enumerate(assignments):
            rows += [r] * len(q)
            queries += [int(i) for i in q]
            tgts += [int(i) for i in t]
        return (
            torch.tensor(rows, dtype=torch.long, device=device),
            torch.tensor(queries, dtype=torch.long, device=device),
            torch.tensor(tgts, dtype=torch.long),
        )

    def _classification(self, out, layer, targets, assignments, has_target) -> torch.Tensor:
        logits = out.logits[layer]
        quality = torch.zeros_like(logits)
        rows, queries, tgts = self._flat(assignments, out.logits.device)
        if len(rows):
            gt = torch.stack([targets[r].boxes[t] for r, t in zip(rows.tolist(), tgts.tolist())])
            pred = out.boxes[layer][rows, queries].detach()
            iou = box_iou(pred, gt).diagonal().clamp(min=0.05)
            quality[rows, queries] = iou.to(quality.dtype)
        loss = varifocal(logits, quality)
        return (loss * has_target[:, None]).sum()

    def _boxes(self, out, layer, targets, assignments) -> tuple[torch.Tensor, torch.Tensor]:
        rows, queries, tgts = self._flat(assignments, out.logits.device)
        if not len(rows):
            zero = out.boxes.sum() * 0
            return zero, zero
        pred = out.boxes[layer][rows, queries]
        gt = torch.stack([targets[r].boxes[t] for r, t in zip(rows.tolist(), tgts.tolist())])
        l1 = F.l1_loss(pred, gt, reduction="sum")
        giou = (1 - generalized_box_iou(pred, gt).diagonal()).sum()
        return l1, giou

    def _masks(self, out, targets, assignments) -> tuple[torch.Tensor, torch.Tensor]:
        rows, queries, tgts = self._flat(assignments, out.logits.device)
        if not len(rows):
            zero = out.masks.sum() * 0
            return zero, zero
        pred = out.masks[rows, queries]
        gt = torch.stack([targets[r].masks[t] for r, t in zip(rows.tolist(), tgts.tolist())]).to(pred.dtype)
        if gt.shape[-2:] != pred.shape[-2:]:
            raise ValueError(
                f"target masks {tuple(gt.shape[-2:])} must match predictions {tuple(pred.shape[-2:])}"
            )
        focal = sigmoid_focal(pred, gt).mean(dim=(-2, -1)).sum()
        return focal, dice(pred, gt).sum()

    def _semantic(self, out, targets) -> torch.Tensor:
        pred = out.semantic
        union = torch.stack(
            [
                t.masks.amax(0) if len(t.masks) else torch.zeros(pred.shape[-2:], device=pred.device)
                for t in targets
            ]
        ).to(pred.dtype)
        bce = F.binary_cross_entropy_with_logits(pred, union)
        return bce + dice(pred, union).mean()
