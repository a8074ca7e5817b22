"""The calibrated part of the page classifier: a logistic regression over the signals of
crawler/soft404/features.py, trained by tools/train_soft404.py and kept as plain numbers in model.json (the
crawler needs no scikit-learn).

There are two: one for a page on its own, one for a page compared with its host's answer for a URL that
cannot exist (what the page shares with that answer means something else than what it says alone). Each
one's output is the probability that the requested URL is dead. A page is called dead only at `dead_at` or
above, a threshold chosen on the development hosts, out of fold, above every one of their live pages (real
articles, briefs, video and photo pages, fronts, headlines with "not found" in them, stories whose template
carries an error block), with a margin.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from crawler.soft404.features import NAMES

MODEL = Path(__file__).with_name("model.json")


@dataclass(frozen=True)
class Model:
    weights: tuple[float, ...]  # in the order of NAMES
    bias: float
    dead_at: float

    def probability(self, found: dict[str, float]) -> float:
        z = self.bias + sum(w * found[name] for w, name in zip(self.weights, NAMES, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


@cache
def _models() -> dict[str, Model]:
    data = json.loads(MODEL.read_text(encoding="utf-8"))
    if tuple(data["names"]) != NAMES:
        raise ValueError(f"{MODEL}: trained on other signals than crawler/soft404/features.py computes; "
                         "run tools/train_soft404.py")
    return {part: Model(tuple(float(w) for w in data[part]["weights"]), float(data[part]["bias"]),
                        float(data[part]["dead_at"])) for part in ("alone", "probed")}


def model(probed: bool = False) -> Model:
    """The model for a page on its own, or for a page compared with its host's probe answer (a 2xx one)."""
    return _models()["probed" if probed else "alone"]
