"""Synthetic videos: per-frame truth, identities that hold through crossings, exits and entries, mp4 files."""

import cv2
import decord
import numpy as np
import pytest

from sam3.video import writer
from shapesworld.render import visible_masks
from shapesworld.video import VideoTrack, _outside, render_video, sample_occlusion_video, sample_video, write_mp4

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def clips():
    return [render_video(sample_video(seed)) for seed in SEEDS]


def unoccluded(clip, track_id, t):
    """The object's mask at frame t were nothing in front of it."""
    track = next(tr for tr in clip.video.tracks if tr.id == track_id)
    return visible_masks([track.shape_at(t)], clip.video.height, clip.video.width)[1][0]


def centroid(mask):
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def test_frames_and_truth_line_up(clips):
    for clip in clips:
        v = clip.video
        assert clip.frames.shape == (v.n_frames, v.height, v.width, 3) and clip.frames.dtype == np.uint8
        assert len(clip.ids) == len(clip.masks) == len(clip.boxes) == v.n_frames == 30
        for ids, masks, boxes in zip(clip.ids, clip.masks, clip.boxes, strict=True):
            assert masks.shape == (len(ids), v.height, v.width) and masks.dtype == bool
            assert len(set(ids.tolist())) == len(ids) and masks.sum(0).max(initial=0) <= 1
            for mask, box in zip(masks, boxes, strict=True):
                ys, xs = np.nonzero(mask)
                assert tuple(box) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_an_object_moves_at_most_its_speed_per_frame(clips):
    checked = 0
    for clip in clips:
        speed = {tr.id: tr.speed for tr in clip.video.tracks}
        whole = {}  # (t, id) -> centroid, for objects fully in view and unoccluded
        for t, (ids, masks) in enumerate(zip(clip.ids, clip.masks, strict=True)):
            for i, mask in zip(ids.tolist(), masks, strict=True):
                inside = not (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())
                if inside and np.array_equal(mask, unoccluded(clip, i, t)):
                    whole[t, i] = centroid(mask)
        for (t, i), c in whole.items():
            if (t + 1, i) in whole:
                assert np.linalg.norm(whole[t + 1, i] - c) <= speed[i] + 1.0, (clip.video.seed, t, i)
                checked += 1
    assert checked > 100


def test_each_id_keeps_its_colour(clips):
    """Were ids swapped when objects cross, a mask would hold another object's colour."""
    for clip in clips:
        rgb = {tr.id: tr.rgb for tr in clip.video.tracks}
        for frame, ids, masks in zip(clip.frames, clip.ids, clip.masks, strict=True):
            for i, mask in zip(ids.tolist(), masks, strict=True):
                inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
                if inner.sum() >= 30:
                    assert np.abs(np.median(frame[inner].astype(int), 0) - rgb[i]).max() <= 8, i


def test_crossing_objects_keep_ids_and_draw_order(clips):
    crossings = 0
    for clip in clips:
        depth = {tr.id: k for k, tr in enumerate(clip.video.tracks)}
        for t, (ids, masks) in enumerate(zip(clip.ids, clip.masks, strict=True)):
            ids = ids.tolist()
            for a in ids:
                for b in ids:
                    overlap = unoccluded(clip, a, t) & unoccluded(clip, b, t)
                    if depth[a] < depth[b] and overlap.any():  # b is in front of a
                        assert masks[ids.index(b)][overlap].all() and not masks[ids.index(a)][overlap].any()
                        before = any(a in x and b in x for x in clip.ids[:t])
                        after = any(a in x and b in x for x in clip.ids[t + 1:])
                        crossings += before and after
    assert crossings > 0


def test_objects_leave_and_enter(clips):
    for clip in clips:
        first, last = set(clip.ids[0].tolist()), set(clip.ids[-1].tolist())
        present = [set(ids.tolist()) for ids in clip.ids]
        assert first - last and last - first
        for tr in clip.video.tracks:
            seen = [t for t, p in enumerate(present) if tr.id in p]
            assert not seen or (seen[0] >= tr.enter and seen[-1] < (tr.exit or clip.video.n_frames))
        assert any(tr.enter > 0 for tr in clip.video.tracks)
        assert any(tr.exit is not None for tr in clip.video.tracks)


def test_same_seed_same_video(clips):
    again = render_video(sample_video(SEEDS[0]))
    assert again.video.tracks == clips[0].video.tracks and np.array_equal(again.frames, clips[0].frames)
    assert sample_video(SEEDS[1]).tracks != clips[0].video.tracks


