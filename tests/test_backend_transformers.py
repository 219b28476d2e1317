"""`TransformersVLM` on tiny random Qwen2.5-VL and Qwen3-VL checkpoints saved like real ones."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest
from PIL import Image

from agent.backends.hf_local import DEFAULT_VLM, TransformersVLM
from agent.llm import ChatModel, ImagePart, LLMError, Message, TextPart, make_backend
from tests.tiny_vlm import save_tiny_vlm

KINDS = ["qwen2_5_vl", "qwen3_vl"]


@pytest.fixture(scope="module", params=KINDS)
def tiny_dir(request, tmp_path_factory) -> str:
    return str(save_tiny_vlm(request.param, tmp_path_factory.mktemp(request.param)))


@pytest.fixture(scope="module")
def vlm(tiny_dir) -> TransformersVLM:
    return TransformersVLM(tiny_dir).load()


@pytest.fixture
def photo() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))


@contextmanager
def vision_calls(vlm: TransformersVLM):
    """Records the `grid_thw` (one row per image: t, h, w in patches) of every vision tower call."""
    grids: list[list[list[int]]] = []

    def hook(module, args, kwargs):
        grid = kwargs.get("grid_thw", args[1] if len(args) > 1 else None)
        grids.append(grid.tolist())

    handle = vlm.model.model.visual.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield grids
    finally:
        handle.remove()


def image_tokens(grid: list[int], merge: int = 2) -> int:
    t, h, w = grid
    return t * h * w // merge**2


def ask(image: Image.Image | None, text: str = "Find the red car.") -> list[Message]:
    parts = ([ImagePart(image)] if image is not None else []) + [TextPart(text)]
    return [Message.text("system", "You are a careful visual assistant."), Message("user", parts)]


def test_generate_with_an_image_returns_text(vlm, photo):
    out = vlm.generate(ask(photo), max_tokens=8)
    assert isinstance(out.text, str)  # random weights: garbage, but text
    assert "<|im_end|>" not in out.text and "<|image_pad|>" not in out.text
    assert 1 <= out.completion_tokens <= 8 and out.prompt_tokens > 0
    assert out.truncated == (out.completion_tokens == 8)


def test_the_image_reaches_the_vision_tower(vlm, photo):
    with vision_calls(vlm) as grids:
        with_image = vlm.generate(ask(photo), max_tokens=2)
    without = vlm.generate(ask(None), max_tokens=2)
    (grid,) = grids[0]
    assert len(grids) == 1  # encoded once, then cached in the KV cache
    # The prompt grows by one <|image_pad|> per merged patch, plus <|vision_start|> and <|vision_end|>.
    assert with_image.prompt_tokens - without.prompt_tokens == image_tokens(grid) + 2
    assert image_tokens(grid) > 4


def test_max_image_side_downscales_before_the_processor(vlm, photo, monkeypatch):
    with vision_calls(vlm) as grids:
        vlm.generate(ask(photo), max_tokens=1)
        monkeypatch.setattr(vlm, "max_image_side", 32)  # 128x96 -> 32x24 -> one merged 2x2 patch
        vlm.generate(ask(photo), max_tokens=1)
    assert image_tokens(grids[1][0]) == 1 < image_tokens(grids[0][0])


def test_multi_turn_with_system_and_two_images(vlm, photo):
    other = photo.transpose(Image.Transpose.ROTATE_90)
    chat = [
        Message.text("system", "Answer with JSON."),
        Message("user", [ImagePart(photo), TextPart("How many cars?")]),
        Message.text("assistant", '{"tool": "segment", "phrase": "car"}'),
        Message("user", [TextPart("Here are the masks."), ImagePart(other), TextPart("Pick one.")]),
    ]
    with vision_calls(vlm) as grids:
        out = vlm.generate(chat, max_tokens=4)
    assert isinstance(out.text, str)
    assert len(grids[0]) == 2  # both images, in order: the second is the first rotated
    (t1, h1, w1), (t2, h2, w2) = grids[0]
    assert (h1, w1) == (w2, h2)
    single = vlm.generate(chat[:2], max_tokens=1)
    assert out.prompt_tokens > single.prompt_tokens + image_tokens(grids[0][1])


def test_greedy_is_deterministic(vlm, photo):
    a = vlm.generate(ask(photo), max_tokens=6)
    b = vlm.generate(ask(photo), max_tokens=6)
    assert a == b


def test_tiny_timeout_returns_truncated_instead_of_hanging(vlm, photo):
    start = time.monotonic()
    out = vlm.generate(ask(photo), max_tokens=5000, timeout=1e-4)
    assert time.monotonic() - start < 5
    assert out.truncated and out.completion_tokens <= 2
    assert isinstance(out.text, str)


def test_concurrent_calls_are_serialised(vlm, photo):
    results: list = []
    threads = [
        threading.Thread(target=lambda: results.append(vlm.generate(ask(photo), max_tokens=3)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 3 and results[0] == results[1] == results[2]


def test_make_backend_builds_it_lazily(tiny_dir, photo):
    llm = make_backend(f"transformers:{tiny_dir}")
    assert isinstance(llm, TransformersVLM) and isinstance(llm, ChatModel)
    assert llm.name == f"transformers:{tiny_dir}" and llm._model is None  # nothing loaded yet
    assert isinstance(llm.generate(ask(photo), max_tokens=2).text, str)
    assert llm.quantized is False and str(llm._dtype) == "torch.float32"  # CPU: no 4-bit, fp32
    assert llm.device.type == "cpu"


def test_4bit_nf4_on_cpu(tmp_path, photo):
    """The bitsandbytes path end to end (the CPU kernels need layer widths that are multiples of 64)."""
    pytest.importorskip("bitsandbytes")
    from bitsandbytes.nn import Linear4bit

    llm = TransformersVLM(save_tiny_vlm("qwen2_5_vl", tmp_path, width=64), device="cpu", quantize="4bit")
    out = llm.generate(ask(photo), max_tokens=2)
    assert isinstance(out.text, str) and llm.quantized is True
    assert any(isinstance(m, Linear4bit) for m in llm.model.modules())
    assert llm.model.config.quantization_config.bnb_4bit_quant_type == "nf4"


def test_auto_quantize_is_off_without_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert TransformersVLM("x")._resolve() == (torch.device("cpu"), torch.float32, False)
    assert TransformersVLM("x", quantize="4bit")._resolve()[2] is True
    assert TransformersVLM("x", dtype="bfloat16")._resolve()[1] == torch.bfloat16


def test_missing_model_dir(tmp_path):
    llm = TransformersVLM(tmp_path / "no-such-model")  # constructing never loads
    with pytest.raises(LLMError, match="no model directory at .*no-such-model"):
        llm.generate(ask(None))


def test_dir_without_config(tmp_path):
    with pytest.raises(LLMError, match="no config.json"):
        TransformersVLM(tmp_path).generate(ask(None))


def test_hub_id_not_cached_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    llm = TransformersVLM("no-such-org/no-such-vlm")
    with pytest.raises(LLMError, match="not in the local Hugging Face cache and HF_HUB_OFFLINE is set"):
        llm.generate(ask(None))
    assert DEFAULT_VLM == "Qwen/Qwen2.5-VL-7B-Instruct"


def test_text_only_checkpoint_is_refused(tmp_path):
    from transformers import GPT2Config

    GPT2Config(n_layer=1, n_embd=8, n_head=1, vocab_size=10).save_pretrained(tmp_path)
    with pytest.raises(LLMError, match="not a vision-language model"):
        TransformersVLM(tmp_path).generate(ask(None))


def test_bad_arguments():
    with pytest.raises(ValueError, match="quantize"):
        TransformersVLM("x", quantize="8bit")
    with pytest.raises(LLMError, match="unknown dtype"):
        TransformersVLM("x", dtype="float13").load()
