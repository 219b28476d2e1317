"""Training the point-and-box decoder on a detector's frozen features: prompts, losses, the run, the export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from sam3.refine import TRACKER_FOLDER, Click, Refiner, tracker_for
from sam3.session import ImageSession
from shapesworld import generate
from training.clicks import (
    ClickConfig,
    add_corrections,
    export,
    interior_point,
    load_detector,
    make_prompt_batch,
    prompt_loss,
    prompt_sizes,
    sample_prompt,
    train,
    trainable,
)

pytestmark = pytest.mark.slow  # training steps


@pytest.fixture(scope="module")
def scene():
    return generate(21, renderer="pil", width=200, height=150, n_shapes=6)


def test_clicks_fall_on_the_object_and_negatives_off_it(scene):
    rng = np.random.default_rng(0)
    for i, mask in enumerate(scene.masks):
        for _ in range(5):
            points, labels = sample_prompt(rng, "clicks", scene.masks, scene.boxes, i)
            assert labels[0] == 1 and len(points) == len(labels) <= 5
            for (x, y), label in zip(points, labels):
                assert bool(mask[int(y), int(x)]) == bool(label)
        (point,), (label,) = sample_prompt(rng, "click", scene.masks, scene.boxes, i)
        assert label == 1 and mask[int(point[1]), int(point[0])]


def test_boxes_are_jittered_by_at_most_20_px_and_stay_ordered(scene):
    rng = np.random.default_rng(1)
    for i in range(len(scene.masks)):
        box = sample_prompt(rng, "box", scene.masks, scene.boxes, i)
        assert box[0] <= box[2] and box[1] <= box[3]
        assert np.abs(box - scene.boxes[i]).max() <= 20 + 1e-4


def test_the_deepest_point_is_the_middle_of_a_square():
    mask = np.zeros((40, 60), bool)
    mask[10:31, 20:41] = True
    assert interior_point(mask) == (30.0, 20.0)


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    return load_detector(tiny_checkpoint)


@pytest.mark.parametrize("mode", ["click", "clicks", "box"])
def test_prompt_batches_are_in_the_models_input_frame(tiny, mode):
    _, processor = tiny
    batch = make_prompt_batch(np.random.default_rng(3), processor, 2, 3, 16, 64, max_side=96, mode=mode)
    assert batch.pixel_values.shape == (2, 3, 64, 64) and batch.targets.shape == (2, 3, 16, 16)
    assert batch.targets.amax(dim=(-2, -1)).min() > 0  # every prompted object is visible
    if mode == "box":
        assert batch.boxes.shape == (2, 3, 4) and batch.points is None
        assert 0 <= batch.boxes.min() and batch.boxes.max() <= 64
    else:
        assert batch.points.shape[:2] == (2, 3) and batch.labels.shape == batch.points.shape[:3]
        real = batch.labels != -10  # padding
        assert (batch.labels[real] >= 0).all() and (batch.labels[..., 0] == 1).all()
        assert 0 <= batch.points[real].min() and batch.points[real].max() <= 64
        assert mode == "clicks" or batch.points.shape[2] == 1


def test_training_steps_reduce_the_loss_on_a_fixed_batch(tiny):
    detector, processor = tiny
    torch.manual_seed(0)
    tracker = tracker_for(detector)
    mask_size, input_size = prompt_sizes(tracker)
    assert (mask_size, input_size) == (32, 64)  # TINY: an 8x8 grid, upsampled 4x by the decoder
    batch = make_prompt_batch(np.random.default_rng(4), processor, 2, 3, mask_size, input_size, max_side=96,
                              mode="clicks")
    with torch.no_grad():
        emb = tracker.get_image_embeddings(batch.pixel_values)
    opt = torch.optim.AdamW(list(trainable(tracker).values()), lr=3e-3)
    losses = []
    for _ in range(30):
        loss, _ = prompt_loss(tracker, emb, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])
    assert not any(p.grad is not None for p in tracker.vision_encoder.parameters())  # the encoder stays frozen


def test_a_run_resumes_and_exports_a_tracker_the_refiner_loads(tiny_checkpoint, tmp_path):
    import shutil

    from sam3.loading import load_sam3

    cfg = ClickConfig(detector=tiny_checkpoint, out_dir=str(tmp_path / "run"), steps=3, images_per_batch=2,
                      prompts_per_image=2, max_side=96, save_every=2, eval_every=3, eval_scenes=4)
    ckpt = train(cfg)
    assert json.loads((ckpt / "state.json").read_text())["step"] == 3
    train(ClickConfig(**{**cfg.__dict__, "steps": 5}))
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5] and {"miou_click", "miou_box"} <= set(log[2])

    detector_dir = tmp_path / "detector"
    shutil.copytree(tiny_checkpoint, detector_dir)
    export(str(detector_dir), ckpt, detector_dir / TRACKER_FOLDER)
    loaded = load_sam3(str(detector_dir), device="cpu")
    refiner = Refiner(loaded)
    assert refiner.trained and refiner.shares_backbone
    run_state, loaded_state = load_file(str(ckpt / "decoder.safetensors")), refiner.tracker.state_dict()
    assert "shared_image_embedding.positional_embedding" in run_state  # a random buffer, drawn at construction
    for name, value in run_state.items():
        assert torch.equal(loaded_state[name], value), name
    image = Image.fromarray(np.random.default_rng(5).integers(0, 255, (70, 90, 3), dtype=np.uint8))
    det = refiner.refine(ImageSession(loaded, image), [Click(30, 40)])
    assert det.masks.shape == (1, 70, 90)


def test_a_correction_lands_on_what_the_decoders_own_mask_got_wrong(tiny):
    detector, processor = tiny
    torch.manual_seed(0)
    tracker = tracker_for(detector)
    mask_size, input_size = prompt_sizes(tracker)
    batch = make_prompt_batch(np.random.default_rng(6), processor, 2, 3, mask_size, input_size, max_side=96,
                              mode="correct")
    first = batch.points.clone()
    with torch.no_grad():
        emb = tracker.get_image_embeddings(batch.pixel_values)
        out = tracker(image_embeddings=emb, input_points=first, input_labels=batch.labels, multimask_output=True)
    add_corrections(tracker, emb, batch, np.random.default_rng(0))
    assert batch.points.shape[2] == 2 and torch.equal(batch.points[:, :, :1], first)
    best = out.iou_scores.argmax(-1)
    scale = input_size / mask_size
    for b, p in np.ndindex(2, 3):
        pred = out.pred_masks[b, p, best[b, p]] > 0
        truth = batch.targets[b, p] > 0.5
        x, y = (batch.points[b, p, 1] / scale).long().tolist()
        label = int(batch.labels[b, p, 1])
        assert label == -10 or (label == 1 and truth[y, x] and not pred[y, x]) or (
            label == 0 and pred[y, x] and not truth[y, x]
        )
