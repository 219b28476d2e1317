"""The app in public mode, attacked the way an anonymous visitor would (issue 20), on loopback only.

The owner's model server and a visitor's "server" are real local HTTP servers that log every request, so a key or
a request that goes where it must not is seen. Each test names the attack it refuses.
"""

from __future__ import annotations

import pickle
import threading
import time

import numpy as np
import pytest
from PIL import Image

from demo.settings import OwnerServer, Settings
from tests.app_process import served
from tests.llm_server import ScriptedLLMServer, ok, reply, slow, status

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from demo.ui import EXAMPLES_DIR  # noqa: E402

pytestmark = pytest.mark.slow  # a real server, and a gradio_client round trip per test

EXAMPLE = str(EXAMPLES_DIR / "leftmost_star.png")
OWNER_KEY = "sk-owner-0123456789-secret"
UNPARSABLE = "what is the meaning of these shapes"  # the planner hands it to the model
SETTINGS = dict(max_video_frames=30, max_video_side=64, max_upload_mb=2, max_pixels=4_000_000, session_ttl_s=600,
                max_sessions=50)


@pytest.fixture(scope="module")
def owner():
    with ScriptedLLMServer() as server:
        yield server


@pytest.fixture(scope="module")
def visitor_server():
    with ScriptedLLMServer() as server:
        yield server


@pytest.fixture(scope="module")
def public_app(tiny_checkpoint, owner):
    from demo.models import Models

    settings = Settings(public=True, server=OwnerServer(owner.url, "owner-vlm", OWNER_KEY), **SETTINGS)
    with served(Models.load(tiny_checkpoint, device="cpu", settings=settings)) as app_and_url:
        yield app_and_url


@pytest.fixture
def client(public_app):
    return Client(public_app[1], verbose=False)


def ask(client, backend: str, query: str = UNPARSABLE, api_key: str = "") -> dict:
    return client.predict(handle_file(EXAMPLE), query, backend, 0.0, api_key, api_name="/ask")


@pytest.mark.parametrize(
    "backend",
    ["openai:{url}#m", "openai:{url}?x=#m", "transformers:/etc", "transformers:someone/private-model"],
)
def test_a_visitor_cannot_name_a_server_or_a_model(client, visitor_server, backend):
    """Attacks 1, 2 and 4: a typed URL (with or without the owner's key) or a typed model id or folder."""
    with pytest.raises(AppError, match="only uses the reasoning backends its owner set up: spatial, openai"):
        ask(client, backend.format(url=visitor_server.url))
    assert not visitor_server.requests


def test_the_page_offers_only_the_owners_backends(public_app):
    app = public_app[0]
    radio = next(c for c in app.config["components"] if c["props"].get("elem_id") == "ask-backend")
    assert [choice[0] for choice in radio["props"]["choices"]] == ["spatial (no model)", "model server (owner-vlm)"]


def test_the_owners_key_reaches_only_the_owners_server(client, owner):
    """Attack 1: the key goes with the owner's URL; a key the visitor passes goes nowhere."""
    owner.add(ok('{"tool": "no_match", "reason": "nothing fits"}'))
    out = ask(client, "openai", api_key="sk-visitor-key")
    assert out["answer"]["status"] == "no_match"
    assert owner.requests[-1].headers["authorization"] == f"Bearer {OWNER_KEY}"
    assert OWNER_KEY not in str(out) and owner.url not in str(out) and "sk-visitor-key" not in str(out)


def test_upstream_errors_and_huge_replies_are_not_echoed(client, owner):
    """Attacks 2 and 3: what the server says never reaches the visitor; a huge reply is cut off, not held."""
    owner.add(status(400, {"error": {"message": "INTERNAL-DETAIL at /srv/secret"}}))
    out = ask(client, "openai")
    assert out["answer"]["status"] == "error" and "HTTP 400" in out["answer"]["message"]
    assert "INTERNAL-DETAIL" not in str(out)
    owner.add(reply({"choices": [{"message": {"content": "x" * (6 << 20)}}]}))
    started = time.monotonic()
    out = ask(client, "openai")
    assert out["answer"]["status"] == "error" and "larger than 4 MB" in out["answer"]["message"]
    assert time.monotonic() - started < 20


