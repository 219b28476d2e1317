"""A deterministic planner for referring queries: English grammar over SAM 3 noun phrases, no language model.

It is the agent's offline default and its fast path before any MLLM. A query is read (`understand`) into a
small tree of operators over noun phrases plus the kind of answer wanted (the masks, a count, yes / no);
SAM 3 is asked every phrase of the tree in one call and the tree then picks instances from what came back
by geometry alone (`execute`); `reply` words the answer and, when nothing answers, looks again more
generally. The planner answers only what it fully understood: a word it cannot account for is reported,
never slipped into a SAM 3 phrase. The grammar, its decisions and their measurements: docs/agent.md.

Modules: words (the grammar's own words), clean (lead-ins, questions, counts), grammar (text -> tree),
plan (the tree's types), vocabulary and colours (closed-vocabulary checkpoints), understand (all of that
together), geometry (masks -> positions and relations), execute (tree + detections -> answer), reply
(answer texts and the helpful no).
"""

from agent.spatial.execute import EXCLUDE_FLOOR, RANK_FLOOR, SpatialAnswer, execute
from agent.spatial.plan import Between, Exclude, Group, Node, Plan, Rank, Reading, Relation, Select, Union
from agent.spatial.understand import understand
from agent.spatial.vocabulary import Vocabulary


def parse_query(query: object, vocabulary: Vocabulary | None = None) -> Plan | None:
    """The plan for a referring query, or None when it is outside the grammar (then ask an MLLM)."""
    return understand(query, vocabulary).plan


__all__ = [
    "EXCLUDE_FLOOR", "RANK_FLOOR", "Between", "Exclude", "Group", "Node", "Plan", "Rank", "Reading", "Relation",
    "Select", "SpatialAnswer", "Union", "Vocabulary", "execute", "parse_query", "understand",
]
