"""Image sessions: one encoding for many prompts, batching equal to one-by-one, box prompts, the LRU."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sam3.session import BoxPrompt, ImageSession, Segmenter, Timing


def count_encoder_calls(loaded) -> list[int]:
    calls = [0]

    def hook(*_):
        calls[0] += 1

    loaded.model.vision_encoder.register_forward_hook(hook)
    return calls


def test_many_phrases_and_rounds_encode_the_image_once(tiny_checkpoint):
    from sam3.loading import load_sam3

    loaded = load_sam3(tiny_checkpoint, device="cpu")
    calls = count_encoder_calls(loaded)
    seg = Segmenter(loaded)
    img = Image.fromarray(np.full((80, 100, 3), 120, np.uint8))
    seg.segment(img, ["red circle", "blue square", "star"], threshold=0.0)
    seg.segment(img, "red circle", threshold=0.0)
    seg.segment(img.copy(), ["hexagon"], boxes=[BoxPrompt((5, 5, 40, 40))], threshold=0.0)
    assert calls[0] == 1
    stats = seg.cache_stats()
    assert (stats.hits, stats.misses, stats.encoder_calls) == (2, 1, 1)


def test_batched_phrases_equal_one_by_one(loaded_tiny, photo):
    phrases = ["red circle", "blue squares", "object", "a zebra!"]
    kwargs = dict(threshold=0.0, nms_iou=None, dedupe_overlap=None)
    together = ImageSession(loaded_tiny, photo).segment(phrases, **kwargs)
    for phrase in phrases:
        alone = ImageSession(loaded_tiny, photo).segment(phrase, **kwargs)
        mine = together.with_phrase(phrase)
        assert len(mine) == len(alone) == loaded_tiny.model.config.detr_decoder_config.num_queries
        np.testing.assert_allclose(np.sort(mine.scores), np.sort(alone.scores), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(
            mine.boxes[np.argsort(mine.scores)], alone.boxes[np.argsort(alone.scores)], atol=1e-3
        )


def test_results_are_in_original_pixels(loaded_tiny, photo):
    det = ImageSession(loaded_tiny, photo).segment("circle", threshold=0.0)
    assert det.image_size == (96, 128)
    assert det.masks.shape[1:] == (96, 128)
    assert (det.boxes[:, [0, 2]] <= 128).all() and (det.boxes[:, [1, 3]] <= 96).all()
    assert (det.scores >= 0).all() and (det.scores <= 1).all()


def test_scores_combine_query_and_presence(loaded_tiny, photo):
    import torch

    session = ImageSession(loaded_tiny, photo)
    det = session.segment("star", threshold=0.0, nms_iou=None, dedupe_overlap=None)
    tok = loaded_tiny.processor(images=photo, text="star", return_tensors="pt")
    with torch.no_grad():
        out = loaded_tiny.model(**{k: v for k, v in tok.items() if k != "original_sizes"})
    expected = (out.pred_logits.sigmoid() * out.presence_logits.sigmoid())[0].numpy()
    np.testing.assert_allclose(np.sort(det.scores), np.sort(expected), rtol=1e-4)


def test_threshold_filters(loaded_tiny, photo):
    session = ImageSession(loaded_tiny, photo)
    everything = session.segment("star", threshold=0.0, nms_iou=None, dedupe_overlap=None)
    cut = float(np.median(everything.scores))
    some = session.segment("star", threshold=cut, nms_iou=None, dedupe_overlap=None)
    assert 0 < len(some) < len(everything)
    assert (some.scores > cut).all()
    assert len(session.segment("star", threshold=1.0)) == 0


def test_the_default_threshold_is_the_one_the_checkpoint_declares(tiny_checkpoint, loaded_tiny, photo, tmp_path):
    """facebook/sam3's 0.5 unless the checkpoint records its own (as the bundled one does at export)."""
    import shutil

    from sam3.loading import load_sam3
    from training.export import set_score_threshold

    everything = ImageSession(loaded_tiny, photo).segment("star", threshold=0.0, nms_iou=None, dedupe_overlap=None)
    cut = float(np.median(everything.scores))
    assert loaded_tiny.score_threshold == 0.5
    assert len(ImageSession(loaded_tiny, photo).segment("star")) == 0  # random scores stay below 0.5

    calibrated = tmp_path / "calibrated"
    shutil.copytree(tiny_checkpoint, calibrated)
    set_score_threshold(calibrated, cut)
    loaded = load_sam3(str(calibrated), device="cpu")
    assert loaded.score_threshold == pytest.approx(cut)
    session = ImageSession(loaded, photo)
    default = session.segment("star", nms_iou=None, dedupe_overlap=None)
    explicit = session.segment("star", threshold=cut, nms_iou=None, dedupe_overlap=None)
    assert 0 < len(default) < len(everything)
    np.testing.assert_array_equal(default.scores, explicit.scores)
    with pytest.raises(ValueError, match="lies in"):
        set_score_threshold(calibrated, 1.5)


