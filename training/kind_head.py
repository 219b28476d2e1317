"""An auxiliary training head: each pixel's shape kind, read linearly from the features the DETR sees.

The phrase losses let colour explain most of the loss, so the backbone can go on without learning shape
(a linear probe on those features once read colour at 99.7% and shape kind near chance) and bare
"<shape>" phrases fire on every shape. This dense, direct signal on the same features pushes the
backbone to encode shape; the head is not part of `Sam3Model` and is left behind at export.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from shapesworld import SHAPES

KINDS = ("background", *SHAPES)
FILE = "kind_head.safetensors"
BACKGROUND_WEIGHT = 0.2  # background is most pixels and already easy: the signal is in the shapes


def kind_map(masks: torch.Tensor, kinds: list[str]) -> torch.Tensor:
    """(len(KINDS), h, w) soft labels from soft instance masks (N, h, w): each kind's coverage, the rest
    background, summing to one."""
    h, w = masks.shape[-2:]
    out = torch.zeros(len(KINDS), h, w)
    for m, kind in zip(masks, kinds):
        out[KINDS.index(kind)] += m
    cover = out[1:].sum(0)
    out[1:] /= cover.clamp(min=1.0)  # overlapping soft edges share one pixel
    out[0] = (1 - cover).clamp(min=0.0)
    return out


def vision_level(fpn_hidden_states: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """The level the DETR encoder and decoder read (`Sam3Model` gives them the last one before the
    lowest-resolution level)."""
    return fpn_hidden_states[-2]


class KindHead(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.proj = nn.Conv2d(channels, len(KINDS), 1)

    def forward(
        self, fpn_hidden_states: tuple[torch.Tensor, ...], maps: torch.Tensor
    ) -> tuple[torch.Tensor, float | None]:
        """Soft-label cross-entropy per pixel (background down-weighted), and the share of mostly-shape
        pixels whose kind is read right (what the probe measured; None without shapes)."""
        feats = vision_level(fpn_hidden_states)
        target = F.adaptive_avg_pool2d(maps.to(feats.dtype), feats.shape[-2:])
        logits = self.proj(feats)
        ce = -(target * logits.log_softmax(1)).sum(1)
        weight = BACKGROUND_WEIGHT * target[:, 0] + (1 - target[:, 0])
        shape_pixels = target[:, 1:].sum(1) > 0.5
        right = logits[:, 1:].argmax(1) == target[:, 1:].argmax(1)
        accuracy = float(right[shape_pixels].float().mean()) if shape_pixels.any() else None
        return (weight * ce).sum() / weight.sum(), accuracy

    def save(self, directory: Path) -> None:
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}, str(directory / FILE))

    def load_if_saved(self, directory: Path) -> bool:
        path = directory / FILE
        if not path.is_file():
            return False
        self.load_state_dict(load_file(str(path)))
        return True
