"""English grammar over noun phrases: cleaned query text -> an operator tree (`agent.spatial.plan`).

Nothing here knows what a noun means: a phrase is whatever words the user wrote ("child wearing a blue
vest"). The grammar is documented with examples in docs/agent.md. Parsing never raises anything but
`ParseFail`, and never touches files or the network.
"""

from __future__ import annotations

import re
from dataclasses import replace

from agent.spatial.plan import Between, Exclude, Group, Node, Rank, Relation, Select, Union, head_select
from agent.spatial.words import (
    ARTICLES,
    AUXILIARIES,
    BARE_SIDES,
    CLOSEST_WORDS,
    COMPARATIVES,
    CONJUNCTIONS,
    EST_NOUNS,
    FLIP,
    NOT_A_NOUN,
    ORD_RE,
    ORDINALS,
    POSTMOD,
    PREPOSITIONS,
    SIZE_WORDS,
    SUPERLATIVES,
    head_index,
    is_plural,
    number,
    pluralise,
    singularise,
)

MAX_PHRASE_WORDS = 10
MAX_DEPTH = 4
_GENERIC_WORDS = {"one", "ones", "everything", "anything", "something", "all"}


class ParseFail(Exception):
    """The text is outside the grammar."""


_DET_RE = re.compile(
    r"^(?:(?P<q>all|every|each|both|any|either|those|these)(?:\s+(?:one\s+)?of)?\s+|(?P<a>the|a|an)\s+)")


def strip_det(s: str) -> tuple[bool | None, str]:
    """(many, rest): many is True after a quantifier ("all", "every"), None after an article or none."""
    many: bool | None = None
    s = s.strip(" ,")
    for _ in range(4):
        m = _DET_RE.match(s)
        if not m:
            break
        if m.group("q"):
            many = True
        s = s[m.end():].strip(" ,")
    return many, s


def _ordinal(word: str) -> int | None:
    """1-based position; -1 for last, -2 for penultimate."""
    if word in ORDINALS:
        return ORDINALS[word]
    if word == "last":
        return -1
    if word == "penultimate":
        return -2
    m = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)", word)
    return int(m.group(1)) if m and int(m.group(1)) >= 1 else None


def _valid_phrase(phrase: str) -> bool:
    words = phrase.split()
    if not 1 <= len(words) <= MAX_PHRASE_WORDS:
        return False
    if all(w in NOT_A_NOUN or w.isdigit() for w in words):
        return False
    if words[0] in PREPOSITIONS | CONJUNCTIONS:
        return False
    if words[-1] in PREPOSITIONS | CONJUNCTIONS | set(ARTICLES) | {"one", "ones"}:
        return False
    if any(w.endswith("est") and len(w) > 5 and w not in EST_NOUNS and w not in SUPERLATIVES for w in words[:-1]):
        return False  # an unknown ranking ("the oldest man"), not a noun phrase
    if words[0] == "most" and len(words) > 1:
        return False
    personal = {"i", "me", "my", "you", "your", "we", "us", "our", "it", "its", "them"}
    return not any(w in AUXILIARIES or w in personal for w in words)


def _is_many(many: bool | None, phrase: str) -> bool:
    if many:
        return True
    words = phrase.split()
    return bool(words) and is_plural(words[head_index(words)])


def _attach(modifiers: str, head_phrase: str, number_: str) -> str:
    """Modifiers on the head noun of `head_phrase` alone: 'red' + 'small cups' -> 'red cup(s)'; a
    post-modifier goes after it ('on the table' -> 'cups on the table')."""
    words = head_phrase.split()
    head = words[head_index(words)]
    head = {"plural": pluralise, "singular": singularise}.get(number_, lambda w: w)(head)
    mods = modifiers.split()
    if mods and mods[0] in POSTMOD:
        return " ".join([head, *mods])
    return " ".join([*mods, head])


