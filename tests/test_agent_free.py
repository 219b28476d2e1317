"""The agent on free-phrased queries with the bundled model (issue 22), and the benchmark's judging."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from agent.loop import Agent, run_to_end
from agent.spatial import Vocabulary
from benchmarks.agent_free import judge, run, said_count, said_yes, summarise
from benchmarks.free_queries import DATA_DIR, FreeQuery, load_set, render_scene
from sam3.loading import BUNDLED_DIR, read_vocabulary
from sam3.session import Segmenter
from tests.threads import torch_threads
from training.export import set_vocabulary, shapes_vocabulary

DEV = DATA_DIR / "free_queries_dev.json"
# Every fourth dev query, bundled model, no LLM: gIoU 0.87, silent-wrong 0.04 in the full dev run (docs/agent.md).
GIOU_BAR, SILENT_BAR = 0.75, 0.10
bundled = pytest.mark.skipif(not (BUNDLED_DIR / "model.safetensors").exists(), reason="no bundled checkpoint")


def q(count=None, yes=None) -> FreeQuery:
    return FreeQuery("q", "s", "query", "cat", (0,), count, yes)


def test_the_benchmark_reads_numbers_and_yes_no_from_the_text():
    assert said_count("4 squares") == 4 and said_count("No: 0 red stars") == 0 and said_count("none") == 0
    assert said_count("two circles") == 2 and said_count("no green star") == 0 and said_count("") is None
    assert said_yes("Yes: 1 purple star") is True and said_yes("No: no star") is False and said_yes("3") is None
    assert judge(q(count=4), 0.9, "ok", "4 squares")["correct"]
    assert judge(q(count=4), 0.9, "ok", "3 squares")["silent_wrong"]
    assert judge(q(yes=True), 0.9, "unsure", "No")["flagged"]
    assert judge(q(), 0.3, "no_match", "")["silent_wrong"] and judge(q(), 0.3, "error", "")["flagged"]
    assert judge(q(), 0.8, "unsure", "")["flagged_right"]
    rows = [{"category": "a", "iou": 1.0, "correct": True, "flagged": False, "silent_wrong": False,
             "flagged_right": False}, {"category": "b", "iou": 0.0, "correct": False, "flagged": False,
                                       "silent_wrong": True, "flagged_right": False}]
    assert summarise(rows)["all"] == {"n": 2, "gIoU": 0.5, "correct": 0.5, "flagged": 0.0, "silent_wrong": 0.5,
                                      "flagged_right": 0.0}


def test_the_dev_set_loads_and_every_shape_is_visible():
    scenes, queries = load_set(DEV)
    assert len(queries) >= 60 and len({q.category for q in queries}) >= 12
    with pytest.raises(ValueError, match="mostly hidden"):
        render_scene({"width": 200, "height": 200, "shapes": [
            {"kind": "circle", "colour": "red", "x": 100, "y": 100, "radius": 20},
            {"kind": "square", "colour": "blue", "x": 100, "y": 100, "radius": 60}]})


def test_checkpoints_declare_their_vocabulary(tmp_path, loaded_tiny):
    assert read_vocabulary(BUNDLED_DIR) == shapes_vocabulary()
    assert loaded_tiny.vocabulary is None  # no declared words: an open vocabulary
    (tmp_path / "config.json").write_text('{"model_type": "sam3"}')
    assert read_vocabulary(tmp_path) is None
    set_vocabulary(tmp_path, {"colours": ["red"], "nouns": ["cup"]})
    assert Vocabulary.from_config(read_vocabulary(tmp_path)).known("cups")
    with pytest.raises(ValueError):
        set_vocabulary(tmp_path, {"colours": ["red"]})


@pytest.fixture(scope="module")
def segmenter():
    with torch_threads(2):
        yield Segmenter.load(str(BUNDLED_DIR), device="cpu")


@bundled
@pytest.mark.slow
def test_free_phrased_dev_queries_are_right_or_flagged(segmenter, tmp_path):
    import json

    data = json.loads(DEV.read_text())
    data["queries"] = data["queries"][::4]
    subset = tmp_path / "subset.json"
    subset.write_text(json.dumps(data))
    with torch_threads(2):
        metrics = summarise(run(Agent(), subset, segmenter))["all"]
    assert metrics["gIoU"] >= GIOU_BAR and metrics["silent_wrong"] <= SILENT_BAR, metrics


@bundled
@pytest.mark.slow
def test_typos_counts_and_the_helpful_no_with_the_bundled_model(segmenter):
    scene = render_scene({"width": 480, "height": 360, "background": [120, 120, 120], "shapes": [
        {"kind": "star", "colour": "purple", "x": 100, "y": 120, "radius": 50},
        {"kind": "square", "colour": "red", "x": 260, "y": 120, "radius": 50},
        {"kind": "square", "colour": "blue", "x": 380, "y": 250, "radius": 50}]})
    session = segmenter.session(Image.fromarray(scene.image))
    agent = Agent()
    with torch_threads(2):
        _, typo, _, _ = run_to_end(agent, session, "the purpel star")
        _, count, _, _ = run_to_end(agent, session, "how many squares are there?")
        _, no, _, _ = run_to_end(agent, session, "the magenta square")
        _, yes, _, _ = run_to_end(agent, session, "is there a purple star?")
    assert typo.status == "ok" and "read 'purpel' as 'purple'" in typo.message
    assert np.logical_and(typo.detections.masks.any(0), scene.masks[0]).sum() > 0.5 * scene.masks[0].sum()
    assert count.text == "2 squares"
    assert no.status == "no_match" and no.text == "no purple square; 2 squares: red, blue", no.text
    assert yes.text == "Yes: 1 purple star"
