"""What every event handler of the app does alike: one model run per visitor, and errors told the right way.

A person's own mistakes (`DemoInputError`) are told as they are. Anything else is logged with an incident id; a
public app tells the visitor only that something failed on its side and the id (an exception's text can carry
paths, addresses or another visitor's data), a local app also says what the exception was.
"""

from __future__ import annotations

import logging
import uuid

from demo.limits import ClientGate, client_id
from demo.models import DemoInputError
from demo.settings import Settings

log = logging.getLogger(__name__)

GATE = ClientGate()


def explain(exc: BaseException, settings: Settings, what: str) -> str:
    """One line for the person about `exc`, which happened while doing `what`."""
    if isinstance(exc, DemoInputError):
        return str(exc)
    incident = uuid.uuid4().hex[:8]
    log.error("%s failed (incident %s)", what, incident, exc_info=exc)
    if settings.public:
        return f"{what} failed because of a problem on the server's side (incident {incident})"
    return f"{what} failed: {type(exc).__name__}: {exc} (incident {incident})"


def namespace(request, settings: Settings) -> str:
    """Whose image encodings a call may reuse: a public app keeps each visitor's apart (no timing tells what
    others uploaded); a local app shares them by content."""
    return (client_id(request) or "anonymous") if settings.public else ""
