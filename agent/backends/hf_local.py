"""A `ChatModel` that runs a vision-language model in-process with `transformers`.

Default: Qwen2.5-VL-7B-Instruct. It grounds and counts well for its size (it was trained to output
boxes and points, which is what choosing and checking SAM 3 masks needs), it is Apache-2.0, and it
fits a 16 GB GPU: roughly 6 GB of weights in 4-bit NF4, roughly 16 GB in bf16 (plus activations,
which grow with the image size). Qwen3-VL-8B-Instruct is the newer alternative, slightly larger
(roughly 7 GB in 4-bit, 17 GB in bf16); pass its id or any other `AutoModelForImageTextToText`
checkpoint with a chat template. Memory figures are approximate.

Construction is cheap: the model loads on the first `generate` (or `load()`), once, behind a lock.
With `HF_HUB_OFFLINE` set, only local files are used. Loading problems become `LLMError`s that say
in one sentence what is wrong (no such directory, not cached, gated, not a vision-language model).
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from PIL import Image

from agent.llm import ImagePart, LLMError, Message, Reply, TextPart

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DEFAULT_VLM = "Qwen/Qwen2.5-VL-7B-Instruct"

Quantize = Literal["4bit", "auto"] | None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _looks_local(source: str) -> bool:
    return Path(source).expanduser().exists() or source.startswith((".", "/", "~")) or "\\" in source


def resize_to_max_side(image: Image.Image, max_side: int) -> Image.Image:
    """`image` in RGB, downscaled (aspect kept) so that its longer side is at most `max_side`."""
    image = image.convert("RGB") if image.mode != "RGB" else image
    if max(image.size) <= max_side:
        return image
    scale = max_side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC)


class TransformersVLM:
    """`ChatModel` over a local `AutoModelForImageTextToText` + `AutoProcessor` (greedy decoding).

    model_id_or_dir: a Hub id (e.g. `DEFAULT_VLM`) or a directory written by `save_pretrained`.
    device: default `cuda` when available, else `cpu`.
    quantize: "4bit" (bitsandbytes NF4, bf16 compute), None (full precision), or "auto": 4-bit when the
        device is CUDA and bitsandbytes is installed, and the checkpoint is not already quantized.
    dtype: default bf16 on CUDA, fp32 on CPU.
    max_image_side: images are downscaled so that their longer side is at most this many pixels.
    token: the Hub token to download with; None downloads anonymously. Pass the owner's token
        (`agent.llm.owner_credentials`) only for a model the owner chose, never for an id a visitor typed.
    Calls to `generate` are serialised (one model, one generation at a time).
    """

    def __init__(
        self,
        model_id_or_dir: str | os.PathLike = DEFAULT_VLM,
        device: str | torch.device | None = None,
        quantize: Quantize = "auto",
        dtype: str | torch.dtype | None = None,
        trust_remote_code: bool = False,
        max_image_side: int = 1024,
        token: str | None = None,
    ):
        if quantize not in ("4bit", "auto", None):
            raise ValueError(f"quantize must be '4bit', 'auto' or None, got {quantize!r}")
        if max_image_side < 28:
            raise ValueError(f"max_image_side must be >= 28, got {max_image_side}")
        self.source = str(model_id_or_dir)
        self.name = f"transformers:{self.source}"
        self.requested_device = device
        self.quantize = quantize
        self.requested_dtype = dtype
        self.trust_remote_code = trust_remote_code
        self.max_image_side = max_image_side
        self._token = token
        self._model = None
        self._processor = None
        self._device: torch.device | None = None
        self._dtype: torch.dtype | None = None
        self.quantized: bool | None = None  # known after loading
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()

    def __repr__(self) -> str:
        state = "loaded" if self._model is not None else "not loaded"
        return f"TransformersVLM({self.source!r}, quantize={self.quantize!r}, {state})"

    # -- loading ------------------------------------------------------------------------------------

    @property
    def model(self):
        """The loaded model (loads it on first access)."""
        self.load()
        return self._model

    @property
    def processor(self):
        """The loaded processor (loads it on first access)."""
        self.load()
        return self._processor

    @property
    def device(self) -> torch.device:
        self.load()
        return self._device

    def load(self) -> TransformersVLM:
        """Loads model and processor once; later calls return at once. Raises `LLMError`."""
        if self._model is not None:
            return self
        with self._load_lock:
            if self._model is None:
                self._load()
        return self

    def _resolve(self) -> tuple[torch.device, torch.dtype, bool]:
        import torch

        if self.requested_device is not None:
            device = torch.device(self.requested_device)
        else:
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.quantize == "4bit":
            quantize = True
        elif self.quantize == "auto":
            quantize = device.type == "cuda" and torch.cuda.is_available() and _installed("bitsandbytes")
        else:
            quantize = False
        dtype = self.requested_dtype
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype.removeprefix("torch."), None)
            if not isinstance(dtype, torch.dtype):
                raise ValueError(f"unknown dtype {self.requested_dtype!r}")
        if dtype is None:
            dtype = torch.bfloat16 if device.type == "cuda" or quantize else torch.float32
        return device, dtype, quantize

    def _load(self) -> None:
        try:
            device, dtype, quantize = self._resolve()
        except ValueError as exc:
            raise LLMError(f"{self.name}: {exc}") from exc
        source = self.source
        if _looks_local(source):
            path = Path(source).expanduser()
            if not path.is_dir():
                raise LLMError(f"{self.name}: no model directory at {path}")
            if not (path / "config.json").is_file():
                raise LLMError(
                    f"{self.name}: {path} has no config.json, so it is not a saved transformers model"
                )
            source, local_only = str(path), True
        else:
            local_only = _offline()
        if quantize and not _installed("bitsandbytes"):
            raise LLMError(f"{self.name}: 4-bit loading needs bitsandbytes (pip install bitsandbytes)")

        from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

        common = {
            "local_files_only": local_only,
            "trust_remote_code": self.trust_remote_code,
            "token": self._token if self._token and not local_only else False,
        }
        start = time.monotonic()
        try:
            config = AutoConfig.from_pretrained(source, **common)
            if quantize and getattr(config, "quantization_config", None) is not None:
                log.info("%s is already quantized; not adding bitsandbytes 4-bit", source)
                quantize = False
            kwargs = dict(common, dtype=dtype, device_map={"": str(device)})
            if quantize:
                import torch
                from transformers import BitsAndBytesConfig

                kwargs["quantization_config"] = BitsAndBytesConfig(
                    load_in_4bit=True,
                    bnb_4bit_quant_type="nf4",
                    bnb_4bit_compute_dtype=torch.bfloat16,
                )
            model = AutoModelForImageTextToText.from_pretrained(source, config=config, **kwargs)
            processor = AutoProcessor.from_pretrained(source, **common)
        except Exception as exc:  # every loading failure becomes one clear sentence
            raise LLMError(f"{self.name}: {self._explain(exc, local_only)}") from exc
        if getattr(processor, "chat_template", None) is None and not getattr(
            getattr(processor, "tokenizer", None), "chat_template", None
        ):
            raise LLMError(f"{self.name}: the processor has no chat template, so chats cannot be formatted")
        model.eval()
        self._model, self._processor = model, processor
        self._device, self._dtype, self.quantized = device, dtype, quantize
        log.info(
            "loaded %s on %s (%s%s) in %.1f s",
            source,
            device,
            str(dtype).removeprefix("torch."),
            ", 4-bit" if quantize else "",
            time.monotonic() - start,
        )

    def _explain(self, exc: BaseException, local_only: bool) -> str:
        from huggingface_hub.errors import (
            GatedRepoError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
        )

        chain, e = [], exc
        while e is not None and len(chain) < 8:
            chain.append(e)
            e = e.__cause__ or e.__context__
        text = " ".join(str(e) for e in chain)
        if any(isinstance(e, GatedRepoError) for e in chain) or "gated repo" in text.lower():
            return (
                f"{self.source} is gated: accept its licence on its Hub page and set HF_TOKEN "
                "to a token with access"
            )
        if (
            any(isinstance(e, RepositoryNotFoundError) for e in chain)
            or "not a valid model identifier" in text
        ):
            return f"{self.source} does not exist on the Hugging Face Hub (or is private to another account)"
        if any(isinstance(e, LocalEntryNotFoundError) for e in chain) or "couldn't connect" in text:
            if local_only:
                return f"{self.source} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
            return f"{self.source} is not in the local Hugging Face cache and the Hub is unreachable"
        if "Unrecognized configuration class" in text or "Unrecognized model" in text:
            return (
                f"{self.source} is not a vision-language model that AutoModelForImageTextToText can load "
                "(try trust_remote_code=True if it ships its own code)"
            )
        if "out of memory" in text.lower() or any(type(e).__name__ == "OutOfMemoryError" for e in chain):
            return "not enough memory to load the model (try quantize='4bit', a smaller model, or the CPU)"
        first = " ".join(str(exc).split())[:200]
        return f"could not load {self.source}: {type(exc).__name__}: {first}"

    # -- generation ---------------------------------------------------------------------------------

    def to_hf_messages(self, messages: list[Message]) -> list[dict]:
        """Messages in the transformers chat format, images downscaled to `max_image_side`."""
        out = []
        for message in messages:
            content = []
            for part in message.parts:
                if isinstance(part, TextPart):
                    content.append({"type": "text", "text": part.text})
                elif isinstance(part, ImagePart):
                    content.append(
                        {"type": "image", "image": resize_to_max_side(part.image, self.max_image_side)}
                    )
                else:
                    raise ValueError(f"unknown message part {type(part).__name__}")
            out.append({"role": message.role, "content": content})
        return out

    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for value in (
            getattr(self._model.generation_config, "eos_token_id", None),
            getattr(getattr(self._processor, "tokenizer", None), "eos_token_id", None),
        ):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, list | tuple):
                ids.update(int(v) for v in value)
        return ids

    def generate(
        self, messages: list[Message], max_tokens: int = 1024, timeout: float | None = None
    ) -> Reply:
        """Greedy reply to `messages`. `timeout` (seconds) bounds formatting and generation, not the
        first load: when it runs out, generation stops and the reply comes back `truncated`."""
        if not messages:
            raise ValueError("messages is empty")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        self.load()
        import torch
        from transformers import MaxTimeCriteria, StoppingCriteriaList

        hf_messages = self.to_hf_messages(messages)
        with self._generate_lock:
            start = time.time()
            try:
                inputs = self._processor.apply_chat_template(
                    hf_messages,
                    tokenize=True,
                    add_generation_prompt=True,
                    return_dict=True,
                    return_tensors="pt",
                )
                inputs = inputs.to(self._device, dtype=self._dtype)
                criteria = StoppingCriteriaList()
                if timeout is not None:
                    criteria.append(MaxTimeCriteria(max_time=max(timeout, 0.0), initial_timestamp=start))
                config = copy.deepcopy(self._model.generation_config)
                config.update(
                    do_sample=False,
                    temperature=None,
                    top_p=None,
                    top_k=None,
                    max_new_tokens=max_tokens,
                    num_beams=1,
                )
                if config.pad_token_id is None:
                    config.pad_token_id = getattr(self._processor.tokenizer, "pad_token_id", None)
                with torch.inference_mode():
                    output = self._model.generate(
                        **inputs, generation_config=config, stopping_criteria=criteria
                    )
            except (RuntimeError, ValueError, TypeError, KeyError) as exc:
                first = " ".join(str(exc).split())[:200]
                raise LLMError(f"{self.name}: generation failed: {type(exc).__name__}: {first}") from exc
        prompt_len = inputs["input_ids"].shape[1]
        new = output[0, prompt_len:].tolist()
        eos = self._eos_ids()
        finished = bool(new) and new[-1] in eos
        text = self._processor.decode(new, skip_special_tokens=True)
        return Reply(
            text=text, prompt_tokens=int(prompt_len), completion_tokens=len(new), truncated=not finished
        )
