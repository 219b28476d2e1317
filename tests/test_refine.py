"""Refining one object with clicks and boxes, on the image session's cached backbone output."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PIL import Image

from sam3.refine import Click, Refiner
from sam3.session import ImageSession


@pytest.fixture(scope="module")
def refiner(loaded_tiny):
    return Refiner(loaded_tiny)


@pytest.fixture
def session(loaded_tiny):
    img = Image.fromarray(np.random.default_rng(2).integers(0, 255, (70, 90, 3), dtype=np.uint8))
    return ImageSession(loaded_tiny, img)


def test_detector_only_checkpoint_gets_a_matching_tracker_sharing_the_backbone(refiner, loaded_tiny):
    assert refiner.shares_backbone and not refiner.trained
    assert refiner.tracker.vision_encoder.backbone is loaded_tiny.model.vision_encoder.backbone


def test_clicks_and_boxes_give_one_full_size_mask_without_re_encoding(refiner, session, loaded_tiny):
    layer_calls = [0]
    handle = loaded_tiny.model.vision_encoder.backbone.layers[0].register_forward_hook(
        lambda *a: layer_calls.__setitem__(0, layer_calls[0] + 1)
    )
    try:
        one = refiner.refine(session, [Click(30, 40)])
        two = refiner.refine(session, [Click(30, 40), Click(60, 20, positive=False)], box=(10, 10, 70, 60))
        box = refiner.refine(session, box=(5, 5, 50, 50))
    finally:
        handle.remove()
    assert layer_calls[0] == 1, "the ViT runs once per image, for detection and refinement together"
    for det in (one, two, box):
        assert len(det) == 1 and det.masks.shape == (1, 70, 90) and det.image_size == (70, 90)
    assert session.encode_count == 1


def test_cached_path_equals_the_trackers_own_encoding(refiner, session):
    emb = refiner._embeddings(session)
    with torch.no_grad():
        pixels = refiner.processor(images=session.image, return_tensors="pt").pixel_values
        own = refiner.tracker.get_image_embeddings(pixels)
    for a, b in zip(emb, own):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "clicks, box, message", [([], None, "at least one click"), ([Click(500, 5)], None, "outside")]
)
def test_bad_refinement_input(refiner, session, clicks, box, message):
    with pytest.raises(ValueError, match=message):
        refiner.refine(session, clicks, box)


def test_refining_while_others_encode_never_mixes_images(refiner, loaded_tiny):
    """Clicks on images A and B while other visitors' images are encoded: every encoding and every refined
    mask is exactly what it is alone (the shared backbone is never swapped or patched)."""
    rng = np.random.default_rng(5)
    images = [Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)) for _ in range(4)]
    clicks = [Click(20, 30)]
    alone_refined = [refiner.refine(ImageSession(loaded_tiny, im), clicks).masks for im in images[:2]]
    alone_features = [ImageSession(loaded_tiny, im).vision().last_hidden_state.clone() for im in images[2:]]
    bad: list[str] = []

    def refine_loop():
        for i in range(40):  # alternating images: the refiner computes embeddings every time
            det = refiner.refine(ImageSession(loaded_tiny, images[i % 2]), clicks)
            if not np.array_equal(det.masks, alone_refined[i % 2]):
                bad.append(f"refined mask of image {i % 2} changed")

    def encode_loop(k: int):
        for _ in range(40):
            features = ImageSession(loaded_tiny, images[k + 2]).vision().last_hidden_state
            if not torch.equal(features, alone_features[k]):
                bad.append(f"image {k + 2} got other features")

    threads = [threading.Thread(target=refine_loop), *(threading.Thread(target=encode_loop, args=(k,)) for k in (0, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad, f"{len(bad)} mixed results, e.g. {bad[:3]}"
