"""Video layer with tiny random models: reader, loading, text tracking, prompts, memory window, exports.

Random weights mean no test here can say that masks follow the shapes: that needs a trained
tracker, which does not exist yet. These tests check plumbing, formats, identities as SAM 3's
own logic assigns them and the memory bound; association mode is tested in test_association.py.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from sam3.video.config import tracker_incompatibility
from sam3.video.export import TrackRecorder, masklets_json, write_overlay, ytvis_results
from sam3.video.loading import (
    load_tracker_video,
    load_video_sam3,
)
from sam3.video.reader import (
    EmptyVideoError,
    VideoDecodeError,
    VideoNotFoundError,
    VideoRangeError,
    VideoReader,
    VideoSizeError,
    VideoTooLongError,
    parse_position,
)
from sam3.video.results import FrameResult
from sam3.video.session import StreamingVideoSession, memory_window
from sam3.video.tracking import PromptTracker, TextTracker, track_from_masks, track_text
from shapesworld.phrases import vocabulary
from shapesworld.video import write_mp4
from tests.threads import torch_threads
from training.build import new_model, save_checkpoint
from training.configs import TINY_VIDEO

PROMPTS = ["red circle", "blue square"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Two threads on a busy two-core machine are several times slower than one."""
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def loaded_video(tiny_video_checkpoint):
    return load_video_sam3(tiny_video_checkpoint, device="cpu")


@pytest.fixture(scope="module")
def loaded_tracker(tiny_video_checkpoint):
    return load_tracker_video(tiny_video_checkpoint, device="cpu")


# -- reader ------------------------------------------------------------------------------------------
def test_reader_metadata_range_stride_and_random_access(shapes_clip):
    _, frames, path = shapes_clip
    for backend in ("decord", "pyav"):
        r = VideoReader(path, backend=backend)
        assert (r.width, r.height, r.info.fps, r.info.num_frames, len(r)) == (96, 64, 10.0, 12, 12)
        decoded = [f.image for f in r]
        assert len(decoded) == 12 and decoded[0].shape == (64, 96, 3) and decoded[0].dtype == np.uint8
        assert np.abs(decoded[5].astype(int) - frames[5]).mean() < 8  # lossy codec, same picture
        sub = VideoReader(path, start=2, end="1.0s", stride=3, backend=backend)
        assert list(sub.indices) == [2, 5, 8] and [f.index for f in sub] == [2, 5, 8]
        assert sub.fps == pytest.approx(10 / 3)
        assert np.array_equal(sub.get(1).image, decoded[5]) and sub.get(-1).index == 8


def test_reader_applies_rotation_metadata(tmp_path):
    frames = np.zeros((3, 32, 48, 3), np.uint8)
    frames[:, :8, :16] = 255  # a white block in the top-left corner
    path = tmp_path / "rot.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 48, 32, "yuv420p"
        s.set_display_rotation(90)
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    r = VideoReader(path)
    assert r.info.rotation == 90 and r.backend == "pyav" and (r.width, r.height) == (32, 48)
    image = r.get(0).image
    assert image.shape == (48, 32, 3)
    ys, xs = np.nonzero(image.mean(axis=2) > 128)
    assert ys.min() >= 48 - 16 - 2 and xs.max() <= 8 + 2  # counter-clockwise: top-left went bottom-left


