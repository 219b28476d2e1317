"""A stand-in for the `spaces` package that makes ZeroGPU's rules bite without a GPU.

On a ZeroGPU Space, `@spaces.GPU` runs each call in a forked worker and sends its arguments, results, yielded
items and exceptions through a multiprocessing queue, so all of them are pickled; only a `gr.Error` comes back
with its message, anything else becomes "ZeroGPU worker error". This stand-in does the same to every call (in
this process: a real fork would hang torch's CPU thread pool) and logs each call (function, estimated duration,
argument types) as JSON lines to `$SPACES_STANDIN_LOG`, so a test can check that every model event went through it.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import pickle

import gradio as gr


def _copy(value):
    """What arrives on the other side of the queue."""
    return pickle.loads(pickle.dumps(value))


def _log(task, duration, args, kwargs) -> None:
    path = os.environ.get("SPACES_STANDIN_LOG")
    if not path:
        return
    seconds = duration(*args, **kwargs) if callable(duration) else duration
    entry = {
        "function": task.__name__,
        "duration": seconds,
        "args": [type(a).__name__ for a in args] + [f"{k}={type(v).__name__}" for k, v in kwargs.items()],
    }
    with open(path, "a") as f:
        f.write(json.dumps(entry) + "\n")


def _crossing(exc: Exception) -> Exception:
    """The exception the app sees: a pickled `gr.Error`, or ZeroGPU's generic one."""
    if isinstance(exc, gr.Error):
        return _copy(exc)
    return gr.Error(f"ZeroGPU worker error: {type(exc).__name__}")


def GPU(task=None, *, duration=None, size=None, **kwargs):  # noqa: N802 - the name spaces uses
    if task is None:
        return functools.partial(GPU, duration=duration, size=size)
    if inspect.isgeneratorfunction(task):

        def generator_handler(*args, **kwargs):
            _log(task, duration, args, kwargs)
            args, kwargs = _copy((args, kwargs))
            try:
                for item in task(*args, **kwargs):
                    yield _copy(item)
            except Exception as exc:  # noqa: BLE001
                raise _crossing(exc) from None

        return functools.wraps(task)(generator_handler)

    def handler(*args, **kwargs):
        _log(task, duration, args, kwargs)
        args, kwargs = _copy((args, kwargs))
        try:
            return _copy(task(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001
            raise _crossing(exc) from None

    return functools.wraps(task)(handler)
