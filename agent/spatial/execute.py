"""Running a plan: SAM 3 is asked every phrase once, then geometry picks the answer from what came back.

With a confidence level, weaker detections count only where the query says something exists and too few
confident ones do (a relation's anchor, a closest / farthest target, a union's part, a count, what an
exclusion leaves); near misses (RANK_FLOOR of it) count wherever instances are ordered once one is
confident; and an exclusion removes the excluded phrase's weak hits too (EXCLUDE_FLOOR of it). The
measurements behind these floors are in docs/agent.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from agent.spatial.geometry import DIRECTION_MARGIN, SIZE_MARGIN, Geometry
from agent.spatial.plan import Between, Exclude, Group, Node, Plan, Rank, Relation, Select, Union
from sam3.detections import Detections

RANK_FLOOR = 0.85  # of the confidence level: instances that count when ordering
EXCLUDE_FLOOR = 0.85  # of the confidence level: an excluded phrase's hits that count as excluded
MAX_PAIRS_FROM = 4  # "between the Ys": pairs among at most this many Ys


@dataclass
class SpatialAnswer:
    detections: Detections  # the answer; empty when nothing matches
    explanation: str
    candidates: Detections  # everything SAM 3 returned for the plan's phrases (what the answer drew on)
    plan: Plan | None = None
    weak: bool = False  # the answer holds an instance scored under the confidence level, or rests on one
    found: dict[str, tuple[int, int]] = field(default_factory=dict)  # phrase -> (confident, weaker) found
    readings: dict[str, str] = field(default_factory=dict)  # phrase -> the alternative reading that found it
    missing: tuple[str, ...] = ()  # what the query says is there but was not found ("no 'triangle' to relate to")


class _Executor:
    def __init__(self, geo: Geometry, confident: float | None):
        self.geo = geo
        self.confident = confident
        self.weak_ok = False  # set while counting instances below `confident` (see `_presupposed`)
        self.weak_used: set[int] = set()
        self.steps: list[str] = []
        self.found: dict[str, tuple[int, int]] = {}
        self.readings: dict[str, str] = {}
        self.missing: list[str] = []
        self.weak_anchor = False  # an anchor the answer rests on scored under the confidence level

    def run(self, node: Node) -> list[int]:
        method = {Select: self._select, Rank: self._rank, Group: self._group, Relation: self._relation,
                  Between: self._between, Exclude: self._exclude, Union: self._union}[type(node)]
        return method(node)

    def _hits(self, phrases: tuple[str, ...], weak: bool) -> list[int]:
        """Detections of any of `phrases`, each instance once (its best-scored detection)."""
        scores = self.geo.det.scores
        hits = [i for i, p in enumerate(self.geo.phrases)
                if p in phrases and (weak or self.confident is None or scores[i] >= self.confident)]
        out: list[int] = []
        for i in sorted(hits, key=lambda i: (-float(scores[i]), i)):
            if not any(self.geo.same(i, j) for j in out):
                out.append(i)
        return sorted(out)

    def _select(self, node: Select) -> list[int]:
        asked = (node.phrase, *node.also)
        out = self._hits(asked, self.weak_ok)
        if node.phrase not in self.found:
            strong = self._hits(asked, False)
            self.found[node.phrase] = (len(strong), len(self._hits(asked, True)) - len(strong))
        used = node.phrase
        for alt in node.alternatives if not out else ():
            out = self._hits((alt,), self.weak_ok)
            if out:
                used = self.readings[node.phrase] = alt
                break
        self.steps.append(f"SAM 3 found {len(out)} '{used}'" + (" below the threshold" if self.weak_ok else ""))
        return out

    def _presupposed(self, node: Node) -> list[int]:
        """The node's instances counting weak ones too: for phrases the query says exist."""
        if self.confident is None or self.weak_ok:
            return []
        self.weak_ok = True
        try:
            return self.run(node)
        finally:
            self.weak_ok = False

    def _order(self, idx: list[int], key) -> list[int]:
        scores = self.geo.det.scores
        return sorted(idx, key=lambda i: (key(i), -float(scores[i]), i))

    def _with_near_misses(self, node: Node, idx: list[int]) -> list[int]:
        """`idx`, the node's confident instances, plus its near misses when `idx` is not empty."""
        if self.confident is None or self.weak_ok or not idx:
            return idx
        scores, floor, n_steps = self.geo.det.scores, RANK_FLOOR * self.confident, len(self.steps)
        added = [i for i in self._presupposed(node) if scores[i] >= floor and i not in idx]
        del self.steps[n_steps:]  # the weak run's own steps: only what it added is worth telling
        if added:
            self.weak_used.update(added)
            self.steps.append(f"ordering {node.describe()} counts {len(added)} more scored {floor:.2f}+")
        return idx + added

    def _rank(self, node: Rank) -> list[int]:
        idx = self._with_near_misses(node.source, self.run(node.source))
        if node.count > 1 and len(idx) < node.count:
            # "the two largest X" says two exist: rank the weak ones too (as for an anchor)
            idx = self._presupposed(node.source) or idx
        if node.key == "middle":
            order = self.geo.middle_order(idx)
        else:
            order = self._order(idx, lambda i: self.geo.rank_key(node.key, i))
        picked = order[node.start:node.start + node.count]
        what = node.describe()
        if node.start >= len(order):
            self.steps.append(f"{what}: only {len(order)} candidate(s), none")
            if order:  # "the fourth circle" with three found: a circle was probably missed
                self.missing.append(f"only {len(order)} {node.source.describe()} found")
        elif len(picked) < node.count:
            self.steps.append(f"{what}: only {len(picked)} exist, kept them all")
            self.missing.append(f"only {len(picked)} {node.source.describe()} found, not {node.count}")
        else:
            self.steps.append(f"{what}: kept {len(picked)}")
        return picked

    def _group(self, node: Group) -> list[int]:
        idx = self._with_near_misses(node.source, self.run(node.source))
        if node.key in ("largest", "smallest"):
            kept = self.geo.size_group(idx, node.key)
        elif node.key == "middle":
            kept = self.geo.middle_order(idx)[:max(1, len(idx) - 2)] if len(idx) > 2 else list(idx)
        else:
            kept = self.geo.side_group(idx, node.key)
        kept = sorted(kept)
        self.steps.append(f"{node.describe()}: {len(kept)} of {len(idx)}")
        return kept

    def _anchor(self, node: Node) -> int | None:
        anchors = self.run(node) or self._presupposed(node)  # "the X left of the Y": a Y exists
        if not anchors:
            self.missing.append(f"no {node.describe()} found")
            return None
        scores = self.geo.det.scores
        a = max(anchors, key=lambda i: (float(scores[i]), -i))
        if self.confident is not None and scores[a] < self.confident:
            self.weak_used.add(a)
            self.weak_anchor = self.weak_anchor or bool(scores[a] < RANK_FLOOR * self.confident)
        self.steps.append(f"anchor: the best {node.describe()} (score {float(scores[a]):.2f})")
        return a

    def _relation(self, node: Relation) -> list[int]:
        targets = self._with_near_misses(node.target, self.run(node.target))
        if node.relation in ("inside", "contains", "touching", "overlapping"):
            return self._contact(node, targets)
        a = self._anchor(node.anchor)
        if a is None:
            self.steps.append("no anchor found, so nothing is related to it")
            return []
        g = self.geo
        cand = [i for i in targets if not g.same(i, a)]
        if not cand and node.relation in ("closest", "farthest"):  # "the X closest to the Y": an X exists
            cand = [i for i in self._presupposed(node.target) if not g.same(i, a)]
        by_distance = self._order(cand, lambda i: g.distance(i, a))
        if node.relation in ("closest", "farthest"):
            order = by_distance if node.relation == "closest" else self._order(cand, lambda i: -g.distance(i, a))
            picked = order[:node.count]
            self.steps.append(f"{node.describe()}: kept {len(picked)} of {len(cand)}")
            return picked
        if node.relation in ("larger", "smaller"):
            ratio = {i: max(g.area[i], 1.0) / max(g.area[a], 1.0) for i in cand}
            hits = [i for i in cand if (ratio[i] > 1 + SIZE_MARGIN if node.relation == "larger"
                                        else ratio[i] < 1 / (1 + SIZE_MARGIN))]
            hits = self._order(hits, lambda i: abs(np.log(ratio[i])))  # the nearest in size first
        elif node.relation == "near":
            hits = [i for i in by_distance if g.near(i, a)]
        else:
            height, width = g.size
            offset = {"above": lambda i: g.cy[a] - g.cy[i], "below": lambda i: g.cy[i] - g.cy[a],
                      "left": lambda i: g.cx[a] - g.cx[i], "right": lambda i: g.cx[i] - g.cx[a]}[node.relation]
            margin = DIRECTION_MARGIN * (height if node.relation in ("above", "below") else width)
            hits = [i for i in by_distance if offset(i) > margin]
        picked = hits[:1] if node.single else sorted(hits)
        self.steps.append(f"{node.describe()}: {len(hits)} of {len(cand)} qualify, kept {len(picked)}")
        return picked

    def _contact(self, node: Relation, targets: list[int]) -> list[int]:
        """inside / containing / touching / overlapping: against every instance of the anchor."""
        anchors = self.run(node.anchor) or self._presupposed(node.anchor)
        if not anchors:
            self.steps.append("no anchor found, so nothing is related to it")
            self.missing.append(f"no {node.anchor.describe()} found")
            return []
        if self.confident is not None:
            weak = [a for a in anchors if self.geo.det.scores[a] < self.confident]
            self.weak_used.update(weak)
            self.weak_anchor = self.weak_anchor or len(weak) == len(anchors)
        g = self.geo
        test = {"inside": lambda i, a: g.inside(i, a), "contains": lambda i, a: g.inside(a, i),
                "touching": g.touching, "overlapping": g.overlapping}[node.relation]
        hits = [i for i in targets if any(not g.same(i, a) and test(i, a) for a in anchors)]
        nearest = {i: min(g.distance(i, a) for a in anchors if not g.same(i, a)) for i in hits}
        hits = self._order(hits, lambda i: nearest[i])
        picked = hits[:1] if node.single else sorted(hits)
        self.steps.append(f"{node.describe()}: {len(hits)} of {len(targets)} qualify, kept {len(picked)}")
        return picked

    def _between(self, node: Between) -> list[int]:
        targets = self._with_near_misses(node.target, self.run(node.target))
        scores = self.geo.det.scores
        if len(node.anchors) == 2:
            ends = [self._anchor(a) for a in node.anchors]
            pairs = [tuple(ends)] if None not in ends and ends[0] != ends[1] else []
        else:
            found = self.run(node.anchors[0])
            if len(found) < 2:
                found = self._presupposed(node.anchors[0]) or found
            found = sorted(found, key=lambda i: -float(scores[i]))[:MAX_PAIRS_FROM]
            pairs = list(combinations(found, 2))
        if not pairs:
            self.steps.append("fewer than two anchors found, so nothing lies between them")
            self.missing.append("fewer than two of " + " and ".join(a.describe() for a in node.anchors) + " found")
            return []
        ends = {i for pair in pairs for i in pair}
        if self.confident is not None:
            weak = [i for i in ends if scores[i] < self.confident]
            self.weak_used.update(weak)
            self.weak_anchor = self.weak_anchor or any(scores[i] < RANK_FLOOR * self.confident for i in weak)
        off: dict[int, float] = {}
        for i in targets:
            if any(self.geo.same(i, e) for e in ends):
                continue
            values = [v for a, b in pairs if (v := self.geo.between(i, a, b)) is not None]
            if values:
                off[i] = min(values)
        hits = self._order(list(off), lambda i: off[i])
        picked = hits[:1] if node.single else sorted(hits)
        self.steps.append(f"{node.describe()}: {len(hits)} of {len(targets)} qualify, kept {len(picked)}")
        return picked

    def _exclude(self, node: Exclude) -> list[int]:
        base = self.run(node.base)
        excluded = self.run(node.excluded)
        if self.confident is not None and not self.weak_ok:  # a weak hit of the excluded phrase is excluded too
            n_steps = len(self.steps)
            floor = EXCLUDE_FLOOR * self.confident
            weak = [i for i in self._presupposed(node.excluded)
                    if self.geo.det.scores[i] >= floor and i not in excluded]
            del self.steps[n_steps:]
            excluded = excluded + weak

        def outside(idx: list[int]) -> list[int]:
            return [i for i in idx if not any(self.geo.same(i, j) for j in excluded)]

        keep = outside(base)
        self.steps.append(f"removed {len(base) - len(keep)} matching {node.excluded.describe()}, {len(keep)} left")
        if not keep:  # "every X except the Y" says some other X exists: its weak instances stand in
            weak = outside(self._presupposed(node.base))
            if weak:
                self.steps.append(f"{len(weak)} weaker {node.base.describe()} left")
                self.weak_used.update(weak)
            keep = weak
        return keep

    def _union(self, node: Union) -> list[int]:
        out: list[int] = []
        for part in node.parts:
            for i in self.run(part) or self._presupposed(part):  # "the Xs and the Ys": both exist
                if not any(self.geo.same(i, j) for j in out):
                    out.append(i)
        self.steps.append(f"union: {len(out)} instance(s)")
        return out


