"""Tracking measures on hand-made tracks: perfect, swapped mid-way, missing, and spurious objects."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.tracking_metrics import tracking_scores
from sam3.video.results import FrameResult


def square(x: int, y: int, s: int = 8, size=(32, 48)) -> np.ndarray:
    m = np.zeros(size, bool)
    m[y : y + s, x : x + s] = True
    return m


def scene(n_frames: int = 6):
    """Two squares moving right, ids 3 and 5."""
    return [([3, 5], np.stack([square(2 + 2 * t, 2), square(2 + 2 * t, 20)])) for t in range(n_frames)]


def predict(truth, ids_at) -> list[FrameResult]:
    out = []
    for t, (_, masks) in enumerate(truth):
        ids = ids_at(t)
        keep = [i for i, oid in enumerate(ids) if oid is not None]
        out.append(
            FrameResult.from_masks(t, t, masks[keep], [ids[i] for i in keep], ["square"] * len(keep), [0.9] * len(keep))
        )
    return out


def test_perfect_tracks_score_one():
    truth = scene()
    s = tracking_scores(truth, predict(truth, lambda t: [0, 1]))
    assert (s.idf1, s.id_switches, s.precision, s.recall) == (1.0, 0, 1.0, 1.0)
    assert s.mean_iou == pytest.approx(1.0) and (s.true_objects, s.predicted_objects) == (2, 2)


def test_swapped_identities_halfway_cost_switches_and_idf1():
    truth = scene(6)
    s = tracking_scores(truth, predict(truth, lambda t: [0, 1] if t < 3 else [1, 0]))
    assert s.id_switches == 2  # both objects change id once
    assert s.idf1 == pytest.approx(0.5)  # the best global mapping is right on 3 of 6 frames for each
    assert s.precision == 1.0 and s.recall == 1.0  # every frame is still segmented right


def test_a_lost_object_lowers_recall_and_idf1_but_not_precision():
    truth = scene(6)
    s = tracking_scores(truth, predict(truth, lambda t: [0, 1 if t < 2 else None]))
    assert s.recall == pytest.approx(8 / 12) and s.precision == 1.0 and s.id_switches == 0
    assert s.idf1 == pytest.approx(2 * 8 / (8 + 12))


def test_a_new_id_for_a_returning_object_is_one_switch():
    truth = scene(6)
    s = tracking_scores(truth, predict(truth, lambda t: [0, 1 if t < 3 else 7]))
    assert s.id_switches == 1 and s.predicted_objects == 3
    assert s.idf1 == pytest.approx(2 * 9 / 24)


def test_shifted_masks_below_the_iou_threshold_do_not_match():
    truth = scene(4)
    shifted = [(ids, np.roll(masks, 6, axis=2)) for ids, masks in truth]  # IoU 2/14 with the truth
    s = tracking_scores(truth, predict(shifted, lambda t: [0, 1]))
    assert s.recall == 0.0 and s.precision == 0.0 and s.idf1 == 0.0
