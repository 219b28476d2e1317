"""Reading a query: clean it, fix typos, parse it, and account for every word.

A query is understood when every word is accounted for: grammar the planner computes, or a noun phrase
SAM 3 can be asked (in a closed vocabulary: made of known words, or of words read as known ones). What is
left over is reported as unused, never passed on to SAM 3 as a modifier: the agent then hands the query to
an MLLM, or answers what it could read and says it is unsure.
"""

from __future__ import annotations

import logging
import re

from agent.spatial.clean import clean, normalise
from agent.spatial.grammar import Grammar, ParseFail
from agent.spatial.plan import Between, Exclude, Group, Node, Plan, Rank, Reading, Relation, Select, Union
from agent.spatial.vocabulary import Vocabulary, modifier_words
from agent.spatial.words import (
    ARTICLES,
    AUXILIARIES,
    FILLERS,
    PREPOSITIONS,
    PRONOUNS,
    QUANTIFIERS,
    QUESTION_WORDS,
)

log = logging.getLogger("agent.spatial")

_NOISE = set(ARTICLES) | set(QUANTIFIERS) | PREPOSITIONS | PRONOUNS | AUXILIARIES | QUESTION_WORDS | FILLERS | {
    "me", "show", "find", "highlight", "segment", "select", "there", "any", "some", "and", "or", "please", "you",
    "see", "can", "could", "would", "many", "how", "count", "number"}


def _fix_typos(text: str, vocabulary: Vocabulary, notes: list[str]) -> str:
    words = []
    for word in text.split():
        core = word.strip(",")
        fixed = vocabulary.correct(core)
        if fixed:
            notes.append(f"read '{core}' as '{fixed}'")
            word = word.replace(core, fixed)
        words.append(word)
    return " ".join(words)


class _Mapper:
    """Rewrites every phrase of a tree in the vocabulary, collecting unused words and notes."""

    def __init__(self, vocabulary: Vocabulary | None):
        self.vocabulary = vocabulary
        self.unused: list[str] = []
        self.notes: list[str] = []
        self.lost_head = False

    def node(self, n: Node, head: bool = True) -> Node | None:
        if isinstance(n, Select):
            return self.select(n, head)
        if isinstance(n, (Rank, Group)):
            src = self.node(n.source, head)
            return None if src is None else type(n)(**{**n.__dict__, "source": src})
        if isinstance(n, Relation):
            target, anchor = self.node(n.target, head), self.node(n.anchor, False)
            if target is None or anchor is None:
                return None
            return Relation(target, n.relation, anchor, n.single, n.count)
        if isinstance(n, Between):
            target = self.node(n.target, head)
            anchors = tuple(self.node(a, False) for a in n.anchors)
            return None if target is None or None in anchors else Between(target, anchors, n.single)
        if isinstance(n, Exclude):
            base, excluded = self.node(n.base, head), self.node(n.excluded, False)
            if base is None:
                return None
            return base if excluded is None else Exclude(base, excluded)
        parts = [p for p in (self.node(p, head) for p in n.parts) if p is not None]
        return None if not parts else parts[0] if len(parts) == 1 else Union(tuple(parts))

    def select(self, s: Select, head: bool) -> Node | None:
        if self.vocabulary is None:
            self.unused += modifier_words(s.phrase)
            return s
        reading = self.vocabulary.read_phrase(s.phrase)
        self.unused += reading.unused
        self.notes += reading.notes
        if reading.phrase is None:
            self.lost_head = self.lost_head or head
            return None
        first = Select(reading.phrase, reading.alternatives, reading.also, s.many)
        return Union((first, *(Select(p, many=s.many) for p in reading.more))) if reading.more else first


def _bag_of_words(text: str, vocabulary: Vocabulary, intent) -> tuple[Plan | None, list[str], list[str]]:
    """What a query outside the grammar still says in known words: its [colour] noun, all else unused."""
    words = [w.strip(",") for w in text.split()]
    reading = vocabulary.read_phrase(" ".join(w for w in words if w not in _NOISE))
    unused = [w for w in reading.unused]
    if reading.phrase is None:
        return None, unused, list(reading.notes)
    return Plan(Select(reading.phrase, reading.alternatives, reading.also), intent=intent), unused, list(reading.notes)


def understand(query: object, vocabulary: Vocabulary | None = None) -> Reading:
    """How the planner reads `query`; never raises and never touches files or the network."""
    text = query if isinstance(query, str) else ""
    try:
        return _understand(query, vocabulary)
    except Exception:  # noqa: BLE001 - a query must never crash the agent; it is reported as not understood
        log.exception("spatial planner failed on %r", query)
        return Reading(text, None, unused=tuple(text.split()[:8]))


def _understand(query: object, vocabulary: Vocabulary | None) -> Reading:
    text = query if isinstance(query, str) else ""
    generic = vocabulary.generic_noun if vocabulary else None
    notes: list[str] = []
    cleaned = clean(query, generic)
    if cleaned is not None and vocabulary is not None:
        fixed = _fix_typos(cleaned[1], vocabulary, notes)
        if notes:  # a fixed typo may have been a lead-in or question word: clean again, keeping the intent
            again = clean(fixed, generic)
            intent = again[0] if again is not None and again[0] != "find" else cleaned[0]
            cleaned = (intent, again[1] if again is not None else fixed)
    if cleaned is None and vocabulary is not None:
        plain = normalise(query)
        if plain:
            fixed = _fix_typos(plain, vocabulary, notes)
            cleaned = clean(fixed, generic)
    if cleaned is None:
        return _fallback(text, normalise(query), "find", vocabulary, notes)
    intent, body = cleaned
    grammar = Grammar(generic)
    try:
        root = grammar.parse(body)
    except ParseFail:
        return _fallback(text, body, intent, vocabulary, notes)
    mapper = _Mapper(vocabulary)
    mapped = mapper.node(root)
    unused = list(dict.fromkeys(mapper.unused))
    notes += grammar.notes + mapper.notes
    if mapped is None or mapper.lost_head:
        return Reading(text, None, tuple(unused) or tuple(body.split()), tuple(notes))
    return Reading(text, Plan(mapped, query=text, intent=intent), tuple(unused), tuple(dict.fromkeys(notes)))


def _fallback(text: str, body: str | None, intent, vocabulary: Vocabulary | None, notes: list[str]) -> Reading:
    if not body:
        return Reading(text, None, tuple(text.split()[:8]), tuple(notes))
    if vocabulary is None:
        content = [w for w in re.findall(r"[a-z0-9'-]+", body) if w not in _NOISE]
        return Reading(text, None, tuple(content or body.split()), tuple(notes))
    plan, unused, more = _bag_of_words(body, vocabulary, intent)
    if plan is not None:
        plan = Plan(plan.root, query=text, intent=intent)
    if not unused:  # every content word known, but not in an order the grammar reads: say which it skipped
        used = set(plan.root.phrase.split()) if plan is not None else set()
        unused = [w for w in body.split() if w not in used and w not in _NOISE] or body.split()
    return Reading(text, plan, tuple(dict.fromkeys(unused)), tuple(notes + more))