def _faststart(path: Path, frames: np.ndarray) -> bytes:
    with av.open(str(path), "w", options={"movflags": "faststart"}) as c:
        s = c.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for f in frames:
            c.mux(s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        c.mux(s.encode())
    return path.read_bytes()


def make_bad_video(kind: str, tmp_path: Path, good: str) -> str:
    """Bad inputs shared with the CLI tests."""
    path = tmp_path / f"{kind}.mp4"
    if kind == "missing":
        return str(tmp_path / "nope.mp4")
    if kind == "text":
        path.write_text("hello, not a video")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":  # moov box at the end, cut off
        data = Path(good).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "truncated_tail":  # header intact, half the frames missing
        noise = np.random.default_rng(0).integers(0, 255, (20, 32, 32, 3), dtype=np.uint8)
        data = _faststart(tmp_path / "full.mp4", noise)
        path.write_bytes(data[: len(data) // 2])
    elif kind == "zero_frames":  # a container written with a video stream and no frames
        c = av.open(str(path), "w")
        s = c.add_stream("mpeg4", rate=10)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        c.start_encoding()
        c.close()
    elif kind == "tiny":
        write_mp4(np.zeros((2, 4, 4, 3), np.uint8), path, 10)
    else:
        raise ValueError(kind)
    return str(path)


@pytest.mark.parametrize(
    "kind, error, words",
    [
        ("missing", VideoNotFoundError, "no video file"),
        ("text", VideoDecodeError, "not a video"),
        ("empty", EmptyVideoError, "empty file"),
        ("truncated", VideoDecodeError, "not a video"),
        ("truncated_tail", VideoDecodeError, "truncated"),
        ("zero_frames", EmptyVideoError, "no video stream"),
        ("tiny", VideoSizeError, "sides from"),
    ],
)
def test_reader_bad_files_raise_one_sentence(kind, error, words, shapes_clip, tmp_path):
    with pytest.raises(error) as info:
        VideoReader(make_bad_video(kind, tmp_path, shapes_clip[2]))
    message = str(info.value)
    assert isinstance(info.value, ValueError) and words in message
    assert "\n" not in message and message.count(". ") == 0


def test_reader_bad_ranges_and_length_limit(shapes_clip):
    path = shapes_clip[2]
    for kwargs, words in [
        ({"start": 12}, "outside"),
        ({"start": 5, "end": 5}, "holds no frames"),
        ({"stride": 0}, "stride"),
        ({"start": "abc"}, "frame number or seconds"),
        ({"end": "-1s"}, "frame number or seconds"),
    ]:
        with pytest.raises(VideoRangeError, match=words):
            VideoReader(path, **kwargs)
    with pytest.raises(VideoTooLongError, match="over the 0.5 s limit"):
        VideoReader(path, max_seconds=0.5)
    assert len(VideoReader(path, end=5, max_seconds=0.5)) == 5  # a range within the limit is fine
    assert len(VideoReader(path, max_seconds=None)) == 12
    info = VideoReader(path).info
    assert parse_position("0.5s", info, "start") == 5 and parse_position(7, info, "end") == 7
    assert parse_position("9s", info, "end") == 12  # past the end: the end


def _variable_rate_video(path: Path, rotation: int) -> list[float]:
    """40 frames, frame k a flat grey of 6k, shown alternately for 1/30 s and 1/7 s (as phone videos
    vary their rate); returns each frame's start time."""
    starts, t = [], 0
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=30)
        s.width, s.height, s.pix_fmt, s.time_base = 32, 24, "yuv420p", Fraction(1, 1000)
        if rotation:
            s.set_display_rotation(rotation)
        for k in range(40):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 6 * k, np.uint8), format="rgb24")
            frame.pts, frame.time_base = t, s.time_base
            starts.append(t / 1000)
            c.mux(s.encode(frame))
            t += 33 if k % 2 == 0 else 143
        c.mux(s.encode())
    return starts


@pytest.mark.parametrize("rotation, backend", [(0, "decord"), (0, "pyav"), (90, "pyav")])
def test_reader_seeks_variable_frame_rate_videos_by_their_timestamps(rotation, backend, tmp_path):
    path = tmp_path / "vfr.mp4"
    starts = _variable_rate_video(path, rotation)
    r = VideoReader(path, backend=backend)
    assert r.backend == backend and r.info.num_frames == 40

    def grey(frame):  # which frame this is, from its grey level
        return int(round(frame.image.mean() / 6))

    assert [grey(f) for f in r] == list(range(40))
    assert [grey(r.get(i)) for i in range(40)] == list(range(40))  # random access: every frame itself
    later = VideoReader(path, start=17, stride=5, backend=backend)
    assert [(f.index, grey(f)) for f in later] == [(i, i) for i in range(17, 40, 5)]
    for t in (0.5, 1.0, 2.0):  # a time selects the frame that starts nearest to it
        want = int(np.argmin(np.abs(np.array(starts) - t)))
        assert VideoReader(path, start=f"{t}s", backend=backend).start == want