_ONES = re.compile(r"^(?P<mods>.*?)\s*\b(?P<one>ones?)$")
_ONES_THAT = re.compile(r"^(?:the\s+)?(?:ones?|those)\s+(?:that|which|who)\s+(?:is|are)\s+(?P<mods>.+)$")
_EXCLUSION = re.compile(
    r"\s*,?\s+(?:(?P<pred>(?:that|which|who)\s+(?:is|are)\s+not|(?:that|which|who)\s+(?:isn't|aren't))"
    r"|except(?:\s+for)?|excluding|other\s+than|apart\s+from|aside\s+from|but\s+not|not\s+including|save\s+for"
    r"|but|minus)\s+|\s*,\s+not\s+"
)
_UNION_SEP = re.compile(
    r"\s*,\s*(?:and|or)\s+|\s+(?:and\s+also|and|or|as\s+well\s+as|together\s+with|along\s+with|plus)\s+|\s*,\s*"
)
_STRONG_UNION = {"as well as", "together with", "along with", "plus", "and also"}
_SIDE = (r"(?P<side>(?:top|bottom)-(?:left|right)|left|right|top|bottom|upper|lower)(?:[\s-]hand)?"
         r"(?:\s+(?:side|edge|end|corner|border|part|half|row|line|column))?"
         r"(?:\s+of\s+the\s+(?:image|picture|photo|frame|scene))?")
_THAT = r"(?:(?:that|which|who)\s+(?:is|are)\s+)?"
_ROW = r"(?:row|line|column|group|set|series|sequence)"
# (pattern, kind): kind "from" counts from a side, "on" places at a side, or names the rank key itself
_SUFFIXES: list[tuple[re.Pattern, str]] = [
    (re.compile(rf"\s+{_THAT}(?:the\s+)?(?P<ord>{ORD_RE})\s+(?:(?:when\s+)?counting\s+|starting\s+|going\s+)?"
                rf"from\s+the\s+{_SIDE}$"), "from"),
    (re.compile(rf"\s+(?:(?:when\s+)?counting\s+|starting\s+|going\s+)?from\s+the\s+{_SIDE}$"), "from"),
    (re.compile(r"\s+(?:(?:when\s+)?(?:counting|going|reading)\s+)?(?:from\s+the\s+top\s+)?(?P<dir>down)(?:wards)?$"),
     "top_ord"),
    (re.compile(r"\s+(?:(?:when\s+)?(?:counting|going|reading)\s+)?(?:from\s+the\s+bottom\s+)?(?P<dir>up)(?:wards)?$"),
     "bottom_ord"),
    (re.compile(rf"\s+{_THAT}(?:the\s+)?(?:furthest|farthest|most)\s+(?:(?:to|towards)\s+the\s+)?"
                r"(?P<side>left|right)(?:\s+(?:side|edge))?$"), "on"),
    (re.compile(rf"\s+{_THAT}(?:the\s+)?(?:furthest|farthest|highest|most)\s+up$"), "top"),
    (re.compile(rf"\s+{_THAT}(?:the\s+)?(?:furthest|farthest|lowest|most)\s+down$"), "bottom"),
    (re.compile(rf"\s+{_THAT}(?:nearest|closest)\s+(?:to\s+)?the\s+{_SIDE}$"), "on"),
    (re.compile(rf"\s+{_THAT}(?:(?:located|positioned|placed|situated|sitting|lying)\s+)?(?:on|at|to|in|along|"
                rf"towards|toward)\s+the\s+(?:far|very|extreme)\s+{_SIDE}$"), "on"),
    (re.compile(rf"\s+{_THAT}(?:(?:located|positioned|placed|situated|sitting|lying)\s+)?(?:on|at|to|in|along|"
                rf"towards|toward|across)\s+the\s+{_SIDE}$"), "on"),
    (re.compile(r"\s+on\s+top$"), "top"),
    (re.compile(rf"\s+{_THAT}(?:with|having|that\s+has|that\s+have|of)\s+the\s+(?P<size>biggest|largest|greatest"
                r"|most|smallest|least|tiniest)\s+(?:surface\s+)?(?:area|size)$"), "size"),
    (re.compile(rf"\s+{_THAT}(?:in\s+the\s+(?:very\s+)?(?:middle|center|centre)|(?:in\s+)?(?:the\s+)?middle)\s+of\s+"
                rf"(?:the|this|that)\s+(?:\w+\s+)?{_ROW}$"), "middle"),
    (re.compile(rf"\s+{_THAT}(?:in\s+the\s+(?:very\s+)?(?:middle|center|centre)|(?:nearest|closest)\s+(?:to\s+)?"
                r"the\s+(?:middle|center|centre))(?:\s+of\s+the\s+(?:image|picture|photo|frame|scene))?$"),
     "center"),
    (re.compile(r"\s+(?:that|which|who)\s+(?:is|are)\s+(?:the\s+)?(?P<sup>[a-z]+most|[a-z]+est)$"), "sup"),
]
_PLACED = (r"(?:(?:located|positioned|placed|situated|sitting|lying|standing)\s+)?"
           r"(?:(?:directly|immediately|just|right|exactly|somewhere)\s+)?")
