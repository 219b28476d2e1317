"""Time from pressing Run in the app to the first agent step on screen, in real headless Chromium.

    python -m benchmarks.ask_latency [--model DIR] [--runs 5]

Launches the app in-process, uploads a ShapesWorld example, presses Run and times (1) the first
trace message in the chat and (2) the final status, for the spatial backend. Needs /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import socket
import time
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / "assets" / "examples" / "leftmost_star.png"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from demo.models import Models
    from demo.ui import build_app

    app = build_app(Models.load(a.model, device="cpu"))
    port = _free_port()
    app.queue().launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    first, final = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for i in range(a.runs + 1):  # the first run warms the model and the page up
                page = browser.new_page()
                page.set_default_timeout(60_000)
                page.goto(f"http://127.0.0.1:{port}/")
                page.set_input_files("#ask-image input[type=file]", str(EXAMPLE))
                page.wait_for_selector("#ask-image img")
                page.fill("#ask-query textarea", "the leftmost star")
                t0 = time.perf_counter()
                page.click("#ask-run")
                page.wait_for_selector("#ask-chat [data-testid=bot]")
                t1 = time.perf_counter()
                page.wait_for_function(
                    "document.querySelector('#ask-status')?.innerText.includes('selected')"
                    " || document.querySelector('#ask-status')?.innerText.includes('No')"
                )
                t2 = time.perf_counter()
                if i:
                    first.append(1e3 * (t1 - t0))
                    final.append(1e3 * (t2 - t0))
                page.close()
            browser.close()
    finally:
        app.close()
    out = {
        "first_event_ms_median": float(np.median(first)),
        "answer_ms_median": float(np.median(final)),
        "runs": a.runs,
    }
    print(
        f"Run -> first trace message: median {out['first_event_ms_median']:.0f} ms; "
        f"Run -> answer: median {out['answer_ms_median']:.0f} ms ({a.runs} runs, spatial backend)"
    )
    return out


if __name__ == "__main__":
    main()
