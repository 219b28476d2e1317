"""`python -m agent run`: the documented JSON, progress on stderr, and one line for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from agent.cli import main


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "scene.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (70, 90, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_run_writes_the_documented_json(tiny_checkpoint, image_file, tmp_path, capsys):
    out = tmp_path / "run.json"
    rc = main(
        [
            "run",
            "--image",
            image_file,
            "--query",
            "the two largest stars",
            "--model",
            tiny_checkpoint,
            "--threshold",
            "0",
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    run = json.loads(out.read_text())
    assert run["query"] == "the two largest stars" and run["backend"] == "spatial"
    assert run["answer"]["status"] == "ok" and len(run["answer"]["detections"]) == 2
    assert run["answer"]["text"] == "2 stars"
    for det in run["answer"]["detections"]:
        assert det["mask"]["size"] == [70, 90] and det["phrase"] == "stars"
    assert run["llm_calls"] == 0 and run["sam3_calls"] == 1
    assert {"total", "llm", "sam3"} <= set(run["timing_ms"])
    assert [s["type"] for s in run["steps"]] == ["thought", "tool_call", "tool_result", "final"]
    assert "answer: ok, 2 mask(s)" in capsys.readouterr().err


def test_unparseable_query_without_a_model_is_an_error_answer_and_exit_3(tiny_checkpoint, image_file, capsys):
    rc = main(["run", "--image", image_file, "--query", "what is the meaning of this picture?", "--model",
               tiny_checkpoint, "--quiet"])
    run = json.loads(capsys.readouterr().out)
    assert rc == 3, "no answer could be given"
    assert run["answer"]["status"] == "error" and "MLLM backend" in run["answer"]["message"]


def test_counts_and_questions_answer_in_text_and_exit_0(tiny_checkpoint, image_file, capsys):
    rc = main(["run", "--image", image_file, "--query", "how many stars are there?", "--model", tiny_checkpoint,
               "--threshold", "0"])
    run = json.loads(capsys.readouterr().out)
    n = len(run["answer"]["detections"])
    assert rc == 0 and run["answer"]["text"] == f"{n} star{'' if n == 1 else 's'}"
    rc = main(["run", "--image", image_file, "--query", "is there a star?", "--model", tiny_checkpoint,
               "--threshold", "0", "--quiet"])
    run = json.loads(capsys.readouterr().out)
    assert rc == 0 and run["answer"]["text"].startswith("Yes: ")


def test_the_help_documents_the_exit_status(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "exit status: 0 an answer was given" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--query", "  "], "--query must not be empty"),
        (["--query", "x", "--llm", "gpt"], "unknown LLM backend"),
        (["--query", "x", "--llm", "openai:http://127.0.0.1:1/v1"], "openai:<base url>#<model>"),
    ],
)
def test_bad_input(tiny_checkpoint, image_file, capsys, args, message):
    assert main(["run", "--image", image_file, "--model", tiny_checkpoint, *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
