"""How the app shares the machine between visitors: which events count as model work, and how many run at once."""

from __future__ import annotations

import os

MODEL_WORK = "sam3"  # concurrency group of every event that runs a model
# Model work (SAM 3, local VLMs, waits on LLM servers) runs this many events at once; the rest wait in a
# bounded queue, and a full queue turns new requests away rather than letting them pile up.
MODEL_CONCURRENCY = int(os.environ.get("SAM3_DEMO_CONCURRENCY", "2"))
QUEUE_MAX_SIZE = int(os.environ.get("SAM3_DEMO_QUEUE_SIZE", "32"))
LIGHT_CONCURRENCY = 4  # everything else: redrawing a toggled mask, a box corner, checking an upload
