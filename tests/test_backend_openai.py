"""`OpenAICompatible` against a real local HTTP server that replays scripted replies."""

from __future__ import annotations

import logging
import socket
import threading
import time

import pytest
from PIL import Image

from agent.backends.openai_compat import OpenAICompatible, encode_image
from agent.llm import ChatModel, ImagePart, LLMError, Message, TextPart, make_backend
from tests.llm_server import ScriptedLLMServer, die, hangup, malformed, ok, reply, slow, status

KEY = "sk-test-0123456789abcdef-secret"
FAST = dict(backoff=0.01, max_backoff=0.05)


def chat(text: str = "Where is the cat?", image: Image.Image | None = None) -> list[Message]:
    user = Message("user", ([ImagePart(image)] if image is not None else []) + [TextPart(text)])
    return [Message.text("system", "You segment things."), user]


@pytest.fixture
def server():
    with ScriptedLLMServer() as srv:
        yield srv


@pytest.fixture
def make():
    """Builds backends (fast backoff unless told otherwise) and closes them after the test."""
    made: list[OpenAICompatible] = []

    def build(url: str, model: str = "m", **kwargs) -> OpenAICompatible:
        made.append(OpenAICompatible(url, model, **{**FAST, **kwargs}))
        return made[-1]

    yield build
    for backend in made:
        backend.close()


@pytest.fixture
def llm(server, make):
    return make(server.url, "qwen-vl", api_key=KEY)