def test_one_visitor_cannot_hold_up_the_others(public_app, owner):
    """Attack 6: one client queues many slow runs; another's request still runs at once, and the flood is
    turned away as it reaches the front (one run per visitor at a time)."""
    app, url = public_app
    flood, other = Client(url, verbose=False), Client(url, verbose=False)
    owner.add(*[slow(3.0, ok('{"tool": "no_match"}')) for _ in range(8)])
    jobs = [flood.submit(handle_file(EXAMPLE), UNPARSABLE, "openai", 0.0, "", api_name="/ask") for _ in range(8)]
    time.sleep(0.5)
    started = time.monotonic()
    out = other.predict(handle_file(EXAMPLE), "star", 0.0, "", api_name="/segment")
    assert out["image"]["width"] == 640 and time.monotonic() - started < 6
    outcomes = []
    for job in jobs:
        try:
            outcomes.append(job.result(timeout=60)["answer"]["status"])
        except AppError as exc:
            outcomes.append(str(exc))
    assert sum("already have a run going" in o for o in outcomes) >= 6, outcomes
    # every event is either model work (queued, one per visitor) or light (never queued behind model work);
    # cached examples load from their own group (their first click fills the cache for everyone)
    for dep in app.config["dependencies"]:
        fn = app.fns[dep["id"]]
        if (fn.name or "").startswith("load_example") or fn.fn is None:  # a frontend-only event: no server work
            assert fn.concurrency_id != "sam3"
            continue
        assert (fn.concurrency_id == "sam3") == bool(dep["queue"]), fn.name
    owner.requests.clear()


@pytest.fixture(scope="module")
def lying_clip(tmp_path_factory) -> str:
    """3,000 frames that claim 1,000 fps: 3 s by the header, 3,000 frames of work."""
    from sam3.video.writer import write_mp4

    frames = np.zeros((3000, 32, 32, 3), np.uint8)
    frames[:, 8:24, (np.arange(3000) % 16)[:, None] + np.arange(8)] = 200
    path = tmp_path_factory.mktemp("lie") / "fast.mp4"
    write_mp4(frames, path, 1000)
    return str(path)


def test_a_video_header_cannot_buy_unbounded_work(client, lying_clip, tmp_path):
    """Attack 7: frames are capped by count whatever the frame rate says, and by side."""
    from sam3.video.writer import write_mp4

    started = time.monotonic()
    tracks = client.predict(handle_file(lying_clip), "square", None, None, 1, api_name="/track")
    assert len(tracks["frames"]) <= SETTINGS["max_video_frames"] and time.monotonic() - started < 60
    big = tmp_path / "big.mp4"
    write_mp4(np.full((3, 480, 640, 3), 90, np.uint8), big, 10)
    tracks = client.predict(handle_file(str(big)), "square", None, None, 1, api_name="/track")
    assert max(tracks["video"]["width"], tracks["video"]["height"]) == SETTINGS["max_video_side"]


def test_video_work_stops_at_its_deadline(public_app, lying_clip, tmp_path):
    from demo import work
    from demo.limits import DeadlineExceeded

    request = work.VideoRequest(lying_clip, None, None, 100, 30, 64, str(tmp_path), seconds=0.0)
    with pytest.raises(DeadlineExceeded, match="stopped after 0 s"):
        work.track(request, ["square"])


def test_session_state_expires_and_holds_no_pixels(public_app, tiny_checkpoint):
    """Attack 8: every visitor's state has a time to live, the number of sessions kept is bounded, and what a
    session keeps after a run is paths and RLE, not decoded images."""
    from demo.ask import AskState, prepare_request, run_ask
    from demo.models import current

    app = public_app[0]
    states = [b for b in app.blocks.values() if type(b).__name__ == "State"]
    assert states and all(s.time_to_live == SETTINGS["session_ttl_s"] for s in states)
    assert app.state_session_capacity == SETTINGS["max_sessions"]
    state = AskState()
    request = prepare_request(current(), EXAMPLE, "the leftmost star", "spatial", threshold=0)
    for _ in run_ask(current(), state, request):
        pass
    assert state.result is not None and len(pickle.dumps(state.result)) < 100_000
    assert not any(isinstance(v, np.ndarray) for v in vars(state.result).values())


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> str:
    """13,000 x 13,000 pixels (169 MP) in a PNG of a few hundred kB."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    Image.new("1", (13000, 13000)).save(path)
    return str(path)


def test_a_decompression_bomb_is_refused_before_decoding(client, bomb):
    """Attack 9: the API and the page's image widget read the header first."""
    import tracemalloc

    from gradio.data_classes import FileData

    from demo.components import image_input
    from demo.models import current

    started = time.monotonic()
    with pytest.raises(AppError, match="too large"):
        client.predict(handle_file(bomb), "star", 0.5, "", api_name="/segment")
    assert time.monotonic() - started < 10
    widget = image_input(current().settings)
    tracemalloc.start()
    assert widget.preprocess(FileData(path=bomb)) == bomb  # handed on unopened, for the handler to refuse
    assert tracemalloc.get_traced_memory()[1] < 20 << 20
    tracemalloc.stop()


