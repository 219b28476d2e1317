"""What every MLLM backend implements: turn a chat (text and images) into a reply.

Backends are chosen by a string (`make_backend`): `openai:<base url>#<model>`,
`transformers:<model id or dir>`, and the model-free `spatial` planner handled by the agent.
SDKs are imported lazily, so the app starts without any of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np
from PIL import Image

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ImagePart:
    image: Image.Image


@dataclass(frozen=True)
class TextPart:
    text: str


Part = ImagePart | TextPart


@dataclass
class Message:
    role: Role
    parts: list[Part] = field(default_factory=list)

    @classmethod
    def text(cls, role: Role, text: str) -> Message:
        return cls(role, [TextPart(text)])

    @property
    def joined_text(self) -> str:
        return "\n".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def images(self) -> list[Image.Image]:
        return [p.image for p in self.parts if isinstance(p, ImagePart)]


@dataclass
class Reply:
    """The model's text; `tokens` counts prompt + completion where the backend reports it."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    truncated: bool = False


class LLMError(RuntimeError):
    """The backend could not produce a reply (server down, timeout, bad configuration)."""


@runtime_checkable
class ChatModel(Protocol):
    name: str

    def generate(
        self, messages: list[Message], max_tokens: int = 1024, timeout: float | None = None
    ) -> Reply:
        """One reply to `messages`; raises `LLMError` when no reply can be had."""
        ...


def as_pil(image: Image.Image | np.ndarray) -> Image.Image:
    return image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))


def owner_credentials(spec: str) -> dict:
    """The credentials of whoever runs this process, for a backend they chose themselves (the CLI, the
    app's owner-configured backends): `$OPENAI_API_KEY` for a server, `$HF_TOKEN` for a Hub model. Never
    for a URL or model id a visitor typed."""
    if spec.startswith("openai:"):
        return {"api_key": os.environ.get("OPENAI_API_KEY") or None}
    if spec.startswith("transformers:"):
        return {"token": os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or None}
    return {}


def make_backend(spec: str, **kwargs) -> ChatModel:
    """`openai:<base url>#<model>` or `transformers:<model id or dir>`."""
    kind, _, rest = spec.partition(":")
    if kind == "openai":
        from agent.backends.openai_compat import OpenAICompatible

        url, _, model = rest.partition("#")
        if not url or not model:
            raise ValueError(f"expected openai:<base url>#<model>, got {spec!r}")
        return OpenAICompatible(base_url=url, model=model, **kwargs)
    if kind == "transformers":
        from agent.backends.hf_local import TransformersVLM

        if not rest:
            raise ValueError(f"expected transformers:<model id or dir>, got {spec!r}")
        return TransformersVLM(rest, **kwargs)
    raise ValueError(
        f"unknown LLM backend {spec!r}: use spatial, openai:<url>#<model> or transformers:<model>"
    )
