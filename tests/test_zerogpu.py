"""Every model event of the app under ZeroGPU's rules, without a GPU: `python app.py` with the stand-in `spaces`
package (tests/zerogpu/spaces), which pickles every call's arguments, results, yielded items and errors as the
real one does, driven end to end through the API (`/segment`, `/refine`, `/ask`, `/track`, `/ask_video`)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pycocotools import mask as mask_utils

from demo.settings import Settings
from demo.work import video_seconds
from tests.app_process import AppProcess

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "assets" / "examples" / "leftmost_star.png"
STANDIN = Path(__file__).resolve().parent / "zerogpu"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> str:
    from shapesworld.video import render_video, sample_video, write_mp4

    path = tmp_path_factory.mktemp("clip") / "shapes.mp4"
    write_mp4(render_video(sample_video(4, width=96, height=64, fps=10, seconds=2.0)).frames, path, fps=10)
    return str(path)


@pytest.fixture(scope="module")
def zero_app(tiny_checkpoint, tmp_path_factory):
    log = tmp_path_factory.mktemp("zerogpu") / "calls.jsonl"
    env = {
        "PYTHONPATH": os.pathsep.join([str(STANDIN), str(ROOT)]),
        "SAM3_MODEL": tiny_checkpoint,
        "SPACES_ZERO_GPU": "true",
        "SPACES_STANDIN_LOG": str(log),
    }
    with AppProcess(env) as app:
        yield Client(app.url, verbose=False), log


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def test_every_model_event_runs_through_pickled_gpu_calls(zero_app, clip):
    client, log = zero_app
    seg = client.predict(handle_file(str(EXAMPLE)), "star, circle", 0.0, "", api_name="/segment")
    assert seg["image"] == {"width": 640, "height": 480} and seg["detections"]
    refined = client.predict(handle_file(str(EXAMPLE)), "320,200", api_name="/refine")
    assert len(refined["detections"]) == 1
    run = client.predict(handle_file(str(EXAMPLE)), "the leftmost star", "spatial", 0.0, "", api_name="/ask")
    assert run["answer"]["status"] in ("ok", "unsure") and [s["type"] for s in run["steps"]][-1] == "final"
    tracks = client.predict(handle_file(clip), "star", None, None, 2, api_name="/track")
    assert len(tracks["frames"]) == 10
    for frame in tracks["frames"]:
        for obj in frame["objects"]:
            assert mask_utils.decode(obj["mask"]).shape == (64, 96)
    answer = client.predict(handle_file(clip), "the leftmost shape", 1.0, "spatial", 0.0, "", None, None, 1,
                            api_name="/ask_video")
    assert answer["key_frame"] == {"position": 10, "index": 10}
    anytime = client.predict(handle_file(clip), "the leftmost shape", None, "spatial", 0.0, "", None, None, 1,
                             api_name="/ask_video")
    assert len(anytime["key_frames"]) == 5 and anytime["key_frame"] in [
        {"position": k["position"], "index": k["index"]} for k in anytime["key_frames"]]
    made = calls(log)
    assert [c["function"] for c in made] == ["segment", "refine", "agent_events", "track", "answer_video",
                                             "answer_video"]
    assert all(isinstance(c["duration"], (int, float)) and 0 < c["duration"] <= 300 for c in made), made
    # a video call asks for time by its frames: 10 at stride 2 for /track, 20 behind an agent run for /ask_video
    assert made[3]["duration"] == pytest.approx(video_seconds(10, 1))
    assert made[4]["duration"] == pytest.approx(Settings.from_env().agent_seconds + video_seconds(20, 1))
    # key frames spread over the clip: following the answer reuses what linking them detected
    assert made[5]["duration"] == pytest.approx(Settings.from_env().agent_seconds + video_seconds(20, 1))
    plain = {"ndarray", "str", "float", "int", "bool", "list", "NoneType", "VideoRequest", "Progress"}
    assert all(t.split("=")[-1] in plain for c in made for t in c["args"]), made


def test_bad_input_found_in_the_worker_keeps_its_message(zero_app):
    client, log = zero_app
    with pytest.raises(AppError, match="outside"):  # found by the point decoder's checks, inside the GPU call
        client.predict(handle_file(str(EXAMPLE)), "5000,20", api_name="/refine")
    assert calls(log)[-1]["function"] == "refine"
