"""The planner's answer in words: its status, a short text ("4 squares", "Yes: 1 purple star"), and a
helpful no.

When the asked-for thing is not found, the planner looks again more generally before it says no, as SAM 3
Agent re-prompts with a more general phrase: the same phrase below the threshold (then the answer is a
flagged best guess), then the head noun alone, and says what is there instead ("no magenta square; 2
squares: red, blue").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from agent.spatial.execute import SpatialAnswer
from agent.spatial.plan import Plan, Reading, Select, head_select
from agent.spatial.vocabulary import Vocabulary
from agent.spatial.words import head_index, head_noun, is_plural, pluralise, singularise
from sam3.detections import Detections, mask_iou

HINT_FLOOR = 0.6  # of the confidence level: a weaker hit of the asked phrase is offered as a flagged guess
EXAMPLES = "'the leftmost red circle', 'how many stars are there?', 'is there a blue square?'"


@dataclass
class Reply:
    status: str  # ok, no_match, unsure or error
    text: str  # the short answer: "2 red circles", "Yes: 1 purple star", "4 squares"
    message: str  # how the answer came about, and why it is flagged when it is
    detections: Detections


def _inflect(phrase: str, n: int) -> str:
    words = phrase.split()
    if not words:
        return phrase
    i = head_index(words)
    words[i] = singularise(words[i]) if n == 1 else pluralise(words[i])
    return " ".join(words)


def _noun_phrase(plan: Plan, answer: SpatialAnswer) -> str:
    head = head_select(plan.root)
    if head is None:
        return "object"
    return answer.readings.get(head.phrase, head.phrase)


def answer_text(plan: Plan, answer: SpatialAnswer, looked: str = "") -> str:
    n = len(answer.detections)
    phrase = _noun_phrase(plan, answer)
    if plan.intent == "count":
        return f"{n} {_inflect(phrase, n)}"
    if plan.intent == "yes_no":
        return f"Yes: {n} {_inflect(phrase, n)}" if n else f"No: {looked or 'no ' + _inflect(phrase, 1)}"
    return f"{n} {_inflect(phrase, n)}" if n else (looked or f"no {_inflect(phrase, 1)}")


def not_read(reading: Reading, vocabulary: Vocabulary | None) -> str:
    """Why nothing could be read, and how to ask instead."""
    words = ", ".join(f"'{w}'" for w in reading.unused) or f"'{reading.query}'"
    knows = f" This model knows {vocabulary.describe()}." if vocabulary else ""
    return f"could not read {words} as things to find in the image.{knows} Try e.g. {EXAMPLES}."


def unsure_message(reading: Reading) -> str:
    words = ", ".join(f"'{w}'" for w in reading.unused)
    return f"could not use {words}; this answers '{reading.plan.say()}' (ask that to get it without this flag)"


def _colour_names(noun_hits: Detections, colours: Detections) -> list[str]:
    """For each instance of a noun, the colour phrase that found the same instance best ('' if none)."""
    if not len(noun_hits) or not len(colours):
        return [""] * len(noun_hits)
    iou = mask_iou(noun_hits.masks, colours.masks)
    names = []
    for row in iou:
        same = np.flatnonzero(row > 0.5)
        best = same[np.argmax(colours.scores[same])] if len(same) else None
        names.append("" if best is None else colours.phrases[best].split()[0])
    return names


def look_again(
    plan: Plan, answer: SpatialAnswer, segment: Callable[[list[str]], Detections], confident: float,
    vocabulary: Vocabulary | None, segment_narrower: Callable[[list[str]], Detections] | None = None,
) -> tuple[str, Detections | None]:
    """(what is there instead, a flagged best guess or None) for a plan whose answer is empty."""
    head = head_select(plan.root)
    if head is None:
        return "", None
    asked = [head.phrase, *head.alternatives]
    noun = head_noun(head.phrase)
    general = [noun] if noun not in asked else []
    colour_phrases = [f"{c} {singularise(noun)}" for c in vocabulary.colours] if vocabulary and general else []
    if segment_narrower is not None and colour_phrases:
        det = Detections.merge([segment(list(dict.fromkeys(asked + general))), segment_narrower(colour_phrases)],
                               image_size=answer.detections.image_size)
    else:
        det = segment(list(dict.fromkeys(asked + general + colour_phrases)))
    phrases = np.array([p.strip().lower() for p in det.phrases], dtype=object)
    said = f"no {_inflect(head.phrase, 1)}"
    if plan.root is head:
        weak = np.flatnonzero(np.isin(phrases, asked) & (det.scores >= HINT_FLOOR * confident))
        if len(weak):
            best = det[weak]
            top = float(best.scores.max())
            return (f"no {_inflect(head.phrase, 1)} scored {confident:.2f} or more; {len(best)} possible "
                    f"(best score {top:.2f}) shown as a guess"), best
    if not general:
        return said, None
    # the noun's instances: found by the noun itself or by one of its colours, each once
    kinds = np.isin(phrases, [noun, *colour_phrases]) & (det.scores >= confident)
    hits = _each_once(det[np.flatnonzero(kinds)])
    hits = hits[np.argsort((hits.boxes[:, 0] + hits.boxes[:, 2]), kind="stable")]  # left to right
    if not len(hits):
        return f"{said}, and no {_inflect(noun, 1)} at all", None
    names = [c for c in _colour_names(hits, det[np.flatnonzero(np.isin(phrases, colour_phrases)
                                                                  & (det.scores >= 0.5 * confident))]) if c]
    what = f"{len(hits)} {_inflect(noun, len(hits))}"
    return f"{said}; {what}" + (f": {', '.join(names)}" if names else ""), None


def _each_once(det: Detections) -> Detections:
    """The detections with any that repeats a better-scored one (mask IoU > 0.5) left out."""
    det = det.sort_by_score()
    if len(det) < 2:
        return det
    iou = mask_iou(det.masks, det.masks)
    keep: list[int] = []
    for i in range(len(det)):
        if not any(iou[i, j] > 0.5 for j in keep):
            keep.append(i)
    return det[keep]


def compose(
    reading: Reading, answer: SpatialAnswer, confident: float | None, vocabulary: Vocabulary | None,
    segment: Callable[[list[str]], Detections] | None = None,
    segment_narrower: Callable[[list[str]], Detections] | None = None,
) -> Reply:
    """The reply for an executed plan: ok, no_match (with what is there instead), or unsure (with why)."""
    plan = reading.plan
    notes = [*reading.notes]
    detections = answer.detections
    status = "ok" if len(detections) else "no_match"
    looked, flags = "", []
    if not len(detections) and segment is not None and confident is not None:
        looked, guess = look_again(plan, answer, segment, confident, vocabulary, segment_narrower)
        if guess is not None:
            detections, status = guess, "unsure"
            flags.append(looked)
    if not reading.understood:
        status = "unsure"
        flags.insert(0, unsure_message(reading))
    elif answer.missing:
        status = "unsure"
        flags.append("the query says there is more than was found: " + "; ".join(answer.missing))
    elif answer.weak and status == "ok":
        status = "unsure"
        flags.append(f"the answer rests on a detection scored under the threshold ({confident:.2f})")
    elif (status == "ok" and plan.intent == "find" and isinstance(plan.root, Select) and len(detections) > 1
          and not plan.root.many and not is_plural(head_noun(plan.root.phrase))):
        status = "unsure"
        flags.append(f"found {len(detections)} where the query names one; all are shown")
    shown = replace(answer, detections=detections)
    text = answer_text(plan, shown, looked if not len(detections) else "")
    parts = [*(f"{n}" for n in notes), *flags, answer.explanation]
    return Reply(status, text, "; ".join(p for p in parts if p), detections)
