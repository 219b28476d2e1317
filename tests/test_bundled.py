"""The bundled ShapesWorld SAM 3 really sees: fresh scenes, the agent on them, and tracking on video.

Everything runs on freshly generated data (seeds no training or benchmark run uses) through the same code
as the app. Each bar sits below what the benchmarks measured for this checkpoint (its model card and
`benchmarks/results/`), leaving room for the smaller samples here; a checkpoint that stopped seeing, or
a pipeline change that broke binding phrases to shapes, fails them.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from agent.loop import Agent, run_to_end
from benchmarks.datasets import shapes_samples
from benchmarks.referring_metrics import union_mask
from benchmarks.shapes_metrics import evaluate
from benchmarks.tracking_metrics import tracking_scores, truth_for
from demo.ui import load_examples
from sam3.loading import BUNDLED_DIR
from sam3.session import Segmenter
from shapesworld import generate
from shapesworld.video import render_video, sample_occlusion_video, sample_video
from tests.threads import torch_threads

SEED = 5_000_011  # fresh: training uses (0, step), the benchmarks 1_000_003, 2_000_003, 3_000_000+, 4_000_037
# Bars: below what the shipped checkpoint measures on these samples at its calibrated thresholds, looking closer
# and with windows (F1 0.909, matched mask IoU 0.898, absent 0.978, agent gIoU 0.884, text tracking mask IoU
# 0.919); a random-initialised model scores 0. How they rose with training: docs/training.md.
F1_BAR, IOU_BAR, ABSENT_BAR = 0.85, 0.86, 0.90
GIOU_BAR = 0.84
TILE_RECALL_GAIN, TILE_F1_GAIN, TILE_IOU_GAIN = 0.10, 0.05, 0.03
CLOSER_RECALL_GAIN, CLOSER_F1_GAIN = 0.08, 0.04
TEXT_TRACK_IOU_BAR = 0.88
# Through occlusion (SEED + 5, shapes passing behind others, leaving and coming back): text tracking IDF1 0.647
# and 0.898 for its two kinds, track IoU 0.83-0.93, no identity switch; the agent's "the <colour> square",
# answered on key frames over the clip and followed, IDF1 1.000, 0.983, 1.000.
OCCLUSION_IDF1_BAR, OCCLUSION_IOU_BAR, AGENT_OCCLUSION_IDF1_BAR = 0.7, 0.75, 0.85
EXAMPLE_IOU_BAR = 0.85
# The point decoder (`tracker/`, 7,000 steps of `python -m training.clicks`) on the 53 shapes of these scenes:
# one click at a shape's deepest pixel, full-resolution mask IoU 0.800; its exact box 0.762 (an untrained
# decoder: 0.016 on `benchmarks.click_refine`).
CLICK_IOU_BAR, BOX_IOU_BAR = 0.72, 0.68

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (BUNDLED_DIR / "model.safetensors").exists(), reason="no bundled checkpoint"),
]


@pytest.fixture(scope="module", autouse=True)
def two_threads():
    with torch_threads(2):
        yield


@pytest.fixture(scope="module")
def segmenter():
    return Segmenter.load(str(BUNDLED_DIR), device="cpu")


@pytest.fixture(scope="module")
def scenes():
    rng = np.random.default_rng(SEED)
    out = []
    for i, renderer in enumerate(["pil", "cv2", "heldout"] * 3):
        w, h = (int(v) for v in rng.integers(192, 513, 2))
        out.append(generate(SEED + i, renderer=renderer, width=w, height=h))
    return out


def test_detects_the_asked_shapes_and_not_the_absent_ones(segmenter, scenes):
    m = evaluate(segmenter, scenes, seed=SEED)
    assert m["f1@0.5"] >= F1_BAR, m
    assert m["mean_matched_iou"] >= IOU_BAR, m
    assert m["absent_empty_rate"] >= ABSENT_BAR, m


def test_looking_closer_finds_what_the_whole_view_scored_too_low(segmenter, scenes):
    assert segmenter.loaded.look_closer  # calibrated with it, so on by default
    closer = evaluate(segmenter, scenes, seed=SEED)
    whole = evaluate(segmenter, scenes, seed=SEED, look_closer=False)
    assert closer["recall"] >= whole["recall"] + CLOSER_RECALL_GAIN, (whole, closer)
    assert closer["f1@0.5"] >= whole["f1@0.5"] + CLOSER_F1_GAIN, (whole, closer)


def elongated_scenes(n: int, seed: int):
    """Scenes 2.5-4 times longer than high or wide, which SAM 3's square input squeezes."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        short = int(rng.integers(160, 257))
        long_side = int(short * rng.uniform(2.5, 4.0))
        w, h = (long_side, short) if i % 2 == 0 else (short, long_side)
        yield generate(seed + i, renderer=("pil", "cv2", "heldout")[i % 3], width=w, height=h)


