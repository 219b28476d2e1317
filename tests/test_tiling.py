"""Windows over elongated images: geometry, placing results back, and what a session does with them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sam3.detections import Detections
from sam3.session import BoxPrompt, ImageSession
from sam3.tiling import MIN_OVERLAP, Window, cut_by_inner_edge, place, windows


@pytest.mark.parametrize("size", [(100, 100), (640, 480), (199, 100), (100, 199)])
def test_images_short_of_the_aspect_are_not_tiled(size):
    assert windows(*size) == []


def test_tiling_can_be_turned_off():
    assert windows(4000, 100, tile_aspect=None) == []
    with pytest.raises(ValueError, match="tile_aspect"):
        windows(400, 100, tile_aspect=0.5)


@pytest.mark.parametrize("size", [(200, 100), (400, 100), (1000, 130), (130, 1000), (3001, 97)])
def test_windows_cover_the_image_and_overlap(size):
    width, height = size
    ws = windows(width, height)
    assert len(ws) >= 2
    along = 0 if width > height else 1
    starts = [w.box[along] for w in ws]
    ends = [w.box[along + 2] for w in ws]
    assert starts[0] == 0 and ends[-1] == max(size)
    for w in ws:  # the short side whole, the long side 1.5 short sides: a near-square crop
        assert w.box[1 - along] == 0 and w.box[3 - along] == min(size)
        assert w.box[along + 2] - w.box[along] == round(1.5 * min(size))
    side = ends[0] - starts[0]
    for s0, e0, s1 in zip(starts, ends, starts[1:]):
        assert s1 > s0 and (e0 - s1) >= MIN_OVERLAP * side - 1


def _det(masks: np.ndarray) -> Detections:
    from sam3.detections import boxes_from_masks

    return Detections(
        masks=masks, boxes=boxes_from_masks(masks), scores=np.full(len(masks), 0.9, np.float32),
        phrases=["a"] * len(masks), image_size=masks.shape[1:],
    )


def test_place_puts_masks_and_boxes_back_in_image_pixels():
    masks = np.zeros((1, 10, 15), bool)
    masks[0, 2:5, 3:7] = True
    placed = place(_det(masks), Window(20, 0, 35, 10), (10, 60))
    assert placed.image_size == (10, 60)
    assert placed.masks[0, 2:5, 23:27].all() and placed.masks.sum() == 12
    np.testing.assert_array_equal(placed.boxes[0], [23, 2, 27, 5])


def test_masks_touching_an_inner_edge_are_cut():
    masks = np.zeros((4, 10, 15), bool)
    masks[0, 3:6, 0:4] = True  # touches the left edge: inner for the middle window, outer for the first
    masks[1, 3:6, 11:15] = True  # touches the right edge
    masks[2, 3:6, 5:9] = True  # inside
    masks[3, 0:10, 5:9] = True  # top and bottom: the image's own edges here
    det = _det(masks)
    assert cut_by_inner_edge(det, Window(0, 0, 15, 10), (10, 40)).tolist() == [False, True, False, False]
    assert cut_by_inner_edge(det, Window(10, 0, 25, 10), (10, 40)).tolist() == [True, True, False, False]
    assert cut_by_inner_edge(det, Window(25, 0, 40, 10), (10, 40)).tolist() == [True, False, False, False]


def test_an_elongated_image_is_encoded_once_per_window_and_cached(loaded_tiny):
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 256, 3), np.uint8))
    session = ImageSession(loaded_tiny, image)
    det = session.segment(["red circle", "star"], threshold=0.0)
    expected = 1 + len(windows(256, 64))
    assert session.encode_count == expected
    assert det.image_size == (64, 256) and det.masks.shape[1:] == (64, 256)
    assert session.nbytes > ImageSession(loaded_tiny, image, tile_aspect=None).nbytes
    session.segment("hexagon", threshold=0.0)
    assert session.encode_count == expected
    # exemplar boxes are in whole-image pixels: only the whole image answers them
    boxed = ImageSession(loaded_tiny, image)
    box = [BoxPrompt((10, 10, 40, 40))]
    boxed.segment(boxes=box, threshold=0.0)
    assert boxed.encode_count == 1
    assert boxed.windows_seen == []
    boxed.segment("star", threshold=0.0)
    assert boxed.windows_seen == windows(256, 64)


def test_window_detections_are_capped_by_the_whole_image(loaded_tiny):
    """No window detection scores above what the whole image gives that phrase, over EVIDENCE_RATIO."""
    from sam3 import session as S

    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 256, 3), np.uint8))
    whole = ImageSession(loaded_tiny, image, tile_aspect=None).segment(
        "star", threshold=0.0, nms_iou=None, dedupe_overlap=None
    )
    tiled = ImageSession(loaded_tiny, image).segment("star", threshold=0.0, nms_iou=None, dedupe_overlap=None)
    assert len(tiled) >= len(whole)
    assert tiled.scores.max() <= whole.scores.max() / S.EVIDENCE_RATIO + 1e-6


def test_a_segmenter_passes_its_tiling_to_its_sessions(loaded_tiny):
    from sam3 import session as S
    from sam3.session import Segmenter

    image = Image.fromarray(np.zeros((50, 200, 3), np.uint8))
    for tile_aspect, expected in ((S.TILE_ASPECT, windows(200, 50)), (None, [])):
        session = Segmenter(loaded_tiny, tile_aspect=tile_aspect).session(image)
        session.segment("star", threshold=0.0)
        assert session.windows_seen == expected


def test_windows_are_not_encoded_for_phrases_they_could_not_lift_over_the_threshold(loaded_tiny):
    from sam3 import session as S

    image = Image.fromarray(np.random.default_rng(3).integers(0, 255, (64, 256, 3), np.uint8))
    whole = ImageSession(loaded_tiny, image, tile_aspect=None).segment("star", threshold=0.0)
    hopeless = min(1.0, whole.scores.max() / S.EVIDENCE_RATIO + 0.01)  # above any window's capped score
    session = ImageSession(loaded_tiny, image)
    assert len(session.segment("star", threshold=hopeless)) == 0
    assert session.encode_count == 1 and session.windows_seen == []
    session.segment("star", threshold=0.0)
    assert session.encode_count == 1 + len(windows(256, 64))
