"""SAM 3 training: the criterion on hand-made cases, the loop, checkpoints and resuming."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch

from training.configs import TINY
from training.losses import LossWeights, RowTarget, Sam3Criterion
from training.matcher import hungarian, one_to_many
from training.outputs import LayerOutputs, forward_all_layers

pytestmark = pytest.mark.slow  # training steps

BIG = 12.0


def _box_mask(box, size=16):
    m = torch.zeros(size, size)
    x0, y0, x1, y1 = (int(round(float(v) * size)) for v in box)
    m[y0:y1, x0:x1] = 1
    return m


def perfect_outputs(gt_boxes, query_order, n_queries=5, size=16, present=True) -> LayerOutputs:
    """Queries `query_order[i]` sit exactly on target i with confident logits; the rest are off."""
    logits = torch.full((1, 1, n_queries), -BIG)
    boxes = torch.tensor([[0.0, 0.0, 0.05, 0.05]]).repeat(n_queries, 1)
    masks = torch.full((1, n_queries, size, size), -20.0)
    for t, q in enumerate(query_order):
        logits[0, 0, q] = BIG
        boxes[q] = gt_boxes[t]
        masks[0, q] = _box_mask(gt_boxes[t], size) * 40 - 20
    union = torch.stack([_box_mask(b, size) for b in gt_boxes]).amax(0) if len(gt_boxes) else torch.zeros(size, size)
    return LayerOutputs(
        logits=logits,
        boxes=boxes[None, None],
        presence=torch.full((1, 1), 10.0 if present else -10.0),
        masks=masks,
        semantic=(union * 40 - 20)[None],
    )


GT = torch.tensor([[0.125, 0.125, 0.5, 0.5], [0.5, 0.625, 0.875, 0.9375]])


def target(boxes=GT, size=16):
    return RowTarget(
        boxes=boxes,
        masks=torch.stack([_box_mask(b, size) for b in boxes]) if len(boxes) else torch.zeros(0, size, size),
    )


def test_perfect_prediction_gives_near_zero_loss():
    total, parts = Sam3Criterion()(perfect_outputs(GT, [1, 3]), [target()])
    assert float(total) < 0.05, parts
    assert parts["l1"] < 1e-6 and parts["giou"] < 1e-6 and parts["mask_dice"] < 0.05


def test_bad_prediction_costs_more_in_every_term():
    good = Sam3Criterion()(perfect_outputs(GT, [1, 3]), [target()])[1]
    out = perfect_outputs(GT, [1, 3])
    out.boxes = (out.boxes * 0.5 + 0.3).clamp(0, 1)  # every box shrinks and moves
    out.masks = -out.masks
    out.presence = -out.presence
    bad = Sam3Criterion()(out, [target()])[1]
    for key in ("l1", "giou", "presence", "mask_focal", "mask_dice"):
        assert bad[key] > good[key] + 0.1, key


def test_swapped_order_is_matched_back():
    out = perfect_outputs(GT, [3, 1])  # target 0 on query 3, target 1 on query 1
    q, t = hungarian(out.logits[0, 0], out.boxes[0, 0], GT)
    assert dict(zip(t.tolist(), q.tolist())) == {0: 3, 1: 1}
    total, parts = Sam3Criterion()(out, [target()])
    assert parts["l1"] < 1e-6 and float(total) < 0.05


def test_absent_phrase_trains_presence_only():
    out = perfect_outputs(torch.zeros(0, 4), [], present=False)
    out.logits[:] = BIG  # confident queries are not punished: presence carries absence
    _, parts = Sam3Criterion()(out, [target(torch.zeros(0, 4))])
    assert parts["cls"] == 0.0 and parts["presence"] < 1e-3
    _, parts = Sam3Criterion()(perfect_outputs(torch.zeros(0, 4), [], present=True), [target(torch.zeros(0, 4))])
    assert parts["presence"] > 5


def test_presence_ablation_drops_the_term():
    crit = Sam3Criterion(replace(LossWeights(), use_presence=False))
    _, parts = crit(perfect_outputs(GT, [1, 3]), [target()])
    assert "presence" not in parts


def test_one_to_many_gives_each_target_several_queries():
    boxes = torch.tensor([[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.5, 0.52], [0.1, 0.12, 0.48, 0.5], [0.6, 0.6, 0.9, 0.9]])
    logits = torch.zeros(4)
    q, t = one_to_many(logits, boxes, GT[:1], k=4, min_iou=0.4)
    assert sorted(q.tolist()) == [0, 1, 2] and set(t.tolist()) == {0}
    q1, _ = hungarian(logits, boxes, GT[:1])
    assert len(q1) == 1


def test_forward_all_layers_matches_the_model(loaded_tiny, photo):
    model, processor = loaded_tiny.model, loaded_tiny.processor
    inputs = processor(images=photo, text=["red circle", "star"], return_tensors="pt")
    inputs = {k: v for k, v in inputs.items() if k != "original_sizes"}
    inputs["pixel_values"] = inputs["pixel_values"].expand(2, -1, -1, -1)
    with torch.no_grad():
        ref = model(**inputs)
        all_layers = forward_all_layers(model, **inputs)
    n_layers = model.config.detr_decoder_config.num_layers
    assert all_layers.logits.shape[0] == all_layers.boxes.shape[0] == all_layers.presence.shape[0] == n_layers
    torch.testing.assert_close(all_layers.logits[-1], ref.pred_logits)
    torch.testing.assert_close(all_layers.boxes[-1], ref.pred_boxes)
    torch.testing.assert_close(all_layers.presence[-1], ref.presence_logits[:, 0])


def test_training_steps_reduce_the_loss_on_a_fixed_batch():
    from shapesworld.phrases import vocabulary
    from training.build import new_model
    from training.data import make_batch
    from training.loop import batch_loss

    torch.manual_seed(0)
    model, processor = new_model(TINY, vocabulary())
    model.train()
    batch = make_batch(np.random.default_rng(0), processor, 2, 3, mask_size=32, side_range=(64, 96))
    crit = Sam3Criterion()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(25):
        (loss, _), _ = batch_loss(model, batch, crit)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def tiny_run(out_dir, **overrides):
    """A training config small enough for a test: 2 images x 2 phrases of 64-80 px, a 64 px TINY model."""
    from training.loop import TrainConfig

    return TrainConfig(
        out_dir=str(out_dir),
        images_per_batch=2,
        phrases_per_image=2,
        side_range=(64, 80),
        size=replace(TINY, image_size=64),
        **overrides,
    )


def test_train_loop_saves_loadable_checkpoints_and_resumes(tmp_path):
    from transformers import Sam3Model, Sam3Processor

    from training.loop import train

    cfg = tiny_run(tmp_path / "run", steps=3, eval_every=3, save_every=2, eval_images=8, warmup=2)
    ckpt = train(cfg)
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert state["step"] == 3
    trained = Sam3Model.from_pretrained(ckpt)
    assert {m.p for m in trained.modules() if isinstance(m, torch.nn.Dropout)} == {0.0}  # TrainConfig.dropout
    assert Sam3Processor.from_pretrained(ckpt).tokenizer("red circle").input_ids[1] > 2
    train(replace(cfg, steps=5))
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
    assert "presence_acc" in log[2] and "f1@0.5" in log[2] and 0 <= log[2]["f1_kind@0.5"] <= 1
    assert "kind" in log[2] and "kind_acc_heldout" in log[2]
    assert (ckpt / "kind_head.safetensors").is_file()  # TrainConfig.kind_loss: resumed with the run
    assert not list(ckpt.parent.glob("*.tmp")) and not list(ckpt.parent.glob("*.old"))


def _word_features(model, processor, words):
    tok = processor.tokenizer(words, padding="max_length", max_length=32, return_tensors="pt")
    with torch.no_grad():
        hidden = model.text_encoder(input_ids=tok.input_ids, attention_mask=tok.attention_mask).last_hidden_state
    return torch.nn.functional.normalize(hidden[:, 1], dim=-1)  # the word's own position


def test_spread_word_embeddings_make_words_distinct_at_initialisation():
    """At the default init every word is ~5% of the text encoder's output; spread, they are far apart."""
    from shapesworld.phrases import vocabulary
    from training.build import new_model
    from training.configs import SHAPES
    from training.loop import spread_word_embeddings

    model, processor = new_model(SHAPES, vocabulary(), seed=0)
    words = ["circle", "square", "triangle", "star", "red", "blue"]
    off_diagonal = ~torch.eye(len(words), dtype=torch.bool)
    before = _word_features(model, processor, words)
    spread_word_embeddings(model, 1.0, seed=0)
    after = _word_features(model, processor, words)
    assert (before @ before.T)[off_diagonal].mean() > 0.8
    assert (after @ after.T)[off_diagonal].abs().mean() < 0.3


