"""The app's named endpoints through `gradio_client`, on a real in-process server with the tiny SAM 3.

The tiny random model scores near 0.25, so calls that need masks use threshold 0.
"""

from __future__ import annotations

import io
import time

import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from sam3.detections import Detections

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from demo.ui import EXAMPLES_DIR  # noqa: E402
from tests.app_process import free_port, served  # noqa: E402

pytestmark = pytest.mark.slow  # a real server, and a gradio_client round trip per test

EXAMPLE = EXAMPLES_DIR / "leftmost_star.png"


@pytest.fixture(scope="module")
def app(tiny_checkpoint):
    from demo.models import Models

    with served(Models.load(tiny_checkpoint, device="cpu")) as app_and_url:
        yield app_and_url


@pytest.fixture(scope="module")
def client(app):
    return Client(app[1], verbose=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("inputs")
    (d / "notes.png").write_text("not a picture at all")
    buf = io.BytesIO()
    Image.open(EXAMPLE).save(buf, format="PNG")
    (d / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    Image.new("RGB", (4, 4), "red").save(d / "tiny.png")
    return d


def _check_detections(items: list[dict], size: tuple[int, int], phrases: set[str]) -> Detections:
    for item in items:
        assert item["phrase"] in phrases
        assert 0.0 <= item["score"] <= 1.0
        x0, y0, x1, y1 = item["box"]
        assert 0 <= x0 <= x1 <= size[1] and 0 <= y0 <= y1 <= size[0]
        assert mask_utils.decode(item["mask"]).shape == size
    return Detections.from_json_list(items, size)


def test_named_endpoints(client, app):
    named = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert set(named) == {"/segment", "/refine", "/ask", "/track", "/ask_video"}  # the UI's own events stay private
    assert [p["parameter_name"] for p in named["/segment"]["parameters"]] == [
        "image",
        "phrases",
        "threshold",
        "boxes",
    ]
    assert [p["parameter_name"] for p in named["/ask"]["parameters"]] == [
        "image",
        "query",
        "backend",
        "threshold",
        "api_key",
    ]
    track_params = [p["parameter_name"] for p in named["/track"]["parameters"]]
    assert track_params == ["video", "phrases", "start", "end", "stride"]
    assert [p["parameter_name"] for p in named["/ask_video"]["parameters"]] == [
        "video", "query", "key_s", "backend", "threshold", "api_key", "start", "end", "stride"
    ]
    # Stop cancels the running Ask event; every model event shares one bounded concurrency group.
    deps = app[0].config["dependencies"]
    assert any(d["cancels"] for d in deps)
    model_fns = [f for f in app[0].fns.values() if f.concurrency_id == "sam3"]
    assert {f.api_name for f in model_fns} >= {"segment", "refine", "ask", "track", "ask_video"}
    assert len(model_fns) >= 5 and all(
        f.concurrency_limit == model_fns[0].concurrency_limit >= 1 for f in model_fns
    )


def test_segment(client):
    out = client.predict(handle_file(str(EXAMPLE)), "star, circle", 0.0, "", api_name="/segment")
    assert out["image"] == {"width": 640, "height": 480}
    assert out["phrases"] == ["star", "circle"] and out["threshold"] == 0.0
    det = _check_detections(out["detections"], (480, 640), {"star", "circle"})
    assert len(det) >= 1
    assert set(out["timing_ms"]) == {"encode_ms", "text_ms", "prompt_ms", "postprocess_ms", "closer_ms"}
    # Same image, other phrase and threshold: the shared session cache answers without encoding again.
    again = client.predict(handle_file(str(EXAMPLE)), "red square", 0.0, "", api_name="/segment")
    assert again["timing_ms"]["encode_ms"] == 0.0
    high = client.predict(handle_file(str(EXAMPLE)), "star", 0.99, "", api_name="/segment")
    assert high["detections"] == []


def test_segment_with_exemplar_boxes(client):
    out = client.predict(
        handle_file(str(EXAMPLE)), "", 0.0, "300,100,420,240; 20,20,60,60,neg", api_name="/segment"
    )
    assert out["phrases"] == []
    _check_detections(out["detections"], (480, 640), {"visual"})


@pytest.mark.parametrize(
    ("name", "phrases", "boxes", "message"),
    [
        ("notes.png", "star", "", "not an image: notes.png"),
        ("cut.png", "star", "", "corrupt or truncated: cut.png"),
        ("tiny.png", "star", "", "too small"),
        (None, " , ", "", "at least one noun phrase"),
        (None, "star", "1,2,3", "x0,y0,x1,y1"),
        (None, "star", "5,5,1,1", "x1 > x0"),
    ],
)
def test_segment_bad_input(client, files, name, phrases, boxes, message):
    path = files / name if name else EXAMPLE
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(path)), phrases, 0.5, boxes, api_name="/segment")