def test_uploads_are_limited_in_size_and_type(public_app, client, tmp_path):
    """Attack 10: the server refuses uploads over the limit (whatever a client checks itself), and every API
    input takes only its own kind of file."""
    import httpx

    upload = public_app[1] + "gradio_api/upload"
    too_big = httpx.post(upload, files={"files": ("big.png", b"\0" * ((SETTINGS["max_upload_mb"] << 20) + 1))})
    assert too_big.status_code == 413
    assert httpx.post(upload, files={"files": ("small.png", b"\0" * 100)}).status_code == 200
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(AppError, match="Invalid file type"):
        client.predict(handle_file(str(notes)), "star", 0.5, "", api_name="/segment")
    with pytest.raises(AppError, match="Invalid file type"):
        client.predict(handle_file(EXAMPLE), "star", None, None, 1, api_name="/track")


def test_answers_carry_no_paths_no_timing_tells_and_no_internals(public_app, client, lying_clip, monkeypatch):
    """Attack 11: no server paths in answers; one visitor's timings do not show what another uploaded; an
    unexpected failure is told as an incident, its details only in the log."""
    url = public_app[1]
    tracks = client.predict(handle_file(lying_clip), "square", None, None, 1, api_name="/track")
    assert "/" not in tracks["model"] and "/tmp" not in str(tracks)
    first = Client(url, verbose=False).predict(handle_file(EXAMPLE), "star", 0.0, "", api_name="/segment")
    second = Client(url, verbose=False).predict(handle_file(EXAMPLE), "star", 0.0, "", api_name="/segment")
    assert first["timing_ms"]["encode_ms"] > 0 and second["timing_ms"]["encode_ms"] > 0  # each encodes its own

    import demo.segment

    def broken(*args, **kwargs):
        raise RuntimeError("disk full at /srv/app/secret")

    monkeypatch.setattr(demo.segment.work, "segment", broken)
    with pytest.raises(AppError) as err:
        client.predict(handle_file(EXAMPLE), "star", 0.0, "", api_name="/segment")
    assert "incident" in str(err.value) and "/srv" not in str(err.value) and "RuntimeError" not in str(err.value)


def test_stale_session_files_are_swept_while_the_app_runs(tmp_path, monkeypatch):
    import os

    from demo import export

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    monkeypatch.setattr(export, "_sweeper", None)
    old = export.app_temp_dir() / "forgotten-session"
    old.mkdir(parents=True)
    export.start_sweeper(max_age_s=3600, every_s=0.2)
    young = export.app_temp_dir() / "live-session"
    young.mkdir()
    stale = export.app_temp_dir() / "left-behind"
    stale.mkdir()
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    deadline = time.monotonic() + 5
    while stale.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not stale.exists() and young.exists()


def test_refining_never_mixes_visitors(public_app):
    """Attack 5 through the app's own calls: one visitor clicks while another segments another image."""
    from demo import work
    from demo.models import current

    rng = np.random.default_rng(1)
    a = rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)
    b = rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)
    alone = work.segment(b, ["star"], [], 0.0, "visitor-b").detections
    current().require_segmenter().session(Image.fromarray(b), "visitor-b")  # cached: encode it afresh below
    bad = []

    def clicks():
        for i in range(20):
            work.refine(a, [(10.0 + i, 20.0, True)], f"visitor-a-{i}")

    def segments():
        for i in range(20):
            det = work.segment(b, ["star"], [], 0.0, f"visitor-b-{i}").detections
            if not np.array_equal(det.masks, alone.masks):
                bad.append(i)

    threads = [threading.Thread(target=clicks), threading.Thread(target=segments)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not bad
