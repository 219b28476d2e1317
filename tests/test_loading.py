"""Model loading: local directories, the bundled fallback, and never hanging on the network."""

from __future__ import annotations

import socket

import pytest
import torch

import sam3.loading as loading
from sam3.loading import ModelLoadError, load_sam3


def test_local_directory_loads_through_from_pretrained(tiny_checkpoint):
    loaded = load_sam3(tiny_checkpoint, device="cpu")
    assert loaded.source == tiny_checkpoint
    assert loaded.dtype == torch.float32
    assert loaded.fallback_reason is None
    assert not loaded.model.training
    assert loaded.processor.tokenizer("red circle").input_ids[1:3] != [0, 0]


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="no SAM 3 checkpoint"):
        load_sam3(str(tmp_path / "nope"), device="cpu")


@pytest.fixture
def bundled(monkeypatch, tiny_checkpoint):
    monkeypatch.setattr(loading, "BUNDLED_DIR", loading.Path(tiny_checkpoint))
    return tiny_checkpoint


def test_gated_model_without_token_falls_back(monkeypatch, bundled):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.delenv("SAM3_MODEL", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    loaded = load_sam3(device="cpu")
    assert loaded.source == bundled
    assert "gated" in loaded.fallback_reason and "HF_TOKEN" in loaded.fallback_reason


def test_offline_mode_falls_back_without_touching_the_network(monkeypatch, bundled):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")

    def no_network(*args, **kwargs):
        raise AssertionError("network used in offline mode")

    monkeypatch.setattr(socket, "create_connection", no_network)
    loaded = load_sam3("facebook/sam3", device="cpu")
    assert loaded.source == bundled
    assert "HF_HUB_OFFLINE" in loaded.fallback_reason
    assert "hf_secret_value" not in loaded.fallback_reason


def test_unreachable_hub_falls_back(monkeypatch, bundled):
    with socket.socket() as s:  # a port with nothing listening: connection refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_dummy")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    assert not loading.hub_reachable(timeout=1.0)
    loaded = load_sam3("facebook/sam3", device="cpu")
    assert loaded.fallback_reason == "the Hugging Face Hub is unreachable"


def test_hub_probe_always_carries_a_timeout(monkeypatch):
    """The probe is the only network call before the fallback decision: it must be bounded."""
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:1")
    calls = []
    real = socket.create_connection

    def spy(address, timeout=None, *args, **kwargs):
        calls.append((address, timeout))
        return real(address, timeout=timeout)

    monkeypatch.setattr(socket, "create_connection", spy)
    assert loading.hub_reachable(timeout=0.5) is False
    assert calls == [(("127.0.0.1", 1), 0.5)]


def test_no_fallback_raises(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="cannot load facebook/sam3"):
        load_sam3("facebook/sam3", device="cpu", fallback=False)


def test_missing_bundled_checkpoint_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(loading, "BUNDLED_DIR", tmp_path / "absent")
    with pytest.raises(ModelLoadError, match="no bundled checkpoint"):
        load_sam3("facebook/sam3", device="cpu")
