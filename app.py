"""The browser demo: `python app.py` (the app lives in `demo/`; see the README).

SAM 3 is `$SAM3_MODEL` if set, else facebook/sam3 when `HF_TOKEN` gives access, else the bundled
ShapesWorld checkpoint (no network, no GPU needed); the page says which and why. On a Hugging Face Space
(`SPACE_ID` set) the app runs in public mode (`demo/settings.py`, docs/hosting.md).
"""

try:  # ZeroGPU must patch CUDA before torch sees it: `spaces` comes first
    import spaces  # noqa: F401
except ImportError:
    pass

from demo.ui import build_app, launch  # noqa: E402

app = build_app()  # at import: models load once, at start-up, as ZeroGPU needs

if __name__ == "__main__":
    launch(app)