_RELATIONS: list[tuple[str, re.Pattern]] = [
    (name, re.compile(rf"\s+{_THAT}{_PLACED}(?:{kw})(?=\s)"))
    for name, kw in (
        ("closest", r"(?:closest|nearest)(?:\s+to)?"),
        ("farthest", r"(?:farthest|furthest|most\s+distant)(?:\s+away)?\s+from"),
        ("above", r"above|over|atop|on\s+top\s+of|higher(?:\s+up)?\s+than"),
        ("below", r"below|beneath|underneath|under|lower(?:\s+down)?\s+than"),
        ("left", r"(?:(?:to|on)\s+the\s+)?left(?:[\s-]hand)?(?:\s+side)?\s+of"),
        ("right", r"(?:(?:to|on)\s+the\s+)?right(?:[\s-]hand)?(?:\s+side)?\s+of"),
        ("near", r"next\s+to|beside|near(?:\s+to)?|adjacent\s+to|close\s+to|by\s+the\s+side\s+of"),
        ("inside", r"inside(?:\s+of)?|within|in(?=\s+the\s)|enclosed\s+(?:by|in)|surrounded\s+by"),
        ("contains", r"containing|that\s+contains?|which\s+contains?|enclosing|surrounding"),
        ("touching", r"touching|that\s+touch(?:es)?|which\s+touch(?:es)?|in\s+contact\s+with|against"),
        ("overlapping", r"overlapping(?:\s+with)?|that\s+overlaps?(?:\s+with)?|which\s+overlaps?(?:\s+with)?"
                        r"|covering|partly\s+covering"),
        ("larger", r"(?:larger|bigger|greater)(?:\s+in\s+size)?\s+than"),
        ("smaller", r"(?:smaller|tinier|littler)(?:\s+in\s+size)?\s+than"),
    )
]
_CONTAINS_REWRITE = re.compile(
    r"\s+(?:with|that\s+(?:has|have)|which\s+(?:has|have)|having)\s+(?P<y>(?:a|an|the|one|some)\s+.+?)\s+"
    r"(?:in\s+it|inside(?:\s+(?:it|of\s+it))?|within(?:\s+it)?|in\s+(?:its|the)\s+(?:middle|centre|center))$"
)
_NON = re.compile(r"^(?P<det>(?:(?:all|every|each|the|any)\s+)*)non-(?P<adj>[a-z]+)\s+(?P<rest>.+)$")
_BETWEEN = re.compile(rf"\s+{_THAT}{_PLACED}(?:in\s+)?between\s+")
_INVERTED = re.compile(r"^(?P<n>[a-z]+),\s+(?P<adj>[a-z]+)$")
_TRAILING_ADJ = re.compile(r"^(?P<x>.+?)\s+(?:that|which)\s+(?:is|are)\s+(?P<adj>[a-z]+)$")