def test_success_sends_image_inline_and_key_as_bearer(server, llm):
    server.add(ok('{"tool": "segment", "phrase": "cat"}', prompt_tokens=321, completion_tokens=12))
    photo = Image.new("RGB", (2000, 1000), (200, 30, 30))

    out = llm.generate(chat(image=photo), max_tokens=77)

    assert out.text == '{"tool": "segment", "phrase": "cat"}'
    assert (out.prompt_tokens, out.completion_tokens, out.truncated) == (321, 12, False)
    (req,) = server.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body["model"] == "qwen-vl"
    assert req.body["max_tokens"] == 77
    assert req.body["temperature"] == 0
    assert req.messages[0] == {"role": "system", "content": "You segment things."}
    user = req.messages[1]["content"]
    assert [p["type"] for p in user] == ["image_url", "text"]
    assert user[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    (sent,) = req.images
    assert sent.format == "JPEG"
    assert sent.size == (1024, 512)  # downscaled to the default max side, aspect kept
    assert abs(sent.getpixel((500, 250))[0] - 200) < 8


def test_key_never_in_repr_or_errors(server, make, caplog):
    server.add(status(500, {"error": {"message": f"bad key {KEY}"}}), status(401, f"invalid api key {KEY}"))
    llm = make(server.url, api_key=KEY)
    with caplog.at_level(logging.DEBUG), pytest.raises(LLMError) as err:
        llm.generate(chat())
    assert KEY not in repr(llm) and KEY not in str(llm) and KEY not in repr(vars(llm))
    assert "***" in repr(llm)
    assert "HTTP 401" in str(err.value) and "API key" in str(err.value)
    assert KEY not in str(err.value) and "invalid api key" not in str(err.value)  # the body goes to the log only
    assert KEY not in caplog.text and "retrying" in caplog.text and "invalid api key" in caplog.text
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_the_environment_key_is_never_taken_implicitly(server, make, monkeypatch):
    """Only an explicitly passed key is sent: `$OPENAI_API_KEY` belongs to whoever runs the process, and a
    client built for a URL someone typed must not carry it there."""
    server.add(ok("a"), ok("b"))
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    make(server.url).generate(chat())
    make(server.url, api_key="explicit").generate(chat())
    assert "authorization" not in server.requests[0].headers
    assert server.requests[1].headers["authorization"] == "Bearer explicit"


def test_retries_500_then_succeeds(server, llm):
    server.add(status(500), status(503, "upstream overloaded"), ok("third time"))
    assert llm.generate(chat()).text == "third time"
    assert len(server.requests) == 3


def test_retry_after_is_honoured_on_429(server, llm):
    server.add(status(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"}), ok("done"))
    start = time.monotonic()
    assert llm.generate(chat()).text == "done"
    assert 0.9 < time.monotonic() - start < 3.0  # waited as told, not the 0.01 s backoff
    assert len(server.requests) == 2


def test_retry_after_beyond_the_call_timeout_fails_at_once(server, llm):
    server.add(status(429, headers={"Retry-After": "30"}), ok("never"))
    start = time.monotonic()
    with pytest.raises(LLMError, match="retry after 30 s"):
        llm.generate(chat(), timeout=2.0)
    assert time.monotonic() - start < 1.0
    assert len(server.requests) == 1


def test_retry_after_beyond_max_retry_after_fails_at_once(server, llm):
    server.add(status(503, headers={"Retry-After": "120"}), ok("never"))
    with pytest.raises(LLMError, match="retry after 120 s"):
        llm.generate(chat())
    assert len(server.requests) == 1


def test_no_retry_on_400_and_the_server_body_stays_in_the_log(server, llm, caplog):
    long_message = "This model's maximum context length is 4096 tokens. " + "x" * 1000
    server.add(status(400, {"error": {"message": long_message, "type": "BadRequestError"}}), ok("unused"))
    with caplog.at_level(logging.INFO), pytest.raises(LLMError) as err:
        llm.generate(chat())
    message = str(err.value)
    assert "HTTP 400" in message and "maximum context length" not in message
    assert "maximum context length is 4096" in caplog.text and len(caplog.text) < 1000  # shortened
    assert len(server.requests) == 1 and server.remaining == 1


def test_404_hints_at_v1(server, make):
    server.add(status(404, "Not Found"))
    llm = make(server.url.removesuffix("/v1"))
    with pytest.raises(LLMError, match="/v1"):
        llm.generate(chat())


def test_slow_reply_beyond_timeout(server, llm):
    server.add(slow(5.0, ok("too late")))
    start = time.monotonic()
    with pytest.raises(LLMError, match="no reply within 0.5 s"):
        llm.generate(chat(), timeout=0.5)
    assert time.monotonic() - start < 1.5


def test_slow_reply_within_timeout(server, llm):
    server.add(slow(0.2, ok("in time")))
    assert llm.generate(chat(), timeout=3.0).text == "in time"


def test_read_timeout_is_retried_when_the_call_has_time_left(server, make):
    server.add(slow(2.0, ok("late")), ok("fast"))
    llm = make(server.url, read_timeout=0.3)
    assert llm.generate(chat()).text == "fast"


def test_hangup_mid_response_is_retried(server, llm):
    server.add(hangup(), ok("after the hangup"))
    assert llm.generate(chat()).text == "after the hangup"


def test_server_dies_mid_run(server, llm):
    server.add(ok("first"), die())
    assert llm.generate(chat()).text == "first"
    start = time.monotonic()
    with pytest.raises(LLMError, match="3 attempt"):
        llm.generate(chat())
    assert time.monotonic() - start < 2.0
    assert len(server.requests) == 2  # later attempts were refused at connect


def test_non_json_body(server, llm):
    server.add(malformed())
    with pytest.raises(LLMError, match="not JSON"):
        llm.generate(chat())


@pytest.mark.parametrize(
    "body, match",
    [
        ({"id": "x", "choices": []}, "no choices"),
        ({"id": "x"}, "no choices"),
        (
            {"choices": [{"message": {"role": "assistant", "content": None}, "finish_reason": "tool_calls"}]},
            "content",
        ),
        ({"choices": [{"finish_reason": "stop"}]}, "no message content"),
        ([1, 2, 3], "not an object"),
        ({"error": {"message": "model overloaded"}}, "an error instead of a reply"),
    ],
)
def test_unusable_replies(server, llm, body, match):
    server.add(reply(body))
    with pytest.raises(LLMError, match=match):
        llm.generate(chat())


def test_finish_reason_length_is_truncated(server, llm):
    server.add(ok('{"tool": "segm', finish_reason="length"))
    out = llm.generate(chat(), max_tokens=5)
    assert out.truncated and out.text == '{"tool": "segm'


def test_connection_refused_after_bounded_attempts(make):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    llm = make(f"http://127.0.0.1:{port}/v1", max_attempts=2)
    start = time.monotonic()
    with pytest.raises(LLMError, match="2 attempt.*could not be reached or did not answer"):
        llm.generate(chat())
    assert time.monotonic() - start < 2.0


def test_threads_share_one_backend(server, llm):
    n = 8
    server.add(*[ok(f"reply {i}") for i in range(n)])
    texts: list[str] = []

    def worker():
        texts.append(llm.generate(chat()).text)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(texts) == sorted(f"reply {i}" for i in range(n))


def test_plain_strings_script_and_an_exhausted_script(llm, server, caplog):
    server.add("first", "second")
    assert [llm.generate(chat(f"q{i}")).text for i in range(2)] == ["first", "second"]
    assert [r.texts[-1] for r in server.requests] == ["q0", "q1"]
    with caplog.at_level(logging.INFO), pytest.raises(LLMError, match="HTTP 410"):
        llm.generate(chat())
    assert "no scripted reply left for request #3" in caplog.text
    assert len(server.requests) == 3  # 410 is not retried


def test_make_backend_and_protocol(server):
    server.add(ok("hi"))
    llm = make_backend(f"openai:{server.url}/#qwen-vl", backoff=0.01)
    assert isinstance(llm, OpenAICompatible) and isinstance(llm, ChatModel)
    assert llm.name == "openai:qwen-vl" and llm.url == f"{server.url}/chat/completions"
    assert llm.generate(chat()).text == "hi"
    llm.close()


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "RGB"])
def test_encode_image_modes_and_small_images(mode):
    import base64
    import io

    url = encode_image(Image.new(mode, (40, 30)), max_side=1024)
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.format == "JPEG" and decoded.mode == "RGB" and decoded.size == (40, 30)


def test_bad_arguments():
    with pytest.raises(ValueError, match="http"):
        OpenAICompatible("localhost:8000/v1", "m")
    with pytest.raises(ValueError, match="max_attempts"):
        OpenAICompatible("http://localhost:8000/v1", "m", max_attempts=0)


def test_a_huge_reply_is_cut_off_not_read_into_memory(server, make):
    server.add(ok("x" * (6 << 20)))
    llm = make(server.url, max_reply_bytes=1 << 20)
    with pytest.raises(LLMError, match="larger than 1 MB"):
        llm.generate(chat())


@pytest.mark.parametrize(
    "url", ["http://h:8000/admin?x=", "http://h:8000/v1#frag", "http://user:pw@h:8000/v1", "file:///etc/passwd"]
)
def test_base_urls_that_would_steer_the_request_elsewhere_are_refused(url):
    with pytest.raises(ValueError):
        OpenAICompatible(url, "m")


def test_a_guarded_client_never_connects_to_this_machine(server, make):
    from agent.backends.url_guard import AddressPolicy

    server.add(ok("must not be asked"))
    with pytest.raises(LLMError, match="loopback address"):
        make(server.url, guard=AddressPolicy(), api_key=KEY).generate(chat())
    assert not server.requests
    allowed = make(server.url, guard=AddressPolicy(allowed_hosts=frozenset({"127.0.0.1"})))
    assert allowed.generate(chat()).text == "must not be asked"


def test_a_refused_port_and_a_silent_one_read_the_same(make):
    """A visitor must not be able to map which ports of a host are open from the error messages."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        messages = []
        for port in (closed_port, silent.getsockname()[1]):
            with pytest.raises(LLMError) as err:
                make(f"http://127.0.0.1:{port}/v1", max_attempts=1, read_timeout=0.3).generate(chat())
            messages.append(str(err.value))
    assert messages[0] == messages[1], messages
