"""How this copy of the app is deployed, read once from the environment: public or local, and what the owner set up.

Public mode (on by default when `SPACE_ID` is set, as on a Hugging Face Space; `SAM3_DEMO_PUBLIC=1` or `=0`
forces it either way) is for anonymous visitors: they choose only among reasoning backends the owner configured
(an OpenAI-compatible server with its key, and local VLMs preloaded at start-up), never type a URL or a model id,
and see generic messages for unexpected errors. Local mode (a person running the app for themselves) also takes
typed server URLs and model ids, which never receive the owner's key or token and, for URLs, reach public
addresses only unless `SAM3_AGENT_ALLOW_PRIVATE_URLS=1` (`agent.backends.url_guard`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from agent.backends.url_guard import URLRefused, check_base_url

_TRUE = ("1", "true", "yes", "on", "t")
ZERO_GPU_VIDEO_FRAMES = 120
ZERO_GPU_VIDEO_SECONDS = 90.0


def _flag(name: str) -> bool | None:
    value = os.environ.get(name, "").strip().lower()
    return None if not value else value in _TRUE


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {value!r}") from None


@dataclass(frozen=True)
class OwnerServer:
    """The owner's OpenAI-compatible server: the only URL the owner's key is ever sent to."""

    url: str
    model: str
    api_key: str | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return f"model server ({self.model})"


@dataclass(frozen=True)
class Settings:
    public: bool = False
    server: OwnerServer | None = None  # SAM3_AGENT_OPENAI_URL + SAM3_AGENT_OPENAI_MODEL (+ OPENAI_API_KEY)
    vlms: tuple[str, ...] = ()  # SAM3_AGENT_VLMS: local VLM ids or directories, loaded at start-up
    max_upload_mb: int = 50  # SAM3_DEMO_MAX_UPLOAD_MB: every upload, images and videos
    max_pixels: int = 40_000_000  # SAM3_DEMO_MAX_PIXELS: checked in the file header, before decoding
    max_side: int = 2048  # SAM3_DEMO_MAX_SIDE: larger images are downscaled (with a notice)
    max_video_frames: int = 300  # SAM3_DEMO_MAX_VIDEO_FRAMES: more are strided down to this many
    max_video_side: int = 1024  # SAM3_DEMO_MAX_VIDEO_SIDE: larger frames are downscaled as they are decoded
    agent_seconds: float = 120.0  # SAM3_DEMO_AGENT_SECONDS: an agent run's time budget
    video_seconds: float = 300.0  # SAM3_DEMO_VIDEO_SECONDS: a video run is stopped past this
    session_ttl_s: int = 3600  # SAM3_DEMO_SESSION_TTL: a visitor's state (and files) lives this long unused
    max_sessions: int = 500  # SAM3_DEMO_MAX_SESSIONS: the oldest sessions' state goes beyond this

    @classmethod
    def from_env(cls) -> Settings:
        public = _flag("SAM3_DEMO_PUBLIC")
        if public is None:
            public = bool(os.environ.get("SPACE_ID"))
        url = os.environ.get("SAM3_AGENT_OPENAI_URL", "").strip()
        model = os.environ.get("SAM3_AGENT_OPENAI_MODEL", "").strip()
        server = None
        if url or model:
            if not (url and model):
                raise ValueError("set both SAM3_AGENT_OPENAI_URL and SAM3_AGENT_OPENAI_MODEL, or neither")
            try:
                url = check_base_url(url)
            except URLRefused as exc:
                raise ValueError(f"SAM3_AGENT_OPENAI_URL: {exc}") from None
            server = OwnerServer(url, model, os.environ.get("OPENAI_API_KEY") or None)
        vlms = tuple(dict.fromkeys(v.strip() for v in os.environ.get("SAM3_AGENT_VLMS", "").split(",") if v.strip()))
        d = cls()
        if _flag("SPACES_ZERO_GPU"):  # a free visitor's daily GPU quota is minutes: keep one video run short
            d = cls(max_video_frames=ZERO_GPU_VIDEO_FRAMES, video_seconds=ZERO_GPU_VIDEO_SECONDS)
        return cls(
            public=public,
            server=server,
            vlms=vlms,
            max_upload_mb=_int("SAM3_DEMO_MAX_UPLOAD_MB", d.max_upload_mb),
            max_pixels=_int("SAM3_DEMO_MAX_PIXELS", d.max_pixels),
            max_side=_int("SAM3_DEMO_MAX_SIDE", d.max_side),
            max_video_frames=_int("SAM3_DEMO_MAX_VIDEO_FRAMES", d.max_video_frames),
            max_video_side=_int("SAM3_DEMO_MAX_VIDEO_SIDE", d.max_video_side),
            agent_seconds=float(_int("SAM3_DEMO_AGENT_SECONDS", int(d.agent_seconds))),
            video_seconds=float(_int("SAM3_DEMO_VIDEO_SECONDS", int(d.video_seconds))),
            session_ttl_s=_int("SAM3_DEMO_SESSION_TTL", d.session_ttl_s),
            max_sessions=_int("SAM3_DEMO_MAX_SESSIONS", d.max_sessions),
        )