def execute(
    plan: Plan,
    segment: Callable[[list[str]], Detections],
    confident: float | None = None,
    segment_narrower: Callable[[list[str]], Detections] | None = None,
) -> SpatialAnswer:
    """Run `plan`: one `segment` call with every phrase, then geometry on what came back.

    `segment(phrases)` returns one Detections for all phrases, `phrases[i]` naming which phrase found
    detection i. `confident` is the score a detection needs to count on its own (see the module's doc).
    With `segment_narrower`, the plan's narrower phrases (`Select.also`) are asked in a second call to it
    (a cheaper look: they only add instances to what the phrases asked find).
    """
    if segment_narrower is not None and plan.narrower:
        asked = [p for p in plan.phrases if p not in plan.narrower]
        parts = [segment(asked), segment_narrower(list(plan.narrower))]
        for part in parts:
            if not isinstance(part, Detections):
                raise TypeError(f"segment must return Detections, got {type(part).__name__}")
        candidates = Detections.merge(parts, image_size=parts[0].image_size)
    else:
        candidates = segment(list(plan.phrases))
    if not isinstance(candidates, Detections):
        raise TypeError(f"segment must return Detections, got {type(candidates).__name__}")
    executor = _Executor(Geometry(candidates), confident)
    picked = executor.run(plan.root)
    answer = candidates[np.asarray(picked, dtype=np.intp)]
    explanation = f"{'; '.join(executor.steps)} -> {len(answer)} answer(s)"
    # near misses (RANK_FLOOR) in an ordering are ordinary; an answer resting on weaker detections is a guess
    weak = confident is not None and bool(len(answer)) and (
        bool((answer.scores < RANK_FLOOR * confident).any()) or executor.weak_anchor)
    if confident is not None:  # what the answer drew on: the confident detections and any weak one used
        shown = candidates.scores >= confident
        shown[list(executor.weak_used)] = True
        shown[picked] = True
        candidates = candidates[shown]
    return SpatialAnswer(detections=answer, explanation=explanation, candidates=candidates, plan=plan, weak=weak,
                         found=executor.found, readings=executor.readings, missing=tuple(executor.missing))
