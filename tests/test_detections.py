import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from sam3.detections import Detections, boxes_from_masks


def make(masks, scores=None, phrases=None, data=None):
    masks = np.asarray(masks, dtype=bool)
    n = len(masks)
    return Detections(
        masks=masks,
        boxes=boxes_from_masks(masks),
        scores=np.linspace(0.9, 0.1, n) if scores is None else scores,
        phrases=[f"p{i}" for i in range(n)] if phrases is None else phrases,
        image_size=masks.shape[1:],
        data=data or {},
    )


def edge_masks(height, width):
    """Empty, full, first pixel, last pixel and a random mask: the cases RLE run boundaries get wrong."""
    rng = np.random.default_rng(height * 1000 + width)
    masks = np.zeros((5, height, width), dtype=bool)
    masks[1] = True
    masks[2, 0, 0] = True
    masks[3, -1, -1] = True
    masks[4] = rng.random((height, width)) < 0.5
    return masks


def uncompressed_rle(mask):
    """Reference COCO uncompressed RLE: column-major runs, starting with a (possibly empty) run of zeros."""
    flat = mask.flatten(order="F").astype(np.int8)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    runs = np.diff(bounds).tolist()
    return {"size": list(mask.shape), "counts": ([0] + runs) if flat[0] else runs}


SIZES = [(1, 1), (1, 9), (9, 1), (7, 13), (13, 7), (64, 64), (480, 640)]


# --- RLE ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_rle_round_trip_is_bit_exact(size):
    det = make(edge_masks(*size))
    rles = det.to_rle()
    reloaded = Detections.from_rle(json.loads(json.dumps(rles)), det.scores, det.phrases)
    assert reloaded.image_size == size
    assert reloaded.masks.dtype == bool and reloaded.masks.flags.c_contiguous
    np.testing.assert_array_equal(reloaded.masks, det.masks)
    np.testing.assert_array_equal(reloaded.boxes, det.boxes)
    for rle in rles:
        assert rle["size"] == list(size) and isinstance(rle["counts"], str)


@pytest.mark.parametrize("size", SIZES)
def test_rle_matches_pycocotools_encoding_of_each_mask(size):
    masks = edge_masks(*size)
    for rle, mask in zip(make(masks).to_rle(), masks, strict=True):
        expected = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert rle["counts"] == expected["counts"].decode("ascii")


@pytest.mark.parametrize("flavour", ["str", "bytes", "uncompressed"])
def test_from_rle_accepts_every_counts_flavour(flavour):
    masks = edge_masks(7, 13)
    compressed = make(masks).to_rle()
    if flavour == "bytes":
        rles = [{"size": r["size"], "counts": r["counts"].encode()} for r in compressed]
    elif flavour == "uncompressed":
        rles = [uncompressed_rle(m) for m in masks]
    else:
        rles = compressed
    reloaded = Detections.from_rle(rles, np.ones(5), ["x"] * 5)
    np.testing.assert_array_equal(reloaded.masks, masks)


def test_from_rle_keeps_given_boxes_and_handles_empty_input():
    det = make(edge_masks(7, 13))
    boxes = np.arange(20, dtype=np.float32).reshape(5, 4)
    np.testing.assert_array_equal(Detections.from_rle(det.to_rle(), det.scores, det.phrases, boxes=boxes).boxes, boxes)
    empty = Detections.from_rle([], [], [], image_size=(4, 6))
    assert len(empty) == 0 and empty.masks.shape == (0, 4, 6) and empty.boxes.shape == (0, 4)


