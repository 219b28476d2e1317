"""The browser demo: `python app.py` (the app lives in `demo/`; see the README's "Demo and API" section).

SAM 3 is `$SAM3_MODEL` if set, else facebook/sam3 when `HF_TOKEN` gives access, else the bundled
ShapesWorld checkpoint (no network, no GPU needed); the page says which and why.
"""

from demo.limits import LIGHT_CONCURRENCY, QUEUE_MAX_SIZE
from demo.ui import build_app

if __name__ == "__main__":
    app = build_app()  # model events run at most MODEL_CONCURRENCY at a time (set per event)
    app.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=LIGHT_CONCURRENCY).launch()
