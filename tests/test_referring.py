"""Referring queries, checked by a small keyword interpreter that recomputes each answer from the masks."""

import re

import numpy as np
import pytest

from shapesworld import COLOURS, SHAPES, generate
from shapesworld.referring import KINDS, ReferringQuery, sample_queries

W, H = 320, 240
SEEDS = range(8)


@pytest.fixture(scope="module")
def scenes():
    out = []
    for seed in SEEDS:
        rendered = generate(seed, width=W, height=H, n_shapes=4 + seed % 5, effects=False)
        out.append((rendered, sample_queries(rendered, np.random.default_rng(seed), per_kind=4)))
    return out


def stats(rendered):
    """Centroid x, y and visible area per instance, computed pixel by pixel."""
    cx, cy, area = [], [], []
    for m in rendered.masks:
        ys, xs = np.nonzero(m)
        cx.append(xs.mean() + 0.5)
        cy.append(ys.mean() + 0.5)
        area.append(len(xs))
    return np.array(cx), np.array(cy), np.array(area, float)


def concept(phrase):
    """(colour, kind) named in a phrase; None where it names any."""
    words = phrase.split()
    colour = next((w for w in words if w in COLOURS), None)
    kind = next((w.removesuffix("s") for w in words if w.removesuffix("s") in SHAPES), None)
    return colour, kind


def members(rendered, phrase):
    colour, kind = concept(phrase)
    return [
        i for i, s in enumerate(rendered.shapes)
        if (colour is None or s.colour == colour) and (kind is None or s.kind == kind)
    ]


def direction(text):
    for words, d in (
        (("largest", "biggest"), "largest"), (("smallest", "tiniest"), "smallest"), (("left",), "left"),
        (("right",), "right"), (("top", "highest"), "top"), (("bottom", "lowest"), "bottom"),
    ):
        if any(w in text for w in words):
            return d
    raise AssertionError(f"no direction in {text!r}")


def ranked(rendered, text, idx):
    """idx sorted in the query's direction, asserting that neighbouring ranks are clearly apart."""
    cx, cy, area = stats(rendered)
    d = direction(text)
    key = {"left": cx, "right": -cx, "top": cy, "bottom": -cy, "largest": -area, "smallest": area}[d]
    return sorted(idx, key=lambda i: key[i]), key, d


def clearly_before(rendered, key, d, a, b):
    if d in ("largest", "smallest"):
        big, small = (a, b) if d == "largest" else (b, a)
        return stats(rendered)[2][big] >= 1.3 * stats(rendered)[2][small]
    side = W if d in ("left", "right") else H
    return key[b] - key[a] > 0.05 * side


RELATION_MARKERS = (
    (" closest to the ", "closest"), (" nearest to the ", "closest"), (" farthest from the ", "farthest"),
    (" furthest away from the ", "farthest"), (" higher up than the ", "above"), (" above the ", "above"),
    (" lower down than the ", "below"), (" below the ", "below"), (" beneath the ", "below"),
    (" left of the ", "left"), (" right of the ", "right"),
)