# -- loading -----------------------------------------------------------------------------------------
def test_one_checkpoint_loads_as_video_tracker_and_image_model(
    tiny_video_checkpoint, loaded_video, loaded_tracker
):
    from sam3.loading import load_sam3

    assert loaded_video.mode == "sam3" and loaded_video.tracker_trained and loaded_video.note is None
    assert loaded_tracker.tracker_trained and loaded_tracker.note is None
    video = loaded_video.model
    same = [
        (loaded_tracker.model.vision_encoder.backbone, video.detector_model.vision_encoder.backbone),
        (loaded_tracker.model.vision_encoder.neck, video.tracker_neck),
        (loaded_tracker.model.memory_attention, video.tracker_model.memory_attention),
    ]
    for a, b in same:
        assert all(
            torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
        )
    image = load_sam3(tiny_video_checkpoint, device="cpu")
    assert torch.equal(
        image.model.detr_decoder.query_embed.weight, video.detector_model.detr_decoder.query_embed.weight
    )


def test_detector_only_checkpoints_say_the_tracker_is_missing(tiny_checkpoint, tmp_path):
    # hidden 32 (like the bundled ShapesWorld model's 64): no tracker fits, so detection + matching
    loaded = load_video_sam3(tiny_checkpoint, device="cpu")
    assert loaded.mode == "associate" and loaded.model is None and not loaded.tracker_trained
    assert "detector-only" in loaded.note and "\n" not in loaded.note
    with pytest.raises(Exception, match="not available"):
        load_tracker_video(tiny_checkpoint, device="cpu")
    # hidden 128: SAM 3's tracker fits, but its weights are random, and it says so
    model, proc = new_model(TINY_VIDEO, vocabulary())
    directory = save_checkpoint(model, proc, tmp_path / "det128")
    loaded = load_video_sam3(directory, device="cpu")
    assert loaded.mode == "sam3" and not loaded.tracker_trained and "randomly initialised" in loaded.note
    assert torch.equal(
        loaded.model.detector_model.detr_decoder.query_embed.weight, model.detr_decoder.query_embed.weight
    )
    assert tracker_incompatibility(model.config) is None
    assert not load_tracker_video(directory, device="cpu").tracker_trained


# -- text tracking -----------------------------------------------------------------------------------
def _check_result(r: FrameResult, size: tuple[int, int]) -> None:
    assert r.size == size and len(r.object_ids) == len(r.rles) == len(r.boxes) == len(r.scores)
    masks = r.masks()
    assert masks.shape == (len(r), *size)
    for i, rle in enumerate(r.rles):
        assert rle["size"] == list(size) and isinstance(rle["counts"], str)
        assert masks[i].any()
        ys, xs = np.nonzero(masks[i])
        assert np.allclose(r.boxes[i], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])


def test_text_tracking_streams_from_a_generator(loaded_video, shapes_clip):
    _, frames, _ = shapes_clip
    calls = []
    results = list(
        track_text(
            (f for f in frames),
            PROMPTS,
            loaded_video,
            progress=lambda done, total: calls.append((done, total)),
        )
    )
    assert [r.index for r in results] == list(range(12)) and [r.position for r in results] == list(range(12))
    assert calls == [(i, None) for i in range(1, 13)]
    assert any(len(r) for r in results)  # the low thresholds of this checkpoint find objects
    for r in results:
        _check_result(r, (64, 96))
        assert set(r.phrases) <= set(PROMPTS)
    ids = [i for r in results for i in r.object_ids]
    assert all(isinstance(i, int) and i >= 0 for i in ids)


