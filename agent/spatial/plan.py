"""A parsed query: a small tree of operators over noun phrases, what kind of answer it wants, and how the
planner read it (the words it used, mapped or could not use)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from agent.spatial.words import CORNERS, RANK_WORDS, SIZE_KEYS, ordinal_word, pluralise

Intent = Literal["find", "count", "yes_no"]


@dataclass(frozen=True)
class Select:
    """Every instance SAM 3 finds for one noun phrase. `alternatives` are other readings of it (an unknown
    colour word read as its nearest known colours), tried in order when the phrase finds nothing; `also`
    are narrower phrases whose instances are the phrase's too (in a closed vocabulary, "circle" is also
    every "red circle", "blue circle", ...: a small model finds each colour more surely than all at once)."""

    phrase: str
    alternatives: tuple[str, ...] = ()
    also: tuple[str, ...] = field(default=(), compare=False)
    many: bool = field(default=False, compare=False)  # a quantifier asked for every one ("every shape")
    operator = "concept"

    def describe(self) -> str:
        alts = "".join(f" / '{a}'" for a in self.alternatives)
        also = f" (+{len(self.also)} narrower)" if self.also else ""
        return f"'{self.phrase}'{alts}{also}"

    def say(self) -> str:
        return f"the {self.phrase}"


@dataclass(frozen=True)
class Rank:
    """Instances of `source` sorted by `key`, keeping `count` from position `start` (0-based)."""

    source: Node
    key: str  # left, right, top, bottom, largest, smallest, tallest, ..., center, middle, a corner
    start: int = 0
    count: int = 1

    @property
    def operator(self) -> str:
        return "count" if self.count > 1 else "ordinal" if self.start > 0 else "superlative"

    def describe(self) -> str:
        src = self.source.describe()
        if self.start > 0:
            pos = ordinal_word(self.start + 1)
            if self.key in SIZE_KEYS:
                return f"the {pos} {self.key} of {src}"
            if self.key in CORNERS:
                return f"the {pos} of {src} from the {self.key} corner"
            if self.key == "center":
                return f"the {pos} of {src} closest to the centre"
            return f"the {pos} of {src} from the {self.key}"
        many = f"{self.count} " if self.count > 1 else ""
        return f"the {many}{RANK_WORDS[self.key]} of {src}"

    def say(self) -> str:
        noun = _bare(self.source.say())
        if self.start > 0:
            pos = ordinal_word(self.start + 1)
            if self.key in SIZE_KEYS:
                return f"the {pos} {self.key} {noun}"
            where = f"{self.key.replace('-', ' ')} corner" if self.key in CORNERS else self.key
            return f"the {pos} {noun} from the {where}"
        if self.key == "center":
            return f"the {noun} nearest the centre"
        if self.key in CORNERS:
            return f"the {noun} in the {self.key.replace('-', ' ')} corner"
        if self.count > 1:
            return f"the {self.count} {RANK_WORDS[self.key]} {_plural(noun)}"
        return f"the {RANK_WORDS[self.key]} {noun}"


@dataclass(frozen=True)
class Group:
    """The instances of `source` on one side, of one size class, or inside the row ("the stars at the top",
    "the small circles", "the middle hexagons")."""

    source: Node
    key: str  # left, right, top, bottom, a corner, largest, smallest, middle
    operator = "group"

    def describe(self) -> str:
        return f"those of {self.source.describe()} in the {self.key} group"

    def say(self) -> str:
        noun = _plural(_bare(self.source.say()))
        if self.key in ("largest", "smallest"):
            return f"the {'large' if self.key == 'largest' else 'small'} {noun}"
        if self.key == "middle":
            return f"the middle {noun}"
        where = {"left": "on the left", "right": "on the right", "top": "at the top", "bottom": "at the bottom"}
        return f"the {noun} {where.get(self.key, 'in the ' + self.key.replace('-', ' '))}"


# relation -> how it reads in English
RELATION_WORDS = {
    "closest": "closest to", "farthest": "farthest from", "above": "above", "below": "below",
    "left": "left of", "right": "right of", "near": "next to", "inside": "inside", "contains": "containing",
    "touching": "touching", "overlapping": "overlapping", "larger": "larger than", "smaller": "smaller than",
}


@dataclass(frozen=True)
class Relation:
    """Instances of `target` related to the best instance of `anchor`."""

    target: Node
    relation: str  # a key of RELATION_WORDS
    anchor: Node
    single: bool = True  # keep only the nearest satisfying instance
    count: int = 1  # closest / farthest: how many

    operator = "relation"

    def describe(self) -> str:
        anchor = f"the best {self.anchor.describe()}"
        tgt = self.target.describe()
        if self.relation in ("closest", "farthest"):
            many = f"{self.count} " if self.count > 1 else ""
            return f"the {many}{tgt} {RELATION_WORDS[self.relation]} {anchor}"
        return f"{'the nearest' if self.single else 'every'} {tgt} {RELATION_WORDS[self.relation]} {anchor}"

    def say(self) -> str:
        target = _bare(self.target.say())
        if self.count > 1:
            target = f"{self.count} {_plural(target)}"
        return f"the {target} {RELATION_WORDS[self.relation]} {self.anchor.say()}"


@dataclass(frozen=True)
class Between:
    """Instances of `target` lying between two anchor instances (of one plural anchor, or of two)."""

    target: Node
    anchors: tuple[Node, ...]
    single: bool = True
    operator = "relation"

    def describe(self) -> str:
        return f"{'the' if self.single else 'every'} {self.target.describe()} between " + " and ".join(
            a.describe() for a in self.anchors)

    def say(self) -> str:
        return f"the {_bare(self.target.say())} between " + " and ".join(a.say() for a in self.anchors)


@dataclass(frozen=True)
class Exclude:
    """Instances of `base` that are not (IoU > 0.5) instances of `excluded`."""

    base: Node
    excluded: Node
    operator = "exclusion"

    def describe(self) -> str:
        return f"{self.base.describe()} except {self.excluded.describe()}"

    def say(self) -> str:
        return f"{self.base.say()} except {self.excluded.say()}"


@dataclass(frozen=True)
class Union:
    parts: tuple[Node, ...]
    operator = "union"

    def describe(self) -> str:
        return "(" + " + ".join(p.describe() for p in self.parts) + ")"

    def say(self) -> str:
        return " and ".join(p.say() for p in self.parts)


Node = Select | Rank | Group | Relation | Between | Exclude | Union


def _bare(text: str) -> str:
    return text.removeprefix("the ")


def _plural(noun: str) -> str:
    words = noun.split()
    return " ".join([*words[:-1], pluralise(words[-1])]) if words else noun


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, (Rank, Group)):
        return (node.source,)
    if isinstance(node, Relation):
        return (node.target, node.anchor)
    if isinstance(node, Between):
        return (node.target, *node.anchors)
    if isinstance(node, Exclude):
        return (node.base, node.excluded)
    if isinstance(node, Union):
        return node.parts
    return ()


def selects(node: Node) -> list[Select]:
    out: list[Select] = []

    def walk(n: Node) -> None:
        if isinstance(n, Select):
            out.append(n)
        for child in children(n):
            walk(child)

    walk(node)
    return out


def head_select(node: Node) -> Select | None:
    """The noun phrase the answer's instances come from ("the star left of the square": 'star')."""
    if isinstance(node, Select):
        return node
    if isinstance(node, (Rank, Group)):
        return head_select(node.source)
    if isinstance(node, (Relation, Between)):
        return head_select(node.target)
    if isinstance(node, Exclude):
        return head_select(node.base)
    return None


