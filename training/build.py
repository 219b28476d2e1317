"""Fresh, randomly initialised SAM 3 models and processors in the `facebook/sam3` layout.

Tests save these with `save_pretrained` and load them back through the same
`from_pretrained` path as real checkpoints; training starts from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from transformers import Sam3ImageProcessor, Sam3Model, Sam3Processor, Sam3VideoModel

from training.configs import TINY, Sam3Size, sam3_config, tiny_video_config
from training.tokenizer import build_clip_tokenizer


def new_processor(image_size: int, words: Iterable[str] = ()) -> Sam3Processor:
    image_processor = Sam3ImageProcessor(size={"height": image_size, "width": image_size})
    return Sam3Processor(image_processor=image_processor, tokenizer=build_clip_tokenizer(words))


def new_model(
    size: Sam3Size = TINY, words: Iterable[str] = (), seed: int = 0
) -> tuple[Sam3Model, Sam3Processor]:
    processor = new_processor(size.image_size, words)
    if len(processor.tokenizer) > size.vocab_size:
        raise ValueError(f"tokenizer has {len(processor.tokenizer)} tokens, config allows {size.vocab_size}")
    torch.manual_seed(seed)
    model = Sam3Model(sam3_config(size)).eval()
    return model, processor


def save_checkpoint(model: Sam3Model | Sam3VideoModel, processor: Sam3Processor, directory: str | Path) -> Path:
    """Writes a `facebook/sam3`-layout checkpoint: config, safetensors weights, processor and tokenizer files
    (never pickle)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory, safe_serialization=True)
    processor.save_pretrained(directory)
    return directory


def new_video_model(config=None, words=(), seed: int = 0) -> tuple[Sam3VideoModel, Sam3Processor]:
    """A randomly initialised `Sam3VideoModel` (default: `tiny_video_config()`) and its processor."""
    config = config or tiny_video_config()
    processor = new_processor(config.detector_config.vision_config.backbone_config.image_size, words)
    torch.manual_seed(seed)
    return Sam3VideoModel(config).eval(), processor
