"""Closed-vocabulary checkpoints: the words a model knows, and reading other words as the nearest known ones.

A checkpoint may declare its words (`vocabulary` in its config.json: colours, nouns, generic nouns). Then a
typo is read as the nearest known word by spelling ("purpel" -> "purple"), a colour word it does not know
as the nearest known colours ("magenta" -> "purple" or "pink"), a common synonym as its known noun ("ball"
-> "circle", "thing" -> "shape"); every such reading is noted, and a word that cannot be read is reported
as unused rather than sent to SAM 3. A model without a declared vocabulary (facebook/sam3) gets phrases as
typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.spatial.colours import COLOUR_RGB, SHADES, nearest_colours
from agent.spatial.words import (
    AUXILIARIES,
    BARE_SIDES,
    CLOSEST_WORDS,
    COMPARATIVES,
    CONJUNCTIONS,
    FILLERS,
    MODIFIERS,
    NUMBERS,
    ORDINALS,
    PREPOSITIONS,
    PRONOUNS,
    QUANTIFIERS,
    SIZE_WORDS,
    SUPERLATIVES,
    is_plural,
    pluralise,
    singularise,
)

# Nouns people use for shapes and for "anything", read as a known noun when the vocabulary has it.
NOUN_SYNONYMS = {
    "ball": "circle", "disc": "circle", "disk": "circle", "dot": "circle", "round": "circle", "ring": "circle",
    "oval": "circle", "orb": "circle", "sphere": "circle", "circular": "circle", "blob": "circle",
    "box": "square", "block": "square", "rectangle": "square", "tile": "square", "cube": "square",
    "quadrilateral": "square", "squared": "square",
    "rhombus": "diamond", "lozenge": "diamond", "rhomb": "diamond", "kite": "diamond",
    "pyramid": "triangle", "triangular": "triangle", "wedge": "triangle", "cone": "triangle",
    "hex": "hexagon", "hexagonal": "hexagon", "honeycomb": "hexagon",
    "starfish": "star", "pentagram": "star", "asterisk": "star", "sparkle": "star",
}
GENERIC_SYNONYMS = {"thing", "item", "figure", "form", "element", "object", "shape", "one", "polygon", "entity",
                    "piece", "symbol", "icon", "stuff"}
# Words the grammar reads (beside the tables of agent.spatial.words), that a typo may have meant.
GRAMMAR_EXTRA = {
    "except", "excluding", "other", "than", "between", "inside", "within", "containing", "contains", "touching",
    "touches", "overlapping", "overlaps", "above", "below", "beneath", "under", "underneath", "over", "next",
    "beside", "near", "middle", "centre", "center", "corner", "counting", "from", "left", "right", "penultimate",
    "many", "count", "there", "every", "each", "all", "both", "any", "the", "not", "isn't", "aren't", "which",
    "what", "where", "show", "find", "highlight", "segment", "select", "image", "picture",
}
_GRAMMAR = (set(SUPERLATIVES) | set(COMPARATIVES) | set(SIZE_WORDS) | set(BARE_SIDES) | set(CLOSEST_WORDS)
            | set(NUMBERS) | set(ORDINALS) | PREPOSITIONS | CONJUNCTIONS | PRONOUNS | AUXILIARIES | set(QUANTIFIERS)
            | FILLERS | GRAMMAR_EXTRA | {"a", "an", "one", "ones", "last", "top", "bottom"})

_LONG_GRAMMAR = {w for w in _GRAMMAR if len(w) >= 5}


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Optimal string alignment distance (a swap of neighbours counts 1), capped at `limit`."""
    if abs(len(a) - len(b)) >= limit:
        return limit
    prev2, prev = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return min(prev[-1], limit)


def _allowed_typos(word: str) -> int:
    return 0 if len(word) < 4 else 1 if len(word) < 7 else 2


def nearest_word(word: str, candidates: set[str], reach: int | None = None) -> str | None:
    """The one candidate within a typo's reach of `word` (1 edit under 7 letters, 2 from 7), or None."""
    reach = min(_allowed_typos(word), reach if reach is not None else 2)
    if not reach:
        return None
    best, ties = reach + 1, []
    for c in candidates:
        if abs(len(c) - len(word)) > reach or len(c) < 3:
            continue
        d = edit_distance(word, c, reach + 1)
        if d < best:
            best, ties = d, [c]
        elif d == best:
            ties.append(c)
    return ties[0] if best <= reach and len(ties) == 1 else None


@dataclass(frozen=True)
class PhraseReading:
    """A noun phrase read in a closed vocabulary: the phrase to ask (None when no known noun or colour is
    left), other readings to try when it finds nothing, words left unused, and notes on the reading."""

    phrase: str | None
    alternatives: tuple[str, ...] = ()
    unused: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    also: tuple[str, ...] = ()
    more: tuple[str, ...] = ()  # "the red and blue squares": the other colours' phrases, all wanted


