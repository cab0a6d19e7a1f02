"""Colour-vision-deficiency check for the chart palette: simulate, then measure.

Teaches: a palette is "colour-blind safe" only if every pair of colours that share a chart stays
apart after simulating protanopia and deuteranopia (Machado, Oliveira & Fernandes 2009, severity
1, applied in linear sRGB), measured as the CIE76 distance in CIELAB (D65). 15 is our floor: two
colours closer than that are hard to tell apart in a small legend swatch.
Leaves out: tritanopia (rare), CIEDE2000 (CIE76 is stricter for these hues and simpler to read).
"""
from __future__ import annotations

import itertools

import numpy as np

MIN_DELTA_E = 15.0

# Machado et al. 2009, severity 1.0: linear RGB -> linear RGB as a dichromat sees it.
PROTAN = np.array([[0.152286, 1.052583, -0.204868],
                   [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]])
DEUTAN = np.array([[0.367322, 0.860646, -0.227968],
                   [0.280085, 0.672501, 0.047413],
                   [-0.011820, 0.042940, 0.968881]])
VISIONS = {"normal": np.eye(3), "protanopia": PROTAN, "deuteranopia": DEUTAN}

_SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805],
                         [0.2126, 0.7152, 0.0722],
                         [0.0193, 0.1192, 0.9505]])
_WHITE = np.array([0.95047, 1.0, 1.08883])  # D65


def linear_rgb(color: str) -> np.ndarray:
    """'#rrggbb' (or '#rgb') -> linear sRGB in [0, 1], shape (3,)."""
    h = color.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    c = np.array([int(h[i:i + 2], 16) for i in (0, 2, 4)]) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def lab(rgb_linear: np.ndarray) -> np.ndarray:
    """Linear sRGB -> CIELAB (D65), shape (3,)."""
    xyz = _SRGB_TO_XYZ @ np.clip(rgb_linear, 0.0, 1.0) / _WHITE
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def delta_e(a: str, b: str, vision: str = "normal") -> float:
    """CIE76 distance between two colours as seen with `vision` (a key of VISIONS)."""
    m = VISIONS[vision]
    return float(np.linalg.norm(lab(m @ linear_rgb(a)) - lab(m @ linear_rgb(b))))


def worst_pair(colors) -> tuple[float, str, str, str]:
    """The closest pair over every vision: (ΔE, colour, colour, vision); inf for < 2 colours.

    >>> round(worst_pair(["#0072B2", "#D55E00"])[0]) > 15
    True
    """
    worst = (float("inf"), "", "", "")
    for a, b in itertools.combinations(dict.fromkeys(c.lower() for c in colors), 2):
        for vision in VISIONS:
            d = delta_e(a, b, vision)
            if d < worst[0]:
                worst = (d, a, b, vision)
    return worst
