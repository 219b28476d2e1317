"""The planner's own words: determiners, numbers, positions, sizes, relations, and English plurals.

Only grammar lives here, never object names: a noun phrase is whatever the user wrote.
"""

from __future__ import annotations

NUMBERS = {w: i for i, w in enumerate(("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"), 2)}
ORDINALS = {w: i for i, w in enumerate(
    ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"), 1)}
ORD_RE = r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last|penultimate|\d{1,2}(?:st|nd|rd|th))"

CORNERS = {f"{v}-{h}" for v in ("top", "bottom") for h in ("left", "right")}
# A ranking: the word before a noun picks one instance ("the leftmost star") or, before a plural, a group.
SUPERLATIVES = {
    "leftmost": "left", "rightmost": "right",
    "topmost": "top", "uppermost": "top", "upmost": "top", "highest": "top",
    "bottommost": "bottom", "lowermost": "bottom", "lowest": "bottom",
    "largest": "largest", "biggest": "largest", "smallest": "smallest", "tiniest": "smallest",
    "littlest": "smallest", "centermost": "center", "centremost": "center",
    "tallest": "tallest", "shortest": "shortest", "widest": "widest", "narrowest": "narrowest",
    "hugest": "largest",
}
# Comparatives and plain size / position adjectives: one instance when the noun is singular ("the higher
# hexagon", "the large star"), a group when it is plural ("the small circles", "the upper squares").
COMPARATIVES = {
    "higher": "top", "upper": "top", "lower": "bottom",
    "bigger": "largest", "larger": "largest", "greater": "largest", "smaller": "smallest", "tinier": "smallest",
    "littler": "smallest",
}
SIZE_WORDS = {
    "large": "largest", "big": "largest", "huge": "largest", "giant": "largest", "enormous": "largest",
    "massive": "largest",
    "small": "smallest", "little": "smallest", "tiny": "smallest", "mini": "smallest", "minuscule": "smallest",
    "teeny": "smallest", "wee": "smallest",
}
BARE_SIDES = {"left": "left", "right": "right", "top": "top", "bottom": "bottom",
              "middle": "middle", "central": "center", "center": "center", "centre": "center",
              **{c: c for c in CORNERS}}
RANK_WORDS = {"left": "leftmost", "right": "rightmost", "top": "topmost", "bottom": "bottommost",
              "largest": "largest", "smallest": "smallest", "center": "most central", "middle": "middle",
              "tallest": "tallest", "shortest": "shortest", "widest": "widest", "narrowest": "narrowest",
              **{c: f"{c.replace('-', ' ')}" for c in CORNERS}}
FLIP = {"left": "right", "right": "left", "top": "bottom", "bottom": "top",
        "largest": "smallest", "smallest": "largest", "tallest": "shortest", "shortest": "tallest",
        "widest": "narrowest", "narrowest": "widest",
        "top-left": "bottom-right", "bottom-right": "top-left", "top-right": "bottom-left", "bottom-left": "top-right"}
SIZE_KEYS = ("largest", "smallest", "tallest", "shortest", "widest", "narrowest")
# Nouns that look like superlatives; any other "-est" word ("oldest", "happiest") is a ranking this planner
# cannot compute.
EST_NOUNS = {"forest", "chest", "nest", "vest", "guest", "crest", "west", "quest", "harvest", "interest",
             "contest", "protest", "request", "test", "pest", "rest", "breast", "priest", "conquest"}
VERTICAL = {"top": "top", "upper": "top", "bottom": "bottom", "lower": "bottom"}
CLOSEST_WORDS = {"closest": "closest", "nearest": "closest", "farthest": "farthest", "furthest": "farthest"}

ARTICLES = ("the", "a", "an")
QUANTIFIERS = ("all", "every", "each", "both", "any", "those", "these", "either")
PREPOSITIONS = {
    "with", "in", "on", "at", "of", "near", "by", "from", "to", "under", "over", "behind", "beside", "inside",
    "into", "onto", "without", "for", "above", "below", "beneath", "between", "through", "across", "along",
    "around", "against", "next", "like", "than", "toward", "towards", "outside", "underneath", "within",
}
POSTMOD = PREPOSITIONS | {"that", "which", "who", "whose", "wearing", "holding", "having", "carrying"}
CONJUNCTIONS = {"and", "or", "but", "nor", "except", "not", "so", "if", "then", "than"}
PRONOUNS = {
    "i", "me", "my", "mine", "you", "your", "yours", "we", "us", "our", "he", "him", "his", "she", "her",
    "it", "its", "they", "them", "their", "this", "that", "these", "those", "there", "here", "what", "which",
    "who", "whom", "whose", "one", "ones", "something", "anything", "everything", "nothing",
}
AUXILIARIES = {
    "is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did", "can", "could", "should",
    "would", "will", "shall", "may", "might", "must", "isn't", "aren't", "don't", "doesn't",
}
QUESTION_WORDS = {"what", "why", "how", "who", "when", "whose", "whom", "is", "are", "was", "were", "do",
                  "does", "did", "can", "could", "should", "would", "will", "has", "have", "had", "tell",
                  "describe", "explain", "which"}
NOT_A_NOUN = (set(ARTICLES) | set(QUANTIFIERS) | PREPOSITIONS | CONJUNCTIONS | PRONOUNS | AUXILIARIES
              | set(NUMBERS) | set(ORDINALS) | set(SUPERLATIVES) | set(BARE_SIDES) | set(CLOSEST_WORDS)
              | {"last", "other", "others", "rest", "most", "far", "very", "more", "less", "all"})
# Words that say something the planner computes (size, place, relation, negation, number): left inside a
# SAM 3 phrase, they would be a modifier nobody computed. A phrase holding one is not understood.
MODIFIERS = (set(SUPERLATIVES) | set(COMPARATIVES) | set(SIZE_WORDS) | set(BARE_SIDES) | set(CLOSEST_WORDS)
             | set(NUMBERS) | set(ORDINALS) | {
                 "not", "non", "no", "isn't", "aren't", "without", "except", "other", "last", "penultimate",
                 "inside", "within", "containing", "contains", "contain", "touching", "touches", "touch",
                 "overlapping", "overlaps", "overlap", "between", "above", "below", "beneath", "under",
                 "underneath", "over", "near", "nearby", "beside", "next", "adjacent", "corner", "side", "edge",
                 "row", "column", "lower", "upper", "higher", "horizontal", "vertical", "most", "least",
                 "far", "farther", "further", "closer", "nearer", "larger", "smaller", "bigger"})
# Words people add that carry no meaning for the query.
FILLERS = {"please", "kindly", "just", "really", "actually", "exactly", "only", "maybe", "perhaps", "directly",
           "immediately", "right", "very", "image", "picture", "photo", "scene", "frame"}

IRREGULAR_PLURALS = {
    "child": "children", "person": "people", "man": "men", "woman": "women", "mouse": "mice",
    "goose": "geese", "foot": "feet", "tooth": "teeth", "ox": "oxen", "leaf": "leaves", "knife": "knives",
    "wife": "wives", "life": "lives", "shelf": "shelves", "wolf": "wolves", "half": "halves",
    "loaf": "loaves", "calf": "calves", "scarf": "scarves", "thief": "thieves", "die": "dice",
    "cactus": "cacti", "fungus": "fungi", "sheep": "sheep", "fish": "fish", "deer": "deer",
}
IRREGULAR_SINGULARS = {v: k for k, v in IRREGULAR_PLURALS.items()}


def is_plural(word: str) -> bool:
    if word in IRREGULAR_SINGULARS and word not in IRREGULAR_PLURALS:
        return True
    if word in IRREGULAR_PLURALS:
        return False
    return len(word) > 2 and word.endswith("s") and not word.endswith(("ss", "us", "is", "'s"))


def pluralise(word: str) -> str:
    if word in IRREGULAR_PLURALS:
        return IRREGULAR_PLURALS[word]
    if is_plural(word):
        return word
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if len(word) > 1 and word.endswith("y") and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def singularise(word: str) -> str:
    if word in IRREGULAR_SINGULARS:
        return IRREGULAR_SINGULARS[word]
    if not is_plural(word):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    return word[:-1]


def head_index(words: list[str]) -> int:
    """The head noun: the word before the first post-modifier ("child [wearing a vest]"), else the last."""
    for i, w in enumerate(words[1:], 1):
        if w in POSTMOD or (w.endswith("ing") and len(w) > 4):
            return i - 1
    return len(words) - 1


def head_noun(phrase: str) -> str:
    words = phrase.split()
    return words[head_index(words)] if words else ""


def ordinal_word(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def number(word: str) -> int | None:
    if word in NUMBERS:
        return NUMBERS[word]
    if word.isdigit() and 2 <= int(word) <= 99:
        return int(word)
    return None
