"""A `ChatModel` for any OpenAI-compatible chat completions server (vLLM, TGI, SGLang, hosted APIs).

Plain `httpx`, no SDK. `base_url` is the URL that ends right before `/chat/completions`, usually with
`/v1`: `http://host:8000/v1` for vLLM, `https://api.openai.com/v1` (a trailing `/chat/completions` is
tolerated and dropped; nothing is appended). Images go inline as `data:image/jpeg;base64,...` parts,
downscaled to `max_image_side`. Connection errors, timeouts, 429 and 5xx are retried with exponential
backoff and jitter (a `Retry-After` header is honoured); other 4xx fail at once. The per-call `timeout`
bounds the whole call, retries and waits included, and a reply is read up to `max_reply_bytes`.

The API key is only ever the one passed in (never taken from the environment here, so a URL someone typed
cannot receive the owner's key); it is sent as a Bearer header and never appears in `repr`, logs or errors.
Errors name what failed (HTTP status, timeout, unreadable reply) but never echo what the server sent or
tell a refused connection from a silent one: the server may be anyone's, and the message goes to a visitor.
With `guard`, connections go only to addresses its `AddressPolicy` allows (`url_guard`).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import time
from email.utils import parsedate_to_datetime

import httpx
from PIL import Image

from agent.backends.url_guard import AddressPolicy, GuardedTransport, URLRefused, check_base_url
from agent.llm import ImagePart, LLMError, Message, Reply, TextPart

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 300
MAX_REPLY_BYTES = 4 << 20  # a chat reply is kilobytes; anything near this is not one
RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))


class _Secret:
    """Holds the API key; prints as `***` wherever it is shown by accident."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


