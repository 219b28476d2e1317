import numpy as np
import pytest

from sam3.detections import Detections, boxes_from_masks
from sam3.postprocess import (
    _intersections,
    clean,
    mask_nms,
    remove_duplicates,
    remove_empty,
    threshold,
)

SIZE = (64, 80)


def rect(y0, x0, y1, x1):
    mask = np.zeros(SIZE, dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def dets(*items):
    """Detections from (mask, score, phrase) triples, in the given order."""
    if not items:
        return Detections.empty(SIZE)
    masks = np.stack([m for m, _, _ in items])
    return Detections(
        masks=masks,
        boxes=boxes_from_masks(masks),
        scores=[s for _, s, _ in items],
        phrases=[p for _, _, p in items],
        image_size=SIZE,
    )


BIG = rect(0, 0, 40, 40)  # 1600 px
BIG_SHIFTED = rect(0, 2, 40, 42)  # IoU with BIG = 1520 / 1680 = 0.905
NESTED = rect(10, 10, 20, 20)  # 100 px inside BIG: IoU 0.0625, containment 1.0
HALF = rect(0, 0, 40, 20)  # inside BIG, IoU exactly 0.5
FAR = rect(50, 50, 60, 60)


def test_intersections_match_brute_force():
    rng = np.random.default_rng(0)
    masks = rng.random((6, *SIZE)) < 0.3
    masks[2] = False
    masks[3, 5:30, 7:61] = True
    det = dets(*[(m, 0.5, "x") for m in masks])
    subset = np.array([5, 0, 2, 3])
    inter, areas = _intersections(det, subset)
    flat = masks[subset].reshape(4, -1).astype(np.int64)
    np.testing.assert_array_equal(inter, flat @ flat.T)
    np.testing.assert_array_equal(areas, flat.sum(1))
    assert _intersections(det, np.array([], dtype=int))[0].shape == (0, 0)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("class_agnostic", [False, True])
def test_clean_equals_the_chain_of_public_filters(seed, class_agnostic):
    rng = np.random.default_rng(seed)
    items = []
    for _ in range(30):
        y0, x0 = rng.integers(0, 50, 2)
        h, w = rng.integers(0, 30, 2)
        items.append((rect(y0, x0, y0 + h, x0 + w), float(rng.random()), str(rng.choice(["a", "b"]))))
    det = dets(*items)
    expected = remove_duplicates(
        mask_nms(remove_empty(threshold(det, 0.3), 5), 0.6, class_agnostic), 0.7, class_agnostic
    ).sort_by_score()
    result = clean(
        det, score_threshold=0.3, min_area=5, nms_iou=0.6, dedupe_overlap=0.7, class_agnostic=class_agnostic
    )
    assert len(expected) < len(det)
    np.testing.assert_array_equal(result.scores, expected.scores)
    np.testing.assert_array_equal(result.masks, expected.masks)
    assert result.phrases == expected.phrases


def test_threshold_and_remove_empty():
    det = dets((BIG, 0.9, "a"), (np.zeros(SIZE, bool), 0.8, "a"), (NESTED, 0.3, "a"))
    assert threshold(det, 0.8).phrases == ["a", "a"]
    np.testing.assert_array_equal(remove_empty(det).areas, [1600, 100])
    np.testing.assert_array_equal(remove_empty(det, min_area=101).areas, [1600])
    assert len(remove_empty(det, min_area=0)) == 3


@pytest.mark.parametrize(
    ("items", "iou", "class_agnostic", "kept"),
    [
        # the lower score goes, whatever the input order
        ([(BIG, 0.6, "a"), (BIG_SHIFTED, 0.9, "a")], 0.7, False, [1]),
        ([(BIG, 0.9, "a"), (BIG_SHIFTED, 0.6, "a")], 0.7, False, [0]),
        # different phrases are separate answers unless class-agnostic
        ([(BIG, 0.9, "a"), (BIG_SHIFTED, 0.6, "b")], 0.7, False, [0, 1]),
        ([(BIG, 0.9, "a"), (BIG_SHIFTED, 0.6, "b")], 0.7, True, [0]),
        # IoU must exceed the threshold, equality keeps both
        ([(BIG, 0.9, "a"), (HALF, 0.6, "a")], 0.5, False, [0, 1]),
        ([(BIG, 0.9, "a"), (HALF, 0.6, "a")], 0.49, False, [0]),
        # a nested mask has a small IoU: NMS keeps it
        ([(BIG, 0.9, "a"), (NESTED, 0.6, "a")], 0.7, False, [0, 1]),
        ([(BIG, 0.9, "a"), (FAR, 0.6, "a")], 0.0, False, [0, 1]),
    ],
)
def test_mask_nms(items, iou, class_agnostic, kept):
    det = dets(*items)
    result = mask_nms(det, iou, class_agnostic=class_agnostic)
    np.testing.assert_array_equal(result.scores, det.scores[kept])


def test_mask_nms_is_greedy_a_suppressed_mask_suppresses_nothing():
    # A overlaps B, B overlaps C, A does not overlap C: B goes, C stays.
    a, b, c = rect(0, 0, 40, 20), rect(0, 5, 40, 25), rect(0, 10, 40, 30)
    result = mask_nms(dets((a, 0.9, "x"), (b, 0.8, "x"), (c, 0.7, "x")), iou=0.5)
    np.testing.assert_array_equal(result.scores, np.float32([0.9, 0.7]))


@pytest.mark.parametrize(
    ("items", "overlap", "class_agnostic", "kept"),
    [
        ([(BIG, 0.9, "a"), (NESTED, 0.6, "a")], 0.8, False, [0]),
        ([(NESTED, 0.6, "a"), (BIG, 0.9, "a")], 0.8, False, [1]),
        # symmetric in size: a higher-scoring nested mask removes the enclosing lower-scoring one
        ([(BIG, 0.6, "a"), (NESTED, 0.9, "a")], 0.8, False, [1]),
        ([(BIG, 0.9, "person"), (NESTED, 0.6, "face")], 0.8, False, [0, 1]),
        ([(BIG, 0.9, "person"), (NESTED, 0.6, "face")], 0.8, True, [0]),
        # NESTED is 50 % inside this one: below the overlap limit
        ([(BIG, 0.9, "a"), (rect(10, 35, 20, 45), 0.6, "a")], 0.8, False, [0, 1]),
        ([(BIG, 0.9, "a"), (rect(10, 35, 20, 45), 0.6, "a")], 0.4, False, [0]),
        # an empty mask overlaps nothing (remove_empty is the step that drops it)
        ([(BIG, 0.9, "a"), (np.zeros(SIZE, bool), 0.6, "a")], 0.0, False, [0, 1]),
    ],
)
def test_remove_duplicates(items, overlap, class_agnostic, kept):
    det = dets(*items)
    result = remove_duplicates(det, overlap, class_agnostic=class_agnostic)
    np.testing.assert_array_equal(result.scores, det.scores[kept])


@pytest.mark.parametrize("fn", [mask_nms, remove_duplicates])
def test_filters_accept_empty_and_single(fn):
    assert len(fn(dets(), 0.5)) == 0
    assert len(fn(dets((BIG, 0.9, "a")), 0.5)) == 1


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda d: mask_nms(d, 1.5), r"iou must be in \[0, 1\]"),
        (lambda d: mask_nms(d, -0.1), r"iou must be in \[0, 1\]"),
        (lambda d: remove_duplicates(d, 2), r"overlap must be in \[0, 1\]"),
        (lambda d: remove_empty(d, -1), "min_area must be >= 0"),
        (lambda d: clean(d, nms_iou=7), r"iou must be in \[0, 1\]"),
    ],
)
def test_bad_parameters(call, match):
    with pytest.raises(ValueError, match=match):
        call(dets((BIG, 0.9, "a")))