def test_text_tracking_hotstart_delays_but_keeps_every_frame(loaded_video, shapes_clip):
    _, frames, path = shapes_clip
    model = loaded_video.model
    model.hotstart_delay, before = 4, model.hotstart_delay
    try:
        tracker = TextTracker(loaded_video, PROMPTS, (64, 96), total_frames=12)
        ready_after = [len(tracker.step(f, i)) for i, f in enumerate(frames)]
        assert ready_after[:3] == [0, 0, 0] and sum(ready_after) == 12 - 3
        assert len(tracker.flush()) == 3
        results = list(track_text(VideoReader(path, start=1, stride=2), "red circle", loaded_video))
        assert [r.index for r in results] == [1, 3, 5, 7, 9, 11]
    finally:
        model.hotstart_delay = before


def test_session_memory_is_bounded_and_changes_nothing(loaded_video):
    """60 streamed frames: the trimmed session keeps a fixed window, the untrimmed one grows,
    and both give the same mask logits on every frame."""
    model, proc = loaded_video.model, loaded_video.processor
    cfg = model.config.tracker_config
    window = memory_window(cfg)
    assert window == 15
    rng = np.random.default_rng(1)
    sessions = {}
    for trim in (True, False):
        s = StreamingVideoSession(
            video_height=48,
            video_width=48,
            window=window,
            maskmem_window=cfg.num_maskmem - 1,
            keep_cond_frames=cfg.max_cond_frame_num,
            hotstart_delay=0,
            trim=trim,
        )
        proc.add_text_prompt(s, PROMPTS)
        sessions[trim] = s
    base = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
    with torch.inference_mode():
        for t in range(60):
            frame = np.roll(base, t, axis=1)
            pixels = proc.image_processor(images=frame, return_tensors="pt").pixel_values[0]
            outs = {}
            for trim, s in sessions.items():
                outs[trim] = model(inference_session=s, frame=pixels, frame_idx=t)
                s.trim(t)
            a, b = outs[True], outs[False]
            assert a.object_ids == b.object_ids
            for oid in a.obj_id_to_mask:
                assert torch.equal(a.obj_id_to_mask[oid], b.obj_id_to_mask[oid])
            stored = sessions[True].stored_frames()
            assert stored["pixels"] <= 1 and stored["vision_features"] <= 1 and stored["outputs"] <= window
            assert stored["tracker_scores"] <= 1 and stored["suppressed"] <= 1 and stored["mask_inputs"] <= 1
    assert sessions[True].obj_ids, "objects must exist for the window to matter"
    grown = sessions[False].stored_frames()
    assert grown["pixels"] == 60 and grown["outputs"] >= 59 and grown["tracker_scores"] == 60
    kept = sessions[True].output_dict_per_obj[0]["non_cond_frame_outputs"]
    assert sorted(kept) == list(range(45, 60))
    assert all("high_res_masks" not in o for t, o in kept.items())
    assert all(set(kept[t]) == {"object_pointer"} for t in range(45, 54))  # beyond memory attention's reach
    assert all("maskmem_features" in kept[t] for t in range(54, 60))


# -- prompts on frames -------------------------------------------------------------------------------
def test_clicks_boxes_refine_remove_and_propagate_both_ways(loaded_tracker, shapes_clip):
    _, _, path = shapes_clip
    tracker = PromptTracker(VideoReader(path), loaded_tracker)
    first = tracker.add_points(4, [[30, 20]], [1], label="circle")
    assert first.index == 4 and set(first.object_ids) <= {0}
    refined = tracker.add_points(4, [[60, 40]], [0], obj_id=0, clear=False)
    assert set(refined.object_ids) <= {0}
    assert tracker.session.point_inputs_per_obj[0][4]["point_labels"].tolist() == [[[1, 0]]]
    boxed = tracker.add_box(7, [10, 10, 50, 40])
    assert set(boxed.object_ids) <= {0, 1} and tracker.object_ids == [0, 1]
    for r in (first, refined, boxed):
        _check_result(r, (64, 96))
    results = list(tracker.propagate("both"))
    assert [r.index for r in results] == list(range(4, 12)) + [3, 2, 1, 0]
    window = memory_window(loaded_tracker.model.config)
    assert all(
        len(o["non_cond_frame_outputs"]) <= window for o in tracker.session.output_dict_per_obj.values()
    )
    assert tracker.frames.cached <= 2
    tracker.remove_object(0)
    assert tracker.object_ids == [1] and tracker.prompted_frames() == [7]
    forward = list(tracker.propagate("forward"))
    assert [r.index for r in forward] == list(range(7, 12)) and all(set(r.object_ids) <= {1} for r in forward)
    backward = list(tracker.propagate("backward", start=9))
    assert [r.index for r in backward] == list(range(9, -1, -1))
    with pytest.raises(ValueError, match="outside"):
        tracker.add_points(12, [[1, 1]])
    with pytest.raises(ValueError, match="lies outside"):
        tracker.add_box(0, [10, 10, 500, 40])


