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


# How often each kind of phrase is asked. Drawing phrases uniformly let the many two-word forms
# ("red shapes", "red objects"...) crowd out bare shape names, and a model trained so nearly never
# found "circle" (F1 0.03).
POSITIVE_KINDS = {"colour kind": 0.4, "kind": 0.35, "colour generic": 0.15, "generic": 0.1}
NEGATIVE_KINDS = {"hard": 0.6, "kind": 0.25, "any": 0.15}


def phrase_kind(text: str) -> str:
    """"colour kind", "kind", "colour generic" or "generic", whatever the number."""
    words = text.split()
    generic = words[-1] in GENERIC or words[-1] in {plural(g) for g in GENERIC}
    return ("colour " if len(words) == 2 else "") + ("generic" if generic else "kind")


def sample_training_phrases(
    shapes: list[Shape], rng: np.random.Generator, k: int = 6, negative_fraction: float = 0.4
) -> list[tuple[str, tuple[int, ...]]]:
    """k distinct (phrase, targets) pairs, the kind of each drawn from POSITIVE_KINDS / NEGATIVE_KINDS."""
    ps = all_phrases(shapes)
    pools: dict[str, list[tuple[str, tuple[int, ...]]]] = {kind: [] for kind in POSITIVE_KINDS}
    for text, idx in ps.positives.items():
        pools[phrase_kind(text)].append((text, idx))
    absent_kinds = [t for t in ps.negatives if phrase_kind(t) == "kind"]
    negatives = {"hard": hard_negatives(shapes), "kind": absent_kinds, "any": list(ps.negatives)}
    n_neg = int(round(k * negative_fraction)) if ps.positives else k
    out: dict[str, tuple[int, ...]] = {}
    for _ in range(8 * k):  # draws can repeat a phrase; a few rounds always fill k when phrases remain
        if len(out) >= k:
            break
        want_negative = len(out) >= k - n_neg or not ps.positives
        table = NEGATIVE_KINDS if want_negative else POSITIVE_KINDS
        kinds = [kind for kind in table if (negatives if want_negative else pools)[kind]]
        if not kinds:
            break
        weights = np.array([table[kind] for kind in kinds])
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        if want_negative:
            pool = negatives[kind]
            text = pool[int(rng.integers(len(pool)))]
            out.setdefault(text, ())
        else:
            text, idx = pools[kind][int(rng.integers(len(pools[kind])))]
            out.setdefault(text, idx)
    return list(out.items())
