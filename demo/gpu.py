"""`gpu`: the `spaces.GPU` decorator on Hugging Face ZeroGPU Spaces, a no-op everywhere else.

Only the functions in `demo.work` wear it, so a ZeroGPU Space attaches a GPU for exactly the model work.
`app.py` imports `spaces` before anything touches CUDA, as ZeroGPU requires. A ZeroGPU worker sends back only
`gr.Error`s with their message (any other exception becomes "ZeroGPU worker error"), so a `DemoInputError`
raised in the worker travels as a `WorkerInputError` and is raised again as itself on this side: the person
still reads what was wrong with their input.
"""

from __future__ import annotations

import functools
import inspect

import gradio as gr

from demo.models import DemoInputError

try:  # importable on Spaces (and where someone installed it)
    import spaces
except ImportError:
    spaces = None


class WorkerInputError(gr.Error):
    """A `DemoInputError` on its way back from a GPU worker."""


def _converting(fn, caught: type[Exception], convert):
    """`fn` (a function or a generator function) raising `convert(exc)` where it raised a `caught` one."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generate(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except caught as exc:
                raise convert(exc) from None

        return generate

    @functools.wraps(fn)
    def call(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except caught as exc:
            raise convert(exc) from None

    return call


def gpu(fn=None, **kwargs):
    """`@gpu` or `@gpu(duration=120)`: `spaces.GPU` when available, else the function unchanged."""
    if fn is None:
        return lambda f: gpu(f, **kwargs)
    if spaces is None:
        return fn
    in_worker = _converting(fn, DemoInputError, lambda exc: WorkerInputError(str(exc), print_exception=False))
    return _converting(spaces.GPU(in_worker, **kwargs), WorkerInputError, lambda exc: DemoInputError(exc.message))