def test_ask_spatial(client):
    out = client.predict(handle_file(str(EXAMPLE)), "the leftmost star", "spatial", 0.0, "", api_name="/ask")
    assert out["query"] == "the leftmost star" and out["backend"] == "spatial"
    assert out["image"] == {"name": "leftmost_star.png", "width": 640, "height": 480}
    types = [s["type"] for s in out["steps"]]
    assert types == ["thought", "tool_call", "tool_result", "final"]
    assert out["steps"][1]["args"] == {"phrases": ["star"]}
    assert out["sam3_calls"] == 1 and out["llm_calls"] == 0
    answer = out["answer"]
    assert answer["status"] in ("ok", "no_match")
    det = _check_detections(answer["detections"], (480, 640), {"star"})
    assert len(det) == (1 if out["steps"][2]["num_masks"] else 0)  # "the leftmost": one instance


@pytest.mark.parametrize(
    ("name", "query", "backend", "message"),
    [
        ("notes.png", "the leftmost star", "spatial", "not an image: notes.png"),
        (None, "   ", "spatial", "type a query"),
        (None, "star " * 200, "spatial", "too long"),
        (None, "the leftmost star", "telepathy", "unknown reasoning backend"),
        (None, "the leftmost star", "openai:localhost#m", "http"),
        (None, "the leftmost star", "openai:http://h:1/v1?x=#m", "must not contain"),
    ],
)
def test_ask_bad_input(client, files, name, query, backend, message):
    path = files / name if name else EXAMPLE
    with pytest.raises(AppError, match=message):
        client.predict(handle_file(str(path)), query, backend, 0.5, "", api_name="/ask")


def test_ask_with_a_server_that_does_not_answer(client, monkeypatch):
    monkeypatch.setenv("SAM3_AGENT_ALLOW_PRIVATE_URLS", "1")  # the dead server is on this machine
    dead = f"openai:http://127.0.0.1:{free_port()}/v1#some-vlm"
    t0 = time.perf_counter()
    # The planner cannot parse a question, so the agent asks the (absent) model server.
    out = client.predict(
        handle_file(str(EXAMPLE)),
        "which shape looks out of place?",
        dead,
        0.5,
        "sk-secret-123",
        api_name="/ask",
    )
    assert time.perf_counter() - t0 < 30
    assert out["answer"]["status"] == "error"
    assert "model backend failed" in out["answer"]["message"]
    assert "sk-secret-123" not in str(out)
    # ... and the app keeps serving.
    ok = client.predict(handle_file(str(EXAMPLE)), "star", 0.0, "", api_name="/segment")
    assert ok["image"]["width"] == 640


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from shapesworld.video import render_video, sample_video, write_mp4

    path = tmp_path_factory.mktemp("clip") / "shapes.mp4"
    write_mp4(render_video(sample_video(4, width=96, height=64, fps=10, seconds=2.0)).frames, path, fps=10)
    return str(path)


def test_track_and_ask_video(client, clip):
    tracks = client.predict(handle_file(clip), "star, circle", None, None, 2, api_name="/track")
    assert tracks["video"]["width"] == 96 and [f["index"] for f in tracks["frames"]] == list(range(0, 20, 2))
    for frame in tracks["frames"]:
        for obj in frame["objects"]:
            assert mask_utils.decode(obj["mask"]).shape == (64, 96)
    out = client.predict(handle_file(clip), "the leftmost shape", 1.0, "spatial", 0.0, "", None, None, 1,
                         api_name="/ask_video")
    assert out["key_frame"] == {"position": 10, "index": 10} and out["agent"]["backend"] == "spatial"
    assert [o["id"] for o in out["objects"]] == [1] and len(out["frames"]) == 20


@pytest.mark.parametrize(
    "endpoint, args, message",
    [
        ("/track", ("notes", "star", None, None, 1), r"Invalid file type"),  # an image sent as a video
        ("/track", ("fake", "star", None, None, 1), r"fake\.mp4 is not a video that can be decoded"),
        ("/track", ("clip", " ", None, None, 1), "noun phrase"),
        ("/ask_video", ("clip", "the leftmost shape", 9.0, "spatial", 0.5, "", None, None, 1), "outside the chosen"),
        ("/ask_video", ("clip", "", None, "spatial", 0.5, "", None, None, 1), "query"),
    ],
)
def test_video_endpoints_bad_input(client, clip, files, endpoint, args, message):
    if args[0] == "fake":
        (files / "fake.mp4").write_text("not a video at all")
    video = {"clip": clip, "notes": str(files / "notes.png"), "fake": str(files / "fake.mp4")}[args[0]]
    with pytest.raises(AppError, match=message) as err:
        client.predict(handle_file(video), *args[1:], api_name=endpoint)
    assert "/tmp" not in str(err.value)  # no server paths in messages


def test_refine(client):
    out = client.predict(handle_file(str(EXAMPLE)), "320,200; 20,20,neg", api_name="/refine")
    assert out["image"] == {"width": 640, "height": 480} and out["trained"] is False  # the tiny model has none
    det = _check_detections(out["detections"], (480, 640), {"refined"})
    assert len(det) == 1
    with pytest.raises(AppError, match="x,y"):
        client.predict(handle_file(str(EXAMPLE)), "320", api_name="/refine")
    with pytest.raises(AppError, match="outside"):
        client.predict(handle_file(str(EXAMPLE)), "5000,20", api_name="/refine")
