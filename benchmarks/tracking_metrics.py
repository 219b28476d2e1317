"""How well tracked objects follow ground-truth identities: IDF1, identity switches, mask IoU.

Measures (MOT conventions, on masks instead of boxes):
- per frame, predictions and ground truth are matched one to one (Hungarian on mask IoU, pairs below
  `thr` discarded): matched pairs are true positives, the rest false positives / negatives;
- IDF1 (Ristani et al. 2016): one global mapping of predicted ids to true ids, chosen to maximise the
  frames where the pair matches; IDF1 = 2 IDTP / (2 IDTP + IDFP + IDFN);
- identity switches (CLEAR MOT): a true object matched to a different predicted id than last time;
- mean IoU of the per-frame matched masks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from sam3.detections import mask_iou
from sam3.video.results import FrameResult


def truth_for(video, wanted) -> list[tuple[list[int], np.ndarray]]:
    """Per frame of a ShapesWorld `RenderedVideo`, the ids and masks of the objects in `wanted`."""
    out = []
    for ids, masks in zip(video.ids, video.masks):
        keep = [i for i, oid in enumerate(ids) if int(oid) in wanted]
        out.append(([int(ids[i]) for i in keep], masks[keep]))
    return out


@dataclass
class TrackingScores:
    idf1: float
    id_switches: int
    mean_iou: float
    precision: float
    recall: float
    frames: int
    true_objects: int
    predicted_objects: int

    def as_dict(self) -> dict:
        return asdict(self)


def tracking_scores(
    truth: Sequence[tuple[Sequence[int], np.ndarray]],
    predicted: Iterable[FrameResult],
    thr: float = 0.5,
) -> TrackingScores:
    """`truth[t]` = (ids, masks (N, H, W) bool) of frame position t; `predicted` gives one result per position."""
    by_position = {r.position: r for r in predicted}
    pair_frames: dict[tuple[int, int], int] = defaultdict(int)
    last_match: dict[int, int] = {}
    switches, tp, n_pred, n_true, ious = 0, 0, 0, 0, []
    true_ids, pred_ids = set(), set()
    for t, (ids, masks) in enumerate(truth):
        result = by_position.get(t)
        p_ids = list(result.object_ids) if result is not None else []
        p_rles = list(result.rles) if result is not None else []
        n_pred += len(p_ids)
        n_true += len(ids)
        true_ids.update(int(i) for i in ids)
        pred_ids.update(p_ids)
        if not len(ids) or not p_ids:
            continue
        iou = mask_iou(p_rles, np.asarray(masks, dtype=bool))
        rows, cols = linear_sum_assignment(-iou)
        for r, c in zip(rows, cols):
            if iou[r, c] < thr:
                continue
            g, p = int(ids[c]), p_ids[r]
            tp += 1
            ious.append(float(iou[r, c]))
            pair_frames[(g, p)] += 1
            if g in last_match and last_match[g] != p:
                switches += 1
            last_match[g] = p
    idtp = 0
    if pair_frames:
        gs = sorted({g for g, _ in pair_frames})
        ps = sorted({p for _, p in pair_frames})
        counts = np.zeros((len(gs), len(ps)))
        for (g, p), n in pair_frames.items():
            counts[gs.index(g), ps.index(p)] = n
        r, c = linear_sum_assignment(-counts)
        idtp = int(counts[r, c].sum())
    denom = n_pred + n_true
    return TrackingScores(
        idf1=2 * idtp / denom if denom else 1.0,
        id_switches=switches,
        mean_iou=float(np.mean(ious)) if ious else 0.0,
        precision=tp / n_pred if n_pred else 1.0,
        recall=tp / n_true if n_true else 1.0,
        frames=len(truth),
        true_objects=len(true_ids),
        predicted_objects=len(pred_ids),
    )