class Grammar:
    """One parse. `generic` names the noun of "the red one" / "everything" when no noun is there (a
    closed vocabulary's "shape"); without it such a query is outside the grammar."""

    def __init__(self, generic: str | None = None):
        self.generic = generic
        self.notes: list[str] = []

    # -- noun phrases ----------------------------------------------------------------------------------
    def norm_phrase(self, s: str) -> str:
        _, s = strip_det(s)
        m = _INVERTED.match(s) or _TRAILING_ADJ.match(s)  # "circle, black" / "the cup that is red"
        if m:
            s = f"{m.group('adj')} {m.groupdict().get('n') or m.group('x')}"
        s = re.sub(r"\b(?:that|which|who)\s+(?:is|are)\s+(?!not\b)", "", s)
        s = re.sub(r"\s+", " ", s).strip(" ,-'")
        return s

    def select(self, s: str) -> Select:
        phrase = self.norm_phrase(s)
        words = phrase.split()
        if self.generic and words and words[-1] in _GENERIC_WORDS and words[-1] != "all":
            plural = words[-1] in ("ones", "everything", "all")
            noun = pluralise(self.generic) if plural else self.generic
            phrase = " ".join([*words[:-1], noun])
        elif self.generic and phrase in ("all", "everything"):
            phrase = pluralise(self.generic)
        if not _valid_phrase(phrase):
            raise ParseFail(phrase)
        return Select(phrase)

    def modifier_part(self, part: str, head: Select | None, depth: int) -> Node:
        """A part that may be 'the red one(s)' (borrowing `head`'s noun) or a full noun phrase."""
        if head is None and self.generic:
            head = Select(self.generic)
        m = _ONES_THAT.match(part.strip())
        if m:
            if head is None:
                raise ParseFail(part)
            return self.attach_all(m.group("mods"), head, "plural")
        _, rest = strip_det(part)
        m = _ONES.match(rest)
        if m:
            if head is None or not m.group("mods"):
                raise ParseFail(part)
            number_ = "plural" if m.group("one") == "ones" else "singular"
            return self.ranked(f"the {m.group('mods')} {_attach('', head.phrase, number_)}", depth + 1)
        return self.ranked(part, depth + 1)

    def attach_all(self, mods: str, head: Select, number_: str) -> Node:
        """'red or blue' + 'squares' -> red squares + blue squares."""
        alts = [a for a in re.split(r"\s*(?:,|\bor\b|\band\b|\bnor\b)\s*", mods) if a.strip()]
        if not alts:
            raise ParseFail(mods)
        nodes = [self.select(_attach(self.norm_phrase(a), head.phrase, number_)) for a in alts]
        return nodes[0] if len(nodes) == 1 else Union(tuple(nodes))

    # -- whole queries ---------------------------------------------------------------------------------
    def parse(self, s: str, depth: int = 0) -> Node:
        if depth > MAX_DEPTH:
            raise ParseFail("too deep")
        s = s.strip(" ,")
        if not s:
            raise ParseFail("empty")
        m = _NON.match(s)  # "the non-red squares" -> "the squares that are not red"
        if m:
            s = f"{m.group('det')}{m.group('rest')} that are not {m.group('adj')}"
        node = self.exclusion(s, depth)
        if node is not None:
            return node
        node = self.between(s, depth)
        if node is not None:
            return node
        parts = self.split_union(s)
        if len(parts) > 1:
            nodes: list[Node] = []
            for part in parts:
                prev = head_select(nodes[-1]) if nodes else None
                nodes.append(self.modifier_part(part, prev, depth))
            return Union(tuple(nodes))
        return self.ranked(s, depth)

    def exclusion(self, s: str, depth: int) -> Node | None:
        m = _EXCLUSION.search(s)
        if not m:
            return None
        base = self.parse(s[:m.start()], depth + 1)
        rest = s[m.end():].strip(" ,")
        head = head_select(base)
        if m.group("pred"):
            # "the squares that are not red": an adjective or a post-modifier of the base, unless it is a noun
            # phrase of its own ("that are not stars", "that are not a square").
            det, bare = strip_det(rest)
            words = bare.split()
            if not words:
                raise ParseFail(rest)
            if head is not None and self.relation_at_start(bare):  # "the square that is not inside the circle"
                return Exclude(base, self.relation(f"{_with_head(head.phrase, pluralise)} {bare}", True, depth) or head)
            if det is None and bare == rest and not is_plural(words[-1]):
                if head is None:
                    raise ParseFail(rest)
                number_ = "plural" if _is_many(None, head.phrase) else "singular"
                return Exclude(base, self.attach_all(bare, head, number_))
        parts = self.split_union(rest)
        nodes = [self.modifier_part(p, head, depth) for p in parts]
        return Exclude(base, nodes[0] if len(nodes) == 1 else Union(tuple(nodes)))

    @staticmethod
    def relation_at_start(s: str) -> bool:
        padded = " " + s
        return any(p.match(padded) for _, p in _RELATIONS)

    def between(self, s: str, depth: int) -> Node | None:
        m = _BETWEEN.search(s)
        if not m:
            return None
        many, target_text = strip_det(s[:m.start()])
        target = self.select(target_text)
        anchor_text = s[m.end():].strip(" ,")
        parts = [p for p in re.split(r"\s*,\s*(?:and\s+)?|\s+and\s+", anchor_text) if p.strip()]
        if len(parts) == 2:
            first = self.ranked(parts[0], depth + 1)
            anchors = (first, self.modifier_part(parts[1], head_select(first), depth))
        elif len(parts) == 1:
            anchors = (self.ranked(parts[0], depth + 1),)
        else:
            raise ParseFail(s)
        return Between(target, anchors, single=not _is_many(many, target.phrase))

    def split_union(self, s: str) -> list[str]:
        parts, start = [], 0
        for m in _UNION_SEP.finditer(s):
            if m.start() < start:
                continue
            left, right = s[start:m.start()], s[m.end():]
            if _accept_union(left, right, m.group().strip(" ,")):
                parts.append(left)
                start = m.end()
        parts.append(s[start:])
        return [p.strip(" ,") for p in parts]

    def ranked(self, s: str, depth: int) -> Node:
        """[det] [count] [ordinal] [superlative / size / side] [count] X [suffix] -> Rank or Group over a
        relation or a concept."""
        if depth > MAX_DEPTH:
            raise ParseFail("too deep")
        s = _CONTAINS_REWRITE.sub(lambda m: f" containing {m.group('y')}", s)
        many, rest = strip_det(s)
        words = rest.split()
        num = ordn = key = None
        i = 0
        if i < len(words) and number(words[i]):
            num, i = number(words[i]), i + 1
        if i < len(words) and _ordinal(words[i]):
            ordn, i = _ordinal(words[i]), i + 1
        if i < len(words) and words[i] in SUPERLATIVES:
            key, i = SUPERLATIVES[words[i]], i + 1
        elif i < len(words) - 1 and (words[i] in COMPARATIVES or words[i] in SIZE_WORDS):
            key, i = {**COMPARATIVES, **SIZE_WORDS}[words[i]], i + 1
        elif i < len(words) and words[i] in CLOSEST_WORDS:
            # "the closest X to the Y" -> "X closest to the Y"
            word = words[i]
            tail = " ".join(words[i + 1:])
            prep = " to " if CLOSEST_WORDS[word] == "closest" else " from "
            k = f" {tail} ".find(prep)
            if k <= 0:
                raise ParseFail(s)
            words = words[:i] + tail[:k - 1].split() + [CLOSEST_WORDS[word]] + f" {tail} "[k:].split()
        elif (i < len(words) - 1 and words[i] in BARE_SIDES
              and words[i + 1] not in ("of", "one", "ones", "and", "or") and (num or ordn or i == 0)):
            key, i = BARE_SIDES[words[i]], i + 1
        if key is not None and num is None and i < len(words) - 1 and number(words[i]):
            num, i = number(words[i]), i + 1  # "the rightmost two circles", "the bottom two hexagons"
        if i < len(words) and words[i] in ("one", "ones") and (num or ordn or key) and not self.generic:
            i += 1
        single_of = False
        if i < len(words) and words[i] == "of" and (num or ordn or key):
            i += 1
            many, tail = strip_det(" ".join(words[i:]))
            words, i = tail.split(), 0
            single_of = num is None
            if words and number(words[0]):  # "the leftmost of the two cats"
                words = words[1:]
        r = " " + " ".join(words[i:])
        from_side = False
        for pattern, kind in _SUFFIXES:
            m = pattern.search(r)
            if not m:
                continue
            groups = m.groupdict()
            if kind in ("from", "on"):
                k2 = {"upper": "top", "lower": "bottom"}.get(groups["side"], groups["side"])
                from_side = kind == "from"
            elif kind == "size":
                k2 = "largest" if groups["size"] in ("biggest", "largest", "greatest", "most") else "smallest"
            elif kind == "sup":
                if groups["sup"] not in SUPERLATIVES:
                    continue
                k2 = SUPERLATIVES[groups["sup"]]
            else:
                k2 = kind
            if kind.endswith("_ord"):  # "the third hexagon going down": a direction only after an ordinal
                if ordn is None or not groups.get("dir"):
                    continue
                k2, from_side = kind.removesuffix("_ord"), True
            if groups.get("ord"):
                if ordn is not None:
                    raise ParseFail(s)
                ordn = _ordinal(groups["ord"])
            if key is not None and k2 != key:
                raise ParseFail(s)
            key, r = k2, r[:m.start()]
            break

        inner = self.relation(r, many, depth)
        if inner is None:
            inner = self.select(r)
            if key is None:
                key, inner = self._adjective_key(inner)
        if num and ordn:
            raise ParseFail(s)
        if key is None:
            if ordn == 1 and num is None and not self.generic:  # "the first aid kit": part of the phrase
                return self.relation(rest, many, depth) or self.select(rest)
            if ordn is not None and ordn in (1, -1, -2):  # "the last circle": in reading order
                self.notes.append("counted in reading order, left to right")
                key, from_side = "left", True
            elif ordn is not None:
                raise ParseFail(s)  # "the second dog": second in which direction?
            else:
                if num and isinstance(inner, Relation) and inner.relation in ("closest", "farthest"):
                    return replace(inner, count=num)
                if isinstance(inner, Select) and (many or num):
                    return replace(inner, many=True)
                return inner  # "the two dogs" is every dog
        if isinstance(inner, Relation):
            inner = replace(inner, single=False)
        if ordn is not None and ordn < 0:  # last / penultimate: from the far end
            if key not in FLIP:
                raise ParseFail(s)
            key, ordn = (FLIP[key] if from_side else key), -ordn
        head = head_select(inner)
        if num is None and ordn is None and not single_of and key != "center" and head is not None and _is_many(
                many, head.phrase):
            return Group(inner, key)  # "the stars at the bottom", "the small circles", "the middle hexagons"
        return Rank(inner, key, start=(ordn or 1) - 1, count=num or 1)

    _ADJ_KEYS = {**COMPARATIVES, **SIZE_WORDS}

    def _adjective_key(self, node: Select) -> tuple[str | None, Node]:
        """A size or position adjective inside the phrase ('the red large circle') is the key, out of the phrase."""
        words = node.phrase.split()
        head = head_index(words)
        found = [j for j, w in enumerate(words[:head]) if w in self._ADJ_KEYS or w == "middle"]
        if len(found) != 1:
            return None, node
        word = words[found[0]]
        return ("middle" if word == "middle" else self._ADJ_KEYS[word]), Select(
            " ".join(w for j, w in enumerate(words) if j != found[0]))

    def relation(self, r: str, many: bool | None, depth: int) -> Relation | None:
        best = None
        r = " " + r.strip()
        for name, pattern in _RELATIONS:
            m = pattern.search(r)
            if m and (best is None or m.start() < best[1].start()
                      or m.start() == best[1].start() and m.end() > best[1].end()):
                best = (name, m)
        if best is None:
            return None
        name, m = best
        target = self.select(r[:m.start()])
        anchor_text = r[m.end():].strip()
        if strip_det(anchor_text)[1] in BARE_SIDES or not anchor_text:
            raise ParseFail(r)
        anchor = self.modifier_part(anchor_text, target, depth)
        return Relation(target, name, anchor, single=not _is_many(many, target.phrase))


