"""Referring expressions over a rendered still scene, each with the exact instances it refers to.

They are the agent benchmark's ground truth, so only unambiguous queries are generated: ranks by
position need a gap between mask centroids of more than 5% of the image width (height for vertical
ranks, the longer side for distances), and ranks by size need a visible-area ratio of 1.3 that the
unoccluded areas agree with. Answers index `RenderedScene.shapes` / `masks`, sorted.

Kinds and templates; X is a noun phrase from the `phrases` vocabulary ("red circle", "star",
"shape"/"object", "blue shapes"), and nouns agree in number with what they name:

- superlative: "the leftmost X", "the X furthest to the left", "the X on the far left"; likewise
  rightmost / furthest to the right / on the far right, topmost / highest / nearest the top,
  lowest / bottommost / closest to the bottom, largest / biggest / with the biggest area,
  smallest / tiniest / with the smallest area.
- ordinal (second..fourth): "the second X from the left", "the third X counting from the top",
  "the X that is second from the right", "the second largest X", "the third-smallest X".
- count (two, three): the superlative templates with a number and a plural, "the two largest
  circles", "the three shapes furthest to the left".
- relation (the anchor Y names exactly one instance): "the X closest to the Y", "the X nearest to
  the Y", "the X that is closest to the Y", "the X farthest from the Y", "the X furthest away from
  the Y", "the X above the Y", "the X that is above the Y", "the X higher up than the Y", "the X
  below / beneath / lower down than the Y", "the X to the left of / left of / on the left of the
  Y" and likewise right. Directions compare centroids: the answer is clearly on that side, every
  other candidate is not on it at all.
- exclusion: "every square except the red ones", "all shapes except the stars", "all the X other
  than the Y", "all X but the Y", "the squares that are not red".
- union: "the stars and the hexagons", "the red circle as well as the blue squares", "both the X
  and the Y", "the X together with the Y"; the two noun phrases never share an instance.
- empty (answer ()): a superlative over an absent concept ("the leftmost purple star" beside a
  purple circle and a green star), an ordinal past the count ("the third star from the left" with
  two stars), an exclusion that removes everything, a direction no candidate is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from shapesworld.phrases import phrase_targets, plural
from shapesworld.render import RenderedScene, visible_masks
from shapesworld.scene import COLOURS, SHAPES

KINDS = ("superlative", "ordinal", "count", "relation", "exclusion", "union", "empty")
POSITION_MARGIN = 0.05  # of the image side
SIZE_RATIO = 1.3
GENERIC = ("shape", "object")
ORDINALS = {2: "second", 3: "third", 4: "fourth"}
NUMBERS = {2: "two", 3: "three"}
SIDES = ("above", "below", "left", "right")

# "{k}" is "" for a superlative, "two " for a count; "{x}" the noun phrase in matching number.
RANKS = {
    "left": ("the {k}leftmost {x}", "the {k}{x} furthest to the left", "the {k}{x} on the far left"),
    "right": ("the {k}rightmost {x}", "the {k}{x} furthest to the right", "the {k}{x} on the far right"),
    "top": ("the {k}topmost {x}", "the {k}highest {x}", "the {k}{x} nearest the top"),
    "bottom": ("the {k}lowest {x}", "the {k}bottommost {x}", "the {k}{x} closest to the bottom"),
    "largest": ("the {k}largest {x}", "the {k}biggest {x}", "the {k}{x} with the biggest area"),
    "smallest": ("the {k}smallest {x}", "the {k}tiniest {x}", "the {k}{x} with the smallest area"),
}
ORDINAL_TEMPLATES = {
    "side": (
        "the {o} {x} from the {side}",
        "the {o} {x} counting from the {side}",
        "the {x} that is {o} from the {side}",
    ),
    "largest": ("the {o} largest {x}", "the {o}-largest {x}", "the {o} biggest {x}"),
    "smallest": ("the {o} smallest {x}", "the {o}-smallest {x}"),
}
RELATIONS = {
    "closest": (
        "the {x} closest to the {y}", "the {x} nearest to the {y}", "the {x} that is closest to the {y}"
    ),
    "farthest": ("the {x} farthest from the {y}", "the {x} furthest away from the {y}"),
    "above": ("the {x} above the {y}", "the {x} that is above the {y}", "the {x} higher up than the {y}"),
    "below": ("the {x} below the {y}", "the {x} beneath the {y}", "the {x} lower down than the {y}"),
    "left": ("the {x} to the left of the {y}", "the {x} left of the {y}", "the {x} on the left of the {y}"),
    "right": (
        "the {x} to the right of the {y}", "the {x} right of the {y}", "the {x} on the right of the {y}"
    ),
}
EXCLUSIONS = (
    "every {b} except the {e}",
    "all {bs} except the {e}",
    "all the {bs} other than the {e}",
    "all {bs} but the {e}",
    "the {bs} that are not {p}",
)
UNIONS = (
    "the {x} and the {y}",
    "the {x} as well as the {y}",
    "both the {x} and the {y}",
    "the {x} together with the {y}",
)

Concept = tuple[str | None, str | None]  # (colour, shape kind); None is "any"
Item = tuple[tuple[int, ...], list[str]]  # an answer and every wording of it


@dataclass(frozen=True)
class ReferringQuery:
    """`answer` indexes `RenderedScene.shapes` / `masks`; () means the query refers to nothing."""

    text: str
    kind: str
    answer: tuple[int, ...]


def _nouns(concept: Concept, many: bool) -> list[str]:
    """Every wording of a concept: "red star(s)", or both generic nouns ("shape", "object") for no kind."""
    colour, kind = concept
    out = []
    for noun in [kind] if kind else GENERIC:
        noun = plural(noun) if many else noun
        out.append(f"{colour} {noun}" if colour else noun)
    return out


class _Scene:
    """Centroids and areas of one rendered scene, and the comparisons that make a rank clear."""

    def __init__(self, rendered: RenderedScene):
        masks = rendered.masks
        self.shapes = rendered.shapes
        self.height, self.width = masks.shape[1:]
        self.area = masks.sum((1, 2)).astype(float)
        safe = np.maximum(self.area, 1.0)
        self.cx = (masks.sum(1) @ np.arange(self.width)) / safe + 0.5
        self.cy = (masks.sum(2) @ np.arange(self.height)) / safe + 0.5
        h, w = self.height, self.width
        self.full = np.array([visible_masks([s], h, w)[1].sum() for s in self.shapes], float)  # unoccluded
        self.concepts = [
            c for c in product([None, *COLOURS], [None, *SHAPES]) if phrase_targets(*c, self.shapes)
        ]

    def members(self, concept: Concept) -> list[int]:
        return list(phrase_targets(*concept, self.shapes))

    def key(self, direction: str, i: int) -> float:
        """Smaller ranks first in `direction`."""
        return {
            "left": self.cx[i], "right": -self.cx[i], "top": self.cy[i], "bottom": -self.cy[i],
            "largest": -self.area[i], "smallest": self.area[i],
        }[direction]

    def ranked(self, direction: str, idx: list[int]) -> list[int]:
        return sorted(idx, key=lambda i: self.key(direction, i))

    def clear(self, direction: str, a: int, b: int) -> bool:
        """Whether `a` clearly comes before `b` in `direction`."""
        if direction in ("largest", "smallest"):
            big, small = (a, b) if direction == "largest" else (b, a)
            return self.area[big] >= SIZE_RATIO * self.area[small] and self.full[big] > self.full[small]
        side = self.width if direction in ("left", "right") else self.height
        return self.key(direction, b) - self.key(direction, a) > POSITION_MARGIN * side

    def rank_is_clear(self, direction: str, order: list[int], k: int) -> bool:
        """Whether the k-th (from 1) of `order` is clearly apart from its neighbours in the ranking."""
        before = k < 2 or self.clear(direction, order[k - 2], order[k - 1])
        after = k >= len(order) or self.clear(direction, order[k - 1], order[k])
        return before and after

    def offset(self, relation: str, i: int, anchor: int) -> float:
        """How far instance i lies on the `relation` side of the anchor (negative: the other side)."""
        return {
            "above": self.cy[anchor] - self.cy[i], "below": self.cy[i] - self.cy[anchor],
            "left": self.cx[anchor] - self.cx[i], "right": self.cx[i] - self.cx[anchor],
        }[relation]

    def margin(self, relation: str) -> float:
        return POSITION_MARGIN * (self.height if relation in ("above", "below") else self.width)


def _superlatives(s: _Scene) -> list[list[Item]]:
    groups = []
    for direction, templates in RANKS.items():
        items = []
        for concept in s.concepts:
            order = s.ranked(direction, s.members(concept))
            if len(order) >= 2 and s.rank_is_clear(direction, order, 1):
                texts = [t.format(k="", x=x) for t in templates for x in _nouns(concept, False)]
                items.append(((order[0],), texts))
        groups.append(items)
    return groups


def _ordinal_texts(direction: str, k: int, concept: Concept) -> list[str]:
    o = ORDINALS[k]
    if direction in ("largest", "smallest"):
        templates = ORDINAL_TEMPLATES[direction]
    else:
        templates = tuple(t.replace("{side}", direction) for t in ORDINAL_TEMPLATES["side"])
    return [t.format(o=o, x=x) for t in templates for x in _nouns(concept, False)]


def _ordinals(s: _Scene) -> list[list[Item]]:
    groups = []
    for direction in RANKS:
        items = []
        for concept, k in product(s.concepts, ORDINALS):
            order = s.ranked(direction, s.members(concept))
            if len(order) >= k and s.rank_is_clear(direction, order, k):
                items.append(((order[k - 1],), _ordinal_texts(direction, k, concept)))
        groups.append(items)
    return groups


def _counts(s: _Scene) -> list[list[Item]]:
    groups = []
    for direction, templates in RANKS.items():
        items = []
        for concept, k in product(s.concepts, NUMBERS):
            order = s.ranked(direction, s.members(concept))
            if len(order) > k and s.clear(direction, order[k - 1], order[k]):
                texts = [t.format(k=NUMBERS[k] + " ", x=x) for t in templates for x in _nouns(concept, True)]
                items.append((tuple(sorted(order[:k])), texts))
        groups.append(items)
    return groups


def _relation_texts(relation: str, concept: Concept, anchor: Concept) -> list[str]:
    return [
        t.format(x=x, y=y)
        for t in RELATIONS[relation] for x in _nouns(concept, False) for y in _nouns(anchor, False)
    ]


def _anchors(s: _Scene) -> list[tuple[Concept, int]]:
    """Concepts naming exactly one instance, with that instance."""
    return [(c, s.members(c)[0]) for c in s.concepts if len(s.members(c)) == 1]


def _relations(s: _Scene) -> list[list[Item]]:
    groups = []
    for relation in RELATIONS:
        items = []
        for (anchor, a), concept in product(_anchors(s), s.concepts):
            cand = [i for i in s.members(concept) if i != a]
            if len(cand) < 2:
                continue
            if relation in ("closest", "farthest"):
                dist = {i: float(np.hypot(s.cx[i] - s.cx[a], s.cy[i] - s.cy[a])) for i in cand}
                order = sorted(cand, key=dist.get, reverse=relation == "farthest")
                gap = abs(dist[order[1]] - dist[order[0]])
                if gap > POSITION_MARGIN * max(s.width, s.height):
                    items.append(((order[0],), _relation_texts(relation, concept, anchor)))
                continue
            on_side = [i for i in cand if s.offset(relation, i, a) > s.margin(relation)]
            rest_off = all(s.offset(relation, i, a) <= 0 for i in cand if i not in on_side)
            if len(on_side) == 1 and rest_off:
                items.append(((on_side[0],), _relation_texts(relation, concept, anchor)))
        groups.append(items)
    return groups


def _exclusion_texts(base: Concept, excluded: Concept, n_removed: int) -> list[str]:
    colour, kind = excluded
    if colour:
        e = f"{colour} one" if n_removed == 1 else f"{colour} ones"
    else:
        e = kind if n_removed == 1 else plural(kind)
    p = colour or plural(kind)
    return [
        t.format(b=b, bs=bs, e=e, p=p)
        for t in EXCLUSIONS for b, bs in zip(_nouns(base, False), _nouns(base, True), strict=True)
    ]


def _exclusion_pairs(s: _Scene) -> list[tuple[list[str], list[int]]]:
    """(wordings, members left) for a base of 2+ instances minus an attribute the base does not name."""
    out = []
    for base in s.concepts:
        members = s.members(base)
        colour, kind = base
        if len(members) < 2 or (colour and kind):
            continue
        excluded = [(c, None) for c in COLOURS] if not colour else []
        excluded += [(None, k) for k in SHAPES] if not kind else []
        for ex in excluded:
            left = [i for i in members if i not in s.members(ex)]
            if len(left) < len(members):
                out.append((_exclusion_texts(base, ex, len(members) - len(left)), left))
    return out


def _exclusions(s: _Scene) -> list[list[Item]]:
    return [[(tuple(left), texts) for texts, left in _exclusion_pairs(s) if left]]


def _disjoint(a: Concept, b: Concept) -> bool:
    """Whether no instance can match both: they name different colours or different kinds."""
    return any(x is not None and y is not None and x != y for x, y in zip(a, b, strict=True))


def _unions(s: _Scene) -> list[list[Item]]:
    named = [c for c in s.concepts if c != (None, None)]
    items = []
    for i, a in enumerate(named):
        for b in named[i + 1:]:
            if not _disjoint(a, b):
                continue
            ma, mb = s.members(a), s.members(b)
            texts = [
                t.format(x=x, y=y)
                for t in UNIONS
                for (p, mp), (q, mq) in (((a, ma), (b, mb)), ((b, mb), (a, ma)))
                for x in _nouns(p, len(mp) > 1) for y in _nouns(q, len(mq) > 1)
            ]
            items.append((tuple(sorted(ma + mb)), texts))
    return [items]


def _absent_concepts(s: _Scene) -> list[Concept]:
    """Absent concepts, preferring hard ones that share a colour or a kind with something present."""
    colours = {sh.colour for sh in s.shapes}
    kinds = {sh.kind for sh in s.shapes}
    absent = [c for c in product([None, *COLOURS], [None, *SHAPES]) if not phrase_targets(*c, s.shapes)]
    hard = [c for c in absent if c[0] in colours or c[1] in kinds]
    return hard or absent


def _empties(s: _Scene) -> list[list[Item]]:
    superlatives = [
        ((), [t.format(k="", x=x) for t in RANKS[d] for x in _nouns(c, False)])
        for c, d in product(_absent_concepts(s), RANKS)
    ]
    ordinals = [
        ((), _ordinal_texts(d, k, c))
        for c, k, d in product(s.concepts, ORDINALS, ("left", "right", "top", "bottom"))
        if len(s.members(c)) == k - 1
    ]
    exclusions = [((), texts) for texts, left in _exclusion_pairs(s) if not left]
    relations = []
    for (anchor, a), concept, relation in product(_anchors(s), s.concepts, SIDES):
        cand = [i for i in s.members(concept) if i != a]
        if cand and all(s.offset(relation, i, a) <= 0 for i in cand):
            relations.append(((), _relation_texts(relation, concept, anchor)))
    return [superlatives, ordinals, exclusions, relations]


GENERATORS = {
    "superlative": _superlatives,
    "ordinal": _ordinals,
    "count": _counts,
    "relation": _relations,
    "exclusion": _exclusions,
    "union": _unions,
    "empty": _empties,
}


def sample_queries(
    rendered: RenderedScene, rng: np.random.Generator, per_kind: int = 1
) -> list[ReferringQuery]:
    """Up to `per_kind` distinct queries of each kind in `KINDS` order; fewer where the scene offers
    fewer unambiguous ones. Sub-forms (directions, the kinds of empty query) are drawn evenly."""
    if per_kind < 0:
        raise ValueError(f"per_kind must be >= 0, got {per_kind}")
    if len(rendered.masks) != len(rendered.shapes):
        raise ValueError(f"{len(rendered.masks)} masks for {len(rendered.shapes)} shapes")
    scene = _Scene(rendered)
    out = []
    for kind in KINDS:
        groups = [list(g) for g in GENERATORS[kind](scene) if g]
        for _ in range(per_kind):
            if not groups:
                break
            g = int(rng.integers(len(groups)))
            answer, texts = groups[g].pop(int(rng.integers(len(groups[g]))))
            out.append(ReferringQuery(text=texts[int(rng.integers(len(texts)))], kind=kind, answer=answer))
            if not groups[g]:
                groups.pop(g)
    return out
