"""The ShapesWorld metrics: a threshold sweep from one pass equals evaluating at each threshold."""

from __future__ import annotations

import pytest

from sam3.evaluate import evaluate, sweep
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