def test_bouncing_tracks_stay_in_their_box():
    v = sample_video(3, seconds=10.0, fps=12, n_objects=6)
    assert v.n_frames == 120
    t = np.arange(v.n_frames)
    for tr in v.tracks:
        if tr.bounds is not None:
            x, y = tr.centres(t)
            xmin, ymin, xmax, ymax = tr.bounds
            assert (x >= xmin - 1e-6).all() and (x <= xmax + 1e-6).all()
            assert (y >= ymin - 1e-6).all() and (y <= ymax + 1e-6).all()


@pytest.fixture(scope="module")
def occlusion_clips():
    return [render_video(sample_occlusion_video(seed)) for seed in SEEDS]


def test_occlusion_clips_hide_stack_and_bring_back_objects(occlusion_clips):
    """Each clip has an object hidden behind another while in the picture, one that leaves the picture and
    comes back, one partly covered most of the time, and a kind with two instances; ids keep their colours."""
    for clip in occlusion_clips:
        v = clip.video
        frames = np.arange(v.n_frames)
        present = [set(ids.tolist()) for ids in clip.ids]
        hidden_inside = came_back = covered = 0
        for tr in v.tracks:
            out = _outside(*tr.centres(frames), tr.radius, v.width, v.height)
            seen = np.array([tr.id in p for p in present])
            gap = ~seen & ~out & (frames >= tr.enter) & (frames < (tr.exit or v.n_frames))
            first, last = np.flatnonzero(seen)[[0, -1]]
            hidden_inside = max(hidden_inside, int(gap[first:last].sum()))
            came_back += bool(out[first:last].any())
            partial = [
                masks[list(ids).index(tr.id)].sum() < unoccluded(clip, tr.id, t).sum()
                for t, (ids, masks) in enumerate(zip(clip.ids, clip.masks, strict=True))
                if tr.id in ids
            ]
            covered += np.mean(partial) > 0.8
        kinds = [tr.kind for tr in v.tracks]
        assert hidden_inside >= 3 and came_back and covered, (v.seed, hidden_inside, came_back, covered)
        assert max(kinds.count(k) for k in kinds) >= 2
        assert v.n_frames == 40 and (v.width, v.height) == (256, 192)
        rgb = {tr.id: tr.rgb for tr in v.tracks}
        for frame, ids, masks in zip(clip.frames, clip.ids, clip.masks, strict=True):
            for i, mask in zip(ids.tolist(), masks, strict=True):
                inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
                if inner.sum() >= 30:
                    assert np.abs(np.median(frame[inner].astype(int), 0) - rgb[i]).max() <= 8, i


def test_occlusion_clips_are_seeded_and_checked():
    a, b = sample_occlusion_video(11), sample_occlusion_video(11)
    assert a.tracks == b.tracks and a.tracks != sample_occlusion_video(12).tracks
    for kwargs in (dict(width=64), dict(seconds=1.0), dict(fps=0)):
        with pytest.raises(ValueError):
            sample_occlusion_video(0, **kwargs)


def test_mp4_round_trip(clips, tmp_path):
    clip = clips[0]
    path = tmp_path / "clip.mp4"
    assert write_mp4(clip.frames, path, clip.video.fps) == "libx264"
    reader = decord.VideoReader(str(path))
    assert len(reader) == clip.video.n_frames
    frames = reader.get_batch(list(range(len(reader)))).asnumpy()
    assert frames.shape == clip.frames.shape
    assert np.abs(frames.astype(int) - clip.frames).mean() < 4
    assert abs(reader.get_avg_fps() - clip.video.fps) < 0.1


def test_mp4_falls_back_to_mpeg4(clips, tmp_path, monkeypatch):
    monkeypatch.setattr(writer, "ENCODERS", ("no-such-encoder", "mpeg4"))
    frames = clips[1].frames[:12]
    path = tmp_path / "fallback.mp4"
    assert write_mp4(frames, path, 10) == "mpeg4"
    reader = decord.VideoReader(str(path))
    assert len(reader) == 12 and reader[0].shape == frames.shape[1:]


@pytest.mark.parametrize(
    "kwargs",
    [dict(seconds=1.5), dict(seconds=10.5), dict(fps=0), dict(fps=7.5), dict(n_objects=7),
     dict(width=16), dict(max_objects=-1)],
)
def test_sample_video_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        sample_video(0, **kwargs)


def test_bad_tracks_and_frames(tmp_path):
    look = dict(id=0, kind="star", colour="red", rgb=(200, 30, 30), radius=10.0, x0=5.0, y0=5.0, vx=1.0, vy=0)
    with pytest.raises(ValueError):
        VideoTrack(**look, turn=2.0, bounds=(0.0, 0.0, 50.0, 50.0))
    with pytest.raises(ValueError):
        VideoTrack(**look, enter=5, exit=5)
    with pytest.raises(ValueError):
        write_mp4(np.zeros((3, 32, 32, 3), np.float32), tmp_path / "float.mp4", 10)
    with pytest.raises(ValueError):
        sample_video(0).shapes_at(30)
