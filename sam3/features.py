"""Reusing one vision encoding across many prompts.

`Sam3Model.forward(vision_embeds=...)` does not broadcast a batch-1 encoding over a batch of
prompts, so every tensor of the encoding is indexed along the batch axis instead.
"""

from __future__ import annotations

import torch
from transformers.models.sam3.modeling_sam3 import Sam3VisionEncoderOutput


def select_vision(vision: Sam3VisionEncoderOutput, index: torch.Tensor) -> Sam3VisionEncoderOutput:
    """Row `i` of the result is row `index[i]` of `vision` (shares no memory with it only if needed)."""
    index = index.to(vision.fpn_hidden_states[0].device)

    def pick(t: torch.Tensor | None) -> torch.Tensor | None:
        if t is None:
            return None
        if t.shape[0] == 1:
            return t.expand(len(index), *t.shape[1:])
        return t.index_select(0, index)

    return Sam3VisionEncoderOutput(
        last_hidden_state=pick(vision.last_hidden_state),
        fpn_hidden_states=tuple(pick(t) for t in vision.fpn_hidden_states),
        fpn_position_encoding=tuple(pick(t) for t in vision.fpn_position_encoding),
    )
