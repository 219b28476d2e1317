"""Assigning predictions to ground truth: Hungarian one-to-one, and top-k one-to-many.

Costs follow the paper's settings: focal classification 2, L1 box 5, GIoU 2.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou, generalized_box_iou


def match_cost(
    logits: torch.Tensor, boxes: torch.Tensor, gt_boxes: torch.Tensor, w_class=2.0, w_l1=5.0, w_giou=2.0
) -> torch.Tensor:
    """(Q, T) cost of giving target t to query q; boxes normalised xyxy."""
    p = logits.sigmoid()
    alpha, gamma = 0.25, 2.0
    neg = (1 - alpha) * p**gamma * -(1 - p + 1e-8).log()
    pos = alpha * (1 - p) ** gamma * -(p + 1e-8).log()
    c_class = (pos - neg)[:, None]
    c_l1 = torch.cdist(boxes, gt_boxes, p=1)
    c_giou = -generalized_box_iou(boxes, gt_boxes)
    return w_class * c_class + w_l1 * c_l1 + w_giou * c_giou


@torch.no_grad()
def hungarian(
    logits: torch.Tensor, boxes: torch.Tensor, gt_boxes: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one: (query indices, target indices)."""
    if len(gt_boxes) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    cost = match_cost(logits.float(), boxes.float(), gt_boxes.float()).cpu().numpy()
    q, t = linear_sum_assignment(cost)
    return q, t


@torch.no_grad()
def one_to_many(
    logits: torch.Tensor, boxes: torch.Tensor, gt_boxes: torch.Tensor, k: int = 4, min_iou: float = 0.4
) -> tuple[np.ndarray, np.ndarray]:
    """Each target takes its k cheapest queries whose box IoU is at least `min_iou`;
    a query goes to at most one target (its cheapest)."""
    if len(gt_boxes) == 0:
        return np.zeros(0, int), np.zeros(0, int)
    cost = match_cost(logits.float(), boxes.float(), gt_boxes.float())
    iou = box_iou(boxes.float(), gt_boxes.float())
    cost = torch.where(iou >= min_iou, cost, torch.full_like(cost, float("inf")))
    k = min(k, cost.shape[0])
    top = cost.topk(k, dim=0, largest=False)  # (k, T)
    chosen = torch.zeros_like(cost, dtype=torch.bool)
    chosen.scatter_(0, top.indices, torch.isfinite(top.values))
    cost = torch.where(chosen, cost, torch.full_like(cost, float("inf")))
    best = cost.min(dim=1)
    q = torch.nonzero(torch.isfinite(best.values)).squeeze(1)
    return q.cpu().numpy(), best.indices[q].cpu().numpy()