@dataclass(frozen=True)
class Plan:
    """An operator tree over noun phrases, every phrase SAM 3 must be asked, and the answer wanted."""

    root: Node
    query: str = ""
    intent: Intent = "find"
    phrases: tuple[str, ...] = field(init=False)  # every phrase, the narrower ones last
    narrower: tuple[str, ...] = field(init=False)  # phrases asked only as `Select.also`

    def __post_init__(self) -> None:
        asked = [p for s in selects(self.root) for p in (s.phrase, *s.alternatives)]
        narrower = [p for s in selects(self.root) for p in s.also if p not in asked]
        object.__setattr__(self, "phrases", tuple(dict.fromkeys(asked + narrower)))
        object.__setattr__(self, "narrower", tuple(dict.fromkeys(narrower)))

    @property
    def operator(self) -> str:
        """The outermost operator: concept, superlative, ordinal, count, group, relation, exclusion or union."""
        return self.root.operator

    def describe(self) -> str:
        asks = ", ".join(f"'{p}'" for p in self.phrases)
        ask = {"count": "count ", "yes_no": "yes/no: "}.get(self.intent, "")
        return f"{ask}{self.operator}: {self.root.describe()} (SAM 3 phrases: {asks})"

    def say(self) -> str:
        """The query as the planner reads it, in words its grammar reads the same way again."""
        text = self.root.say()
        if self.intent == "count":
            return f"how many {_plural(_bare(text))}"
        if self.intent == "yes_no":
            return f"is there {text}"
        return text

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class Reading:
    """How the planner read a query: its plan (None when nothing could be read), the words it could not
    use, and how it read the others ("read 'purpel' as 'purple'"). Only an understood query is answered
    without a flag."""

    query: str
    plan: Plan | None
    unused: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def understood(self) -> bool:
        return self.plan is not None and not self.unused
