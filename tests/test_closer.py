"""Looking closer: the crop around an unsure detection, matching the crop's detections back to it, and
the session's use of it (never lowers a score, touches only the unsure band, one batched pass, cached)."""

from __future__ import annotations

import numpy as np
import torch

from sam3.closer import CONTEXT, FLOOR, MIN_SIDE, crop_window, match_scores
from sam3.session import ImageSession
from tests.test_session import count_encoder_calls


def test_the_crop_is_a_square_a_few_times_the_object_centred_on_it():
    w = crop_window((400, 300, 440, 320), 1000, 800)
    assert (w.x1 - w.x0, w.y1 - w.y0) == (CONTEXT * 40, CONTEXT * 40)
    assert (w.x0 + w.x1) / 2 == 420 and (w.y0 + w.y1) / 2 == 310


def test_a_tiny_object_still_gets_context_and_a_crop_never_leaves_the_image():
    tiny = crop_window((500, 500, 504, 503), 1000, 800)
    assert tiny.x1 - tiny.x0 == MIN_SIDE and tiny.y1 - tiny.y0 == MIN_SIDE
    corner = crop_window((0, 0, 60, 60), 1000, 800)
    assert (corner.x0, corner.y0) == (0, 0) and corner.x1 == corner.y1 == CONTEXT * 60
    edge = crop_window((960, 700, 1000, 800), 1000, 800)
    assert edge.x1 == 1000 and edge.y1 == 800 and edge.x0 <= 960 and edge.y0 <= 700
    small_image = crop_window((10, 10, 50, 30), 64, 48)
    assert small_image.box == (0, 0, 64, 48)


def test_a_crop_scores_its_candidate_by_the_best_detection_that_overlaps_it():
    target = np.zeros((64, 64), bool)
    target[16:48, 16:48] = True
    logits = torch.full((2, 3, 16, 16), -5.0)
    logits[0, 0, 4:12, 4:12] = 5.0  # crop 0, query 0: the candidate
    logits[0, 1, 0:4, 12:16] = 5.0  # crop 0, query 1: something else, more confident
    logits[1, 2, 5:11, 5:11] = 5.0  # crop 1, query 2: overlaps the candidate (IoU 36/64)
    scores = torch.tensor([[0.7, 0.95, 0.1], [0.2, 0.3, 0.4]])
    got = match_scores(scores, logits, [target, target])
    np.testing.assert_allclose(got, [0.7, 0.4])
    elsewhere = np.zeros((64, 64), bool)
    elsewhere[0:8, 0:8] = True
    assert match_scores(scores, logits, [elsewhere, elsewhere]).tolist() == [0.0, 0.0]


def test_looking_closer_only_raises_unsure_scores_in_one_batched_pass_and_remembers(tiny_checkpoint, photo):
    from sam3.loading import load_sam3

    loaded_tiny = load_sam3(tiny_checkpoint, device="cpu")  # its own copy: the encoder gets a counting hook
    phrases = ["red circle", "blue squares", "object"]
    kwargs = dict(threshold=FLOOR, nms_iou=None, dedupe_overlap=None)
    plain = ImageSession(loaded_tiny, photo).segment(phrases, look_closer=False, **kwargs)
    below = float(np.median(plain.scores))
    unsure = (plain.scores >= FLOOR) & (plain.scores <= below)
    assert unsure.sum() >= 2, plain.scores  # the random model's scores straddle the band

    session = ImageSession(loaded_tiny, photo)
    calls = count_encoder_calls(loaded_tiny)
    closer = session.segment(phrases, look_closer=True, closer_below=below, **kwargs)
    assert session.closer_crops == min(unsure.sum(), 32)
    crops = {crop_window(b, 128, 96) for b in plain.boxes[unsure]}
    assert calls[0] == 1 + -(-len(crops) // 8)  # the image once, each distinct crop once, 8 per pass

    def keyed(det):
        return {(p, tuple(np.round(b, 2))): s for p, b, s in zip(det.phrases, det.boxes, det.scores)}

    before, after = keyed(plain), keyed(closer)
    assert before.keys() == after.keys()
    for key, score in before.items():
        assert after[key] >= score
        if score > below:
            assert after[key] == score

    again = session.segment(phrases, look_closer=True, closer_below=below, **kwargs)
    assert calls[0] == 1 + -(-len(crops) // 8)  # answered from the session's cache
    np.testing.assert_array_equal(again.scores, closer.scores)


def test_box_prompts_are_not_looked_at_again(loaded_tiny, photo):
    from sam3.session import BoxPrompt

    session = ImageSession(loaded_tiny, photo)
    session.segment(
        "circle", boxes=[BoxPrompt((10, 10, 60, 60))], threshold=FLOOR, look_closer=True, closer_below=1.0
    )
    assert session.closer_crops == 0


def test_a_checkpoint_calibrated_looking_closer_looks_closer_by_default(tiny_checkpoint, tmp_path, photo):
    import shutil

    from sam3.loading import load_sam3
    from training.export import set_score_threshold

    plain = load_sam3(tiny_checkpoint, device="cpu")
    assert not plain.look_closer  # facebook/sam3's 0.5 was not calibrated with it
    calibrated = tmp_path / "calibrated"
    shutil.copytree(tiny_checkpoint, calibrated)
    set_score_threshold(calibrated, 0.6, look_closer=True)
    loaded = load_sam3(str(calibrated), device="cpu")
    assert loaded.look_closer and loaded.score_threshold == 0.6
    session = ImageSession(loaded, photo)
    session.segment(["red circle", "object"], threshold=FLOOR, closer_below=1.0)
    assert session.closer_crops > 0
    off = ImageSession(loaded, photo)
    off.segment(["red circle", "object"], threshold=FLOOR, closer_below=1.0, look_closer=False)
    assert off.closer_crops == 0