def test_windows_find_what_the_squeezed_whole_image_misses(segmenter):
    scenes = list(elongated_scenes(12, SEED + 10))
    whole = evaluate(segmenter, scenes, seed=SEED, tile_aspect=None)
    tiled = evaluate(segmenter, scenes, seed=SEED)
    assert tiled["recall"] >= whole["recall"] + TILE_RECALL_GAIN, (whole, tiled)
    assert tiled["f1@0.5"] >= whole["f1@0.5"] + TILE_F1_GAIN, (whole, tiled)
    assert tiled["mean_matched_iou"] >= whole["mean_matched_iou"] + TILE_IOU_GAIN, (whole, tiled)
    assert tiled["absent_empty_rate"] >= ABSENT_BAR, tiled


def test_the_agent_answers_referring_expressions(segmenter):
    agent = Agent()
    ious = []
    for image, query, _kind, gt, _ignore, _scene in shapes_samples(6, SEED + 2):
        session = segmenter.session(image)
        _, answer, _, _ = run_to_end(agent, session, query)
        pred = union_mask(answer.detections.masks, gt.shape)
        union = (pred | gt).sum()
        ious.append(1.0 if union == 0 else float((pred & gt).sum() / union))
    assert np.mean(ious) >= GIOU_BAR, ious


# Strict: a checkpoint (or planner) that answers one of these fails here until it is taken off the list. The
# last one, "triangle_closest_to_blue.png" (the green triangle, half hidden, scores 0.58 for 'triangle'), is
# answered since the planner also asks a bare noun colour by colour ('green triangle' finds it).
KNOWN_MISSES: dict[str, str] = {}


@pytest.mark.parametrize(
    "example",
    [
        pytest.param(e, id=e["file"], marks=pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[e["file"]]))
        if e["file"] in KNOWN_MISSES
        else pytest.param(e, id=e["file"])
        for e in load_examples()
    ],
)
def test_the_app_examples_are_answered_right(segmenter, example):
    """What a visitor tries first: the example's answer is the one its exact masks give."""
    from shapesworld.make_examples import HEIGHT, MAX_SHAPES, WIDTH, oracle_answer

    scene = generate(example["seed"], renderer="pil", width=WIDTH, height=HEIGHT, max_shapes=MAX_SHAPES,
                     effects=False)
    session = segmenter.session(Image.open(example["path"]).convert("RGB"))
    _, answer, _, _ = run_to_end(Agent(), session, example["query"])
    truth = oracle_answer(scene, example["query"]).masks
    pred = union_mask(answer.detections.masks, truth.shape[1:])
    iou = (pred & truth.any(0)).sum() / (pred | truth.any(0)).sum()
    assert len(answer.detections) == len(truth) and iou >= EXAMPLE_IOU_BAR, iou