RAW = [
    (NESTED, 0.6, "car"),  # nested duplicate: only dedupe removes it
    (BIG_SHIFTED, 0.7, "car"),  # IoU duplicate of BIG: NMS removes it
    (BIG, 0.9, "car"),
    (FAR, 0.3, "car"),  # below the score threshold
    (np.zeros(SIZE, bool), 0.95, "car"),  # empty
    (FAR, 0.8, "wheel"),
]


@pytest.mark.parametrize(
    ("kwargs", "expected_scores"),
    [
        ({}, [0.9, 0.8]),
        ({"dedupe_overlap": None}, [0.9, 0.8, 0.6]),
        ({"nms_iou": None, "dedupe_overlap": None}, [0.9, 0.8, 0.7, 0.6]),
        ({"score_threshold": None}, [0.9, 0.8, 0.3]),
        ({"min_area": None, "nms_iou": None, "dedupe_overlap": None}, [0.95, 0.9, 0.8, 0.7, 0.6]),
        ({"class_agnostic": True, "score_threshold": 0.0}, [0.9, 0.8]),
        (
            {"score_threshold": None, "nms_iou": None, "dedupe_overlap": None, "min_area": None},
            [0.95, 0.9, 0.8, 0.7, 0.6, 0.3],
        ),
    ],
)
def test_clean_chains_steps_and_sorts_by_score(kwargs, expected_scores):
    result = clean(dets(*RAW), **kwargs)
    np.testing.assert_allclose(result.scores, expected_scores)


def test_clean_does_not_modify_its_input():
    det = dets(*RAW)
    before = det.masks.copy()
    clean(det)
    assert len(det) == len(RAW)
    np.testing.assert_array_equal(det.masks, before)


def test_nms_handles_hundreds_of_masks():
    rng = np.random.default_rng(0)
    masks = np.zeros((300, 40, 40), bool)
    for i in range(300):
        x, y = rng.integers(0, 30, 2)
        masks[i, y : y + 10, x : x + 10] = True
    det = Detections(
        masks=masks,
        boxes=boxes_from_masks(masks),
        scores=rng.random(300).astype(np.float32),
        phrases=["p"] * 300,
        image_size=(40, 40),
    )
    kept = clean(det, score_threshold=None, nms_iou=0.5, dedupe_overlap=None)
    assert 0 < len(kept) < 300
