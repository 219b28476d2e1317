"""Colour names and where they lie, to read a colour word a model does not know as the nearest ones it does.

Basic colour terms sit at their focal colours (what people point at for "red"), the rest at their usual
CSS / X11 values. Distances are CIELAB ΔE (CIE76), close enough to how far apart people see colours.
"""

from __future__ import annotations

import numpy as np

COLOUR_RGB: dict[str, tuple[int, int, int]] = {
    # basic terms, at their focal colours
    "red": (215, 35, 35), "orange": (245, 135, 25), "yellow": (240, 215, 30), "green": (35, 165, 55),
    "blue": (35, 75, 220), "purple": (135, 55, 190), "pink": (245, 135, 190), "white": (248, 248, 248),
    "black": (18, 18, 18), "grey": (128, 128, 128), "gray": (128, 128, 128), "brown": (130, 80, 40),
    # other names
    "crimson": (220, 20, 60), "scarlet": (255, 36, 0), "maroon": (128, 0, 0), "burgundy": (128, 0, 32),
    "ruby": (224, 17, 95), "cherry": (210, 4, 45), "vermilion": (227, 66, 52), "rust": (183, 65, 14),
    "coral": (255, 127, 80), "salmon": (250, 128, 114), "tomato": (255, 99, 71), "amber": (255, 191, 0),
    "tangerine": (242, 133, 0), "peach": (255, 203, 164), "apricot": (251, 206, 177), "gold": (255, 215, 0),
    "golden": (255, 215, 0), "lemon": (255, 247, 0), "mustard": (225, 173, 1), "khaki": (195, 176, 145),
    "beige": (245, 245, 220), "cream": (255, 253, 208), "ivory": (255, 255, 240), "tan": (210, 180, 140),
    "olive": (110, 140, 40), "lime": (50, 205, 50), "emerald": (80, 200, 120), "jade": (0, 168, 107),
    "mint": (152, 255, 152), "forest": (34, 139, 34), "teal": (0, 128, 128), "turquoise": (64, 224, 208),
    "aqua": (0, 200, 210), "cyan": (0, 190, 230), "azure": (0, 127, 255), "navy": (0, 0, 128),
    "cobalt": (0, 71, 171), "sapphire": (15, 82, 186), "indigo": (75, 0, 130), "violet": (143, 0, 255),
    "lavender": (181, 126, 220), "lilac": (200, 162, 200), "mauve": (224, 176, 255), "plum": (142, 69, 133),
    "magenta": (255, 0, 255), "fuchsia": (255, 0, 255), "rose": (255, 0, 127), "raspberry": (227, 11, 92),
    "silver": (192, 192, 192), "charcoal": (54, 69, 79), "ebony": (40, 36, 33), "jet": (20, 20, 20),
    "snow": (255, 250, 250), "pearl": (234, 224, 200), "chocolate": (123, 63, 0), "coffee": (111, 78, 55),
    "bronze": (205, 127, 50), "copper": (184, 115, 51), "blush": (222, 93, 131), "dark": (30, 30, 30),
    "sky": (135, 206, 235), "ocean": (0, 119, 190), "grass": (60, 170, 60), "blood": (138, 7, 7),
    "wine": (114, 47, 55), "lemony": (255, 247, 0), "reddish": (205, 60, 50), "bluish": (60, 90, 200),
    "greenish": (60, 160, 80), "yellowish": (230, 210, 60), "pinkish": (235, 140, 180),
    "purplish": (140, 70, 180), "orangish": (240, 140, 40), "orangey": (240, 140, 40),
}
# "light blue", "dark green": the shade word goes, the colour stays
SHADES = {"light", "dark", "pale", "bright", "deep", "vivid", "soft", "pastel", "neon", "hot", "dull"}
# Candidates lie within NEAR_RATIO of the nearest known colour's distance (plus NEAR_SLACK), at most
# MAX_CANDIDATES of them.
NEAR_RATIO, NEAR_SLACK = 1.35, 8.0
MAX_CANDIDATES = 3
NEUTRAL_CHROMA = 18.0  # below it a colour is a grey, told apart by lightness alone


def _lch(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """CIE lightness, chroma and hue angle (degrees)."""
    c = np.asarray(rgb, float) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ c
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    lightness, a, b = 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])
    return float(lightness), float(np.hypot(a, b)), float(np.degrees(np.arctan2(b, a)) % 360)


def _distance(x: tuple[float, float, float], y: tuple[float, float, float]) -> float | None:
    """Hue first for colours, lightness for greys; None across the two (red is never read as white)."""
    if (x[1] < NEUTRAL_CHROMA) != (y[1] < NEUTRAL_CHROMA):
        return None
    if x[1] < NEUTRAL_CHROMA:
        return abs(x[0] - y[0])
    hue = abs(x[2] - y[2])
    return min(hue, 360 - hue) + 0.3 * abs(x[0] - y[0])


def nearest_colours(word: str, known: tuple[str, ...]) -> list[str]:
    """The known colour names nearest to colour word `word`, nearest first (empty when none is near)."""
    if word not in COLOUR_RGB:
        return []
    target = _lch(COLOUR_RGB[word])
    dist = {}
    for k in known:
        if k in COLOUR_RGB:
            d = _distance(target, _lch(COLOUR_RGB[k]))
            if d is not None:
                dist[k] = d
    if not dist:
        return []
    best = min(dist.values())
    near = sorted((d, k) for k, d in dist.items() if d <= NEAR_RATIO * best + NEAR_SLACK)
    return [k for _, k in near[:MAX_CANDIDATES]]
