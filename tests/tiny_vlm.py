"""Tiny random Qwen VL chat models (Qwen2.5-VL, Qwen3-VL) saved like real checkpoints, built offline.

`save_tiny_vlm(kind, directory)` writes config, weights, tokenizer, image/video processor and chat
template into `directory`, so `AutoModelForImageTextToText` / `AutoProcessor` load it like a Hub model.
The weights are random: the model writes garbage, but through the real code path (chat template,
image patches and `<|image_pad|>` placeholders, vision tower, generate).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

Kind = Literal["qwen2_5_vl", "qwen3_vl"]

SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# Qwen's im_start/im_end chat format; an image part becomes <|vision_start|><|image_pad|><|vision_end|>,
# which the processor expands to one <|image_pad|> per merged patch.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' -%}<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part['type'] == 'video' -%}<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif part['type'] == 'text' -%}{{ part['text'] }}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{ '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)

_CORPUS = [
    "Find the red car on the left of the image.",
    "How many people are standing near the truck? Count them.",
    "Call the segment tool with the phrase 'dog' and select masks 1 and 3.",
    '{"tool": "segment", "phrase": "person in blue shirt"}',
    "The answer is two apples, the leftmost one is green.",
    "system user assistant describe the image briefly 0123456789",
]


def _tokenizer():
    import json

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_CORPUS * 4, trainer=trainer)
    merges = [tuple(m) for m in json.loads(bpe.to_str())["model"]["merges"]]
    tok = Qwen2Tokenizer(
        vocab=bpe.get_vocab(),
        merges=merges,
        unk_token="<|endoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def save_tiny_vlm(kind: Kind, directory: str | Path, seed: int = 0, width: int = 32) -> Path:
    """Build a tiny random `kind` chat VLM and save model + processor into `directory`; returns it.

    `width` (a multiple of 16) is the hidden size of both towers; bitsandbytes 4-bit on the CPU needs
    every linear layer's input size to be a multiple of 64, so use `width=64` to try it.
    """
    if width % 16:
        raise ValueError(f"width must be a multiple of 16, got {width}")
    import torch
    from transformers import Qwen2VLImageProcessor

    directory = Path(directory)
    tok = _tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    vocab = len(tok)
    token_ids = dict(
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    text = dict(
        vocab_size=vocab,
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=2,
        num_attention_heads=width // 16,
        num_key_value_heads=max(1, width // 32),
        max_position_embeddings=1024,
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    if kind == "qwen2_5_vl":
        from transformers import (
            Qwen2_5_VLConfig,
            Qwen2_5_VLForConditionalGeneration,
            Qwen2_5_VLProcessor,
            Qwen2VLVideoProcessor,
        )

        patch = 14
        # head_dim = width / heads = 16; mrope_section sums to head_dim / 2.
        text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}
        vision = dict(
            depth=2,
            hidden_size=width,
            intermediate_size=2 * width,
            num_heads=width // 16,
            patch_size=patch,
            out_hidden_size=width,
            window_size=56,
            fullatt_block_indexes=[1],
        )
        config = Qwen2_5_VLConfig(
            text_config=text, vision_config=vision, tie_word_embeddings=False, **token_ids
        )
        model = Qwen2_5_VLForConditionalGeneration(config)
        video_cls, processor_cls = Qwen2VLVideoProcessor, Qwen2_5_VLProcessor
    elif kind == "qwen3_vl":
        from transformers import (
            Qwen3VLConfig,
            Qwen3VLForConditionalGeneration,
            Qwen3VLProcessor,
            Qwen3VLVideoProcessor,
        )

        patch = 16
        text["head_dim"] = 16
        text["rope_parameters"] = {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": [2, 3, 3],
            "mrope_interleaved": True,
        }
        vision = dict(
            depth=2,
            hidden_size=width,
            intermediate_size=2 * width,
            num_heads=width // 16,
            patch_size=patch,
            out_hidden_size=width,
            num_position_embeddings=64,
            deepstack_visual_indexes=[0],
        )
        config = Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **token_ids)
        model = Qwen3VLForConditionalGeneration(config)
        video_cls, processor_cls = Qwen3VLVideoProcessor, Qwen3VLProcessor
    else:
        raise ValueError(f"unknown tiny VLM kind {kind!r}: use qwen2_5_vl or qwen3_vl")

    side = patch * 2 * 4  # at most 4x4 merged patches: a handful of image tokens per image
    pixels = {"shortest_edge": (patch * 2) ** 2, "longest_edge": side * side}
    image_processor = Qwen2VLImageProcessor(
        patch_size=patch, merge_size=2, temporal_patch_size=2, size=pixels
    )
    video_processor = video_cls(patch_size=patch, merge_size=2, temporal_patch_size=2, size=pixels)
    processor = processor_cls(
        image_processor=image_processor,
        tokenizer=tok,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
