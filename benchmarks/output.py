"""Where a benchmark's results go: a JSON file when asked for one (the files in benchmarks/results/)."""

from __future__ import annotations

import json
from pathlib import Path


def save_json(results: dict, path: str | Path | None) -> None:
    """Write `results` to `path` (folders created); nothing when `path` is None."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")
