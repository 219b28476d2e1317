"""The models the app shares between all users, loaded once, and what each reasoning backend needs.

No Gradio here: the tabs (and tests) call these plain functions.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from agent.llm import ChatModel, make_backend
from sam3.loading import BUNDLED_DIR, SAM3_SCORE_THRESHOLD, ModelLoadError
from sam3.session import Segmenter

log = logging.getLogger(__name__)

SPATIAL = "spatial (no model)"
LOCAL_VLM = "local VLM (transformers)"
OPENAI = "OpenAI-compatible server"
BACKENDS = (SPATIAL, LOCAL_VLM, OPENAI)


class DemoInputError(ValueError):
    """Bad input from a person: the message is shown to them as is."""


@dataclass
class Models:
    """SAM 3 (or why it could not be loaded) and the local VLMs loaded so far, shared by every session."""

    segmenter: Segmenter | None
    load_error: str | None = None
    max_local_vlms: int = 1
    _vlms: dict[str, ChatModel] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(cls, model: str | None = None, device: str | None = None) -> Models:
        """`model` as for `Segmenter.load` (default `$SAM3_MODEL`, else facebook/sam3, else bundled).

        A model that cannot be loaded does not stop the app: every tab then says why.
        """
        try:
            return cls(Segmenter.load(model, device=device))
        except (ModelLoadError, RuntimeError, OSError, ValueError) as exc:  # start anyway, saying why
            log.error("no SAM 3 model: %s", exc)
            return cls(None, load_error=str(exc))

    _video: object | None = field(default=None, repr=False)
    _refiner: object | None = field(default=None, repr=False)
    _tracker: tuple | None = field(default=None, repr=False)

    def tracker(self):
        """SAM 3's tracker when the checkpoint ships one (loaded on first use), else None: follow by detection."""
        segmenter = self.require_segmenter()
        with self._lock:
            if self._tracker is None:
                from agent.video import trained_tracker

                self._tracker = (trained_tracker(segmenter.loaded.source, device=segmenter.loaded.device),)
            return self._tracker[0]

    def refiner(self):
        """SAM 3's tracker for click refinement on images, loaded on first use."""
        segmenter = self.require_segmenter()
        with self._lock:
            if self._refiner is None:
                from sam3.refine import Refiner

                self._refiner = Refiner(segmenter.loaded)
            return self._refiner

    def video(self):
        """The video model (detector + tracker, or detector association), loaded on first use."""
        if self.segmenter is None:
            raise DemoInputError(f"no SAM 3 model is loaded: {self.load_error}")
        with self._lock:
            if self._video is None:
                from sam3.video.loading import load_video_sam3

                loaded = self.segmenter.loaded
                self._video = load_video_sam3(loaded.source, device=loaded.device, dtype=loaded.dtype)
            return self._video

    @property
    def fallback_reason(self) -> str | None:
        return self.segmenter.loaded.fallback_reason if self.segmenter else None

    @property
    def source_name(self) -> str:
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

    def chat_model(self, spec: str, api_key: str | None = None) -> ChatModel | None:
        """The reasoning backend for `spec` (`spatial`, `transformers:<id>`, `openai:<url>#<model>`).

        Local VLMs are loaded once and kept (at most `max_local_vlms`); server clients are cheap and
        made per run, so an API key lives only as long as the run that uses it.
        """
        spec = spec.strip()
        if spec in ("", "spatial"):
            return None
        try:
            if spec.startswith("transformers:"):
                with self._lock:
                    if spec not in self._vlms:
                        while len(self._vlms) >= self.max_local_vlms:
                            self._vlms.pop(next(iter(self._vlms)))
                        self._vlms[spec] = make_backend(spec)
                    return self._vlms[spec]
            return make_backend(spec, api_key=api_key or None) if spec.startswith("openai:") else make_backend(spec)
        except ValueError as exc:
            raise DemoInputError(str(exc)) from None


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@dataclass(frozen=True)
class BackendStatus:
    name: str
    usable: bool  # can be selected at all
    note: str  # what it does or why it would be slow or fail


def backend_status() -> list[BackendStatus]:
    """What each reasoning backend needs on this machine, for the person to choose with open eyes."""
    out = [
        BackendStatus(
            SPATIAL,
            True,
            "ready: parses superlatives, ordinals, counts, relations, exclusions "
            "and unions offline; anything else needs a VLM",
        )
    ]
    if not _installed("transformers"):
        out.append(BackendStatus(LOCAL_VLM, False, "transformers is not installed"))
    else:
        notes = []
        if not _cuda():
            notes.append("no GPU: a 7B VLM on CPU takes minutes per reply (small local models are fine)")
        elif not _installed("bitsandbytes"):
            notes.append("bitsandbytes missing: the VLM loads in bf16 (about 16 GB for 7B) instead of 4-bit")
        else:
            notes.append("GPU with 4-bit loading available")
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
            notes.append("HF_HUB_OFFLINE is set: only cached models or local directories load")
        out.append(BackendStatus(LOCAL_VLM, True, "; ".join(notes)))
    if not _installed("httpx"):
        out.append(BackendStatus(OPENAI, False, "httpx is not installed"))
    else:
        out.append(
            BackendStatus(
                OPENAI,
                True,
                "needs a server URL (vLLM, TGI, SGLang or a hosted API) that "
                "this machine can reach, and a vision model name",
            )
        )
    return out


def backend_spec(choice: str, model_id: str = "", url: str = "", model_name: str = "") -> str:
    """The agent's backend string for the UI's choice and fields; `DemoInputError` when a field is missing."""
    if choice == SPATIAL:
        return "spatial"
    if choice == LOCAL_VLM:
        model_id = (model_id or "").strip()
        if not model_id:
            raise DemoInputError("give a model id or directory for the local VLM")
        return f"transformers:{model_id}"
    if choice == OPENAI:
        url, model_name = (url or "").strip(), (model_name or "").strip()
        if not url.startswith(("http://", "https://")):
            raise DemoInputError("give the server's base URL, e.g. http://localhost:8000/v1")
        if not model_name:
            raise DemoInputError("give the model name the server serves, e.g. Qwen/Qwen2.5-VL-7B-Instruct")
        return f"openai:{url}#{model_name}"
    raise DemoInputError(f"unknown backend {choice!r}: choose one of {', '.join(BACKENDS)}")