@pytest.mark.parametrize(
    ("rles", "image_size", "match"),
    [
        ([], None, "image_size is required"),
        ([{"size": [4, 4], "counts": "4"}, {"size": [5, 4], "counts": "5"}], None, "one common size"),
        ([{"size": [4, 4], "counts": "4"}], (5, 4), "one common size"),
        ([{"size": [4, 4]}], None, "must be a dict with 'size' and 'counts'"),
        (["not a dict"], None, "must be a dict"),
        ([{"size": [4, 4], "counts": 16}], None, "counts must be str, bytes or list"),
        ([{"size": [4, 4], "counts": [3, 4]}], None, "sum to 7, expected 16"),
        ([{"size": [0, 4], "counts": ""}], None, "image_size must be positive"),
    ],
)
def test_from_rle_rejects_bad_input(rles, image_size, match):
    with pytest.raises(ValueError, match=match):
        Detections.from_rle(rles, np.ones(len(rles)), ["x"] * len(rles), image_size=image_size)


# --- boxes -------------------------------------------------------------------------------------------------


def one_mask(height, width, *pixels):
    mask = np.zeros((1, height, width), dtype=bool)
    for y, x in pixels:
        mask[0, y, x] = True
    return mask


@pytest.mark.parametrize(
    ("masks", "expected"),
    [
        (one_mask(5, 7, (2, 3)), [[3, 2, 4, 3]]),
        (one_mask(5, 7, (0, 0)), [[0, 0, 1, 1]]),
        (one_mask(5, 7, (4, 6)), [[6, 4, 7, 5]]),
        (one_mask(5, 7, (1, 5), (3, 2)), [[2, 1, 6, 4]]),
        (np.ones((1, 5, 7), dtype=bool), [[0, 0, 7, 5]]),
        (np.zeros((1, 5, 7), dtype=bool), [[0, 0, 0, 0]]),
        (np.zeros((0, 5, 7), dtype=bool), np.zeros((0, 4))),
    ],
)
def test_boxes_from_masks(masks, expected):
    boxes = boxes_from_masks(masks)
    assert boxes.dtype == np.float32
    np.testing.assert_array_equal(boxes, np.asarray(expected, dtype=np.float32).reshape(-1, 4))


@pytest.mark.parametrize("size", SIZES)
def test_boxes_from_masks_agrees_with_pycocotools(size):
    masks = edge_masks(*size)
    xywh = mask_utils.toBbox(mask_utils.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8))))
    expected = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
    np.testing.assert_array_equal(boxes_from_masks(masks), expected)


def test_boxes_from_masks_rejects_2d():
    with pytest.raises(ValueError, match=r"shape \(N, H, W\)"):
        boxes_from_masks(np.zeros((4, 4), dtype=bool))


# --- construction ------------------------------------------------------------------------------------------


def fields(**overrides):
    base = {
        "masks": np.zeros((2, 4, 6), dtype=bool),
        "boxes": np.zeros((2, 4)),
        "scores": [0.5, 0.6],
        "phrases": ["a", "b"],
        "image_size": (4, 6),
    }
    return {**base, **overrides}


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"masks": np.zeros((4, 6), dtype=bool)}, r"masks must have shape \(N, 4, 6\)"),
        ({"masks": np.zeros((2, 6, 4), dtype=bool)}, r"masks must have shape \(N, 4, 6\)"),
        ({"masks": np.zeros((2, 4, 6), dtype=np.float32)}, "threshold probabilities first"),
        ({"boxes": np.zeros((2, 5))}, r"boxes must have shape \(2, 4\)"),
        ({"boxes": np.zeros((3, 4))}, r"boxes must have shape \(2, 4\)"),
        ({"boxes": [[0, 0, 1, np.nan], [0, 0, 1, 1]]}, "finite"),
        ({"scores": [0.5]}, r"scores must have shape \(2,\)"),
        ({"phrases": ["a"]}, "list of 2 strings"),
        ({"phrases": "ab"}, "list of 2 strings"),
        ({"phrases": ["a", 3]}, "must all be strings"),
        ({"image_size": (4,)}, r"image_size must be \(H, W\)"),
        ({"image_size": (0, 6), "masks": np.zeros((2, 0, 6), dtype=bool)}, "must be positive"),
        ({"data": {"ids": np.arange(3)}}, r"data\['ids'\] must have length 2"),
        ({"data": {"ids": np.int64(3)}}, r"data\['ids'\] must have length 2"),
    ],
)
def test_construction_rejects_bad_fields(overrides, match):
    with pytest.raises(ValueError, match=match):
        Detections(**fields(**overrides))


