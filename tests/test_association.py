"""Association mode with scripted detections: identities through occlusion, exits, unsure scores, bounded memory.

The detector is replaced by the clip's exact visible masks (or hand-set ones) fed to `AssociationTracker.update`,
so these tests check the association itself; the bundled checkpoint's detections are tested in test_bundled.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.tracking_metrics import tracking_scores, truth_for
from sam3.detections import Detections, boxes_from_masks
from sam3.video.association import AssociationConfig, AssociationTracker, association_thresholds
from sam3.video.loading import load_video_sam3
from shapesworld.video import render_video, sample_occlusion_video, sample_video

SIZE = (96, 128)


@pytest.fixture(scope="module")
def detector(tiny_checkpoint):
    return load_video_sam3(tiny_checkpoint, device="cpu").detector


def as_detections(masks: np.ndarray, scores, phrase: str = "shape") -> Detections:
    masks = np.asarray(masks, bool).reshape(-1, *masks.shape[-2:])
    return Detections(
        masks=masks,
        boxes=boxes_from_masks(masks),
        scores=np.asarray(scores, np.float32).reshape(-1),
        phrases=[phrase] * len(masks),
        image_size=masks.shape[1:],
    )


def disc(x: float, y: float, r: float = 8, size=SIZE) -> np.ndarray:
    yy, xx = np.mgrid[: size[0], : size[1]]
    return (xx - x) ** 2 + (yy - y) ** 2 <= r * r


def painted(masks_colours, size=SIZE) -> np.ndarray:
    image = np.full((*size, 3), 120, np.uint8)
    for mask, colour in masks_colours:
        image[mask] = colour
    return image


def gaps(video) -> int:
    """Objects that vanish for at least 3 frames and come back."""
    present = [set(ids.tolist()) for ids in video.ids]
    out = 0
    for oid in set().union(*present):
        seen = [t for t, p in enumerate(present) if oid in p]
        out += any(b - a > 3 for a, b in zip(seen, seen[1:]))
    return out


def assert_one_id_each(truth, results, seed) -> None:
    """One id per object, never switched; only slivers too small to describe may wait a frame or two."""
    scores = tracking_scores(truth, results)
    assert scores.id_switches == 0 and scores.predicted_objects == scores.true_objects, (seed, scores)
    assert scores.precision == 1.0 and scores.recall >= 0.95, (seed, scores)


def test_exact_detections_keep_every_identity_through_occlusion_and_exits(detector):
    """Objects pass behind others, stack, leave and come back: with exact masks no identity may change."""
    hidden = 0
    for seed in (0, 1, 2, 3):
        video = render_video(sample_occlusion_video(seed, width=SIZE[1] * 2, height=SIZE[0] * 2))
        hidden += gaps(video)
        tracker = AssociationTracker(detector, ["shape"], video.frames.shape[1:3], new_object_threshold=0.5)
        results = [
            tracker.update(as_detections(video.masks[t], [0.9] * len(video.ids[t])), frame, t)
            for t, frame in enumerate(video.frames)
        ]
        assert_one_id_each(truth_for(video, {tr.id for tr in video.video.tracks}), results, seed)
    assert hidden >= 4  # the clips do hide objects for a while: a memoryless matcher renumbers them


def test_look_alikes_keep_their_ids_on_plain_clips(detector):
    for seed in (0, 1):
        video = render_video(sample_video(seed, width=SIZE[1] * 2, height=SIZE[0] * 2))
        tracker = AssociationTracker(detector, ["shape"], video.frames.shape[1:3], new_object_threshold=0.5)
        results = [
            tracker.update(as_detections(video.masks[t], [0.9] * len(video.ids[t])), frame, t)
            for t, frame in enumerate(video.frames)
        ]
        assert_one_id_each(truth_for(video, {tr.id for tr in video.video.tracks}), results, seed)


def results(tracker, frames):
    """`frames`: per frame a list of (mask, colour, score)."""
    out = []
    for t, objects in enumerate(frames):
        image = painted([(m, c) for m, c, _ in objects])
        masks = np.stack([m for m, _, _ in objects]) if objects else np.zeros((0, *SIZE), bool)
        out.append(tracker.update(as_detections(masks, [s for *_, s in objects]), image, t))
    return out


def run(tracker, frames) -> list[list[int]]:
    return [r.object_ids for r in results(tracker, frames)]


RED, BLUE = (220, 30, 30), (30, 60, 220)


def test_unsure_detections_continue_only_a_track_seen_just_before(detector):
    """Start 0.7, keep 0.35, low 0.049: a half-hidden object at 0.2 keeps its id, a new one at 0.2 never
    starts, and an object lost for a while needs a confident detection to be found again."""
    a, b = disc(30, 40), disc(90, 40)
    frames = [
        [(a, RED, 0.9)],
        [(a, RED, 0.2), (b, BLUE, 0.2)],  # a unsure, b unsure and new
        [(a, RED, 0.2), (b, BLUE, 0.2)],
        [],
        [],
        [],
        [],
        [(a, RED, 0.2)],  # lost 5 frames: an unsure detection does not bring it back
        [(a, RED, 0.5)],  # a confident one does
    ]
    tracker = AssociationTracker(detector, ["shape"], SIZE, new_object_threshold=0.7)
    assert (tracker.low_threshold, tracker.threshold) == pytest.approx((0.049, 0.35))
    assert run(tracker, frames) == [[0], [0], [0], [], [], [], [], [], [0]]
    # the second association off (low = keep): unsure frames are gaps
    tracker = AssociationTracker(detector, ["shape"], SIZE, new_object_threshold=0.7, low_threshold=0.35)
    assert run(tracker, frames[:3]) == [[0], [], []]


def test_a_lost_object_is_expected_where_its_motion_takes_it(detector):
    """Moving right 6 px a frame, hidden for 6 frames: found again 36 px on (far from its last mask), while a
    look-alike appearing where it was last seen is a new object."""
    frames = [[(disc(20 + 6 * t, 40), RED, 0.9)] for t in range(4)]
    frames += [[] for _ in range(6)]
    frames += [[(disc(20 + 6 * t, 40), RED, 0.9), (disc(38, 70), RED, 0.9)] for t in range(10, 13)]
    ids = run(AssociationTracker(detector, ["shape"], SIZE), frames)
    assert ids[:4] == [[0]] * 4 and ids[4:10] == [[]] * 6
    assert ids[10:] == [[0, 1]] * 3


def test_a_returning_object_is_re_identified_by_its_colour(detector):
    """A red disc leaves on the left and comes back on the right: its id again; a blue one there is new."""
    red_back, blue = disc(110, 30), disc(110, 70)
    frames = [[(disc(20, 30), RED, 0.9)]] * 3 + [[]] * 8 + [[(red_back, RED, 0.9), (blue, BLUE, 0.9)]] * 2
    out = results(AssociationTracker(detector, ["shape"], SIZE), frames)
    assert [r.object_ids for r in out] == [[0]] * 3 + [[]] * 8 + [[0, 1]] * 2
    assert np.array_equal(out[-1].mask_of(0), red_back) and np.array_equal(out[-1].mask_of(1), blue)


def test_tracks_are_forgotten_and_their_number_bounded(detector):
    """One new object a frame, each seen once: at most `max_tracks` kept, none lost beyond `max_lost`."""
    config = AssociationConfig(max_lost=3, max_tracks=4)
    tracker = AssociationTracker(detector, ["shape"], SIZE, config=config)
    colours = [(30 + 40 * k % 200, 200 - 30 * k % 180, 60 + 50 * k % 190) for k in range(12)]
    for t in range(12):
        run_frame = [(disc(10 + 9 * t, 20 + 5 * (t % 10)), colours[t], 0.9)]
        image = painted([(m, c) for m, c, _ in run_frame])
        tracker.update(as_detections(np.stack([m for m, *_ in run_frame]), [0.9]), image, t)
        assert len(tracker.tracks) <= 4
        assert all(tracker.position - 1 - tr.seen <= 3 for tr in tracker.tracks.values())


def test_seeds_are_never_dropped_and_nothing_else_starts(detector):
    seed_mask = disc(30, 40)
    rle = as_detections(seed_mask[None], [0.9]).to_rle()[0]
    config = AssociationConfig(max_lost=2)
    tracker = AssociationTracker(
        detector, ["shape"], SIZE, seeds=[(7, "shape", rle, 0.9)], seed_image=painted([(seed_mask, RED)]),
        spawn=False, config=config,
    )
    frames = [[]] * 5 + [[(disc(90, 40), RED, 0.9), (disc(60, 80), BLUE, 0.9)]]
    assert run(tracker, frames) == [[]] * 5 + [[7]]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(threshold=0.6, new_object_threshold=0.5), "must not exceed new_object_threshold"),
        (dict(threshold=0.3, low_threshold=0.4), "must not exceed threshold"),
        (dict(low_threshold=1.5), "low_threshold must be in"),
    ],
)
def test_bad_thresholds_are_one_sentence(kwargs, message):
    with pytest.raises(ValueError, match=message):
        association_thresholds(0.7, **kwargs)
