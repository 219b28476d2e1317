"""From what a person typed to the plain words the grammar reads, and the kind of answer wanted.

Polite lead-ins ("can you find", "show me") and trailers ("in the image", "please") go; a yes/no question
("is there a ...?", "does the picture contain ...") or a count ("how many ...", "count the ...") becomes
its noun phrase plus an intent; "which X is the largest" becomes "the largest X".
"""

from __future__ import annotations

import re
import unicodedata

from agent.spatial.plan import Intent
from agent.spatial.words import COMPARATIVES, NUMBERS, ORD_RE, ORDINALS, QUESTION_WORDS, SUPERLATIVES, VERTICAL

MAX_QUERY_CHARS = 300

_ALLOWED = re.compile(r"[a-z0-9 ,'\-]*")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "`": "'"})
_CORNER_RE = re.compile(r"\b(top|bottom|upper|lower)[\s-](left|right)(?:[\s-]?most)?\b")
_LEADIN = re.compile(
    r"^(?:"
    r"(?:please|kindly|now|ok|okay|hey|hi|so|and|then)\s*,?\s+"
    r"|(?:can|could|would|will)\s+you\s+(?:please\s+)?"
    r"|i\s+(?:want|need|would\s+like|'d\s+like)\s+(?:you\s+)?(?:to\s+)?(?:see\s+)?"
    r"|help\s+me\s+(?:to\s+)?"
    r"|(?:i'm|i\s+am|we're)?\s*looking\s+for\s+"
    r"|(?:find|locate|segment|show|highlight|select|mark|detect|outline|identify|get|return|give|label|"
    r"track|pick\s+out|pick|point\s+(?:to|at|out)|look\s+for|search\s+for|search|display|isolate|"
    r"extract|annotate|tag|choose|ground|spot)(?:\s+(?:me|us))?\s+"
    r"|where\s+(?:is|are)\s+|where's\s+"
    r")"
)
_TRAILER = re.compile(
    r"\s*,?\s+(?:please|for\s+me|(?:are|is)\s+there|(?:that\s+)?(?:you\s+)?(?:can\s+)?see"
    r"|(?:(?:that\s+)?(?:are|is)\s+)?(?:in|of|on)\s+(?:the|this)\s+(?:image|picture|photo|photograph|frame|scene|video"
    r"|shot)|(?:are|is)\s+(?:visible|shown|present|there)|there\s+(?:are|is)|do\s+you\s+see|can\s+you\s+see"
    r"|(?:that\s+)?(?:you\s+)?(?:can\s+)?(?:see|find|spot))$"
)
_COUNT = re.compile(
    r"^(?:(?:can|could|would)\s+you\s+(?:please\s+)?)?(?:tell\s+me\s+)?(?:"
    r"how\s+many\s+(?:of\s+)?|count\s+(?:up\s+)?(?:how\s+many\s+)?|(?:what\s+is\s+|what's\s+)?the\s+number\s+of\s+"
    r"|number\s+of\s+|give\s+(?:me\s+)?the\s+(?:number|count)\s+of\s+)"
)
_YES_NO = re.compile(
    r"^(?:(?:is|are)\s+there\s+(?:any\s+|some\s+)?|(?:do|can)\s+(?:you|i|we)\s+see\s+(?:any\s+)?"
    r"|(?:does|do)\s+(?:the|this)\s+(?:image|picture|photo|scene)\s+(?:contain|have|show|include)\s+(?:any\s+)?"
    r"|(?:is|are)\s+(?:any|some)\s+(?:of\s+)?"
    r"|(?:does|do)\s+(?:it|this)\s+(?:contain|have|show)\s+(?:any\s+)?)"
)
# "is the triangle to the left of the circle": a relation between two noun phrases
_IS_REL = re.compile(
    r"^(?:is|are)\s+(?P<x>(?:the|a|an|any)\s+.+?)\s+(?P<rest>(?:(?:directly|right|just)\s+)?(?:to\s+the\s+left|"
    r"to\s+the\s+right|left\s+of|right\s+of|above|below|under|beneath|over|inside|in|within|on|at|touching|"
    r"overlapping|next\s+to|near|beside|between|closest|nearest|farthest|furthest|bigger|larger|smaller|higher|"
    r"lower|containing)\b.*)$"
)
_IS_ADJ = re.compile(r"^(?:is|are)\s+(?P<x>(?:the|a|an)\s+[a-z]+(?:\s+[a-z]+)?)\s+(?P<adj>[a-z]+)$")
_WHICH = re.compile(
    r"^(?P<w>which|what)\s+(?:(?:one|ones)\s+(?:of\s+(?:the\s+)?)?|of\s+the\s+)?(?P<x>.*?)\s*\b(?:is|are)\s+"
    r"(?P<rest>.+)$")
