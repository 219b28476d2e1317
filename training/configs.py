"""Model configurations built in code: tiny ones for tests, a small one for ShapesWorld.

Constraints of `transformers`' SAM 3 that these respect: hidden sizes are multiples of 8
(GroupNorm(8)); the input size is fixed by `image_size` (RoPE tables); text is padded to
32 tokens, so `max_position_embeddings >= 32`; the 0.5x FPN level needs at least a 2x2
patch grid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from transformers import Sam3Config, Sam3VideoConfig

from sam3.video.config import video_config


@dataclass(frozen=True)
class Sam3Size:
    """The few numbers that set a SAM 3 model's size."""

    image_size: int = 64
    patch_size: int = 8
    vit_hidden: int = 32
    vit_layers: int = 2
    vit_heads: int = 2
    hidden: int = 32
    heads: int = 2
    text_hidden: int = 32
    text_layers: int = 1
    vocab_size: int = 600
    detr_encoder_layers: int = 1
    detr_decoder_layers: int = 2
    geometry_layers: int = 1
    num_queries: int = 8
    ffn_ratio: int = 2


TINY = Sam3Size()
SHAPES = Sam3Size(
    image_size=128,
    patch_size=8,
    vit_hidden=96,
    vit_layers=4,
    vit_heads=4,
    hidden=64,
    heads=4,
    text_hidden=64,
    text_layers=2,
    vocab_size=600,
    detr_encoder_layers=2,
    detr_decoder_layers=3,
    geometry_layers=1,
    num_queries=16,
    ffn_ratio=4,
)


def global_layers(layers: int) -> list[int]:
    """Backbone layers with global attention: every fourth counting from the last (the others attend
    within windows), as facebook/sam3 spaces them every eighth of 32."""
    return [i for i in range(layers) if (layers - 1 - i) % 4 == 0]


def sam3_config(size: Sam3Size = TINY) -> Sam3Config:
    """A `Sam3Config` of the given size, loadable by every SAM 3 class in `transformers`."""
    grid = size.image_size // size.patch_size
    if grid < 2:
        raise ValueError(f"image_size/patch_size must give at least a 2x2 grid, got {grid}")
    for name in ("vit_hidden", "hidden", "text_hidden"):
        if getattr(size, name) % 8:
            raise ValueError(f"{name} must be a multiple of 8 (GroupNorm(8)), got {getattr(size, name)}")
    ffn = size.hidden * size.ffn_ratio
    feature_sizes = [[grid * 4, grid * 4], [grid * 2, grid * 2], [grid, grid]]
    return Sam3Config(
        vision_config={
            "backbone_config": {
                "model_type": "sam3_vit_model",
                "hidden_size": size.vit_hidden,
                "intermediate_size": size.vit_hidden * size.ffn_ratio,
                "num_hidden_layers": size.vit_layers,
                "num_attention_heads": size.vit_heads,
                "image_size": size.image_size,
                "patch_size": size.patch_size,
                "window_size": max(1, grid // 2),
                "global_attn_indexes": global_layers(size.vit_layers),
                "pretrain_image_size": size.image_size,
            },
            "fpn_hidden_size": size.hidden,
            "backbone_feature_sizes": feature_sizes,
        },
        text_config={
            "vocab_size": size.vocab_size,
            "hidden_size": size.text_hidden,
            "intermediate_size": size.text_hidden * size.ffn_ratio,
            "projection_dim": size.text_hidden,
            "num_hidden_layers": size.text_layers,
            "num_attention_heads": max(1, size.text_hidden // 32),
            "max_position_embeddings": 32,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        geometry_encoder_config={
            "hidden_size": size.hidden,
            "num_layers": size.geometry_layers,
            "num_attention_heads": size.heads,
            "intermediate_size": ffn,
        },
        detr_encoder_config={
            "hidden_size": size.hidden,
            "num_layers": size.detr_encoder_layers,
            "num_attention_heads": size.heads,
            "intermediate_size": ffn,
        },
        detr_decoder_config={
            "hidden_size": size.hidden,
            "num_layers": size.detr_decoder_layers,
            "num_queries": size.num_queries,
            "num_attention_heads": size.heads,
            "intermediate_size": ffn,
        },
        mask_decoder_config={"hidden_size": size.hidden, "num_attention_heads": size.heads},
    )


def size_dict(size: Sam3Size) -> dict:
    return asdict(size)


# A detector that can host a tracker: ShapesWorld-sized input, hidden 128 (the smallest legal).
TINY_VIDEO = Sam3Size(
    image_size=64,
    patch_size=8,
    vit_hidden=32,
    vit_layers=1,
    vit_heads=2,
    hidden=128,
    heads=2,
    text_hidden=32,
    text_layers=1,
    vocab_size=600,
    detr_encoder_layers=1,
    detr_decoder_layers=1,
    geometry_layers=1,
    num_queries=4,
    ffn_ratio=1,
)


def tiny_video_config(size: Sam3Size = TINY_VIDEO, **video_kwargs) -> Sam3VideoConfig:
    """A few-million-parameter `Sam3VideoConfig` for tests: random weights run a frame in well
    under a second on a CPU. Random detectors score about 0.2-0.3, so tests lower
    `score_threshold_detection`/`new_det_thresh`, and cap `max_num_objects`."""
    defaults = {"hotstart_delay": 0, "max_num_objects": 3}
    return video_config(sam3_config(size), small_tracker=True, **{**defaults, **video_kwargs})
