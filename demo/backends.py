"""Which reasoning backends a person may choose, and the `ChatModel` each choice becomes.

A backend is named by a string, the same on the page and in the API:

- `spatial`: the offline planner, no model;
- `openai`: the owner's OpenAI-compatible server (`SAM3_AGENT_OPENAI_URL`), the only place the owner's key goes;
- `transformers:<id>`: one of the owner's preloaded VLMs (`SAM3_AGENT_VLMS`), or, in local mode only, any id
  or folder a person types (fetched anonymously);
- `openai:<url>#<model>`: in local mode only, a server a person types, with the key they type (if any), reached
  only at public addresses unless the owner allows more (`agent.backends.url_guard`).

In public mode the last two are refused, so nothing a visitor types ever becomes a request or a download.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from agent.backends.url_guard import AddressPolicy
from agent.llm import ChatModel
from demo.models import DemoInputError, Models
from demo.settings import Settings

SPATIAL = "spatial (no model)"
TYPED_VLM = "local VLM (any model id or folder)"
TYPED_SERVER = "OpenAI-compatible server (any URL)"
OWNER_VLM_PREFIX = "local VLM: "


def choices(settings: Settings) -> list[str]:
    """The page's choices, in order: what the owner configured, then (local mode) what a person can type."""
    out = [SPATIAL]
    if settings.server is not None:
        out.append(settings.server.label)
    out += [OWNER_VLM_PREFIX + v for v in settings.vlms]
    if not settings.public:
        out += [TYPED_VLM, TYPED_SERVER]
    return out


def spec_for(choice: str, settings: Settings, model_id: str = "", url: str = "", model_name: str = "") -> str:
    """The backend string for a page choice and its fields; `DemoInputError` when a field is missing."""
    if choice == SPATIAL:
        return "spatial"
    if settings.server is not None and choice == settings.server.label:
        return "openai"
    if choice.startswith(OWNER_VLM_PREFIX) and choice[len(OWNER_VLM_PREFIX) :] in settings.vlms:
        return "transformers:" + choice[len(OWNER_VLM_PREFIX) :]
    if choice == TYPED_VLM and not settings.public:
        model_id = (model_id or "").strip()
        if not model_id:
            raise DemoInputError("give a model id or folder for the local VLM")
        return f"transformers:{model_id}"
    if choice == TYPED_SERVER and not settings.public:
        url, model_name = (url or "").strip(), (model_name or "").strip()
        if not url:
            raise DemoInputError("give the server's base URL, e.g. https://host/v1")
        if not model_name:
            raise DemoInputError("give the model name the server serves, e.g. Qwen/Qwen2.5-VL-7B-Instruct")
        return f"openai:{url}#{model_name}"
    raise DemoInputError(f"unknown reasoning backend {choice!r}: choose one of {', '.join(choices(settings))}")


def check_spec(spec: str | None, settings: Settings) -> str:
    """`spec` cleaned, if this deployment allows it; `DemoInputError` saying what is allowed otherwise."""
    spec = (spec or "").strip() or "spatial"
    allowed = ["spatial"] + (["openai"] if settings.server else []) + [f"transformers:{v}" for v in settings.vlms]
    if spec in allowed:
        return spec
    kind, _, rest = spec.partition(":")
    if settings.public and kind in ("openai", "transformers"):
        raise DemoInputError(
            f"this app only uses the reasoning backends its owner set up: {', '.join(allowed)}"
        )
    if kind == "openai" and rest:
        url, _, model = rest.partition("#")
        if not url or not model:
            raise DemoInputError(f"expected openai:<base url>#<model>, got {spec!r}")
        return spec
    if kind == "transformers" and rest.strip():
        return spec
    if spec == "openai":
        raise DemoInputError("no model server is set up (SAM3_AGENT_OPENAI_URL and SAM3_AGENT_OPENAI_MODEL)")
    raise DemoInputError(f"unknown reasoning backend {spec!r}: use {', '.join(allowed)}, or in local mode "
                         "openai:<base url>#<model> or transformers:<model id or folder>")


def chat_model(spec: str, models: Models, api_key: str | None = None) -> ChatModel | None:
    """The `ChatModel` for a checked `spec` (None for the planner). Cheap for servers (a client per run);
    VLMs come from `models`, already loaded (the owner's) or loaded once (a typed one)."""
    from agent.backends.openai_compat import OpenAICompatible

    settings = models.settings
    spec = check_spec(spec, settings)
    if spec == "spatial":
        return None
    if spec == "openai":
        server = settings.server
        return OpenAICompatible(server.url, server.model, api_key=server.api_key)
    kind, _, rest = spec.partition(":")
    if kind == "transformers":
        return models.vlms.get(rest) or models.typed_vlm(rest)
    url, _, model = rest.partition("#")
    try:  # a typed server: the person's own key (if any), public addresses only unless the owner allows
        return OpenAICompatible(url, model, api_key=api_key or None, guard=AddressPolicy.from_env())
    except ValueError as exc:
        raise DemoInputError(str(exc)) from None


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@dataclass(frozen=True)
class BackendStatus:
    name: str
    note: str


def backend_status(settings: Settings) -> list[BackendStatus]:
    """What each choice does on this machine, for the person to choose with open eyes."""
    import torch

    out = [BackendStatus(SPATIAL, "ready: parses positions, sizes, orderings, counts, relations, exclusions, "
                                  "unions and questions offline; says when it did not understand")]
    if settings.server is not None:
        out.append(BackendStatus(settings.server.label, "the owner's model server"))
    out += [BackendStatus(OWNER_VLM_PREFIX + v, "loaded on this machine") for v in settings.vlms]
    if not settings.public:
        if not torch.cuda.is_available():
            note = "no GPU: a 7B VLM on CPU takes minutes per reply (small local models are fine)"
        elif not _installed("bitsandbytes"):
            note = "bitsandbytes missing: the VLM loads in bf16 (about 16 GB for 7B) instead of 4-bit"
        else:
            note = "GPU with 4-bit loading available; loaded on first use"
        out.append(BackendStatus(TYPED_VLM, note))
        out.append(BackendStatus(TYPED_SERVER, "a vLLM, TGI, SGLang or hosted server at a public address (the "
                                               "owner can allow private ones), and a vision model name"))
    return out
