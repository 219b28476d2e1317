"""Every decoder layer's predictions from one `Sam3Model.forward`, for auxiliary losses.

The model returns only the last layer; forward hooks capture the per-layer decoder states and
query scores it computes anyway, and the model's own box head turns states into boxes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import Sam3Model
from transformers.models.sam3.modeling_sam3 import box_cxcywh_to_xyxy, inverse_sigmoid


@dataclass
class LayerOutputs:
    """Shapes: logits (L, N, Q); boxes (L, N, Q, 4) normalised xyxy; presence (L, N);
    masks (N, Q, h, w) and semantic (N, h, w) logits of the last layer."""

    logits: torch.Tensor
    boxes: torch.Tensor
    presence: torch.Tensor
    masks: torch.Tensor
    semantic: torch.Tensor


def forward_all_layers(model: Sam3Model, **inputs) -> LayerOutputs:
    captured: dict[str, object] = {}

    def keep(name):
        def hook(_module, _args, output):
            captured[name] = output

        return hook

    handles = [
        model.detr_decoder.register_forward_hook(keep("decoder")),
        model.dot_product_scoring.register_forward_hook(keep("scores")),
    ]
    try:
        out = model(**inputs)
    finally:
        for h in handles:
            h.remove()
    dec = captured["decoder"]
    offsets = model.detr_decoder.box_head(dec.intermediate_hidden_states)
    boxes = box_cxcywh_to_xyxy((inverse_sigmoid(dec.reference_boxes) + offsets).sigmoid())
    return LayerOutputs(
        logits=captured["scores"].squeeze(-1),
        boxes=boxes,
        presence=dec.presence_logits.squeeze(-1),
        masks=out.pred_masks,
        semantic=out.semantic_seg.squeeze(1),
    )
