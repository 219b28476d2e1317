"""`gpu`: the `spaces.GPU` decorator on Hugging Face ZeroGPU Spaces, a no-op everywhere else.

Only the functions that run models wear it (`demo.ask.run_ask`, `demo.segment.run_segment`), so a
ZeroGPU Space attaches a GPU for exactly the model work and nothing else.
"""

from __future__ import annotations

try:  # importable on Spaces (and where someone installed it); must come before CUDA is touched
    import spaces
except ImportError:
    spaces = None


def gpu(fn=None, **kwargs):
    """`@gpu` or `@gpu(duration=120)`: `spaces.GPU` when available, else the function unchanged."""
    if spaces is None:
        return fn if fn is not None else (lambda f: f)
    return spaces.GPU(fn, **kwargs) if fn is not None else spaces.GPU(**kwargs)
