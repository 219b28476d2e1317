"""The planner's wider grammar (issue 22): reading free phrasings, closed vocabularies, geometry computed
from hand-drawn masks, and the reply (counts, yes / no, the helpful no, the unsure flag)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.spatial import (
    Between,
    Exclude,
    Group,
    Rank,
    Relation,
    Select,
    Union,
    Vocabulary,
    execute,
    parse_query,
    understand,
)
from agent.spatial.reply import compose
from agent.spatial.vocabulary import edit_distance
from sam3.detections import Detections, boxes_from_masks

S = Select
SHAPES = Vocabulary(("red", "orange", "yellow", "green", "blue", "purple", "pink", "white", "black"),
                    ("circle", "square", "triangle", "star", "diamond", "hexagon"), ("shape", "object"))

# ------------------------------------------------------------------------------------ reading

OPEN_CASES = [
    # sizes: one instance for a singular noun, a size class for a plural
    ("the large hexagon", Rank(S("hexagon"), "largest")),
    ("the tiny red star", Rank(S("red star"), "smallest")),
    ("the red large circle", Rank(S("red circle"), "largest")),
    ("the small cups", Group(S("cups"), "smallest")),
    ("the bigger dog", Rank(S("dog"), "largest")),
    # positions: rows, columns, halves, corners
    ("the middle circle", Rank(S("circle"), "middle")),
    ("the circle in the middle of the row", Rank(S("circle"), "middle")),
    ("the middle hexagons", Group(S("hexagons"), "middle")),
    ("the higher hexagon", Rank(S("hexagon"), "top")),
    ("the lower of the two hexagons", Rank(S("hexagons"), "bottom")),
    ("the stars at the bottom", Group(S("stars"), "bottom")),
    ("the upper squares", Group(S("squares"), "top")),
    ("the cups on the left", Group(S("cups"), "left")),
    ("the shape in the lower right", Rank(S("shape"), "bottom-right")),
    # numbers in odd places, last and penultimate
    ("the rightmost two circles", Rank(S("circles"), "right", count=2)),
    ("the leftmost three stars", Rank(S("stars"), "left", count=3)),
    ("the bottom two hexagons", Rank(S("hexagons"), "bottom", count=2)),
    ("the penultimate circle from the left", Rank(S("circle"), "right", start=1)),
    ("the last circle on the right", Rank(S("circle"), "right")),
    ("the second-to-last cup from the top", Rank(S("cup"), "bottom", start=1)),
    ("the third hexagon going down", Rank(S("hexagon"), "top", start=2)),
    # negation, containment, contact, comparison, betweenness
    ("the non-red squares", Exclude(S("squares"), S("red squares"))),
    ("the shapes that aren't blue", Exclude(S("shapes"), S("blue shapes"))),
    ("the square inside the circle", Relation(S("square"), "inside", S("circle"))),
    ("the circle with a square in it", Relation(S("circle"), "contains", S("square"))),
    ("the square that is not inside the circle",
     Exclude(S("square"), Relation(S("squares"), "inside", S("circle"), single=False))),
    ("the star touching the hexagon", Relation(S("star"), "touching", S("hexagon"))),
    ("the shape that overlaps the triangle", Relation(S("shape"), "overlapping", S("triangle"))),
    ("a star that is larger than the green one", Relation(S("star"), "larger", S("green star"))),
    ("stars smaller than the green star", Relation(S("stars"), "smaller", S("green star"), single=False)),
    ("the shape between the triangles", Between(S("shape"), (S("triangles"),))),
    ("the cup between the plate and the bowl", Between(S("cup"), (S("plate"), S("bowl")))),
    ("the dogs between the trees", Between(S("dogs"), (S("trees"),), single=False)),
    # word order people use
    ("pick out the triangle which is white", S("white triangle")),
    ("circle, black", S("black circle")),
]


@pytest.mark.parametrize(("query", "root"), OPEN_CASES, ids=[q for q, _ in OPEN_CASES])
def test_open_vocabulary_grammar(query, root):
    reading = understand(query)
    assert reading.plan is not None and reading.plan.root == root, reading
    assert reading.understood, reading.unused


INTENTS = [
    ("how many circles are there?", "count", S("circles")),
    ("count the red squares", "count", S("red squares")),
    ("how many stars can you see", "count", S("stars")),
    ("is there a green star?", "yes_no", S("green star")),
    ("are there any triangles", "yes_no", S("triangles")),
    ("does the picture contain a hexagon", "yes_no", S("hexagon")),
    ("is the triangle to the left of the circle?", "yes_no", Relation(S("triangle"), "left", S("circle"))),
    ("is the star purple", "yes_no", S("purple star")),
    ("which square is blue?", "find", S("blue square")),
    ("which circle is the smallest?", "find", Rank(S("circle"), "smallest")),
    ("what is the biggest shape?", "find", Rank(S("shape"), "largest")),
    ("what is touching the pink star?", "find", Relation(S("object"), "touching", S("pink star"))),
]


@pytest.mark.parametrize(("query", "intent", "root"), INTENTS, ids=[q for q, _, _ in INTENTS])
def test_questions_and_counts_are_queries_with_an_intent(query, intent, root):
    plan = parse_query(query)
    assert plan is not None and (plan.intent, plan.root) == (intent, root)


def test_a_closed_vocabulary_reads_typos_synonyms_and_colour_names():
    cases = {
        "the purpel star": ("purple star", (), "read 'purpel' as 'purple'"),
        "the bleu star": ("blue star", (), "read 'bleu' as 'blue'"),
        "the trianlge on the right": ("triangle", (), "read 'trianlge' as 'triangle'"),
        "the pink ball": ("pink circle", (), "read 'ball' as 'circle'"),
        "the crimson circle": ("red circle", (), "read 'crimson' as 'red'"),
        "the magenta square": ("purple square", ("pink square",), "read 'magenta' as 'purple or pink'"),
        "how many red things are there": ("red shapes", (), "read 'things' as 'shapes'"),
        "the light blue square": ("blue square", (), "read 'light blue' as 'blue'"),
    }
    for query, (phrase, alternatives, note) in cases.items():
        reading = understand(query, SHAPES)
        head = reading.plan.root if isinstance(reading.plan.root, Select) else reading.plan.root.source
        assert (head.phrase, head.alternatives) == (phrase, alternatives), query
        assert note in reading.notes and reading.understood, (query, reading)


def test_a_typo_keeps_the_question():
    plan = understand("is there a yellow diamnod?", SHAPES).plan
    assert (plan.intent, plan.root) == ("yes_no", S("yellow diamond"))
    assert understand("how many sqaures", SHAPES).plan.intent == "count"


def test_words_the_planner_cannot_use_are_reported_not_sent_to_sam3():
    reading = understand("the shiny red circle", SHAPES)
    assert reading.unused == ("shiny",) and not reading.understood
    assert reading.plan.root == S("red circle") and reading.plan.say() == "the red circle"
    nothing = understand("the flying elephant", SHAPES)
    assert nothing.plan is None and set(nothing.unused) == {"flying", "elephant"}
    ranking = understand("the happiest triangle", SHAPES)  # outside the grammar: what it says in known words
    assert ranking.plan.root == S("triangle") and ranking.unused == ("happiest",)
    # an open vocabulary takes any noun phrase, but not a modifier the planner should have computed
    assert understand("the child wearing a blue vest").understood
    assert understand("the cup near the corner").unused == ("corner",)


def test_a_bare_noun_is_also_asked_colour_by_colour_in_a_closed_vocabulary():
    plan = understand("the leftmost circle", SHAPES).plan
    assert plan.phrases[0] == "circle" and "red circle" in plan.narrower and len(plan.narrower) == 9
    assert "square" in understand("every shape", SHAPES).plan.narrower
    assert understand("the red circle", SHAPES).plan.narrower == ()
    assert understand("the leftmost circle").plan.narrower == ()  # open vocabulary: as typed


def test_edit_distance_counts_a_swap_as_one():
    assert edit_distance("purpel", "purple") == 1 and edit_distance("bleu", "blue") == 1
    assert edit_distance("circle", "square") == 3  # capped


def test_vocabulary_from_a_checkpoint_config():
    assert Vocabulary.from_config(None) is None and Vocabulary.from_config({}) is None
    v = Vocabulary.from_config({"colours": ["Red"], "nouns": ["cup"], "generic": []})
    assert v.known("red") and v.known("cups") and v.generic_noun == "object"
    with pytest.raises(ValueError):
        Vocabulary((), (), ())


# ---------------------------------------------------------------------------------- geometry

H, W = 100, 200


def disc(cx, cy, r):
    yy, xx = np.mgrid[:H, :W]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def rect(x0, y0, x1, y1):
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


def make_segment(instances):
    """An oracle segment(): `instances` maps a phrase to [(mask, score)] or [mask]."""

    def segment(phrases):
        masks, scores, names = [], [], []
        for p in phrases:
            for item in instances.get(p, []):
                mask, score = item if isinstance(item, tuple) else (item, 0.9)
                masks.append(mask)
                scores.append(score)
                names.append(p)
        if not masks:
            return Detections.empty((H, W))
        masks = np.stack(masks)
        return Detections(masks, boxes_from_masks(masks), np.array(scores, np.float32), names, (H, W))

    return segment


def answer(query, instances, vocabulary=None, confident=None):
    plan = understand(query, vocabulary).plan
    assert plan is not None, query
    return execute(plan, make_segment(instances), confident)


def same(out, expected):
    return {m.tobytes() for m in out.detections.masks} == {m.tobytes() for m in expected} and len(
        out.detections) == len(expected)


def test_rows_groups_and_sizes():
    row = [disc(20 + 40 * i, 30, 6) for i in range(5)]  # five in a row near the top
    low = disc(100, 85, 6)  # one near the image centre's x but below
    inst = {"circle": row + [low], "circles": row + [low]}
    assert same(answer("the middle circle", {"circle": row}), [row[2]])
    assert same(answer("the middle hexagons", {"hexagons": row[:4]}), row[1:3])
    assert same(answer("the circles on the right", {"circles": row}), row[3:])
    assert same(answer("the circles at the top", inst), row)
    sizes = [disc(30, 50, 4), disc(80, 50, 5), disc(130, 50, 12), disc(175, 50, 14)]
    assert same(answer("the small circles", {"circles": sizes}), sizes[:2])
    assert same(answer("the large circles", {"circles": sizes}), sizes[2:])
    assert same(answer("the penultimate circle from the left", {"circle": row}), [row[3]])


def test_containment_contact_and_overlap_from_masks():
    ring = disc(50, 50, 30) & ~rect(40, 40, 60, 60)  # a circle with a square lying on it
    inner = rect(40, 40, 60, 60)
    touching = rect(131, 40, 149, 60)  # one pixel from the bar on the right
    bar = rect(150, 40, 175, 60)
    over = rect(175, 35, 195, 65)  # shares the bar's whole right edge: it lies over the bar's end
    inst = {"square": [inner, touching, over], "squares": [inner, touching, over], "circle": [ring], "bar": [bar]}
    assert same(answer("the square inside the circle", inst), [inner])
    assert same(answer("the circle with a square in it", inst), [ring])
    assert same(answer("the squares touching the bar", inst), [touching, over])
    assert same(answer("the square that overlaps the bar", inst), [over])
    assert same(answer("the square that is not inside the circle", {**inst, "square": [inner, touching]}),
                [touching])


def test_between_and_comparisons():
    left, right, mid, off = disc(20, 50, 8), disc(180, 50, 8), rect(95, 45, 105, 55), disc(100, 10, 5)
    inst = {"triangles": [left, right], "shape": [left, right, mid, off], "square": [mid], "star": [off]}
    assert same(answer("the shape between the triangles", inst), [mid])
    assert same(answer("the shape between the square and the star", {**inst, "shape": [left, right, mid, off]}),
                [])
    stars = [disc(30, 50, 12), disc(80, 50, 8), disc(130, 50, 5)]
    inst = {"star": stars, "stars": stars, "green star": [stars[1]]}
    assert same(answer("the star larger than the green one", inst), [stars[0]])
    assert same(answer("stars smaller than the green star", inst), [stars[2]])


def test_a_bare_noun_counts_each_instance_once_across_its_colours():
    a, b = disc(40, 50, 8), disc(150, 50, 8)
    # 'circle' alone found one of them; the colour phrases find both, one twice
    inst = {"circles": [a], "red circles": [a], "blue circles": [b]}
    out = answer("how many circles are there", inst, SHAPES, confident=0.5)
    assert same(out, [a, b])


def test_an_exclusion_counts_the_excluded_phrase_s_weak_hits():
    squares = [rect(10 + 40 * i, 40, 30 + 40 * i, 60) for i in range(4)]
    inst = {"squares": squares, "red squares": [(squares[1], 0.65)]}  # a red square scored under 0.7
    assert same(answer("the squares that are not red", inst, confident=0.7), [squares[0], squares[2], squares[3]])


# ---------------------------------------------------------------------------------- replies


def reply(query, instances, vocabulary=SHAPES, confident=0.5):
    reading = understand(query, vocabulary)
    segment = make_segment(instances)
    return compose(reading, execute(reading.plan, segment, confident), confident, vocabulary, segment)


def test_counts_and_questions_answer_in_text():
    a, b = disc(40, 50, 8), disc(150, 50, 8)
    inst = {"squares": [a, b], "square": [a, b], "purple star": [a]}
    assert reply("how many squares are there?", inst).text == "2 squares"
    yes = reply("is there a purple star?", inst)
    assert (yes.status, yes.text) == ("ok", "Yes: 1 purple star")
    no = reply("is there a green star?", inst)
    assert no.status == "no_match" and no.text.startswith("No: no green star")


def test_a_helpful_no_says_what_is_there_instead():
    red, blue = rect(20, 20, 50, 50), rect(120, 20, 150, 50)
    inst = {"square": [red, blue], "red square": [red], "blue square": [blue]}
    out = reply("the magenta square", inst)
    assert out.status == "no_match" and out.text == "no purple square; 2 squares: red, blue", out
    assert "read 'magenta' as 'purple or pink'" in out.message
    absent = reply("the purple hexagon", inst)
    assert absent.text == "no purple hexagon, and no hexagon at all"
    # the asked phrase scored under the threshold: a flagged best guess, not a confident no
    weak = reply("the red square", {"red square": [(red, 0.4)]})
    assert weak.status == "unsure" and len(weak.detections) == 1 and "shown as a guess" in weak.message


def test_unsure_answers_name_the_words_not_used_and_a_rephrasing():
    circle = disc(40, 50, 8)
    out = reply("the shiny red circle", {"red circle": [circle]})
    assert out.status == "unsure" and len(out.detections) == 1
    assert "could not use 'shiny'" in out.message and "'the red circle'" in out.message
    missing = reply("the circle left of the star", {"circle": [circle]})
    assert missing.status == "unsure" and "no 'star'" in missing.message
    many = reply("the red circle", {"red circle": [circle, disc(150, 50, 8)]})
    assert many.status == "unsure" and "names one" in many.message
    every = reply("every red circle", {"red circle": [circle, disc(150, 50, 8)]})
    assert every.status == "ok"


def test_union_of_exclusions_and_groups_describe_and_say():
    plan = understand("the small cups and the leftmost plate").plan
    assert plan.root == Union((Group(S("cups"), "smallest"), Rank(S("plate"), "left")))
    assert plan.say() == "the small cups and the leftmost plate"
    assert understand("how many stars").plan.say() == "how many stars"
