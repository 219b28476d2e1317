"""One entry point that loads SAM 3 from a Hub id, a local directory or the bundled checkpoint.

`facebook/sam3` is gated: without a token, without network, or without access, the loader
says why in one line and falls back to the checkpoint shipped in `assets/`, never waiting
on the network for more than a few seconds.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from transformers import Sam3Model, Sam3Processor

log = logging.getLogger(__name__)

HUB_MODEL = "facebook/sam3"
REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_DIR = REPO_ROOT / "assets" / "models" / "sam3-shapes"
NETWORK_TIMEOUT_S = 3.0
SAM3_SCORE_THRESHOLD = 0.5  # the confidence threshold of Meta's own SAM 3 demo


class ModelLoadError(RuntimeError):
    """No model could be loaded; the message says what to do."""


@dataclass
class LoadedSam3:
    model: Sam3Model
    processor: Sam3Processor
    source: str
    device: torch.device
    dtype: torch.dtype
    fallback_reason: str | None = None

    @property
    def score_threshold(self) -> float:
        """The score threshold this checkpoint was calibrated for (`score_threshold` in its config).

        SAM 3's scores are calibrated for 0.5; a checkpoint trained here declares its own operating point,
        so that every default (CLI, app, agent, tracker) shows what it detects rather than nothing.
        """
        return float(getattr(self.model.config, "score_threshold", SAM3_SCORE_THRESHOLD))

    @property
    def mask_threshold(self) -> float:
        """The mask probability a pixel needs (`mask_threshold` in its config; SAM 3's 0.5 otherwise)."""
        return float(getattr(self.model.config, "mask_threshold", 0.5))

    @property
    def vocabulary(self) -> dict[str, list[str]] | None:
        """The words a closed-vocabulary checkpoint knows (`vocabulary` in its config: "colours", "nouns",
        "generic"), so that a query's other words can be read as the nearest known ones; None for an open
        vocabulary such as facebook/sam3's."""
        return _vocabulary(getattr(self.model.config, "vocabulary", None))

    @property
    def look_closer(self) -> bool:
        """Whether unsure detections are scored again on a zoomed crop (`sam3.closer`) by default: a
        threshold is calibrated with it or without it, so the checkpoint that records one says which."""
        return bool(getattr(self.model.config, "look_closer", False))


def _vocabulary(spec: object) -> dict[str, list[str]] | None:
    if not isinstance(spec, dict):
        return None
    out = {k: [str(w) for w in spec.get(k, ()) if isinstance(w, str) and w.strip()]
           for k in ("colours", "nouns", "generic")}
    return out if out["nouns"] or out["generic"] else None


def read_vocabulary(model_dir: str | os.PathLike) -> dict[str, list[str]] | None:
    """A checkpoint directory's declared vocabulary (see `LoadedSam3.vocabulary`), without loading it."""
    path = Path(model_dir) / "config.json"
    try:
        return _vocabulary(json.loads(path.read_text()).get("vocabulary"))
    except (OSError, ValueError):
        return None


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 on CUDA (what SAM 3 was trained in); fp32 elsewhere, where bf16 is slow or unsupported."""
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def _hub_token() -> str | None:
    return os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")


def _is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def hub_reachable(timeout: float = NETWORK_TIMEOUT_S) -> bool:
    """A TCP connect to the Hub endpoint with a short timeout, so no later call hangs."""
    if os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy"):
        return True  # only the proxy is reachable directly; let the Hub client try through it
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def _cached_locally(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    hits = [try_to_load_from_cache(repo_id, f) for f in ("config.json", "model.safetensors")]
    return all(isinstance(h, str) for h in hits)


def hub_unavailable_reason(repo_id: str) -> str | None:
    """Why `repo_id` cannot be loaded from the Hub right now, or None if it can."""
    if _cached_locally(repo_id):
        return None
    if _is_offline():
        return f"{repo_id} is not in the local cache and HF_HUB_OFFLINE is set"
    if repo_id == HUB_MODEL and not _hub_token():
        return f"{repo_id} is gated and no HF_TOKEN is set"
    if not hub_reachable():
        return "the Hugging Face Hub is unreachable"
    from huggingface_hub import auth_check
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        auth_check(repo_id, token=_hub_token())
    except GatedRepoError:
        return f"this HF_TOKEN has no access to the gated {repo_id} (request it on its model page)"
    except RepositoryNotFoundError:
        return f"{repo_id} does not exist on the Hub (or the token cannot see it)"
    except Exception as exc:  # network errors of any kind: we fall back rather than fail
        return f"the Hub did not answer for {repo_id} ({type(exc).__name__})"
    return None


def _load(src: ModelSource, device: torch.device, dtype: torch.dtype) -> tuple[Sam3Model, Sam3Processor]:
    kwargs = src.hub_kwargs()
    model = Sam3Model.from_pretrained(src.path, dtype=dtype, use_safetensors=True, **kwargs)
    processor = Sam3Processor.from_pretrained(src.path, **kwargs)
    return model.to(device).eval(), processor


@dataclass(frozen=True)
class ModelSource:
    """Where a checkpoint will be loaded from: a directory or a Hub id, and whether offline."""

    path: str
    local_only: bool
    fallback_reason: str | None = None

    def hub_kwargs(self) -> dict:
        return {"local_files_only": self.local_only, "token": None if self.local_only else _hub_token()}


def resolve_source(model: str | os.PathLike | None = None, fallback: bool = True) -> ModelSource:
    """`model` (Hub id or directory; default `$SAM3_MODEL` or facebook/sam3), or the bundled
    checkpoint when a Hub id cannot be loaded and `fallback` is set. Never waits on the network
    for more than a few seconds."""
    source = str(model or os.environ.get("SAM3_MODEL") or HUB_MODEL)
    path = Path(source).expanduser()
    if path.is_dir() or source.startswith((".", "/", "~")) or source == "bundled":
        path = BUNDLED_DIR if source == "bundled" else path
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"no SAM 3 checkpoint at {path} (expected config.json and model.safetensors)")
        return ModelSource(str(path), True)
    reason = hub_unavailable_reason(source)
    if reason is None:
        return ModelSource(source, _cached_locally(source) and _is_offline())
    if not fallback:
        raise ModelLoadError(f"cannot load {source}: {reason}")
    if not (BUNDLED_DIR / "config.json").is_file():
        raise ModelLoadError(f"cannot load {source}: {reason}; and no bundled checkpoint at {BUNDLED_DIR}")
    # Callers show `fallback_reason` (CLI note, app banner); a warning here printed it twice on the CLI.
    log.info("%s; using the bundled ShapesWorld checkpoint instead", reason)
    return ModelSource(str(BUNDLED_DIR), True, fallback_reason=reason)


def load_sam3(
    model: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    fallback: bool = True,
) -> LoadedSam3:
    """The image model and processor from `resolve_source(model, fallback)`."""
    device = torch.device(device) if device is not None else default_device()
    dtype = dtype or default_dtype(device)
    src = resolve_source(model, fallback)
    m, p = _load(src, device, dtype)
    return LoadedSam3(m, p, src.path, device, dtype, fallback_reason=src.fallback_reason)