# after a count or a yes/no lead-in: "stars are on the left" -> "stars on the left", "circles are red" -> "red circles"
_ARE_PLACE = re.compile(
    r"^(?P<x>.+?)\s+(?:are|is)\s+(?=(?:on|in|at|to|above|below|under|beneath|inside|within|touching|overlapping|"
    r"bigger|larger|smaller|left|right|near|next|between|closest|nearest|farther|further|higher|lower)\b)")
_ARE_ADJ = re.compile(r"^(?P<x>[a-z]+(?:\s+[a-z]+)?)\s+(?:are|is)\s+(?P<adj>[a-z]+)$")
_WHAT = re.compile(r"^(?:what|which)\s+(?:is|are|'s)\s+(?P<rest>.+)$|^what's\s+(?P<rest2>.+)$")
_SOMETHING = re.compile(
    r"\b(?:something|anything)\s+(?!(?:in|on|at|to|of|above|below|under|over|near|next|inside|between|that|which|"
    r"touching|overlapping|left|right|closest|nearest)\b)(?P<adj>[a-z]+)\b")
_GENERIC_OPEN = "object"  # what "something" / "which one" stand for when nothing names the noun
_RELATION_START = re.compile(
    r"^(?:(?:directly|right|just)\s+)?(?:touching|overlapping|inside|in\s+the|within|above|below|under|beneath|over|"
    r"left\s+of|right\s+of|to\s+the|on\s+the|at\s+the|next\s+to|near|beside|between|closest|nearest|farthest|"
    r"furthest|containing|bigger|larger|smaller)\b"
)


def normalise(query: object) -> str | None:
    """Lower case, accents and curly quotes folded, end punctuation dropped; None for what is no query."""
    if not isinstance(query, str) or len(query) > MAX_QUERY_CHARS:
        return None
    s = unicodedata.normalize("NFKD", query)
    s = "".join(c for c in s if not unicodedata.combining(c)).translate(_QUOTES).lower()
    s = re.sub(r"\s+", " ", s).strip().strip("\"'").strip()
    s = re.sub(r"[\s.?!;:]+$", "", s).strip().strip("\"'").strip()
    if not s or not _ALLOWED.fullmatch(s):
        return None
    s = re.sub(r"\s*,\s*", ", ", s).strip(" ,-")
    s = re.sub(r"\b(left|right|top|bottom|upper|lower|centre|center)-most\b", r"\1most", s)
    s = re.sub(r"\b(that|there|which|who|here)'s\b", r"\1 is", s)
    s = re.sub(r"\bnon[\s-](?=[a-z])", "non-", s)
    s = re.sub(r"\b(?:second|next)[\s-]to[\s-]last\b", "penultimate", s)
    s = re.sub(rf"\b({ORD_RE})-(?=[a-z])", r"\1 ", s)
    return _CORNER_RE.sub(lambda m: f"{VERTICAL[m.group(1)]}-{m.group(2)}", s)


def _strip(s: str) -> str:
    for _ in range(6):
        before = s
        s = _LEADIN.sub("", s).strip(" ,")
        s = _TRAILER.sub("", s).strip(" ,")
        if s == before:
            break
    return s


