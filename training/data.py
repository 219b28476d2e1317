"""ShapesWorld batches for training: each image is encoded once and asked several phrases."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from transformers import Sam3Processor

from shapesworld import COLOURS, render, sample_scene
from shapesworld.phrases import sample_training_phrases
from training.kind_head import kind_map
from training.losses import RowTarget


@dataclass
class Batch:
    """`row_image[i]` is the image that phrase row `i` is asked about; `kind_maps` (images, kinds, h, w)
    are each image's per-pixel shape kinds, for the auxiliary kind head."""

    pixel_values: torch.Tensor
    row_image: torch.Tensor
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    targets: list[RowTarget]
    phrases: list[str]
    kind_maps: torch.Tensor

    def to(self, device: torch.device) -> Batch:
        return Batch(
            pixel_values=self.pixel_values.to(device, non_blocking=True),
            row_image=self.row_image.to(device, non_blocking=True),
            input_ids=self.input_ids.to(device, non_blocking=True),
            attention_mask=self.attention_mask.to(device, non_blocking=True),
            targets=[RowTarget(t.boxes.to(device), t.masks.to(device)) for t in self.targets],
            phrases=self.phrases,
            kind_maps=self.kind_maps.to(device, non_blocking=True),
        )


class StepBatches(torch.utils.data.Dataset):
    """Batch `step` of a run, a pure function of (seed, step): worker processes can draw them in any
    order and a resumed run sees what it would have seen."""

    def __init__(self, processor: Sam3Processor, seed: int, steps: int, **batch_args):
        self.processor = processor
        self.seed = seed
        self.batch_args = batch_args
        self.steps = steps

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, step: int) -> Batch:
        return make_batch(np.random.default_rng([self.seed, step]), self.processor, **self.batch_args)


def as_is(batch: Batch) -> Batch:
    """The DataLoader's per-sample conversion: a Batch is ready as it is (module level: workers pickle it)."""
    return batch


def make_batch(
    rng: np.random.Generator,
    processor: Sam3Processor,
    n_images: int,
    phrases_per_image: int,
    mask_size: int,
    side_range: tuple[int, int] = (128, 1024),
    max_side: int = 384,
    max_shapes: int = 10,
    monochrome: float = 0.0,
) -> Batch:
    """Sides are drawn from `side_range` (the benchmark's, so aspect ratios match it) and the scene scaled
    down to fit `max_side`: the model's input is no larger (training raises `max_side` to it), and
    larger renders would triple the cost.
    A `monochrome` share of scenes paints every shape one colour, so that colour alone cannot answer."""
    images, row_image, texts, targets, kind_maps = [], [], [], [], []
    for i in range(n_images):
        w, h = (int(v) for v in rng.integers(side_range[0], side_range[1] + 1, 2))
        scale = min(1.0, max_side / max(w, h))
        w, h = max(32, round(w * scale)), max(32, round(h * scale))
        colour = str(rng.choice(list(COLOURS))) if rng.random() < monochrome else None
        scene = sample_scene(rng, width=w, height=h, max_shapes=max_shapes, colour=colour)
        shot = render(scene, renderer=str(rng.choice(["pil", "cv2"])), seed=int(rng.integers(2**31)))
        images.append(shot.image)
        masks = resize_masks(shot.masks, mask_size)
        kind_maps.append(kind_map(masks, [shape.kind for shape in shot.shapes]))
        boxes = torch.from_numpy(shot.boxes / np.array([w, h, w, h], np.float32))
        for phrase, idx in sample_training_phrases(shot.shapes, rng, k=phrases_per_image):
            sel = list(idx)
            row_image.append(i)
            texts.append(phrase)
            targets.append(RowTarget(boxes=boxes[sel], masks=masks[sel]))
    pixel_values = processor.image_processor(images, return_tensors="pt").pixel_values
    text = processor.tokenizer(texts, padding="max_length", max_length=32, return_tensors="pt")
    return Batch(
        pixel_values=pixel_values,
        row_image=torch.tensor(row_image),
        input_ids=text.input_ids,
        attention_mask=text.attention_mask,
        targets=targets,
        phrases=texts,
        kind_maps=torch.stack(kind_maps),
    )


def resize_masks(masks: np.ndarray, size: int) -> torch.Tensor:
    """Area-resized soft masks (N, size, size): thin parts stay visible as partial coverage."""
    if len(masks) == 0:
        return torch.zeros(0, size, size)
    out = [cv2.resize(m.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA) for m in masks]
    return torch.from_numpy(np.stack(out))