def test_the_default_mask_threshold_is_the_one_the_checkpoint_declares(tiny_checkpoint, loaded_tiny, photo, tmp_path):
    import shutil

    from sam3.loading import load_sam3
    from training.export import set_score_threshold

    assert loaded_tiny.mask_threshold == 0.5
    calibrated = tmp_path / "calibrated"
    shutil.copytree(tiny_checkpoint, calibrated)
    set_score_threshold(calibrated, 0.5, mask_threshold=0.3)
    loaded = load_sam3(str(calibrated), device="cpu")
    assert loaded.mask_threshold == pytest.approx(0.3)
    opts = dict(threshold=0.0, nms_iou=None, dedupe_overlap=None)
    session = ImageSession(loaded, photo)
    default, explicit = session.segment("star", **opts), session.segment("star", mask_threshold=0.3, **opts)
    half = session.segment("star", mask_threshold=0.5, **opts)
    np.testing.assert_array_equal(default.masks, explicit.masks)
    assert (default.masks.sum(axis=(1, 2)) >= half.masks.sum(axis=(1, 2))).all()
    assert default.masks.sum() > half.masks.sum()
    with pytest.raises(ValueError, match="mask threshold lies in"):
        set_score_threshold(calibrated, 0.5, mask_threshold=0.0)


def test_exemplar_boxes_change_the_prompt(loaded_tiny, photo):
    session = ImageSession(loaded_tiny, photo)
    opts = dict(threshold=0.0, nms_iou=None, dedupe_overlap=None)
    text_only = session.segment("circle", **opts)
    with_box = session.segment("circle", boxes=[BoxPrompt((10, 10, 60, 50))], **opts)
    with_neg = session.segment(
        "circle", boxes=[BoxPrompt((10, 10, 60, 50)), BoxPrompt((70, 20, 120, 90), False)], **opts
    )
    box_only = session.segment([], boxes=[BoxPrompt((10, 10, 60, 50))], **opts)
    assert not np.allclose(np.sort(text_only.scores), np.sort(with_box.scores))
    assert not np.allclose(np.sort(with_box.scores), np.sort(with_neg.scores))
    assert set(box_only.phrases) == {"visual"}
    assert session.encode_count == 1


@pytest.mark.parametrize(
    "phrases, boxes, message",
    [
        (["  "], [], "empty phrase"),
        ([], [], "nothing to segment"),
    ],
)
def test_bad_prompts(loaded_tiny, photo, phrases, boxes, message):
    with pytest.raises(ValueError, match=message):
        ImageSession(loaded_tiny, photo).segment(phrases, boxes=boxes)


def test_bad_box_and_threshold(loaded_tiny, photo):
    with pytest.raises(ValueError, match="x1 > x0"):
        BoxPrompt((50, 10, 20, 40))
    with pytest.raises(ValueError, match="threshold"):
        ImageSession(loaded_tiny, photo).segment("star", threshold=1.5)


def test_non_rgb_image_is_refused(loaded_tiny):
    with pytest.raises(ValueError, match="RGB"):
        ImageSession(loaded_tiny, Image.new("L", (32, 32)))


def test_timing_is_split_by_stage(loaded_tiny, photo):
    t = Timing()
    session = ImageSession(loaded_tiny, photo)
    session.segment(["a", "b"], timing=t)
    first = t.as_dict()
    assert all(first[k] > 0 for k in ("encode_ms", "text_ms", "prompt_ms"))
    encode_ms = t.encode_ms
    session.segment(["a", "b"], timing=t)
    assert t.encode_ms == encode_ms  # cached: no second encoding


def test_lru_evicts_oldest_and_bounds_sessions(loaded_tiny):
    seg = Segmenter(loaded_tiny, max_sessions=2)
    images = [Image.fromarray(np.full((40, 40, 3), v, np.uint8)) for v in (10, 20, 30)]
    for im in images:
        seg.segment(im, "circle")
    stats = seg.cache_stats()
    assert stats.sessions == 2 and stats.evictions == 1 and stats.encoder_calls == 3
    seg.segment(images[2], "star")  # still cached
    seg.segment(images[0], "star")  # was evicted: encodes again
    assert seg.cache_stats().encoder_calls == 4


def test_lru_bounds_memory(loaded_tiny):
    probe = Segmenter(loaded_tiny)
    probe.segment(Image.fromarray(np.zeros((40, 40, 3), np.uint8)), "x")
    per_image = probe.cache_stats().nbytes
    assert per_image > 0
    seg = Segmenter(loaded_tiny, max_sessions=100, max_bytes=int(per_image * 2.5))
    for v in range(6):
        seg.segment(Image.fromarray(np.full((40, 40, 3), v, np.uint8)), "x")
    stats = seg.cache_stats()
    assert stats.sessions == 2 and stats.nbytes <= per_image * 2.5


def test_boxes_agree_with_masks(loaded_tiny, photo):
    from sam3.detections import boxes_from_masks

    det = ImageSession(loaded_tiny, photo).segment(["circle", "star"], threshold=0.0)
    filled = det.masks.any(axis=(1, 2))
    assert filled.any()
    np.testing.assert_array_equal(det.boxes[filled], boxes_from_masks(det.masks[filled]))


def test_upsampling_in_chunks_equals_one_pass():
    import torch

    from sam3.session import upsample_masks

    logits = torch.randn(7, 16, 16)
    whole = upsample_masks(logits, (50, 70), 0.5)
    chunked = upsample_masks(logits, (50, 70), 0.5, chunk_pixels=2 * 50 * 70)
    reference = (
        torch.nn.functional.interpolate(logits[:, None], size=(50, 70), mode="bilinear").sigmoid()[:, 0] > 0.5
    )
    np.testing.assert_array_equal(whole, chunked)
    np.testing.assert_array_equal(whole, reference.numpy())