def clean(query: object, generic: str | None = None) -> tuple[Intent, str] | None:
    """(intent, the words to parse), or None when the text is no referring query the grammar can read.

    `generic` is the noun for "something" / "which one" (a closed vocabulary's "shape"); "object" without."""
    s = normalise(query)
    if s is None:
        return None
    generic = generic or _GENERIC_OPEN
    s = _strip(s)
    intent: Intent = "find"
    m = _COUNT.match(s)
    if m:
        intent, s = "count", _strip(s[m.end():])
    else:
        m = _IS_REL.match(s) or _IS_ADJ.match(s)
        if m and m.re is _IS_REL:
            intent, s = "yes_no", f"{m.group('x')} {m.group('rest')}"
        elif m and m.group("adj") not in ("there", "visible", "present", "here"):
            intent, s = "yes_no", _adjective_first(m.group("x"), m.group("adj"))
        else:
            m = _YES_NO.match(s)
            if m:
                intent, s = "yes_no", _strip(s[m.end():])
    if intent != "find":
        s = _ARE_PLACE.sub(lambda m: f"{m.group('x')} ", s)
        m = _ARE_ADJ.match(s)
        if m and m.group("adj") not in ("there", "here", "visible", "present", "shown"):
            s = f"{m.group('adj')} {m.group('x')}"
    s = _SOMETHING.sub(lambda m: f"{m.group('adj')} {generic}", s)
    s = re.sub(r"^(?:something|anything|things)\s+", f"{generic} ", s)
    if intent == "find":
        rewritten = _rewrite_question(s, generic)
        if rewritten is None:
            return None
        s = rewritten
    s = _strip(s)
    if not s or s.split()[0] in QUESTION_WORDS or s.split()[0] in ("there", "it"):
        return None
    return intent, s


def _adjective_first(x: str, adj: str) -> str:
    """'is the star purple' -> 'the purple star'."""
    det, _, rest = x.partition(" ")
    return f"{det} {adj} {rest}"


def _rewrite_question(s: str, generic: str) -> str | None:
    """'which X is the largest' -> 'the largest X'; 'what is touching the Y' -> 'the shape touching the Y'."""
    m = _WHICH.match(s)
    if m and (m.group("w") == "which" or m.group("x") and _RELATION_START.match(m.group("rest"))):
        x = (m.group("x") or "").strip()
        x = re.sub(r"^(?:the\s+)?(?:one|ones)$", "", x).strip() or generic
        return _rewrite_which(x, m.group("rest"), generic)
    if s.startswith("which "):  # "which one", "which shape" without a verb
        return None
    m = _WHAT.match(s)
    if m:
        rest = (m.group("rest") or m.group("rest2") or "").strip()
        if _RELATION_START.match(rest):
            return f"the {generic} {rest}"
        words = re.sub(r"^the\s+", "", rest).split()
        if rest.startswith("the ") and words and (words[0] in SUPERLATIVES or words[0] in ORDINALS):
            return rest
        return None
    return s


def _rewrite_which(x: str, rest: str, generic: str) -> str | None:
    words = re.sub(r"^the\s+", "", rest).split()
    if words and all(w in SUPERLATIVES or w in ORDINALS or w in NUMBERS or w in COMPARATIVES for w in words):
        return f"the {' '.join(words)} {x}"
    if words and words[-1] in ("one", "ones") and rest.startswith("the "):  # "which one is the pink one"
        return f"the {' '.join(words[:-1])} {x}"
    if len(words) == 1 and not rest.startswith(("the ", "a ")) and words[0] not in ("there", "here"):
        return f"the {words[0]} {x}"  # "which square is blue" -> "the blue square"
    if x == generic and not _RELATION_START.match(rest) and not rest.startswith(("on ", "at ", "in ")):
        return None
    return f"the {x} {rest}"