def encode_image(image: Image.Image, max_side: int = 1024, quality: int = 90) -> str:
    """A `data:image/jpeg;base64,...` URL of `image`, downscaled so its longer side is <= `max_side`."""
    if image.mode != "RGB":
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            rgba = image.convert("RGBA")
            image = Image.new("RGB", rgba.size, (255, 255, 255))
            image.paste(rgba, mask=rgba.getchannel("A"))
        else:
            image = image.convert("RGB")
    if max(image.size) > max_side:
        scale = max_side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _retry_after(headers: httpx.Headers) -> float | None:
    """Seconds from a `Retry-After` header (delta seconds or an HTTP date), or None."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _server_message(text: str) -> str:
    """The error text a server put in its body: OpenAI `{"error": {"message"}}`, vLLM, TGI, or raw text."""
    try:
        body = json.loads(text)
    except ValueError:
        return " ".join(text.split()) or "(empty body)"
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict):
            for key in ("message", "detail", "error"):
                if isinstance(err.get(key), str):
                    return err[key]
        if isinstance(err, str):
            return err
        if isinstance(body.get("detail"), str):
            return body["detail"]
    return " ".join(text.split())


def _count(value) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _shorten(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class OpenAICompatible:
    """`ChatModel` over `POST {base_url}/chat/completions`; thread-safe (one `httpx.Client`).

    base_url: ends before `/chat/completions`, e.g. `http://localhost:8000/v1`.
    model: the server's model name, e.g. `Qwen/Qwen2.5-VL-7B-Instruct`.
    api_key: Bearer token; none sent when None (local vLLM). Pass the owner's key only with the owner's URL.
    guard: where typed URLs may connect (`url_guard.AddressPolicy`); None for a URL the owner configured.
    read_timeout: seconds to wait for the reply when `generate` gets no `timeout`.
    max_attempts: tries per call for retryable failures; backoff doubles from `backoff` up to
        `max_backoff` seconds with +-50 % jitter; a `Retry-After` above `max_retry_after` fails the call.
    extra_body: merged into every request body (e.g. `{"top_k": 1}` or vendor options).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        temperature: float = 0.0,
        max_image_side: int = 1024,
        jpeg_quality: int = 90,
        connect_timeout: float = 5.0,
        read_timeout: float = 120.0,
        max_attempts: int = 3,
        backoff: float = 1.0,
        max_backoff: float = 20.0,
        max_retry_after: float = 60.0,
        extra_body: dict | None = None,
        guard: AddressPolicy | None = None,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ):
        try:
            base_url = check_base_url(base_url)
        except URLRefused as exc:
            raise ValueError(str(exc)) from None
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        if max_image_side < 16:
            raise ValueError(f"max_image_side must be >= 16, got {max_image_side}")
        base_url = base_url.removesuffix("/chat/completions")
        self.base_url = base_url
        self.url = f"{base_url}/chat/completions"
        self.model = model
        self.name = f"openai:{model}"
        self.temperature = temperature
        self.max_image_side = max_image_side
        self.jpeg_quality = jpeg_quality
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.extra_body = dict(extra_body or {})
        self.max_reply_bytes = max_reply_bytes
        self._key = _Secret(api_key) if api_key else None
        headers = {"Accept": "application/json"}
        if self._key is not None:
            headers["Authorization"] = f"Bearer {self._key.value}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            follow_redirects=False,
            transport=GuardedTransport(guard) if guard is not None else None,
            trust_env=guard is None,  # no environment proxy for typed URLs: it would connect for us
        )

    def __repr__(self) -> str:
        return f"OpenAICompatible(base_url={self.base_url!r}, model={self.model!r}, api_key={self._key!r})"

    __str__ = __repr__

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAICompatible:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- request building -------------------------------------------------------------------------

    def to_openai_messages(self, messages: list[Message]) -> list[dict]:
        """Messages in the chat completions format: text-only content as a string, else a parts list."""
        out = []
        for message in messages:
            if all(isinstance(p, TextPart) for p in message.parts):
                out.append({"role": message.role, "content": message.joined_text})
                continue
            content = []
            for part in message.parts:
                if isinstance(part, TextPart):
                    content.append({"type": "text", "text": part.text})
                elif isinstance(part, ImagePart):
                    url = encode_image(part.image, self.max_image_side, self.jpeg_quality)
                    content.append({"type": "image_url", "image_url": {"url": url}})
                else:
                    raise ValueError(f"unknown message part {type(part).__name__}")
            out.append({"role": message.role, "content": content})
        return out

    def _body(self, messages: list[Message], max_tokens: int) -> dict:
        body = {
            "model": self.model,
            "messages": self.to_openai_messages(messages),
            "max_tokens": max_tokens,
            "temperature": self.temperature,
        }
        body.update(self.extra_body)
        return body

    # -- the call -----------------------------------------------------------------------------------

    def generate(
        self, messages: list[Message], max_tokens: int = 1024, timeout: float | None = None
    ) -> Reply:
        """One reply; `timeout` (seconds) bounds the whole call including retries and backoff."""
        if not messages:
            raise ValueError("messages is empty")
        payload = json.dumps(self._body(messages, max_tokens)).encode()
        deadline = None if timeout is None else time.monotonic() + timeout
        last = "no attempt made"
        for attempt in range(1, self.max_attempts + 1):
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise self._error(f"no reply within {timeout:g} s ({last})")
            wait: float | None = None
            told = False  # whether `wait` came from a Retry-After header
            try:
                status, headers, raw = self._post(payload, remaining)
            except httpx.ConnectError as exc:
                refused = _refusal(exc)
                if refused is not None:
                    raise self._error(refused) from None
                log.info("%s: %s", self.name, self._scrub(f"{type(exc).__name__}: {exc}"))
                last = "the server could not be reached or did not answer"
            except httpx.TransportError as exc:  # timeouts included: told apart from refusals in the log only
                log.info("%s: %s", self.name, self._scrub(f"{type(exc).__name__}: {exc}"))
                last = "the server could not be reached or did not answer"
                if deadline is not None and deadline - time.monotonic() <= 0.01:
                    raise self._error(f"no reply within {timeout:g} s") from None
            else:
                if status < 300:
                    return self._parse(raw)
                log.info("%s: HTTP %d: %s", self.name, status, self._body_for_log(raw))
                last = f"HTTP {status}"
                if status not in RETRY_STATUSES:
                    hint = ""
                    if status == 404 and not self.base_url.endswith("/v1"):
                        hint = " (does the base URL need a trailing /v1?)"
                    elif status in (401, 403):
                        hint = " (is the API key right?)"
                    raise self._error(f"the server answered HTTP {status}{hint}")
                wait = _retry_after(headers)
                told = wait is not None
                if wait is not None and wait > self.max_retry_after:
                    raise self._error(f"{last}; the server asks to retry after {wait:.0f} s")
            if attempt == self.max_attempts:
                break
            if wait is None:
                wait = min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
            if deadline is not None and time.monotonic() + wait >= deadline:
                why = (
                    f"the server asks to retry after {wait:g} s"
                    if told
                    else f"the last attempt failed ({last})"
                )
                raise self._error(f"no reply within {timeout:g} s: {why}")
            log.warning(
                "%s: attempt %d/%d failed (%s); retrying in %.2f s",
                self.name,
                attempt,
                self.max_attempts,
                self._scrub(last),
                wait,
            )
            time.sleep(wait)
        raise self._error(f"no reply after {self.max_attempts} attempt(s): {last}")

    def _post(self, payload: bytes, remaining: float | None) -> tuple[int, httpx.Headers, bytes]:
        """One POST, streamed so that `remaining` bounds the whole exchange, not each socket read."""
        if remaining is None:
            timeout = httpx.Timeout(self.read_timeout, connect=self.connect_timeout)
        else:
            timeout = httpx.Timeout(
                min(self.read_timeout, remaining), connect=min(self.connect_timeout, remaining)
            )
        end = None if remaining is None else time.monotonic() + remaining  # the whole call's deadline
        headers = {"Content-Type": "application/json"}
        with self._client.stream("POST", self.url, content=payload, headers=headers, timeout=timeout) as r:
            chunks, size = [], 0
            for chunk in r.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > self.max_reply_bytes:
                    raise self._error(f"the reply is larger than {self.max_reply_bytes >> 20} MB; not read further")
                if end is not None and time.monotonic() > end:
                    raise httpx.ReadTimeout("overall timeout reached while reading the reply")
            return r.status_code, r.headers, b"".join(chunks)

    def _parse(self, raw: bytes) -> Reply:
        try:
            body = json.loads(raw)
        except ValueError:
            raise self._error("the server's reply is not JSON (is the URL an OpenAI-compatible API?)") from None
        if not isinstance(body, dict):
            raise self._error(f"the server's reply is JSON but not an object: {type(body).__name__}")
        if "error" in body and not body.get("choices"):
            log.info("%s: error reply: %s", self.name, self._body_for_log(raw))
            raise self._error("the server answered with an error instead of a reply")
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise self._error("the server's reply has no choices")
        choice = choices[0]
        finish = choice.get("finish_reason")
        message = choice.get("message") or {}
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):  # some servers answer with content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if not isinstance(content, str):
            why = f" (finish_reason={finish})" if finish else ""
            raise self._error(f"the server's reply has no message content{why}")
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        return Reply(
            text=content,
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            truncated=finish == "length",
        )

    def _body_for_log(self, raw: bytes) -> str:
        """What the server said, for the owner's log only (never for the person who asked)."""
        return self._scrub(_shorten(_server_message(raw.decode("utf-8", errors="replace"))))

    def _scrub(self, text: str) -> str:
        if self._key is not None and self._key.value:
            text = text.replace(self._key.value, "***")
        return text

    def _error(self, message: str) -> LLMError:
        return LLMError(self._scrub(f"{self.name}: {message}"))


def _refusal(exc: BaseException) -> str | None:
    """The guard's reason when a connection was refused by `AddressPolicy`, else None."""
    while exc is not None:
        if isinstance(exc, URLRefused):
            return str(exc)
        exc = exc.__cause__ or exc.__context__
    return None
