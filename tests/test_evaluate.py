"""The ShapesWorld metrics: a threshold sweep from one pass equals evaluating at each threshold."""

from __future__ import annotations

import pytest

from benchmarks.shapes_metrics import evaluate, sweep
from sam3.session import Segmenter
from shapesworld import generate


def test_a_sweep_equals_separate_evaluations(tiny_checkpoint):
    segmenter = Segmenter.load(tiny_checkpoint, device="cpu")
    scenes = [generate(seed, width=160, height=120) for seed in (1, 2, 3)]
    thresholds = [0.0, 0.2, 0.25, 0.3]
    swept = sweep(segmenter, scenes, thresholds, seed=7)
    assert list(swept) == thresholds
    empty = [swept[t]["absent_empty_rate"] for t in thresholds]
    assert len(set(empty)) > 1  # the thresholds really cut different sets
    for t in thresholds:
        alone = evaluate(segmenter, scenes, seed=7, threshold=t)
        for key in ("f1@0.5", "precision", "recall", "mean_matched_iou", "absent_empty_rate", "AP", "pairs"):
            assert swept[t][key] == pytest.approx(alone[key]), (t, key)


def test_calibration_never_trades_the_detections_away_for_silence():
    from benchmarks.shapes_metrics import choose_threshold

    def row(f1, absent):
        return {"f1@0.5": f1, "mean_matched_iou": 0.8, "absent_empty_rate": absent}

    # only a threshold that finds almost nothing keeps absent phrases quiet: balance the two instead
    table = {0.1: row(0.43, 0.40), 0.28: row(0.37, 0.77), 0.3: row(0.33, 0.81), 0.42: row(0.04, 0.96)}
    assert choose_threshold(table) == 0.28
    # a threshold that meets the absent bar within a tenth of the best F1 wins
    table = {0.1: row(0.90, 0.80), 0.2: row(0.85, 0.96), 0.3: row(0.60, 0.99)}
    assert choose_threshold(table) == 0.2


def test_the_breakdown_accounts_for_every_instance_and_detection():
    """Instances add up by form, by aspect ratio and by size to what the benchmark's phrases ask for, its recall is the
    benchmark's, and every unmatched detection gets exactly one cause."""
    import numpy as np

    from benchmarks.shapes_metrics import SIDES, breakdown, evaluate, scenes, simple_phrases
    from sam3.session import Segmenter

    segmenter = Segmenter.load("bundled", device="cpu")
    threshold = segmenter.loaded.score_threshold
    out = breakdown(segmenter, 4, seed=5, threshold=threshold)
    instances, found = 0, 0.0
    for renderer in ("pil", "cv2"):
        shots = list(scenes(2, 5, renderer, SIDES))
        rng = np.random.default_rng(0)
        n = sum(len(idx) for shot in shots for idx in simple_phrases(shot, rng)[0].values())
        instances += n
        found += n * evaluate(segmenter, shots, seed=5, threshold=threshold)["recall"]
    forms = out["forms"].values()
    assert sum(f["instances"] for f in forms) == instances > 0
    assert sum(b["instances"] for b in out["recall_by_radius"].values()) == instances
    aspects = out["by_aspect"].values()
    assert sum(a["instances"] for a in aspects) == instances
    assert sum(a["unmatched_detections"] for a in aspects) == sum(f["unmatched_detections"] for f in forms)
    assert sum(f["recall"] * f["instances"] for f in forms) == pytest.approx(found)
    assert sum(out["false_positives"].values()) == sum(f["unmatched_detections"] for f in forms)
