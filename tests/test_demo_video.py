"""The Video tab's logic on a generated ShapesWorld clip: phrases or an agent query on a key frame, overlay mp4
and tracking JSON, and bad input."""

from __future__ import annotations

import json

import decord
import numpy as np
import pytest
from PIL import Image

from demo.models import DemoInputError, Models, install
from demo.video import VideoState, answer_video, track_video
from shapesworld.video import render_video, sample_video, write_mp4


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    video = render_video(sample_video(4, width=96, height=64, fps=10, seconds=2.0))
    path = tmp_path_factory.mktemp("clip") / "shapes.mp4"
    write_mp4(video.frames, path, fps=10)
    return str(path)


@pytest.fixture(scope="module")
def loaded(tiny_checkpoint):
    return Models.load(tiny_checkpoint, device="cpu")


@pytest.fixture
def models(loaded):
    return install(loaded)


def progress_into(seen: list):
    """A stand-in for `gr.Progress`: records what it is told."""
    return lambda value, desc=None, unit=None: seen.append(value)


def test_tracks_a_clip_into_an_overlay_and_json(models, clip):
    seen = []
    res = track_video(
        models,
        VideoState(),
        clip,
        "red circle, star",
        stride=2,
        progress=progress_into(seen),
    )
    overlay = decord.VideoReader(res.overlay_path)
    assert len(overlay) == 10 and overlay[0].shape == (64, 96, 3)
    tracks = json.loads(open(res.json_path).read())
    assert tracks["video"]["width"] == 96 and len(tracks["frames"]) == 10
    assert [f["index"] for f in tracks["frames"]] == list(range(0, 20, 2))
    assert seen and seen[-1][0] == 10
    assert "frame(s)" in res.status


@pytest.mark.parametrize(
    "path, phrases, start, end, message",
    [
        (None, "star", None, None, "upload a video"),
        ("clip", "  ", None, None, "noun phrase"),
        ("clip", "star", 1.5, 0.5, "must come after"),
        ("clip", "star", "abc", None, "number of seconds"),
        ("text", "star", None, None, "not a video"),
    ],
)
def test_bad_input_is_a_sentence(models, clip, tmp_path, path, phrases, start, end, message):
    if path == "clip":
        path = clip
    elif path == "text":
        path = str(tmp_path / "notes.mp4")
        open(path, "w").write("not a video")
    with pytest.raises(DemoInputError, match=message):
        track_video(models, VideoState(), path, phrases, start, end)


def test_shipped_video_examples_decode_and_are_listed():
    from demo.ui import load_examples

    examples = load_examples(index="videos.json")
    assert len(examples) == 2
    for e in examples:
        reader = decord.VideoReader(e["path"])
        assert len(reader) == 40 and reader[0].shape == (240, 320, 3)
        assert e["phrases"] and e["query"].startswith("the leftmost") and 0 <= e["key_s"] < 4


def test_agent_answer_on_a_key_frame_is_followed_through_the_clip(models, clip):
    seen = []
    res = answer_video(
        models, VideoState(), clip, "the leftmost shape", key_s=1.0, threshold=0.0, progress=progress_into(seen)
    )
    tracks = json.loads(open(res.json_path).read())
    assert tracks["key_frame"] == {"position": 10, "index": 10}
    assert tracks["agent"]["query"] == "the leftmost shape" and len(tracks["agent"]["answer"]["detections"]) == 1
    assert [o["id"] for o in tracks["objects"]] == [1] == [o["id"] for o in res.objects]
    assert sorted(f["index"] for f in tracks["frames"]) == list(range(20)) and seen[-1] == (20, 20)
    key = np.asarray(Image.open(res.key_frame_path))
    assert key.shape == (64, 96, 3)
    assert len(decord.VideoReader(res.overlay_path)) == 20
    assert "the agent chose 1 mask(s)" in res.status and "frame 10 (1.00 s)" in res.status


def test_key_frame_time_counts_in_the_files_seconds_whatever_the_stride(clip):
    from demo.video import key_position
    from sam3.video.reader import VideoReader

    every_other = VideoReader(clip, start=4, stride=2)  # frames 4, 6, ..., 18 of a 10 fps clip
    assert every_other.indices[key_position(every_other, 1.0)] == 10
    assert every_other.indices[key_position(every_other, "1.85")] == 18
    with pytest.raises(DemoInputError, match=r"outside the chosen range \(0.40 s to 1.80 s\)"):
        key_position(every_other, 0.2)


def test_agent_that_selects_nothing_says_so_and_tracks_nothing(models, clip):
    res = answer_video(models, VideoState(), clip, "the leftmost shape", threshold=1.0)
    assert res.overlay_path == "" and res.objects == [] and "Nothing to follow" in res.status
    assert json.loads(open(res.json_path).read())["agent"]["answer"]["status"] == "no_match"


@pytest.mark.parametrize(
    "query, key_s, start, message",
    [
        ("  ", None, None, "query"),
        ("the leftmost shape", 5.0, None, "outside the chosen range"),
        ("the leftmost shape", 0.2, 1.0, "outside the chosen range"),
        ("the leftmost shape", "soon", None, "number of seconds"),
    ],
)
def test_agent_bad_input_is_a_sentence(models, clip, query, key_s, start, message):
    with pytest.raises(DemoInputError, match=message):
        answer_video(models, VideoState(), clip, query, key_s=key_s, start_s=start)