def test_construction_coerces_harmless_dtypes():
    masks = np.zeros((2, 4, 6), dtype=np.uint8)
    masks[0, 1, 1] = 255
    det = Detections(**fields(masks=masks, boxes=[[0, 0, 1, 1], [1, 1, 2, 2]], phrases=("a", "b"),
                              image_size=[4, 6], data={"ids": [7, 8]}))
    assert det.masks.dtype == bool and det.masks[0, 1, 1] and det.masks.sum() == 1
    assert det.boxes.dtype == np.float32 and det.scores.dtype == np.float32
    assert det.phrases == ["a", "b"] and det.image_size == (4, 6)
    assert isinstance(det.data["ids"], np.ndarray)


def test_empty():
    det = Detections.empty((3, 5))
    assert len(det) == 0 and det.masks.shape == (0, 3, 5) and det.boxes.shape == (0, 4)
    assert det.to_rle() == [] and det.to_json_list() == [] and det.areas.shape == (0,)
    assert len(Detections(**fields(masks=np.zeros((0, 4, 6), dtype=bool), boxes=[], scores=[], phrases=[]))) == 0


# --- indexing ----------------------------------------------------------------------------------------------


def five():
    masks = np.zeros((5, 6, 6), dtype=bool)
    for i in range(5):
        masks[i, i, i] = True  # mask i is identifiable by its pixel
    return make(masks, scores=[0.1, 0.5, 0.3, 0.9, 0.7], phrases=list("abcde"), data={"ids": np.arange(5) * 10})


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (1, [1]),
        (-1, [4]),
        (np.int64(2), [2]),
        (slice(1, 3), [1, 2]),
        (slice(None, None, -2), [4, 2, 0]),
        (np.array([True, False, True, False, False]), [0, 2]),
        ([False, False, False, True, True], [3, 4]),
        (np.array([3, 0, 3]), [3, 0, 3]),
        ([4, 1], [4, 1]),
        ([], []),
        (np.array([], dtype=np.int64), []),
    ],
)
def test_getitem_selects_every_field(index, expected):
    det = five()
    picked = det[index]
    assert isinstance(picked, Detections) and len(picked) == len(expected)
    assert picked.phrases == ["abcde"[i] for i in expected]
    np.testing.assert_array_equal(picked.scores, det.scores[expected])
    np.testing.assert_array_equal(picked.boxes, det.boxes[expected])
    np.testing.assert_array_equal(picked.masks, det.masks[expected])
    np.testing.assert_array_equal(picked.data["ids"], np.asarray(expected, dtype=int) * 10)
    assert picked.image_size == det.image_size


def test_getitem_returns_a_copy():
    det = five()
    picked = det[0:2]
    picked.masks[:] = True
    picked.scores[:] = 0
    assert det.masks.sum() == 5 and det.scores[0] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("index", "error"),
    [
        (5, IndexError),
        (-6, IndexError),
        (np.array([True, False]), IndexError),
        ([0, 9], IndexError),
        (np.array([0.0, 1.0]), TypeError),
        (True, TypeError),
        ("a", IndexError),
    ],
)
def test_getitem_rejects_bad_index(index, error):
    with pytest.raises(error):
        five()[index]


# --- merge, sort, filter -----------------------------------------------------------------------------------


def test_merge_concatenates_in_order():
    det = five()
    merged = Detections.merge([det[[0, 1]], Detections.empty(det.image_size), det[[4]]])
    assert merged.phrases == ["a", "b", "e"]
    np.testing.assert_array_equal(merged.data["ids"], [0, 10, 40])
    np.testing.assert_array_equal(merged.masks, det.masks[[0, 1, 4]])


