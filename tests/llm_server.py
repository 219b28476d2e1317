"""A real local OpenAI-compatible chat completions server that replays scripted replies, for tests.

    from tests.llm_server import ScriptedLLMServer, die, malformed, ok, slow, status

    with ScriptedLLMServer([status(500), ok('{"tool": "segment"}'), slow(3.0, ok("late"))]) as srv:
        llm = OpenAICompatible(srv.url, "scripted", backoff=0.01)   # srv.url ends in /v1
        llm.generate([Message.text("user", "hi")])                   # 500, retried, then the ok reply
        srv.requests[-1].messages                                    # what the backend sent
        srv.requests[-1].images                                      # its images, decoded to PIL

Each POST to `.../chat/completions` consumes the next entry of the script (a plain str means `ok(str)`):
- `ok(text, finish_reason="stop", prompt_tokens=..., completion_tokens=...)`: a chat completion reply;
- `reply(json_body, code=200)`: any JSON body; `status(code, body=None, headers=None)`: an error status;
- `slow(seconds, entry)`: waits, then answers `entry`; `malformed(body)`: 200 with a non-JSON body;
- `hangup()`: closes the connection mid-response, the server keeps serving;
- `die()`: closes the connection mid-response and shuts the server down (later connects are refused).
A request beyond the script gets HTTP 410 with "no scripted reply left", which a backend does not retry.
Requests are recorded in `.requests` (path, lower-cased headers, parsed JSON body), script or not.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image


@dataclass(frozen=True)
class Scripted:
    """One scripted answer: `kind` is "reply" (send `code`, `headers`, `body`), "hangup" or "die"."""

    kind: str
    code: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


def completion(
    text: str | None,
    finish_reason: str | None = "stop",
    prompt_tokens: int = 11,
    completion_tokens: int | None = None,
    model: str = "scripted",
) -> dict:
    """The JSON of an OpenAI chat completion with one choice."""
    completion_tokens = len(text.split()) if completion_tokens is None and text else completion_tokens or 0
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def reply(body: Any, code: int = 200, headers: dict[str, str] | None = None) -> Scripted:
    """Any JSON-serialisable `body` with status `code`."""
    return Scripted("reply", code, json.dumps(body).encode(), tuple((headers or {}).items()))


def ok(
    text: str,
    finish_reason: str | None = "stop",
    prompt_tokens: int = 11,
    completion_tokens: int | None = None,
) -> Scripted:
    """A successful chat completion whose message content is `text`."""
    return reply(completion(text, finish_reason, prompt_tokens, completion_tokens))


def status(code: int, body: Any = None, headers: dict[str, str] | None = None) -> Scripted:
    """An HTTP error; `body` a str (sent as is), a dict (as JSON) or None (an OpenAI-style error)."""
    if body is None:
        body = {"error": {"message": f"scripted error {code}", "type": "scripted", "code": code}}
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return Scripted("reply", code, raw, tuple((headers or {}).items()))


def malformed(body: str = "<html>502 Bad Gateway from a proxy</html>", code: int = 200) -> Scripted:
    """A reply whose body is not JSON (a proxy page, a truncated body)."""
    return Scripted("reply", code, body.encode(), (("Content-Type", "text/html"),))


def slow(seconds: float, then: Scripted) -> Scripted:
    """Waits `seconds` before answering `then` (the wait ends early when the server closes)."""
    return Scripted(then.kind, then.code, then.body, then.headers, then.delay + seconds)


def hangup() -> Scripted:
    """Sends half a response and closes the connection; the server keeps running."""
    return Scripted("hangup")


def die() -> Scripted:
    """Sends half a response, closes every connection and shuts the server down for good."""
    return Scripted("die")


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any = None  # the parsed JSON body, or None when it was not JSON
    answered_with: Scripted | None = field(default=None, repr=False)

    @property
    def messages(self) -> list[dict]:
        return (self.body or {}).get("messages", []) if isinstance(self.body, dict) else []

    @property
    def image_urls(self) -> list[str]:
        return [
            part["image_url"]["url"]
            for m in self.messages
            if isinstance(m.get("content"), list)
            for part in m["content"]
            if part.get("type") == "image_url"
        ]

    @property
    def images(self) -> list[Image.Image]:
        """Images sent inline as data URLs, decoded."""
        out = []
        for url in self.image_urls:
            _, _, data = url.partition("base64,")
            image = Image.open(io.BytesIO(base64.b64decode(data)))
            image.load()
            out.append(image)
        return out

    @property
    def texts(self) -> list[str]:
        """Every text of every message, in order."""
        out = []
        for m in self.messages:
            content = m.get("content")
            if isinstance(content, str):
                out.append(content)
            elif isinstance(content, list):
                out.extend(p["text"] for p in content if p.get("type") == "text")
        return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format, *args) -> None:  # keep test output quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        self.server.track(self.connection, add=False)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [{"id": "scripted"}]}).encode(), ())
        else:
            self._send(404, b'{"error": {"message": "not found"}}', ())

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(
            "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, raw, body
        )
        entry, number = self.server.owner._next(request)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            msg = f"no route {self.path} (expected .../v1/chat/completions)"
            self._send(404, json.dumps({"error": {"message": msg}}).encode(), ())
            return
        if entry is None:
            msg = f"ScriptedLLMServer: no scripted reply left for request #{number}"
            self._send(410, json.dumps({"error": {"message": msg}}).encode(), ())
            return
        if entry.delay and self.server.owner._closing.wait(entry.delay):
            self.close_connection = True
            return
        if entry.kind in ("hangup", "die"):
            self._half_reply(shutdown=entry.kind == "die")
            return
        headers = entry.headers
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers = (("Content-Type", "application/json"),) + headers
        self._send(entry.code, entry.body, headers)

    def _send(self, code: int, body: bytes, headers) -> None:
        try:
            self.send_response(code)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the client gave up (timed out) before the reply
            self.close_connection = True

    def _half_reply(self, shutdown: bool) -> None:
        if shutdown:
            self.server.owner._stop_listening()
        body = json.dumps(completion("this reply never arrives in full")).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
        except OSError:
            pass
        self.close_connection = True
        _kill(self.connection)
        if shutdown:
            self.server.close_all_connections()


def _kill(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: ScriptedLLMServer

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conn_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_all_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            _kill(conn)


def _entry(entry: Scripted | str) -> Scripted:
    if isinstance(entry, str):
        return ok(entry)
    if not isinstance(entry, Scripted):
        raise TypeError(f"a script entry is a str or made by ok/status/slow/...; got {type(entry).__name__}")
    return entry


class ScriptedLLMServer:
    """A threaded HTTP server on 127.0.0.1 (a free port) that answers POSTs with `script`, in order.

    `url` is `http://127.0.0.1:<port>/v1`; `requests` lists what it received; `remaining` counts the
    script entries not yet used. Use as a context manager (or call `start()` / `close()`).
    """

    def __init__(self, script: list[Scripted | str] | None = None):
        self._script = [_entry(e) for e in script or []]
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self.requests: list[RecordedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> ScriptedLLMServer:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _stop_listening(self) -> None:
        """Stops accepting connections and closes the listening socket: later connects are refused."""
        with self._lock:
            if self._stopped or self._server is None:
                return
            self._stopped = True
        self._server.shutdown()
        self._server.socket.close()

    def close(self) -> None:
        self._closing.set()
        if self._server is None:
            return
        self._stop_listening()
        self._server.close_all_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> ScriptedLLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- script -------------------------------------------------------------------------------------

    def add(self, *entries: Scripted | str) -> None:
        """Appends entries to the script (e.g. between turns of an agent test); a str means `ok(str)`."""
        with self._lock:
            self._script.extend(_entry(e) for e in entries)

    @property
    def remaining(self) -> int:
        with self._lock:
            return len(self._script)

    def _next(self, request: RecordedRequest) -> tuple[Scripted | None, int]:
        """Records `request`; returns the script entry that answers it and its 1-based number."""
        with self._lock:
            self.requests.append(request)
            number = len(self.requests)
            if not request.path.rstrip("/").endswith("/chat/completions"):
                return None, number
            entry = self._script.pop(0) if self._script else None
            request.answered_with = entry
            return entry, number