def _with_head(phrase: str, inflect) -> str:
    words = phrase.split()
    i = head_index(words)
    return " ".join([*words[:i], inflect(words[i]), *words[i + 1:]])


def _accept_union(left: str, right: str, sep: str) -> bool:
    """Whether 'left SEP right' joins two noun phrases, not two words of one ("black and white dog")."""
    if not left.strip() or not right.strip():
        return False
    if re.sub(r"\s+", " ", sep) in _STRONG_UNION:
        return True
    rm = _DET_RE.match(right.strip())
    lm = _DET_RE.match(re.sub(r"^(?:both|either)\s+", "", left.strip()))
    if rm and rm.group("q") or rm and rm.group("a") == "the":
        return True
    if rm:  # "a cat and a dog", but not "a child wearing a vest and a hat"
        return bool(lm and lm.group("a") in ("a", "an")) and not _has_postmod(left)
    lw, rw = strip_det(left)[1].split(), right.split()
    if not lw or not rw or _has_postmod(left):
        return False
    # Without a determiner only plurals join ("red circles and blue squares", "cats and dogs"): in
    # "the black and white dog" or "the large red or blue circle" the left part is an adjective.
    return is_plural(lw[-1]) and is_plural(rw[-1])


def _has_postmod(s: str) -> bool:
    words = strip_det(s)[1].split()
    return any(w in POSTMOD or (w.endswith("ing") and len(w) > 4) for w in words[1:])