@dataclass(frozen=True)
class Vocabulary:
    """The words a checkpoint knows: colour adjectives, nouns, and generic nouns for any object ("shape")."""

    colours: tuple[str, ...]
    nouns: tuple[str, ...]
    generic: tuple[str, ...] = ("object",)
    _known: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.nouns and not self.generic:
            raise ValueError("a vocabulary needs at least one noun")
        nouns = set(self.nouns) | set(self.generic)
        object.__setattr__(self, "_known", frozenset(set(self.colours) | nouns | {pluralise(n) for n in nouns}))

    @classmethod
    def from_config(cls, spec: dict | None) -> Vocabulary | None:
        """From a checkpoint config's `vocabulary` ({"colours": [...], "nouns": [...], "generic": [...]})."""
        if not spec:
            return None
        words = {k: tuple(str(w).strip().lower() for w in spec.get(k, ()) if str(w).strip()) for k in
                 ("colours", "nouns", "generic")}
        return cls(words["colours"], words["nouns"], words["generic"] or ("object",))

    @property
    def generic_noun(self) -> str:
        return self.generic[0] if self.generic else self.nouns[0]

    def known(self, word: str) -> bool:
        return word in self._known

    def describe(self) -> str:
        colours = ", ".join(self.colours)
        return f"colours {colours}; nouns {', '.join((*self.nouns, *self.generic))}"

    # -- single words ----------------------------------------------------------------------------------
    def correct(self, word: str) -> str | None:
        """A typo of a known word or of the grammar's words, read as that word ('purpel' -> 'purple')."""
        if word in self._known or word in _GRAMMAR or word in COLOUR_RGB or word in SHADES:
            return None
        if singularise(word) in NOUN_SYNONYMS or singularise(word) in GENERIC_SYNONYMS:
            return None
        if word.isdigit() or "'" in word or "-" in word:
            return None
        words = set(self._known) | set(COLOUR_RGB) | set(NOUN_SYNONYMS) | {pluralise(w) for w in NOUN_SYNONYMS}
        # the grammar's short words ("will", "from") are a typo away from too many English words ("well")
        return nearest_word(word, words) or (nearest_word(word, _LONG_GRAMMAR, reach=1) if len(word) >= 5 else None)

    def _noun(self, word: str) -> tuple[str | None, str | None]:
        """(known noun in the word's number, note) for a noun the vocabulary knows or has a synonym for."""
        plural = is_plural(word)
        single = singularise(word)
        if single in self.nouns or single in self.generic:
            return word, None
        target = NOUN_SYNONYMS.get(single)
        if target in self.nouns:
            noun = pluralise(target) if plural else target
            return noun, f"read '{word}' as '{noun}'"
        if single in GENERIC_SYNONYMS:
            noun = pluralise(self.generic_noun) if plural else self.generic_noun
            return noun, None if single in self.generic else f"read '{word}' as '{noun}'"
        return None, None

    # -- phrases ---------------------------------------------------------------------------------------
    def read_phrase(self, phrase: str) -> PhraseReading:
        """[colour] noun from the phrase's words, the others unused; unknown colour words as the nearest."""
        colours: list[list[str]] = []
        noun = None
        unused: list[str] = []
        notes: list[str] = []
        words = phrase.split()
        for i, word in enumerate(words):
            word = word.removesuffix("-shaped").removesuffix("-coloured").removesuffix("-colored")
            if word in self.colours:
                colours.append([word])
                continue
            if word in SHADES and i + 1 < len(words) and (words[i + 1] in self.colours or words[i + 1] in COLOUR_RGB):
                notes.append(f"read '{word} {words[i + 1]}' as '{words[i + 1]}'")
                continue
            n, note = self._noun(word)
            if n is not None and noun is None:
                noun = n
                notes += [note] if note else []
                continue
            near = nearest_colours(word, self.colours)
            if near:
                colours.append(near)
                notes.append(f"read '{word}' as '{' or '.join(near)}'")
                continue
            if word in ("a", "an", "the", "of", "coloured", "colored", "shaped", "-shaped"):
                continue
            unused.append(word)
        joined = len(colours) > 1 and any(w in ("and", "or") for w in words)
        if joined:  # "the red and blue squares": each colour
            unused = [w for w in unused if w not in ("and", "or")]
        elif len(colours) > 1:  # "red blue circle": which?
            unused += [c[0] for c in colours[1:]]
            colours = colours[:1]
        if noun is None and not colours:
            return PhraseReading(None, (), tuple(unused), tuple(notes))
        if noun is None:
            many = any(is_plural(w) for w in words)
            noun = pluralise(self.generic_noun) if many else self.generic_noun
        readings = [f"{c} {noun}" for c in colours[0]] if colours else [noun]
        more = tuple(f"{c[0]} {noun}" for c in colours[1:]) if joined else ()
        return PhraseReading(readings[0], tuple(readings[1:]), tuple(unused), tuple(notes),
                             () if colours else self.narrower(noun), more)

    def narrower(self, noun: str) -> tuple[str, ...]:
        """The known phrases that name kinds of `noun`: each colour of it, and each noun for a generic one."""
        plural = is_plural(noun)
        out = [f"{c} {noun}" for c in self.colours]
        if singularise(noun) in self.generic:
            out += [pluralise(n) if plural else n for n in self.nouns]
        return tuple(out)


def modifier_words(phrase: str) -> list[str]:
    """Words of an open-vocabulary phrase that the planner computes, so that SAM 3 must not get them."""
    return [w for w in phrase.split() if w in MODIFIERS]