def test_track_from_masks_seeds_the_tracker(loaded_tracker, shapes_clip):
    rendered, frames, path = shapes_clip
    key = 5
    masks = rendered.masks[key][:2]
    ids = [int(i) + 10 for i in rendered.ids[key][:2]]
    results = list(track_from_masks(VideoReader(path), key, masks, loaded_tracker, obj_ids=ids))
    assert [r.index for r in results] == list(range(key, 12)) + list(range(key - 1, -1, -1))
    seeded = results[0]
    assert seeded.object_ids == sorted(ids) or set(seeded.object_ids) == set(ids)
    for oid, mask in zip(ids, masks, strict=True):
        got = seeded.mask_of(oid)
        iou = (got & mask).sum() / (got | mask).sum()
        assert iou > 0.8, iou  # the key frame returns the given mask (through the model's 64 px grid)
    assert all(set(r.object_ids) <= set(ids) for r in results)
    # an in-memory array works too
    assert len(list(track_from_masks(frames, 0, masks[:1], loaded_tracker, direction="forward"))) == 12


# -- exports -----------------------------------------------------------------------------------------
def test_exports_masklets_ytvis_and_overlay(loaded_video, shapes_clip, tmp_path):
    _, frames, path = shapes_clip
    reader = VideoReader(path, end=6)
    recorder = TrackRecorder(reader.info.as_dict(), PROMPTS).extend(track_text(reader, PROMPTS, loaded_video))
    payload = recorder.to_json()
    assert [f["index"] for f in payload["frames"]] == list(range(6))
    assert {o["id"] for o in payload["objects"]} == {
        i for f in payload["frames"] for o in f["objects"] for i in [o["id"]]
    }
    masklets = masklets_json(recorder)
    for obj in masklets["objects"]:
        assert obj["masklet"] and all(set(m) == {"frame", "box", "mask"} for m in obj["masklet"])
    yt = ytvis_results(recorder)
    assert len(yt) == len(payload["objects"])
    for entry in yt:
        assert entry["category_id"] in (1, 2) and len(entry["segmentations"]) == 6
        seg = next(s for s in entry["segmentations"] if s is not None)
        assert mask_utils.decode({"size": seg["size"], "counts": seg["counts"].encode()}).shape == (64, 96)
    json.dumps([payload, masklets, yt])
    out = tmp_path / "overlay.mp4"
    write_overlay(reader, recorder, out)
    back = VideoReader(out)
    assert len(back) == 6 and back.size == (64, 96)
    drawn = [r for r in recorder.ordered_frames if len(r)]
    if drawn:  # the painted object differs from the plain frame
        r = drawn[0]
        mask = r.masks()[0]
        assert np.abs(back.get(r.position).image[mask].astype(int) - frames[r.index][mask]).mean() > 10


def test_overlay_writer_pads_odd_sizes(tmp_path):
    from sam3.video.writer import Mp4Writer

    frames = np.random.default_rng(0).integers(0, 255, (3, 25, 33, 3), dtype=np.uint8)
    with Mp4Writer(tmp_path / "odd.mp4", 7.5, 33, 25) as writer:
        for f in frames:
            writer.write(f)
        with pytest.raises(ValueError, match="the writer 33x25"):
            writer.write(frames[0][:24])
    back = VideoReader(tmp_path / "odd.mp4")
    assert len(back) == 3 and back.size == (26, 34) and back.info.fps == pytest.approx(7.5)
