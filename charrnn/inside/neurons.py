"""The neuron finder: which hidden units track something simple about the text.

Each feature is a function of the text alone, one number per character (what is true after
reading it); a unit "tracks" a feature when its activation over the text correlates with it
(Pearson's r). Karpathy, Johnson and Fei-Fei (2015) found such cells by eye: one on inside
quotes, one counting along the line, one following bracket depth. Here they are ranked:

    features(text)  ->  F (T, K)        every unit's activation (inspection.py)  ->  A (T, U)
    r = corr(A, F)  (U, K)              each unit's best feature, units ranked by |r|;
                                        each feature's best unit (NeuronReport.per_feature)

Adding a feature is adding a function of the text to FEATURES (CHINESE for text with Han
characters). Features that are constant over the text (no digits in a poem) are left out.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from charrnn.inside.inspection import Inspection, Unit

OPEN, CLOSE = "([{", ")]}"
QUOTES = "\"'"
CLAUSE_MARKS = "，。、；：？！,.;:?!"
LINE_MARKS = "，。？！；"


def line_position(text: str) -> np.ndarray:
    """Characters since the last newline (0 on the newline itself)."""
    out, n = np.zeros(len(text)), 0
    for i, ch in enumerate(text):
        n = 0 if ch == "\n" else n + 1
        out[i] = n
    return out


def line_end_near(text: str) -> np.ndarray:
    """Characters until the next newline (0 on the newline; the text's end counts as one)."""
    out, n = np.zeros(len(text)), 0
    for i in range(len(text) - 1, -1, -1):
        n = 0 if text[i] == "\n" else n + 1
        out[i] = n
    return out


def bracket_depth(text: str) -> np.ndarray:
    """How many (, [ and { are open after this character (never below 0)."""
    out, depth = np.zeros(len(text)), 0
    for i, ch in enumerate(text):
        depth = depth + 1 if ch in OPEN else max(depth - 1, 0) if ch in CLOSE else depth
        out[i] = depth
    return out


def in_quotes(text: str) -> np.ndarray:
    """1 inside a "..." or '...' pair (the quote marks included), else 0. An apostrophe inside a word
    (don't) opens nothing; a quote left open at a line's end is closed there."""
    out, open_quote = np.zeros(len(text)), None
    for i, ch in enumerate(text):
        if open_quote is None and ch in QUOTES and not (ch == "'" and i and text[i - 1].isalpha()):
            open_quote = ch
            out[i] = 1
        elif open_quote is not None:
            out[i] = 1
            if ch == open_quote or ch == "\n":
                open_quote = None
    return out


def after_space(text: str) -> np.ndarray:
    """1 on the first character after a space."""
    return np.array([1.0 if i and text[i - 1] == " " else 0.0 for i in range(len(text))])


def uppercase(text: str) -> np.ndarray:
    return np.array([1.0 if ch.isupper() else 0.0 for ch in text])


def digit(text: str) -> np.ndarray:
    return np.array([1.0 if ch.isdigit() else 0.0 for ch in text])


def poem_position(text: str) -> np.ndarray:
    """Position within the current line of verse, which ends at ， 。 ？ ！ ； or a newline (0 on the mark)."""
    out, n = np.zeros(len(text)), 0
    for i, ch in enumerate(text):
        n = 0 if ch in LINE_MARKS or ch == "\n" else n + 1
        out[i] = n
    return out


def in_clause(text: str) -> np.ndarray:
    """1 on a character inside a clause (a letter or Han character), 0 on punctuation, spaces, newlines."""
    return np.array([0.0 if ch in CLAUSE_MARKS or not unicodedata.category(ch).startswith(("L", "N")) else 1.0
                     for ch in text])


FEATURES: dict[str, Callable[[str], np.ndarray]] = {
    "line_position": line_position, "line_end_near": line_end_near, "bracket_depth": bracket_depth,
    "in_quotes": in_quotes, "after_space": after_space, "uppercase": uppercase, "digit": digit,
}
CHINESE: dict[str, Callable[[str], np.ndarray]] = {"poem_position": poem_position, "in_clause": in_clause}


def has_han(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def features(text: str) -> dict[str, np.ndarray]:
    """Every feature that varies over `text` (the Chinese ones when it has Han characters)."""
    chosen = {**FEATURES, **(CHINESE if has_han(text) else {})}
    values = {name: f(text) for name, f in chosen.items()}
    return {name: v for name, v in values.items() if v.std() > 0}


@dataclass(frozen=True)
class Finding:
    unit: Unit
    feature: str
    r: float  # Pearson's correlation of the unit's activation with the feature over the text

    def to_dict(self) -> dict:
        return {"unit": str(self.unit), "feature": self.feature, "r": round(self.r, 4)}


def correlations(activations: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Pearson's r of every column of `activations` (T, U) with every column of `values` (T, K): (U, K).
    A constant column correlates with nothing (r = 0)."""
    a = activations - activations.mean(0)
    v = values - values.mean(0)
    norms = np.outer(np.linalg.norm(a, axis=0), np.linalg.norm(v, axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a.T @ v) / norms
    return np.nan_to_num(r)


MIN_CHARS = 20  # below this a correlation says little (a unit fits 3 points perfectly): no findings


def unit_feature_r(inspection: Inspection) -> tuple[list[Unit], list[str], np.ndarray]:
    """(units, feature names, r (U, K)) over the inspected text; needs every unit's activations."""
    found = features("".join(inspection.characters))
    if not found or not inspection.states or len(inspection.characters) < MIN_CHARS:
        return [], [], np.zeros((0, 0))
    names = list(found)
    values = np.stack([found[n] for n in names], axis=1)  # (T, K)
    units, columns = [], []
    for key, states in inspection.states.items():  # "h0", "c0", ...: (T, H)
        part, layer = key[0], int(key[1:])
        units += [Unit(layer, i, part) for i in range(states.shape[1])]
        columns.append(states.astype(np.float64))
    return units, names, correlations(np.concatenate(columns, axis=1), values)


def _top_units(units: list[Unit], names: list[str], r: np.ndarray, top: int) -> list[Finding]:
    if not units:
        return []
    best = np.abs(r).argmax(axis=1)
    strength = np.abs(r[np.arange(len(units)), best])
    order = np.argsort(-strength, kind="stable")[:top]
    return [Finding(units[u], names[best[u]], float(r[u, best[u]])) for u in order]


def _best_units(units: list[Unit], names: list[str], r: np.ndarray) -> list[Finding]:
    if not units:
        return []
    best = np.abs(r).argmax(axis=0)
    return [Finding(units[best[k]], name, float(r[best[k], k])) for k, name in enumerate(names)]


def find_neurons(inspection: Inspection, top: int = 10) -> list[Finding]:
    """The `top` units whose activation correlates most with a feature of the text, each with its best
    feature, strongest first (inspect with keep="all": every unit's activations)."""
    return _top_units(*unit_feature_r(inspection), top)


def best_per_feature(inspection: Inspection) -> list[Finding]:
    """For each feature, the unit that tracks it best (also the features no top unit picked)."""
    return _best_units(*unit_feature_r(inspection))


@dataclass
class NeuronReport:
    """What the finder found in one text: `charrnn neurons` prints it, POST /api/neurons returns it."""

    text: str  # the text read: the one given, or the start of the run's validation text
    inspection: Inspection  # every unit's activation over it
    units: list[Finding]  # the top units, strongest first
    per_feature: list[Finding]  # the unit that tracks each feature best

    def to_dict(self) -> dict:
        """The JSON form (`charrnn neurons --json`, POST /api/neurons)."""
        return {"characters": len(self.inspection.characters), "units": [f.to_dict() for f in self.units],
                "per_feature": [f.to_dict() for f in self.per_feature]}


def report_neurons(text: str, inspection: Inspection, top: int = 10) -> NeuronReport:
    """find_neurons and best_per_feature of the inspection of `text`, from one set of correlations."""
    units, names, r = unit_feature_r(inspection)
    return NeuronReport(text, inspection, _top_units(units, names, r, top), _best_units(units, names, r))
