"""The models the app shares between all visitors: loaded once, at start-up, as module-level state.

On a ZeroGPU Space each model call runs in a worker process forked from this one, with its arguments pickled:
models must already be in memory (placed on `cuda` at start-up, which ZeroGPU intercepts), reached through
`current()` rather than passed as arguments, and never loaded or changed inside a call (a change would happen in
the worker's copy and be lost). So everything loads here, before the first request: SAM 3, its point decoder,
its video model and tracker, and the owner's local VLMs. No Gradio here.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from agent.llm import ChatModel, LLMError, make_backend
from demo.settings import Settings
from sam3.loading import BUNDLED_DIR, SAM3_SCORE_THRESHOLD, ModelLoadError
from sam3.session import Segmenter

log = logging.getLogger(__name__)


class DemoInputError(ValueError):
    """Bad input from a person: the message is shown to them as is."""


@dataclass
class Models:
    """SAM 3 (or why it could not be loaded), what it brings (point decoder, video), and the owner's VLMs."""

    segmenter: Segmenter | None
    load_error: str | None = None
    settings: Settings = field(default_factory=Settings)
    refiner: object | None = None  # sam3.refine.Refiner
    video: object | None = None  # sam3.video.loading.LoadedVideoSam3
    tracker: object | None = None  # a trained SAM 3 video tracker, or None: follow by detection
    vlms: dict[str, ChatModel] = field(default_factory=dict)  # the owner's, by id, loaded
    _typed: dict[str, ChatModel] = field(default_factory=dict, repr=False)  # local mode only, at most one
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, model: str | None = None, device: str | None = None, settings: Settings | None = None) -> Models:
        """`model` as for `Segmenter.load` (default `$SAM3_MODEL`, else facebook/sam3, else bundled), and all
        that comes with it. A model that cannot be loaded does not stop the app: every tab then says why."""
        settings = settings or Settings()
        try:
            segmenter = Segmenter.load(model, device=device)
        except (ModelLoadError, RuntimeError, OSError, ValueError) as exc:  # start anyway, saying why
            log.error("no SAM 3 model: %s", exc)
            return cls(None, load_error=str(exc), settings=settings)
        from agent.video import trained_tracker
        from sam3.refine import Refiner
        from sam3.video.loading import load_video_sam3

        loaded = segmenter.loaded
        models = cls(
            segmenter,
            settings=settings,
            refiner=Refiner(loaded),
            video=load_video_sam3(loaded.source, device=loaded.device, dtype=loaded.dtype),
            tracker=trained_tracker(loaded.source, device=loaded.device),
        )
        for vlm in settings.vlms:  # the owner chose these: their token may fetch them
            try:
                models.vlms[vlm] = make_backend(f"transformers:{vlm}", **_owner_token()).load()
            except (LLMError, ValueError) as exc:
                log.error("local VLM %s not loaded: %s", vlm, exc)
        return models

    @property
    def fallback_reason(self) -> str | None:
        return self.segmenter.loaded.fallback_reason if self.segmenter else None

    @property
    def source_name(self) -> str:
        """The model's public name: a Hub id, a folder's name or the bundled checkpoint, never a server path."""
        if self.segmenter is None:
            return "none"
        source = self.segmenter.loaded.source
        if Path(source) == BUNDLED_DIR:
            return "bundled ShapesWorld checkpoint"
        return Path(source).name if Path(source).is_dir() else source

    def banner(self) -> str:
        """One markdown line on the model in use, saying why when it is not the requested one."""
        if self.segmenter is None:
            return (
                f"**No SAM 3 model could be loaded**: {self.load_error}. Segmentation is unavailable; "
                "set `SAM3_MODEL` to a checkpoint directory (or `HF_TOKEN` for facebook/sam3) and restart."
            )
        loaded = self.segmenter.loaded
        where = f"{loaded.device.type}, {str(loaded.dtype).removeprefix('torch.')}"
        if loaded.fallback_reason:
            return (
                f"**Using the bundled ShapesWorld SAM 3** ({where}): {loaded.fallback_reason}. "
                "It knows coloured shapes (circle, square, triangle, star, diamond, hexagon), "
                "not real-world objects: try the examples."
            )
        return f"SAM 3: `{self.source_name}` ({where})"

    @property
    def score_threshold(self) -> float:
        """The loaded checkpoint's calibrated score threshold: the default of every threshold control."""
        return self.segmenter.loaded.score_threshold if self.segmenter else SAM3_SCORE_THRESHOLD

    def threshold(self, value: float | str | None) -> float:
        """A threshold from the page or the API: empty means the checkpoint's; outside [0, 1] is refused."""
        if value is None or value == "":
            return self.score_threshold
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise DemoInputError(f"the score threshold must be a number in [0, 1], got {value!r}") from None
        if not 0.0 <= value <= 1.0:
            raise DemoInputError(f"the score threshold must be in [0, 1], got {value}")
        return value

    def require_segmenter(self) -> Segmenter:
        if self.segmenter is None:
            raise DemoInputError(f"no SAM 3 model is loaded ({self.load_error})")
        return self.segmenter

    def typed_vlm(self, model_id: str) -> ChatModel:
        """A VLM a person typed (local mode only): downloaded anonymously, never with the owner's token, and
        kept until another is typed. Loading happens in `demo.deadline.load_within`, not here."""
        with self._lock:
            if model_id not in self._typed:
                self._typed.clear()
                self._typed[model_id] = make_backend(f"transformers:{model_id}")
            return self._typed[model_id]


def _owner_token() -> dict:
    from agent.llm import owner_credentials

    return owner_credentials("transformers:")


_current: Models | None = None


def install(models: Models) -> Models:
    """Makes `models` the ones every model call uses (`build_app` does this once, at start-up)."""
    global _current
    _current = models
    return models


def current() -> Models:
    if _current is None:
        raise RuntimeError("no models installed: build the app with demo.ui.build_app first")
    return _current
