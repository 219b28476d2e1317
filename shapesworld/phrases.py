"""Noun phrases for a scene: what each one should find, and hard negatives that find nothing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shapesworld.scene import COLOURS, SHAPES, Shape

GENERIC = ("shape", "object")


def plural(noun: str) -> str:
    return noun + "es" if noun.endswith(("s", "x", "sh", "ch")) else noun + "s"


def vocabulary() -> list[str]:
    """Every word the ShapesWorld phrases use (for the tokenizer's whole-word tokens)."""
    nouns = list(SHAPES) + list(GENERIC)
    return sorted(set(COLOURS) | set(nouns) | {plural(n) for n in nouns})


@dataclass(frozen=True)
class PhraseSet:
    """`positives` maps a phrase to the instance indices it must return; `negatives` return none."""

    positives: dict[str, tuple[int, ...]]
    negatives: tuple[str, ...]


def _matches(shape: Shape, colour: str | None, kind: str | None) -> bool:
    return (colour is None or shape.colour == colour) and (kind is None or shape.kind == kind)


def phrase_targets(colour: str | None, kind: str | None, shapes: list[Shape]) -> tuple[int, ...]:
    return tuple(i for i, s in enumerate(shapes) if _matches(s, colour, kind))


def _text(colour: str | None, kind: str | None, many: bool) -> str:
    noun = kind or "shape"
    noun = plural(noun) if many else noun
    return f"{colour} {noun}" if colour else noun


def all_phrases(shapes: list[Shape]) -> PhraseSet:
    """Every concept phrase of the vocabulary, split into present and absent ones."""
    positives: dict[str, tuple[int, ...]] = {}
    negatives: list[str] = []
    for colour in [None, *COLOURS]:
        for kind in [None, *SHAPES]:
            idx = phrase_targets(colour, kind, shapes)
            for many in (False, True):
                text = _text(colour, kind, many)
                if idx:
                    positives[text] = idx
                else:
                    negatives.append(text)
    # "object" is a synonym of "shape": bare and with a colour
    for colour in [None, *COLOURS]:
        idx = phrase_targets(colour, None, shapes)
        for noun in ("object", "objects"):
            text = f"{colour} {noun}" if colour else noun
            if idx:
                positives[text] = idx
            else:
                negatives.append(text)
    return PhraseSet(positives=positives, negatives=tuple(negatives))


def hard_negatives(shapes: list[Shape]) -> list[str]:
    """Absent phrases sharing a colour or a shape with something present.

    E.g. "purple star" beside a purple circle and a red star.
    """
    colours = {s.colour for s in shapes}
    kinds = {s.kind for s in shapes}
    out = []
    for colour in COLOURS:
        for kind in SHAPES:
            if (colour in colours or kind in kinds) and not phrase_targets(colour, kind, shapes):
                # both numbers, so that plural never gives away presence
                out += [_text(colour, kind, False), _text(colour, kind, True)]
    return out


def sample_training_phrases(
    shapes: list[Shape], rng: np.random.Generator, k: int = 6, negative_fraction: float = 0.4
) -> list[tuple[str, tuple[int, ...]]]:
    """k (phrase, targets) pairs: specific positives first, hard negatives, a few generic ones."""
    ps = all_phrases(shapes)
    pos = list(ps.positives.items())
    hard = hard_negatives(shapes)
    n_neg = int(round(k * negative_fraction)) if pos else k
    out: list[tuple[str, tuple[int, ...]]] = []
    if pos:
        # favour the two-word phrases that name one concept precisely
        weights = np.array([2.0 if " " in p else 1.0 for p, _ in pos])
        picks = rng.choice(len(pos), size=min(k - n_neg, len(pos)), replace=False, p=weights / weights.sum())
        out += [pos[i] for i in picks]
    neg_pool = hard if hard and rng.random() < 0.8 else list(ps.negatives)
    picks = rng.choice(len(neg_pool), size=min(k - len(out), len(neg_pool)), replace=False)
    out += [(neg_pool[i], ()) for i in picks]
    return out
