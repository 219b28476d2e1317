"""Video configurations: SAM 3's tracker built around a detector configuration.

`transformers`' video classes put three constraints on a tracker, all checked here so a bad
size fails with one sentence instead of a shape error deep inside a forward pass:

- the tracker reads the detector's FPN features (`Sam3VideoModel.tracker_neck` is built from
  the detector's vision config), so the tracker's hidden size *is* the detector's
  `fpn_hidden_size`;
- memory attention projects memories from a hard-coded 64 channels, so
  `memory_encoder_output_channels` must be 64;
- object pointers are split into hidden/64 memory tokens, and the unsplit case (hidden 64)
  breaks, so the hidden size must be a multiple of 64 and at least 128.
"""

from __future__ import annotations

from transformers import Sam3Config, Sam3VideoConfig

MEMORY_CHANNELS = 64  # fixed by Sam3TrackerVideoMemoryAttentionLayer (kv_in_dim=64)
MIN_TRACKER_HIDDEN = 128



def tracker_incompatibility(detector: Sam3Config) -> str | None:
    """Why no SAM 3 tracker can be attached to this detector, or None when one can."""
    hidden = detector.vision_config.fpn_hidden_size
    if hidden < MIN_TRACKER_HIDDEN or hidden % MEMORY_CHANNELS:
        return (
            f"its FPN hidden size is {hidden}, and SAM 3's tracker in transformers needs a multiple of "
            f"{MEMORY_CHANNELS} of at least {MIN_TRACKER_HIDDEN}"
        )
    return None


def tracker_config_for(detector: Sam3Config, *, small: bool = False) -> dict:
    """A `Sam3TrackerVideoConfig` dict whose sizes match `detector` (same ViT, FPN and input size).

    `small` shrinks the tracker's own layers (memory attention, mask decoder MLPs) to test size;
    otherwise they follow the facebook/sam3 proportions scaled to the hidden size.
    """
    reason = tracker_incompatibility(detector)
    if reason:
        raise ValueError(f"cannot build a tracker for this detector: {reason}")
    vision = detector.vision_config
    hidden = vision.fpn_hidden_size
    backbone = vision.backbone_config
    image_size, patch = backbone.image_size, backbone.patch_size
    grid = image_size // patch
    heads = max(1, hidden // 32) if not small else 2
    return {
        "vision_config": vision.to_dict(),
        "prompt_encoder_config": {
            "hidden_size": hidden,
            "image_size": image_size,
            "patch_size": patch,
            "mask_input_channels": 16 if not small else 8,
        },
        "mask_decoder_config": {
            "hidden_size": hidden,
            "mlp_dim": hidden * (8 if not small else 1),
            "num_hidden_layers": 2 if not small else 1,
            "num_attention_heads": heads,
            "iou_head_hidden_dim": hidden if not small else 32,
        },
        "memory_attention_hidden_size": hidden,
        "memory_attention_num_layers": 4 if not small else 1,
        "memory_attention_feed_forward_hidden_size": hidden * (8 if not small else 1),
        "memory_attention_rope_feat_sizes": [grid, grid],
        "memory_encoder_hidden_size": hidden,
        "memory_encoder_output_channels": MEMORY_CHANNELS,
        "mask_downsampler_embed_dim": hidden,
        "memory_fuser_embed_dim": hidden,
        "memory_fuser_intermediate_dim": hidden * (4 if not small else 1),
        "memory_fuser_num_layers": 2 if not small else 1,
        "image_size": image_size,
    }


def video_config(detector: Sam3Config, *, small_tracker: bool = False, **video_kwargs) -> Sam3VideoConfig:
    """A `Sam3VideoConfig` (detector + tracker) around `detector`; `video_kwargs` set the
    detect-and-track heuristics (thresholds, `hotstart_delay`, `max_num_objects`, ...)."""
    backbone = detector.vision_config.backbone_config
    low_res = 4 * (backbone.image_size // backbone.patch_size)  # the mask decoders' output size
    kwargs = {"low_res_mask_size": low_res, **video_kwargs}
    return Sam3VideoConfig(
        detector_config=detector.to_dict(),
        tracker_config=tracker_config_for(detector, small=small_tracker),
        **kwargs,
    )
