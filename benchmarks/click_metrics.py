"""Asking for one object the way a person would: which shapes are asked for, and where a corrective click goes.
Used by `benchmarks/click_refine.py` and the tests."""

from __future__ import annotations

import numpy as np

from sam3.refine import Click
from training.clicks import interior_point

MIN_PIXELS = 64  # visible pixels a shape needs to be clicked on


def corrective_click(pred: np.ndarray, truth: np.ndarray) -> Click | None:
    """At the deepest pixel of the larger error region: positive where missed, negative where spilled."""
    missed, spilled = truth & ~pred, pred & ~truth
    if not missed.any() and not spilled.any():
        return None
    positive = missed.sum() >= spilled.sum()
    x, y = interior_point(missed if positive else spilled)
    return Click(x + 0.5, y + 0.5, positive=positive)