def test_a_click_picks_the_shape_it_lands_on(segmenter, scenes):
    """The bundled point decoder (`tracker/`, `python -m training.clicks`) on the detector's cached encoding."""
    from benchmarks.click_metrics import MIN_PIXELS
    from sam3.detections import mask_iou
    from sam3.refine import Click, Refiner
    from training.clicks import interior_point

    refiner = Refiner(segmenter.loaded)
    assert refiner.trained and refiner.shares_backbone
    clicks, boxes = [], []
    for scene in scenes:
        session = segmenter.session(Image.fromarray(scene.image))
        for truth, box in zip(scene.masks, scene.boxes):
            if truth.sum() >= MIN_PIXELS:
                x, y = interior_point(truth)
                clicks.append(mask_iou(refiner.refine(session, [Click(x + 0.5, y + 0.5)]).masks, truth[None])[0, 0])
                boxes.append(mask_iou(refiner.refine(session, box=tuple(map(float, box))).masks, truth[None])[0, 0])
    assert np.mean(clicks) >= CLICK_IOU_BAR and np.mean(boxes) >= BOX_IOU_BAR, (np.mean(clicks), np.mean(boxes))


@pytest.fixture(scope="module")
def clip():
    scene = sample_video(SEED + 3, width=256, height=192, fps=10, seconds=3.0)
    return scene, render_video(scene)


def test_tracking_a_phrase_follows_the_moving_shapes(segmenter, clip):
    from sam3.video.loading import load_video_sam3
    from sam3.video.tracking import track_text

    scene, video = clip
    kind = scene.tracks[0].kind
    ids = {t.id for t in scene.tracks if t.kind == kind}
    results = list(track_text(video.frames, [kind], load_video_sam3(str(BUNDLED_DIR), device="cpu")))
    scores = tracking_scores(truth_for(video, ids), results)
    assert scores.mean_iou >= TEXT_TRACK_IOU_BAR, scores


@pytest.fixture(scope="module")
def occlusion_clip():
    scene = sample_occlusion_video(SEED + 5)
    return scene, render_video(scene)


def test_tracking_keeps_identities_through_occlusion(occlusion_clip):
    from sam3.video.loading import load_video_sam3
    from sam3.video.tracking import track_text

    scene, video = occlusion_clip
    loaded = load_video_sam3(str(BUNDLED_DIR), device="cpu")
    kinds: dict[str, set[int]] = {}
    for track in scene.tracks:
        kinds.setdefault(track.kind, set()).add(track.id)
    scores = [tracking_scores(truth_for(video, ids), list(track_text(video.frames, [kind], loaded)))
              for kind, ids in sorted(kinds.items())]
    assert np.mean([s.idf1 for s in scores]) >= OCCLUSION_IDF1_BAR, scores
    assert min(s.mean_iou for s in scores) >= OCCLUSION_IOU_BAR, scores
    assert sum(s.id_switches for s in scores) <= sum(s.true_objects for s in scores), scores  # at most 1 per object


def test_the_agents_answer_is_followed_through_occlusion_and_never_silently_wrong(segmenter, occlusion_clip):
    from agent.video import answer_around, follow_selection

    scene, video = occlusion_clip
    looks = [(t.colour, t.kind) for t in scene.tracks]
    squares = [t for t in scene.tracks if t.kind == "square" and looks.count((t.colour, t.kind)) == 1]
    assert len(squares) == 3
    idf1 = []
    for target in squares:
        found = answer_around(Agent(), segmenter, video.frames, None, f"the {target.colour} square")
        followed = follow_selection(video.frames, found.key.position, found.answer.detections,
                                    detector=segmenter.loaded, threshold=segmenter.loaded.score_threshold)
        scores = tracking_scores(truth_for(video, {target.id}), list(followed))
        assert scores.id_switches == 0 and (scores.idf1 >= 0.5 or found.answer.status != "ok"), (target, scores)
        idf1.append(scores.idf1)
    assert np.mean(idf1) >= AGENT_OCCLUSION_IDF1_BAR, idf1
