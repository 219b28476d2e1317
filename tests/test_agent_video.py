"""The agent on video with tiny random models: the key-frame answer seeds tracking, both ways, and the CLI.

Random weights find blobs, not shapes, so these tests check the hand-over (the selected masks are
what gets followed, with the answer's numbers as ids, every frame once, key frame first) and the
command line; following real shapes is checked with the bundled checkpoint in test_bundled.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import agent.video as agent_video
from agent.cli import main
from agent.loop import Agent
from agent.video import (
    VideoAnswer,
    answer_around,
    answer_key_frame,
    follow_selection,
    key_positions,
    key_spacing,
    spread_positions,
    trained_tracker,
)
from sam3.session import Segmenter
from sam3.video.loading import load_tracker_video
from sam3.video.reader import VideoReader
from tests.threads import torch_threads


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def segmenter(tiny_checkpoint):
    return Segmenter.load(tiny_checkpoint, device="cpu")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_key_frame_answer_is_followed_through_the_clip_by_association(segmenter, shapes_clip, monkeypatch):
    monkeypatch.setattr(agent_video, "BACKWARD_CHUNK", 2)  # several chunks on the way back
    _, frames, path = shapes_clip
    reader = VideoReader(path)
    key = answer_key_frame(Agent(threshold=0.0), segmenter, reader, 6, "the leftmost shape")
    assert (key.position, key.index) == (6, 6)
    selection = key.detections
    assert key.run.answer.status == "ok" and len(selection) == 1, key.run.answer.message
    assert selection.image_size == frames.shape[1:3]

    seen = []
    results = list(
        follow_selection(
            reader, 6, selection, detector=segmenter.loaded, threshold=0.0, progress=lambda d, t: seen.append((d, t))
        )
    )
    assert [r.position for r in results] == [6, 7, 8, 9, 10, 11, 5, 4, 3, 2, 1, 0]
    assert [r.index for r in results] == [r.position for r in results]
    assert seen == [(i, 12) for i in range(1, 13)]
    assert all(set(r.object_ids) <= {1} for r in results)  # only the chosen object, numbered as in the answer
    # On the key frame the detector sees the image the agent saw: the followed mask is the selected one.
    assert results[0].object_ids == [1]
    assert iou(results[0].mask_of(1), selection.masks[0]) == 1.0


def test_key_frames_lie_around_the_asked_one_nearest_first():
    assert key_positions(10, 30, 3) == [10, 7, 13, 4, 16]
    assert key_positions(1, 30, 3) == [1, 4, 7, 10, 13]  # near the start: the others after it
    assert key_positions(0, 2, 3) == [0] and key_positions(5, 30, 3, count=1) == [5]
    with pytest.raises(ValueError, match="outside the video's 30 frame"):
        key_positions(30, 30, 3)
    with pytest.raises(ValueError, match="spacing of at least 1"):
        key_positions(3, 30, 0)


def test_key_spacing_follows_the_frame_rate(shapes_clip):
    _, frames, path = shapes_clip
    assert key_spacing(frames) == 3  # an array: 10 frames/s assumed
    fps = VideoReader(path).info.fps
    assert key_spacing(VideoReader(path)) == max(1, round(0.3 * fps))
    assert key_spacing(VideoReader(path, stride=2)) == max(1, round(0.3 * fps / 2))


def test_answers_on_several_key_frames_are_linked_and_voted(segmenter, shapes_clip):
    """Random weights: the plumbing. Every key frame is asked once, the followed answer is one of them, and
    following it gives every frame once."""
    _, frames, _ = shapes_clip
    answer = answer_around(Agent(threshold=0.0), segmenter, frames, 6, "the leftmost shape", spacing=2)
    assert [a.position for a in answer.answers] == key_positions(6, 12, 2) == [6, 4, 8, 2, 10]
    assert answer.key in answer.answers and 1 <= answer.votes <= 5
    assert all(a.run.answer.status == "ok" and len(a.detections) == 1 for a in answer.answers)
    results = list(follow_selection(frames, answer.key.position, answer.key.detections, detector=segmenter.loaded,
                                    threshold=0.0))
    assert sorted(r.position for r in results) == list(range(12))
    assert results[0].object_ids == [1]
    single = answer_around(Agent(threshold=0.0), segmenter, frames, 6, "the leftmost shape", count=1)
    assert [a.position for a in single.answers] == [6] and single.key.position == 6 and single.votes == 1


def test_a_query_about_no_frame_is_asked_on_frames_spread_over_the_clip(segmenter, shapes_clip):
    _, frames, _ = shapes_clip
    assert spread_positions(12) == [1, 3, 6, 8, 10] and spread_positions(3, 5) == [0, 1, 2]
    with pytest.raises(ValueError, match="at least one frame"):
        spread_positions(0)
    answer = answer_around(Agent(threshold=0.0), segmenter, frames, None, "the leftmost shape")
    assert sorted(a.position for a in answer.answers) == [1, 3, 6, 8, 10]
    scores = [float(a.detections.scores.mean()) for a in answer.answers]
    assert scores == sorted(scores, reverse=True)  # the most confident answer first: it wins ties


def test_following_reuses_the_linked_frames_detections_with_the_same_result(segmenter, shapes_clip, monkeypatch):
    from sam3.video.association import AssociationTracker

    _, frames, _ = shapes_clip
    answer = answer_around(Agent(threshold=0.0), segmenter, frames, None, "the two largest shapes")
    assert sorted(answer.seen) == list(range(1, 11))  # the span of the key frames 1, 3, 6, 8, 10
    detected = []
    real_detect = AssociationTracker.detect
    monkeypatch.setattr(AssociationTracker, "detect",
                        lambda self, image: detected.append(1) or real_detect(self, image))

    def follow(seen, threshold=0.0):
        detected.clear()
        out = [(r.position, r.object_ids, r.rles) for r in follow_selection(
            frames, answer.key.position, answer.answer.detections, detector=segmenter.loaded, threshold=threshold,
            seen=seen)]
        return out, len(detected)

    again, runs = follow(None)
    assert len(again) == 12 and runs == 12
    assert follow(answer.seen) == (again, 2)  # only frames 0 and 11 detected again; the same tracks
    # found with other thresholds: detected again
    assert follow(answer.seen, threshold=0.5) == (follow(None, threshold=0.5)[0], 12)


def test_an_answer_most_key_frames_did_not_choose_is_flagged_unsure(segmenter, shapes_clip):
    _, frames, _ = shapes_clip
    runs = [answer_key_frame(Agent(threshold=0.0), segmenter, frames, p, "the leftmost shape") for p in (6, 4, 8)]
    assert runs[0].run.answer.status == "ok"
    doubted = VideoAnswer(runs[0], runs, votes=1).answer
    assert doubted.status == "unsure" and "Only 1 of the 3 key frames chose these objects (frames 4, 6, 8)" in \
        doubted.message
    assert doubted.detections is runs[0].detections  # still the answer, only flagged
    assert VideoAnswer(runs[0], runs, votes=2).answer is runs[0].run.answer
    assert VideoAnswer(runs[0], runs[:1], votes=1).answer.status == "ok"
    # about the whole clip, frames where nothing was found (the object out of sight) do not count against it
    empty = [answer_key_frame(Agent(threshold=1.0), segmenter, frames, p, "the leftmost shape") for p in (4, 8)]
    assert [len(e.detections) for e in empty] == [0, 0]
    assert VideoAnswer(runs[0], [runs[0], *empty], votes=1, moment=False).answer.status == "ok"
    assert VideoAnswer(runs[0], [runs[0], *empty], votes=1, moment=True).answer.status == "unsure"
    assert VideoAnswer(runs[0], [*runs[:2], *empty], votes=1, moment=False).answer.status == "unsure"
    assert VideoAnswer(runs[0], runs, votes=1).summary()["key_frames"][1] == {
        "position": 4, "index": 4, "status": runs[1].run.answer.status, "masks": len(runs[1].detections)}


def test_sam3_tracker_follows_the_selection_both_ways(segmenter, tiny_video_checkpoint, shapes_clip):
    _, frames, path = shapes_clip
    key = answer_key_frame(Agent(threshold=0.0), segmenter, frames, 3, "the two largest shapes")
    selection = key.detections
    assert len(selection) >= 1, key.run.answer.message
    tracker = load_tracker_video(tiny_video_checkpoint, device="cpu")
    ids = list(range(7, 7 + len(selection)))
    results = list(follow_selection(VideoReader(path), 3, selection, tracker=tracker, ids=ids))
    assert [r.index for r in results] == [3, *range(4, 12), 2, 1, 0]
    wanted = set(range(7, 7 + len(selection)))
    assert set(results[0].object_ids) == wanted
    assert all(set(r.object_ids) <= wanted for r in results)
    for oid, mask in zip(range(7, 7 + len(selection)), selection.masks, strict=True):
        assert iou(results[0].mask_of(oid), mask) > 0.8  # the key frame returns the given mask


def test_nothing_selected_follows_nothing_and_bad_frames_are_refused(segmenter, shapes_clip):
    _, frames, _ = shapes_clip
    key = answer_key_frame(Agent(threshold=1.0), segmenter, frames, 0, "the red circle")
    assert len(key.detections) == 0 and key.run.answer.status == "no_match"
    assert list(follow_selection(frames, 0, key.detections, detector=segmenter.loaded)) == []
    with pytest.raises(ValueError, match="outside the video's 12 frame"):
        answer_key_frame(Agent(), segmenter, frames, 12, "the red circle")


def test_the_tracker_is_used_only_when_the_checkpoint_ships_its_weights(tiny_checkpoint, tiny_video_checkpoint):
    assert trained_tracker(tiny_checkpoint, device="cpu") is None  # detector only (and 64 wide: no tracker fits)
    shipped = trained_tracker(tiny_video_checkpoint, device="cpu")  # a video checkpoint: tracker weights saved
    assert shipped is not None and shipped.tracker_trained


def test_cli_writes_the_track_json_with_the_agent_run(tiny_checkpoint, shapes_clip, tmp_path, capsys):
    _, _, path = shapes_clip
    out, overlay = tmp_path / "answer.json", tmp_path / "answer.mp4"
    code = main(
        ["video", "--video", path, "--query", "the largest shape", "--frame", "4", "--model", tiny_checkpoint,
         "--threshold", "0", "--json", str(out), "--overlay", str(overlay), "--device", "cpu"]
    )
    assert code == 0, capsys.readouterr().err
    data = json.loads(out.read_text())
    assert data["video"]["num_frames"] == 12 and data["video"]["width"] == 96
    assert data["mode"] == "associate" and data["key_frame"] == {"position": 4, "index": 4}
    assert data["agent"]["query"] == "the largest shape" and data["agent"]["backend"] == "spatial"
    chosen = len(data["agent"]["answer"]["detections"])
    assert chosen == 1 and [o["id"] for o in data["objects"]] == [1]
    assert sorted(f["index"] for f in data["frames"]) == list(range(12))
    key = next(f for f in data["frames"] if f["index"] == 4)
    assert [o["id"] for o in key["objects"]] == [1] and key["objects"][0]["mask"]["size"] == [64, 96]
    assert overlay.stat().st_size > 1000
    assert [k["position"] for k in data["key_frames"]] == [4, 1, 7, 10] and 1 <= data["votes"] <= 4
    assert data["agent"]["answer"]["status"] in ("ok", "unsure")


def test_cli_without_a_frame_answers_on_frames_spread_over_the_clip(tiny_checkpoint, shapes_clip, tmp_path):
    _, _, path = shapes_clip
    out = tmp_path / "answer.json"
    code = main(["video", "--video", path, "--query", "the largest shape", "--key-frames", "3", "--model",
                 tiny_checkpoint, "--threshold", "0", "--json", str(out), "--device", "cpu", "--quiet"])
    data = json.loads(out.read_text())
    assert code == 0 and sorted(k["position"] for k in data["key_frames"]) == [2, 6, 10]
    assert data["key_frame"]["position"] in (2, 6, 10) and len(data["objects"]) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--frame", "40"], "--frame 40 is outside the 12 selected frame(s)"),
        (["--query", "  "], "--query must not be empty"),
        (["--tracker", "sam3"], "has no trained video tracker"),
        (["--stride", "0"], "--stride must be at least 1"),
        (["--key-frames", "0"], "--key-frames must be at least 1"),
    ],
)
def test_cli_bad_input_is_one_line(args, message, tiny_checkpoint, shapes_clip, capsys):
    _, _, path = shapes_clip
    base = ["video", "--video", path, "--query", "the red circle", "--model", tiny_checkpoint, "--device", "cpu"]
    code = main(base + args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and message in err[-1], err