@pytest.mark.parametrize(
    ("parts", "image_size", "match"),
    [
        ([], None, "without image_size"),
        ([Detections.empty((6, 6)), Detections.empty((6, 7))], None, "different image sizes"),
        ([Detections.empty((6, 6))], (7, 6), "different image sizes"),
        ("data-mismatch", None, "different data keys"),
    ],
)
def test_merge_rejects(parts, image_size, match):
    if parts == "data-mismatch":
        det = five()
        parts = [det[[0]], Detections(**{**vars(det[[1]]), "data": {}})]
    with pytest.raises(ValueError, match=match):
        Detections.merge(parts, image_size=image_size)


def test_merge_of_nothing_with_image_size_is_empty():
    assert len(Detections.merge([], image_size=(3, 4))) == 0
    assert Detections.merge([Detections.empty((3, 4))]).image_size == (3, 4)


@pytest.mark.parametrize(("descending", "expected"), [(True, "debca"), (False, "acbed")])
def test_sort_by_score(descending, expected):
    assert "".join(five().sort_by_score(descending).phrases) == expected


def test_sort_is_stable_for_ties():
    det = make(np.zeros((4, 2, 2), dtype=bool), scores=[0.5, 0.9, 0.5, 0.9], phrases=list("abcd"))
    assert det.sort_by_score().phrases == list("bdac")


@pytest.mark.parametrize(("min_score", "expected"), [(0.0, "abcde"), (0.5, "bde"), (0.7, "de"), (0.95, "")])
def test_filter_is_inclusive(min_score, expected):
    assert "".join(five().filter(min_score).phrases) == expected


def test_with_phrase_and_areas():
    det = make(np.ones((3, 4, 5), dtype=bool), phrases=["cat", "dog", "cat"])
    det.masks[2, :2] = False
    assert det.with_phrase("cat").phrases == ["cat", "cat"]
    assert len(det.with_phrase("bird")) == 0
    np.testing.assert_array_equal(det.areas, [20, 20, 10])
    np.testing.assert_array_equal(det.with_phrase("cat").areas, [20, 10])


# --- JSON --------------------------------------------------------------------------------------------------


def test_json_list_round_trip():
    masks = edge_masks(13, 7)
    det = make(masks, scores=np.float32([0.123456, 1.0, 0.5, 0.0, 0.99999]), phrases=list("vwxyz"))
    det.boxes[0] = [0.123456, 1.987654, 2.5, 3.0]
    items = json.loads(json.dumps(det.to_json_list()))
    assert items[0]["score"] == 0.1235 and items[0]["box"] == [0.12, 1.99, 2.5, 3.0]
    assert set(items[0]) == {"phrase", "score", "box", "mask"}
    reloaded = Detections.from_json_list(items, image_size=(13, 7))
    np.testing.assert_array_equal(reloaded.masks, masks)
    np.testing.assert_allclose(reloaded.scores, det.scores, atol=5e-5)
    np.testing.assert_allclose(reloaded.boxes, det.boxes, atol=5e-3)
    assert reloaded.phrases == list("vwxyz")


def test_json_list_has_plain_python_types():
    item = five().to_json_list()[0]
    assert type(item["score"]) is float and all(type(v) is float for v in item["box"])
    assert type(item["mask"]["counts"]) is str and all(type(v) is int for v in item["mask"]["size"])


@pytest.mark.parametrize("missing", ["phrase", "score", "box", "mask"])
def test_from_json_list_rejects_missing_keys(missing):
    items = five().to_json_list()
    del items[2][missing]
    with pytest.raises(ValueError, match=f"detection 2 is missing '{missing}'"):
        Detections.from_json_list(items, image_size=(6, 6))


def test_from_json_list_empty():
    assert len(Detections.from_json_list([], image_size=(6, 6))) == 0
