"""`python -m sam3 track`: the JSON it writes, its files, and one clear line on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from sam3.cli import main
from sam3.video.reader import VideoReader
from shapesworld.phrases import vocabulary
from shapesworld.video import render_video, sample_video, write_mp4
from tests.test_video import make_bad_video
from tests.threads import torch_threads
from training.build import new_video_model, save_checkpoint
from training.configs import tiny_video_config


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def video_checkpoint(tmp_path_factory) -> str:
    config = tiny_video_config(score_threshold_detection=0.2, new_det_thresh=0.25, max_num_objects=3)
    model, processor = new_video_model(config, vocabulary(), seed=1)
    return str(save_checkpoint(model, processor, tmp_path_factory.mktemp("tiny-video-cli")))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> str:
    rendered = render_video(sample_video(7, width=80, height=48, fps=10, seconds=2.0))
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_mp4(rendered.frames[:10], path, 10)
    return str(path)


def test_track_writes_the_documented_json(video_checkpoint, clip, tmp_path, capsys):
    out, overlay, masklets, ytvis = (tmp_path / n for n in ("r.json", "o.mp4", "m.json", "y.json"))
    argv = [
        "track",
        "--video",
        clip,
        "--prompt",
        "red circle",
        "--prompt",
        "blue square",
        "--model",
        video_checkpoint,
        "--device",
        "cpu",
        "--json",
        str(out),
        "--overlay",
        str(overlay),
        "--masklets",
        str(masklets),
        "--ytvis",
        str(ytvis),
        "--start",
        "1",
        "--end",
        "0.9s",
        "--stride",
        "2",
    ]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "track: frame 4/4" in err and "error" not in err
    payload = json.loads(out.read_text())
    assert {"video", "objects", "frames"} <= set(payload)
    video = payload["video"]
    assert (video["width"], video["height"], video["fps"], video["num_frames"]) == (80, 48, 10.0, 10)
    assert video["range"] == {"start": 1, "end": 9, "stride": 2}
    assert [f["index"] for f in payload["frames"]] == [1, 3, 5, 7]
    ids = {o["id"] for o in payload["objects"]}
    for o in payload["objects"]:
        assert set(o) == {"id", "phrase", "score"} and o["phrase"] in ("red circle", "blue square")
        assert 0 <= o["score"] <= 1
    seen = set()
    for frame in payload["frames"]:
        assert set(frame) == {"index", "objects"}
        for obj in frame["objects"]:
            assert {"id", "box", "mask"} <= set(obj) and len(obj["box"]) == 4
            rle = obj["mask"]
            assert rle["size"] == [48, 80] and isinstance(rle["counts"], str)
            mask = mask_utils.decode({"size": rle["size"], "counts": rle["counts"].encode()})
            assert mask.shape == (48, 80) and mask.any()  # full resolution
            seen.add(obj["id"])
    assert seen == ids
    assert len(VideoReader(overlay)) == 4
    assert {o["id"] for o in json.loads(masklets.read_text())["objects"]} == ids
    assert all(len(e["segmentations"]) == 4 for e in json.loads(ytvis.read_text()))


def test_track_to_stdout_in_associate_mode_says_why(tiny_checkpoint, clip, capsys):
    assert (
        main(
            [
                "track",
                "--video",
                clip,
                "--prompt",
                "star",
                "--model",
                tiny_checkpoint,
                "--device",
                "cpu",
                "--end",
                "3",
                "--quiet",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload["mode"] == "associate" and payload["tracker_trained"] is False
    assert len(payload["frames"]) == 3
    notes = captured.err.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith("note: ") and "detector-only" in notes[0]


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "no video file"),
        ("text", "not a video"),
        ("truncated", "not a video"),
        ("truncated_tail", "truncated"),
        ("zero_frames", "no video stream"),
        ("tiny", "sides from"),
        ("no_prompt", "at least one --prompt"),
        ("empty_prompt", "--prompt must not be empty"),
        ("bad_stride", "--stride"),
        ("bad_threshold", "--threshold"),
        ("bad_start", "outside"),
        ("bad_range", "holds no frames"),
        ("bad_time", "frame number or seconds"),
        ("too_long", "over the 0.5 s limit"),
        ("bad_model", "no SAM 3 checkpoint"),
        ("overlay_dir", "is a directory"),
    ],
)
def test_bad_input_is_one_clear_line(case, message, video_checkpoint, clip, tmp_path, capsys):
    video, prompts, extra, model = clip, ["red circle"], [], video_checkpoint
    if case in ("missing", "text", "truncated", "truncated_tail", "zero_frames", "tiny"):
        video = make_bad_video(case, tmp_path, clip)
    elif case == "no_prompt":
        prompts = []
    elif case == "empty_prompt":
        prompts = ["  "]
    elif case == "bad_stride":
        extra = ["--stride", "0"]
    elif case == "bad_threshold":
        extra = ["--threshold", "1.5"]
    elif case == "bad_start":
        extra = ["--start", "50"]
    elif case == "bad_range":
        extra = ["--start", "6", "--end", "3"]
    elif case == "bad_time":
        extra = ["--start", "two"]
    elif case == "too_long":
        extra = ["--max-seconds", "0.5"]
    elif case == "bad_model":
        model = str(tmp_path / "no-model")
    elif case == "overlay_dir":
        extra = ["--overlay", str(tmp_path)]
    argv = ["track", "--video", video, "--model", model, "--device", "cpu", *extra]
    for p in prompts:
        argv += ["--prompt", p]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_subprocess_bad_video_has_no_traceback_or_decoder_noise(tmp_path, clip):
    bad = make_bad_video("truncated_tail", tmp_path, clip)
    proc = subprocess.run(
        [sys.executable, "-m", "sam3", "track", "--video", bad, "--prompt", "star"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "truncated" in lines[0], proc.stderr
    assert np.all([not line.startswith("Traceback") for line in lines])
