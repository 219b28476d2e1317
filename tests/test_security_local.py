"""The owner's secrets and this machine's network, with the app run as a Space would run it (`python app.py` with
`SPACE_ID` and `OPENAI_API_KEY` set) and in local mode, where people may type server URLs and model ids."""

from __future__ import annotations

import pytest

from demo.settings import Settings
from tests.app_process import AppProcess, served
from tests.llm_server import ScriptedLLMServer, ok

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from demo.ui import EXAMPLES_DIR  # noqa: E402

EXAMPLE = str(EXAMPLES_DIR / "leftmost_star.png")
CLIP = str(EXAMPLES_DIR / "moving_shapes.mp4")
OWNER_KEY = "sk-owner-0123456789-secret"
UNPARSABLE = "what is the meaning of these shapes"


@pytest.mark.slow
def test_a_space_never_sends_a_request_to_a_typed_url_and_its_key_only_to_the_owner(tiny_checkpoint):
    with ScriptedLLMServer() as owner, ScriptedLLMServer() as visitor:
        env = {
            "SPACE_ID": "someone/sam3-agent",
            "OPENAI_API_KEY": OWNER_KEY,
            "SAM3_AGENT_OPENAI_URL": owner.url,
            "SAM3_AGENT_OPENAI_MODEL": "owner-vlm",
            "SAM3_MODEL": tiny_checkpoint,
            "SAM3_AGENT_ALLOW_PRIVATE_URLS": "1",  # even where private addresses are allowed
        }
        with AppProcess(env) as app:
            client = Client(app.url, verbose=False)
            for backend in (f"openai:{visitor.url}#m", f"openai:{visitor.url}?x=#m", "transformers:/etc"):
                with pytest.raises(AppError, match="owner set up"):
                    client.predict(handle_file(EXAMPLE), UNPARSABLE, backend, 0.0, "", api_name="/ask")
                with pytest.raises(AppError, match="owner set up"):
                    client.predict(handle_file(CLIP), UNPARSABLE, 1.0, backend, 0.0, "", None, None, 1,
                                   api_name="/ask_video")
            owner.add(ok('{"tool": "no_match"}'))
            out = client.predict(handle_file(EXAMPLE), UNPARSABLE, "openai", 0.0, "", api_name="/ask")
            assert out["answer"]["status"] == "no_match"
        assert not visitor.requests
        assert [r.headers.get("authorization") for r in owner.requests] == [f"Bearer {OWNER_KEY}"]


@pytest.fixture(scope="module")
def local_app(tiny_checkpoint):
    from demo.models import Models

    with served(Models.load(tiny_checkpoint, device="cpu", settings=Settings())) as (_, url):
        yield Client(url, verbose=False)


def test_a_typed_url_reaches_no_private_address(local_app, monkeypatch):
    monkeypatch.delenv("SAM3_AGENT_ALLOW_PRIVATE_URLS", raising=False)
    with ScriptedLLMServer([ok('{"tool": "no_match"}')]) as server:
        for host in ("127.0.0.1", "localhost"):
            url = server.url.replace("127.0.0.1", host)
            out = local_app.predict(handle_file(EXAMPLE), UNPARSABLE, f"openai:{url}#m", 0.0, "", api_name="/ask")
            assert out["answer"]["status"] == "error" and "loopback address" in out["answer"]["message"]
        assert not server.requests


def test_a_typed_url_never_gets_the_owners_key(local_app, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OWNER_KEY)
    monkeypatch.setenv("SAM3_AGENT_ALLOW_PRIVATE_URLS", "1")  # the owner allows servers on this machine
    with ScriptedLLMServer([ok('{"tool": "no_match"}'), ok('{"tool": "no_match"}')]) as server:
        backend = f"openai:{server.url}#m"
        local_app.predict(handle_file(EXAMPLE), UNPARSABLE, backend, 0.0, "", api_name="/ask")
        local_app.predict(handle_file(EXAMPLE), UNPARSABLE, backend, 0.0, "sk-mine", api_name="/ask")
    assert "authorization" not in server.requests[0].headers
    assert server.requests[1].headers["authorization"] == "Bearer sk-mine"


def test_a_typed_model_id_never_gets_the_owners_token(monkeypatch, loaded_tiny):
    from demo.backends import chat_model
    from demo.models import Models
    from sam3.session import Segmenter

    monkeypatch.setenv("HF_TOKEN", "hf_owner_secret")
    models = Models(Segmenter(loaded_tiny), settings=Settings())
    typed = chat_model("transformers:someone/private-model", models)
    assert typed._token is None  # downloaded anonymously: private and gated repos stay closed
    with pytest.raises(Exception, match="owner set up"):
        chat_model("transformers:someone/private-model", Models(Segmenter(loaded_tiny), settings=Settings(public=True)))
