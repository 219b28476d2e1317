"""How the app shares the machine between visitors: bounded model work, one run per visitor, hard deadlines.

Every event that runs a model shares one concurrency group (`MODEL_WORK`, `MODEL_CONCURRENCY` at once). A
visitor gets one model event at a time (`ClientGate`): a second one, from a double click or a script queuing
dozens, is turned away the moment it reaches the front of the queue, so it costs others milliseconds instead
of minutes. Light events (a toggled mask, a box corner, an upload check) skip the queue altogether, so a
busy queue never blocks them. Long work stops at a deadline (`Deadline`) rather than holding the machine.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from demo.models import DemoInputError

MODEL_WORK = "sam3"  # concurrency group of every event that runs a model
MODEL_CONCURRENCY = int(os.environ.get("SAM3_DEMO_CONCURRENCY", "2"))
QUEUE_MAX_SIZE = int(os.environ.get("SAM3_DEMO_QUEUE_SIZE", "64"))
LIGHT_CONCURRENCY = 4


class Busy(DemoInputError):
    """The visitor already has a run going."""


class DeadlineExceeded(DemoInputError):
    """A run went past its time limit and was stopped."""


class ClientGate:
    """At most one model event per visitor (Gradio's session hash) in flight."""

    def __init__(self):
        self._active: set[str] = set()
        self._lock = threading.Lock()

    @contextmanager
    def hold(self, client: str | None) -> Iterator[None]:
        """Runs the block for `client`, or raises `Busy` if it already has one running. A client without an
        id (a bare HTTP call) shares one slot with every other such client."""
        key = client or "anonymous"
        with self._lock:
            if key in self._active:
                raise Busy("you already have a run going: wait for it to finish (or press Stop), then try again")
            self._active.add(key)
        try:
            yield
        finally:
            with self._lock:
                self._active.discard(key)

    def release(self, client: str | None) -> None:
        """Frees `client`'s slot now (Stop: the cancelled run's step in flight finishes on its own)."""
        with self._lock:
            self._active.discard(client or "anonymous")

    def __contains__(self, client: str) -> bool:
        with self._lock:
            return client in self._active


def client_id(request) -> str | None:
    """The visitor a `gr.Request` comes from: its session (one browser tab, or one `gradio_client.Client`)."""
    return getattr(request, "session_hash", None) if request is not None else None


class Deadline:
    """A point in time after which long work stops, checked between its steps (frames, model calls)."""

    def __init__(self, seconds: float, what: str = "the run"):
        self.seconds, self.what = seconds, what
        self.end = time.monotonic() + seconds

    @property
    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def check(self) -> None:
        if time.monotonic() > self.end:
            raise DeadlineExceeded(
                f"{self.what} was stopped after {self.seconds:g} s, the limit for one run: "
                "choose a shorter range or a larger frame stride"
            )


def load_within(model, seconds: float) -> None:
    """`model.load()` (a VLM someone typed), waiting at most `seconds`. Past them the run ends with a message
    and the load goes on in the background, so the next run finds the model ready; a load that fails is
    reported by the run that meets the failure."""
    if getattr(model, "_model", None) is not None or not hasattr(model, "load"):
        return
    errors: list[BaseException] = []

    def load() -> None:
        try:
            model.load()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting run
            errors.append(exc)

    thread = threading.Thread(target=load, daemon=True, name="vlm-load")
    thread.start()
    thread.join(seconds)
    if errors:
        raise errors[0]
    if thread.is_alive():
        raise DeadlineExceeded(
            f"the model is still loading after {seconds:g} s; it goes on loading: try again in a minute"
        )
