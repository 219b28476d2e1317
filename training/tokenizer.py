"""Small CLIP tokenizers built in code, so no tokenizer ever has to be downloaded.

SAM 3's processor pads text to 32 CLIP tokens. A byte-level CLIP BPE with no merges
encodes any string (every byte is in the vocabulary); adding merges learned on a word
list makes each of those words a single token, which is what lets a small model bind
phrases quickly while unknown words still fall back to bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import CLIPTokenizer

BOS, EOS = "<|startoftext|>", "<|endoftext|>"


def _byte_vocab() -> dict[str, int]:
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {BOS: 0, EOS: 1}
    for ch in alphabet:
        vocab[ch] = len(vocab)
    for ch in alphabet:
        vocab[ch + "</w>"] = len(vocab)
    return vocab


def _learn_merges(words: list[str]) -> list[tuple[str, str]]:
    """BPE merges that turn every word of `words` into one token."""
    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=100_000,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        end_of_word_suffix="</w>",
    )
    bpe.train_from_iterator(words, trainer=trainer)
    merges = json.loads(bpe.to_str())["model"]["merges"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]


def build_clip_tokenizer(words: Iterable[str] = ()) -> CLIPTokenizer:
    """A CLIP tokenizer over the 256 bytes, with whole-word tokens for `words`.

    Every string encodes without unknown tokens; each word in `words` (lower case)
    becomes exactly one token.
    """
    vocab = _byte_vocab()
    word_list = sorted({w.lower() for w in words if w.strip()})
    merges = _learn_merges(word_list) if word_list else []
    for left, right in merges:
        merged = left + right
        if merged not in vocab:
            vocab[merged] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=32)