def interpret(text, rendered):
    """The set of instances the text refers to, asserting along the way that it is unambiguous."""
    cx, cy, _ = stats(rendered)
    m = re.match(r"^(?:every|all the|all|the) (.+?) (?:except the|other than the|but the|that are not) (.+)$",
                 text)
    if m:
        base = members(rendered, m.group(1))
        colour, kind = concept(m.group(2))
        assert (colour is None) != (kind is None), text
        return {i for i in base if (colour and rendered.shapes[i].colour != colour)
                or (kind and rendered.shapes[i].kind != kind)}
    m = re.match(r"^(?:both )?the (.+?) (?:and the|as well as the|together with the) (.+)$", text)
    if m:
        a, b = members(rendered, m.group(1)), members(rendered, m.group(2))
        assert a and b and not set(a) & set(b), text
        return set(a) | set(b)
    for marker, relation in RELATION_MARKERS:
        if marker in text and not text.endswith("closest to the bottom"):  # that one is a superlative
            target, anchor_phrase = text.split(marker)
            anchors = members(rendered, anchor_phrase)
            assert len(anchors) == 1, text
            a = anchors[0]
            cand = [i for i in members(rendered, target) if i != a]
            if relation in ("closest", "farthest"):
                d = np.hypot(cx - cx[a], cy - cy[a])
                order = sorted(cand, key=lambda i: d[i], reverse=relation == "farthest")
                assert abs(d[order[1]] - d[order[0]]) > 0.05 * W, text
                return {order[0]}
            off = {"above": cy[a] - cy, "below": cy - cy[a], "left": cx[a] - cx, "right": cx - cx[a]}
            off = off[relation]
            margin = 0.05 * (H if relation in ("above", "below") else W)
            hits = {i for i in cand if off[i] > margin}
            assert all(off[i] <= 0 for i in cand if i not in hits), text
            return hits
    cand = members(rendered, text)
    order, key, d = ranked(rendered, text, cand)
    ordinal = next((k for k, w in ((2, "second"), (3, "third"), (4, "fourth")) if w in text), None)
    if ordinal:
        if len(order) < ordinal:
            return set()
        k = ordinal - 1
        assert clearly_before(rendered, key, d, order[k - 1], order[k]), text
        assert k + 1 == len(order) or clearly_before(rendered, key, d, order[k], order[k + 1]), text
        return {order[k]}
    count = next((k for k, w in ((2, "two"), (3, "three")) if f" {w} " in text), None)
    if count:
        assert clearly_before(rendered, key, d, order[count - 1], order[count]), text
        return set(order[:count])
    if not order:
        return set()
    assert len(order) >= 2 and clearly_before(rendered, key, d, order[0], order[1]), text
    return {order[0]}


def test_every_kind_appears(scenes):
    kinds = {q.kind for _, queries in scenes for q in queries}
    assert kinds == set(KINDS)


def test_answers_match_an_independent_interpretation(scenes):
    for rendered, queries in scenes:
        for q in queries:
            assert set(q.answer) == interpret(q.text, rendered), q
            assert list(q.answer) == sorted(set(q.answer)), q


def test_only_empty_queries_have_empty_answers(scenes):
    for _, queries in scenes:
        for q in queries:
            assert (q.kind == "empty") == (q.answer == ()), q


def test_leftmost_is_clearly_leftmost(scenes):
    found = 0
    for rendered, queries in scenes:
        cx = stats(rendered)[0]
        for q in queries:
            if q.kind == "superlative" and "left" in q.text:
                cand = members(rendered, q.text)
                others = [cx[i] for i in cand if i != q.answer[0]]
                assert cx[q.answer[0]] + 0.05 * W < min(others), q
                found += 1
    assert found


def test_exclusions_contain_no_excluded_item(scenes):
    seen = 0
    for rendered, queries in scenes:
        for q in queries:
            if q.kind != "exclusion":
                continue
            excluded = re.split(r" except the | other than the | but the | that are not ", q.text)[1]
            colour, kind = concept(excluded)
            for i in q.answer:
                assert rendered.shapes[i].colour != colour and rendered.shapes[i].kind != kind, q
            seen += 1
    assert seen


def test_same_seed_same_queries_and_varied_wording(scenes):
    rendered = scenes[3][0]
    a = sample_queries(rendered, np.random.default_rng(7), per_kind=3)
    b = sample_queries(rendered, np.random.default_rng(7), per_kind=3)
    c = sample_queries(rendered, np.random.default_rng(8), per_kind=3)
    assert a == b and a != c
    assert all(isinstance(q, ReferringQuery) for q in a)
    for _, queries in scenes:
        texts = [q.text for q in queries]
        assert len(set(texts)) == len(texts)
    texts = [q.text for _, queries in scenes for q in queries]
    assert any(w in t for t in texts for w in ("furthest", "far ", "nearest the", "closest to the bottom"))


def test_empty_scene_gives_only_empty_queries():
    rendered = generate(0, width=W, height=H, n_shapes=0)
    queries = sample_queries(rendered, np.random.default_rng(0), per_kind=2)
    assert queries and all(q.kind == "empty" and q.answer == () for q in queries)


def test_bad_input():
    rendered = generate(0, width=W, height=H, n_shapes=3)
    with pytest.raises(ValueError):
        sample_queries(rendered, np.random.default_rng(0), per_kind=-1)
