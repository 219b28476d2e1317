"""`python -m sam3 segment`: the JSON it writes and one clear line for every kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from sam3.cli import main


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "scene.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (70, 90, 3), dtype=np.uint8)).save(path)
    return path


def test_segment_writes_the_documented_json(tiny_checkpoint, image_file, tmp_path):
    out = tmp_path / "out" / "result.json"
    rc = main(
        [
            "segment",
            "--image",
            str(image_file),
            "--prompt",
            "red circle",
            "--prompt",
            "star",
            "--box",
            "5,5,40,40",
            "--box",
            "50,10,80,60,neg",
            "--model",
            tiny_checkpoint,
            "--threshold",
            "0",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["image"] == {"width": 90, "height": 70}
    assert result["model"] == tiny_checkpoint
    assert {"encode_ms", "prompt_ms", "postprocess_ms", "load"} <= set(result["timing_ms"])
    assert result["detections"], "threshold 0 keeps every non-duplicate query"
    for det in result["detections"]:
        assert det["phrase"] in ("red circle", "star")
        assert 0 <= det["score"] <= 1
        assert det["mask"]["size"] == [70, 90]
        mask = mask_utils.decode({"size": det["mask"]["size"], "counts": det["mask"]["counts"].encode()})
        assert mask.shape == (70, 90)
        x0, y0, x1, y1 = det["box"]
        assert 0 <= x0 <= x1 <= 90 and 0 <= y0 <= y1 <= 70


def test_elongated_images_are_also_seen_in_windows_unless_told_not_to(tiny_checkpoint, tmp_path, capsys):
    path = tmp_path / "strip.png"
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (40, 200, 3), dtype=np.uint8)).save(path)
    base = ["segment", "--image", str(path), "--prompt", "star", "--model", tiny_checkpoint, "--threshold", "0"]
    assert main(base) == 0
    tiled = json.loads(capsys.readouterr().out)
    assert len(tiled["windows"]) >= 3
    assert all(y0 == 0 and y1 == 40 and x1 - x0 == 60 for x0, y0, x1, y1 in tiled["windows"])
    assert main([*base, "--no-tiling"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert whole["windows"] == []


def test_segment_to_stdout(tiny_checkpoint, image_file, capsys):
    assert (
        main(
            [
                "segment",
                "--image",
                str(image_file),
                "--prompt",
                "star",
                "--model",
                tiny_checkpoint,
                "--threshold",
                "1",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["detections"] == []


def _write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "file not found"),
        ("text", "not an image"),
        ("truncated", "corrupt or truncated"),
        ("tiny", "too small"),
        ("empty_prompt", "must not be empty"),
        ("no_prompt", "at least one --prompt or --box"),
        ("bad_box", "--box: a box must be"),
        ("inverted_box", "x1 > x0"),
        ("outside_box", "outside"),
        ("bad_threshold", "--threshold"),
        ("bad_model", "no SAM 3 checkpoint"),
    ],
)
def test_bad_input_is_one_clear_line(case, message, tiny_checkpoint, image_file, tmp_path, capsys):
    good = Image.open(image_file)
    buf = tmp_path / "good.jpg"
    good.save(buf, "JPEG")
    args = {"image": str(image_file), "prompt": ["star"], "box": [], "model": tiny_checkpoint, "extra": []}
    if case == "missing":
        args["image"] = str(tmp_path / "nope.jpg")
    elif case == "text":
        args["image"] = str(_write(tmp_path, "notes.jpg", b"hello, not a picture"))
    elif case == "truncated":
        args["image"] = str(_write(tmp_path, "cut.jpg", buf.read_bytes()[:300]))
    elif case == "tiny":
        p = tmp_path / "one.png"
        Image.new("RGB", (1, 1)).save(p)
        args["image"] = str(p)
    elif case == "empty_prompt":
        args["prompt"] = ["   "]
    elif case == "no_prompt":
        args["prompt"] = []
    elif case == "bad_box":
        args["box"] = ["1,2,3"]
    elif case == "inverted_box":
        args["box"] = ["40,40,10,10"]
    elif case == "outside_box":
        args["box"] = ["500,500,600,600"]
    elif case == "bad_threshold":
        args["extra"] = ["--threshold", "7"]
    elif case == "bad_model":
        args["model"] = str(tmp_path / "no-model")
    argv = ["segment", "--image", args["image"], "--model", args["model"], *args["extra"]]
    for p in args["prompt"]:
        argv += ["--prompt", p]
    for b in args["box"]:
        argv += ["--box", b]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_subprocess_has_no_traceback(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    proc = subprocess.run(
        [sys.executable, "-m", "sam3", "segment", "--image", str(bad), "--prompt", "star"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("error: ")