def test_a_frozen_text_encoder_stays_put_while_the_text_projection_trains(tmp_path):
    from transformers import Sam3Model

    from training.loop import train

    cfg = tiny_run(tmp_path / "run", steps=2, eval_every=100, eval_images=4, warmup=1, lr=1e-2)
    start = train(replace(cfg, steps=1, out_dir=str(tmp_path / "start")))
    before = Sam3Model.from_pretrained(start)
    import shutil

    shutil.copytree(start, tmp_path / "run" / "checkpoint")
    after = Sam3Model.from_pretrained(train(cfg))
    for name, p in before.text_encoder.state_dict().items():
        assert torch.equal(p, after.text_encoder.state_dict()[name]), name
    assert not torch.equal(before.text_projection.weight, after.text_projection.weight)


@pytest.mark.parametrize("step, expected", [(0, 0.5 / 300), (299, 0.5), (20_000, 0.05 * 0.5)])
def test_learning_rate_schedule(step, expected):
    from training.loop import TrainConfig, lr_at

    assert lr_at(step, TrainConfig(lr=0.5)) == pytest.approx(expected, rel=1e-3)


def test_sigterm_saves_and_stops(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    code = (
        "from dataclasses import replace\n"
        "from training.configs import TINY\n"
        "from training.loop import TrainConfig, train\n"
        f"cfg = TrainConfig(out_dir={str(tmp_path / 'run')!r}, steps=10_000, images_per_batch=1, phrases_per_image=1,"
        " eval_every=10_000, save_every=10_000, side_range=(64, 64), size=replace(TINY, image_size=64), warmup=1)\n"
        "train(cfg)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = tmp_path / "run" / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= 2):
        time.sleep(0.5)
    os.kill(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    state = json.loads((tmp_path / "run" / "checkpoint" / "trainer_state.json").read_text())
    assert 2 <= state["step"] < 10_000
    assert "stopped by signal" in out


def test_worker_processes_draw_the_batches_the_loop_would_draw(tmp_path):
    """Batches are a function of (seed, step): drawn ahead in worker processes, the run is the same run."""
    from training.loop import train

    logs = []
    for workers in (0, 2):
        out = tmp_path / f"w{workers}"
        train(tiny_run(out, steps=3, eval_every=10_000, save_every=10_000, warmup=1, workers=workers, threads=1))
        logs.append([json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()])
    assert [r["loss"] for r in logs[0]] == [r["loss"] for r in logs[1]]


def test_time_limit_saves_and_stops(tmp_path):
    from training.loop import train

    ckpt = train(tiny_run(tmp_path / "run", steps=50, save_every=10_000, eval_every=10_000, time_limit_min=0.0))
    assert json.loads((ckpt / "trainer_state.json").read_text())["step"] == 1


def test_kind_maps_label_every_pixel_with_its_shape_kind():
    from shapesworld import generate
    from training.data import resize_masks
    from training.kind_head import KINDS, kind_map

    scene = generate(11, width=160, height=120)
    masks = resize_masks(scene.masks, 40)
    maps = kind_map(masks, [s.kind for s in scene.shapes])
    assert maps.shape == (len(KINDS), 40, 40)
    torch.testing.assert_close(maps.sum(0), torch.ones(40, 40))
    for m, shape in zip(masks, scene.shapes):
        inside = m > 0.99  # wholly this shape's pixels
        assert inside.any()
        assert torch.all(maps[KINDS.index(shape.kind)][inside] > 0.99)


def test_the_kind_head_teaches_the_backbone_shape_kinds():
    """On one fixed batch the auxiliary loss falls and the kind read from the features gets better."""
    from shapesworld.phrases import vocabulary
    from training.build import new_model
    from training.data import make_batch
    from training.kind_head import KindHead
    from training.loop import batch_loss

    torch.manual_seed(0)
    model, processor = new_model(TINY, vocabulary())
    model.train()
    head = KindHead(model.config.vision_config.fpn_hidden_size)
    batch = make_batch(np.random.default_rng(1), processor, 2, 2, mask_size=32, side_range=(64, 96))
    opt = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=2e-3)
    kinds, accuracies = [], []
    for _ in range(30):
        (loss, parts), _ = batch_loss(model, batch, Sam3Criterion(), head, kind_weight=5.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        kinds.append(parts["kind"])
        accuracies.append(parts["kind_acc"])
    assert np.mean(kinds[-5:]) < 0.5 * np.mean(kinds[:5])
    assert np.mean(accuracies[-5:]) > np.mean(accuracies[:5])


def test_an_input_enlarged_by_a_ratio_sees_the_area_downsampled_image(tiny_checkpoint, tmp_path):
    """1.5 times the side (64 -> 96 px, patch 8 -> 12): exact on the image area-downsampled back."""
    from transformers import Sam3Model

    from training.enlarge_input import area_matrix, enlarge_input

    big = enlarge_input(tiny_checkpoint, tmp_path / "big", factor=1.5)
    small_model, big_model = Sam3Model.from_pretrained(tiny_checkpoint).eval(), Sam3Model.from_pretrained(big).eval()
    assert big_model.config.vision_config.backbone_config.patch_size == 12
    a = area_matrix(64, 96).float()
    assert torch.allclose(a.sum(1), torch.ones(64)) and (a > 0).sum() == 128  # each old pixel: 1.5 new ones
    pixels = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        small = small_model.get_vision_features(pixel_values=a @ pixels @ a.T)
        large = big_model.get_vision_features(pixel_values=pixels)
    for x, y in zip(small.fpn_hidden_states, large.fpn_hidden_states):
        torch.testing.assert_close(x, y, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="not a whole number"):
        enlarge_input(tiny_checkpoint, tmp_path / "odd", factor=1.3)


def test_an_enlarged_input_sees_what_the_old_model_saw_and_training_resumes(tmp_path):
    """Twice the input side with twice the patch: on any image the enlarged model computes what the
    original computes on that image box-downsampled; its training state resumes with the moments moved."""
    from safetensors.torch import load_file
    from transformers import Sam3Model, Sam3Processor

    from training.enlarge_input import PATCH_WEIGHT, enlarge_input
    from training.loop import train

    ckpt = train(tiny_run(tmp_path / "run", steps=2, eval_every=100, save_every=100, warmup=1))
    big = enlarge_input(ckpt, tmp_path / "big" / "checkpoint", factor=2)
    small_model, big_model = Sam3Model.from_pretrained(ckpt).eval(), Sam3Model.from_pretrained(big).eval()
    assert Sam3Processor.from_pretrained(big).image_processor.size["height"] == 128
    pixels = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        small = small_model.get_vision_features(pixel_values=torch.nn.functional.avg_pool2d(pixels, 2))
        large = big_model.get_vision_features(pixel_values=pixels)
    for a, b in zip(small.fpn_hidden_states, large.fpn_hidden_states):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)

    moments = load_file(str(big / "optimizer.safetensors"))
    kernel = big_model.get_parameter(PATCH_WEIGHT)
    assert sum(t.shape == kernel.shape for t in moments.values()) == 2  # exp_avg and exp_avg_sq, spread
    assert (big / "kind_head.safetensors").is_file()
    resumed = train(tiny_run(tmp_path / "big", steps=3, eval_every=100, save_every=100, warmup=1, max_side=64))
    state = json.loads((resumed / "trainer_state.json").read_text())
    assert state["step"] == 3 and state["config"]["size"]["patch_size"] == 16  # the checkpoint's size, kept
    assert state["config"]["max_side"] == 128  # renders as large as the new input, not upsampled
    trained = Sam3Model.from_pretrained(resumed)
    assert trained.config.vision_config.backbone_config.patch_size == 16

    def within_blocks(model):  # how far the kernel's weights in each 2x2 block are apart
        k = model.get_parameter(PATCH_WEIGHT).detach()
        return (k - torch.nn.functional.avg_pool2d(k, 2).repeat_interleave(2, 2).repeat_interleave(2, 3)).abs().max()

    assert within_blocks(big_model) < 1e-7 < 1e-5 < within_blocks(trained)  # training reads inside patches


def test_a_deepened_backbone_computes_what_the_old_one_did_and_training_resumes(tmp_path):
    """2 -> 4 backbone layers: the new ones start as the identity, old moments follow their parameters,
    and the resumed run trains the new layers' zeroed output projections."""
    from safetensors.torch import load_file
    from transformers import Sam3Model

    from training.deepen import LAYERS, _optimizer_order, deepen, layer_plan
    from training.loop import train

    assert layer_plan(4, 8) == [(0, True), (1, True), (2, True)] + [(2, False)] * 4 + [(3, True)]
    with pytest.raises(ValueError, match="more than"):
        layer_plan(4, 4)
    ckpt = train(tiny_run(tmp_path / "run", steps=2, eval_every=100, save_every=100, warmup=1, kind_loss=1.0))
    deep = deepen(ckpt, tmp_path / "deep" / "checkpoint", layers=4)
    old_model, deep_model = Sam3Model.from_pretrained(ckpt).eval(), Sam3Model.from_pretrained(deep).eval()
    backbone = deep_model.config.vision_config.backbone_config
    assert backbone.num_hidden_layers == 4 and backbone.global_attn_indexes == [3]
    assert [layer.window_size > 0 for layer in deep_model.vision_encoder.backbone.layers] == [True] * 3 + [False]
    pixels = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        old = old_model.get_vision_features(pixel_values=pixels)
        new = deep_model.get_vision_features(pixel_values=pixels)
    for a, b in zip(old.fpn_hidden_states, new.fpn_hidden_states):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)

    old_moments = load_file(str(ckpt / "optimizer.safetensors"))
    new_moments = load_file(str(deep / "optimizer.safetensors"))
    assert len(new_moments) == len(old_moments)  # the new layers' parameters start without moments
    meta = json.loads((ckpt / "trainer_state.json").read_text())
    old_order, new_order = _optimizer_order(old_model, meta), _optimizer_order(deep_model, meta)
    for old_name, new_name in ((f"{LAYERS}.1.attention.q_proj.weight", f"{LAYERS}.3.attention.q_proj.weight"),
                               ("detr_decoder.layers.0.self_attn.o_proj.weight",) * 2, ("kind_head.proj.bias",) * 2):
        for moment in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(old_moments[f"{old_order.index(old_name)}.{moment}"],
                                       new_moments[f"{new_order.index(new_name)}.{moment}"], atol=0, rtol=0)
    resumed = train(tiny_run(tmp_path / "deep", steps=3, eval_every=100, save_every=100, warmup=1, kind_loss=1.0))
    state = json.loads((resumed / "trainer_state.json").read_text())
    assert state["step"] == 3 and state["config"]["size"]["vit_layers"] == 4
    trained = Sam3Model.from_pretrained(resumed)
    assert trained.get_parameter(f"{LAYERS}.2.mlp.fc2.weight").abs().sum() > 0  # a new layer, no longer the identity
    assert torch.equal(deep_model.get_parameter(f"{LAYERS}.2.mlp.fc2.weight"), torch.zeros_like(
        deep_model.get_parameter(f"{LAYERS}.2.mlp.fc2.weight")))


def test_snapshots_average_into_a_model_that_loads_and_exports(tmp_path):
    """The loop keeps weights-only snapshots; their average is the elementwise mean, loads as a Sam3Model,
    exports with the averaged steps on its card, and is refused as a state to resume training from."""
    from safetensors.torch import load_file
    from transformers import Sam3Model

    from training.average import average_checkpoints
    from training.export import export
    from training.loop import train

    cfg = tiny_run(tmp_path / "run", steps=4, eval_every=100, save_every=3, snapshot_every=2, warmup=1, kind_loss=1.0)
    train(cfg)
    snaps = sorted((tmp_path / "run" / "snapshots").iterdir())
    assert [s.name for s in snaps] == ["step-000002", "step-000004"]
    assert not (snaps[0] / "optimizer.safetensors").exists()
    assert json.loads((snaps[0] / "trainer_state.json").read_text())["step"] == 2
    avg = average_checkpoints(snaps, tmp_path / "avg")
    for name in ("model.safetensors", "kind_head.safetensors"):
        a, b, m = (load_file(str(p / name)) for p in (*snaps, avg))
        moved = [k for k in m if m[k].is_floating_point() and not torch.equal(a[k], b[k])]
        assert moved  # training changed weights between the snapshots...
        for k in moved:  # ...and the average lies halfway
            torch.testing.assert_close(m[k], (a[k] + b[k]) / 2)
    Sam3Model.from_pretrained(avg)
    card = (export(avg, tmp_path / "shipped") / "README.md").read_text()
    assert "4: the average of the weights at steps 2, 4" in card
    shutil.copytree(avg, tmp_path / "again" / "checkpoint")
    with pytest.raises(ValueError, match="without optimizer state"):
        train(replace(cfg, out_dir=str(tmp_path / "again"), steps=6))


def test_averaging_refuses_what_cannot_be_averaged(tmp_path):
    from training.average import average_checkpoints
    from training.deepen import deepen
    from training.loop import train

    ckpt = train(tiny_run(tmp_path / "run", steps=1, eval_every=100, save_every=100, warmup=1, kind_loss=0.0))
    with pytest.raises(ValueError, match="at least two"):
        average_checkpoints([ckpt], tmp_path / "avg")
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        average_checkpoints([ckpt, tmp_path], tmp_path / "avg")
    with pytest.raises(ValueError, match="different sizes"):
        average_checkpoints([ckpt, deepen(ckpt, tmp_path / "deep", layers=4)], tmp_path / "avg")
    with pytest.raises(ValueError, match="one of the checkpoints"):
        average_checkpoints([ckpt, ckpt], ckpt)
