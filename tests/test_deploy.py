"""The Space upload's dry run: a snapshot the Hub accepts, of runtime files only."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def deploy():
    spec = importlib.util.spec_from_file_location("deploy_space", ROOT / "scripts" / "deploy_space.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["deploy_space"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_snapshot_is_what_the_space_runs_and_nothing_else(deploy):
    files = {f.path: f for f in deploy.space_files()}
    for needed in ("app.py", "README.md", "LICENSE", "requirements.txt", ".gitattributes", "demo/ui.py",
                   "agent/loop.py", "sam3/session.py", "assets/models/sam3-shapes/model.safetensors",
                   "assets/examples/examples.json", "docs/hosting.md", "docs/images/ask.png"):
        assert needed in files, needed
    research = ("shapesworld/", "training/", "benchmarks/", "tests/", "scripts/", "train_state/")
    assert not [p for p in files if p.startswith(research)]
    assert not [p for p in files if "__pycache__" in p]


def test_the_hub_accepts_every_file(deploy, capsys):
    files = deploy.space_files()
    big_binaries = [f for f in files if f.binary and f.size > deploy.PLAIN_GIT_LIMIT]
    assert big_binaries and all(f.lfs for f in big_binaries)  # the checkpoint goes through Xet/LFS
    assert not [f for f in files if f.problem]
    assert deploy.main(["--repo", "someone/space", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "assets/models/sam3-shapes/model.safetensors" in printed and "xet/lfs" in printed


def test_a_binary_outside_gitattributes_is_caught(deploy, tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "weights.ckpt").write_bytes(b"\0" * (2 << 20))
    (tmp_path / ".gitattributes").write_text("*.safetensors filter=lfs diff=lfs merge=lfs -text\n")
    weights = {f.path: f for f in deploy.space_files(tmp_path)}["assets/weights.ckpt"]
    assert not weights.lfs and "plain git" in weights.problem
