"""Train the page classifier's model (crawler/soft404/model.json) on the development hosts only.

Pages: the development split of tests/soft404real.py (real pages of the development hosts, their dead and hard
live variants, each seen without and with its host's probe answer), the hand-made labelled corpus
(tests/soft404corpus.py) and the seed page. The held-out hosts are never read here: benchmarks/soft404.py
reports them.

Only the pages the model decides are its rows: not the stories (alive by rule, crawler/soft404/classify.py)
and not the pages with no evidence of an error page (never called dead). A logistic regression
(scikit-learn; only the numbers are kept), its regularisation chosen by cross-validation grouped by host
(no host in two folds). `dead_at` is set from the out-of-fold predictions: above every live development
page's probability, with a margin.

    python tools/train_soft404.py
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GroupKFold  # noqa: E402

from crawler.extract import parse_html  # noqa: E402
from crawler.soft404.classify import by_rule, dead_reasons, template_view  # noqa: E402
from crawler.soft404.features import NAMES, Evidence, ProbeView, evidence_of, features, vector  # noqa: E402
from crawler.soft404.lexicon import use_lexicon  # noqa: E402
from crawler.soft404.page import read_page  # noqa: E402
from tests import seedpage  # noqa: E402
from tests.soft404corpus import corpus  # noqa: E402
from tests.soft404real import cases  # noqa: E402

OUT = ROOT / "crawler" / "soft404" / "model.json"
MARGIN = 0.03  # above the most dead-looking live page of the development hosts
C_VALUES = (0.1, 0.3, 1.0, 3.0, 10.0)
BARE_STYLES = {"brief", "video", "gallery", "mixed-brief", "photo"}  # short live pages, often without markup
# Not rows: a stub (a headline over a line or two) that does not name its URL is, beside its host's probe
# answer, what an error page in unknown wording is; as rows they would lift `dead_at` over most dead pages.
# The rule that keeps the stubs that name their URL alive (`names-url`) decides them; benchmarks/soft404.py
# measures all of them, those it misses as the false alarms they are.
UNTRAINED = ("stub", "stub-bare")


def read(html: str, url: str = "") -> Evidence:
    tree = parse_html(html)
    assert tree is not None
    return evidence_of(read_page(tree), url)


class Rows:
    def __init__(self) -> None:
        self.x: list[list[float]] = []
        self.y: list[int] = []
        self.groups: list[str] = []
        self.styles: list[str] = []

    def add(self, page: Evidence, probe: ProbeView | None, dead: bool, group: str, style: str) -> None:
        """The page as it is; as it would read in a language the lexicon does not know (no cue): the model
        learns to call a page dead on the host's evidence alone, not only on words it knows; and a live page
        as it would be without its article markup and dates (many live pages have none): the model does not
        learn that their absence means a dead page."""
        variants = [(page, ""), (replace(page, cues=(None, None, None), walls=frozenset()), "-unknown-words")]
        if not dead and style.split("+", maxsplit=1)[0].removeprefix("corpus-") in BARE_STYLES:
            variants.append((replace(page, article_markup=False, dated=False), "-bare"))
        for seen, suffix in variants:
            if suffix and seen == page:
                continue
            if by_rule(seen, probe) is not None:
                continue  # a story, a home page, a login wall, a shell, an empty page: decided by rule
            found = features(seen, probe)
            if not dead_reasons(found):
                continue  # no evidence of an error page: never called dead
            self.x.append(vector(found))
            self.y.append(int(dead))
            self.groups.append(group)
            self.styles.append(style + ("+probe" if probe is not None else "") + suffix)


def rows() -> Rows:
    found = Rows()
    probes: dict[str, ProbeView | None] = {}
    for case in cases():
        if case.split != "dev" or case.label == "blocked" or case.style in UNTRAINED:
            continue  # stubs: see UNTRAINED
        page = read(case.html, case.url)
        if case.probe_url not in probes:
            probes[case.probe_url] = template_view(read(case.probe_html, case.probe_url))
        template = probes[case.probe_url]
        # A section front stands for a section page, which a crawl judges alone (it probes article pages).
        for view in (None, template) if template is not None and case.style != "front" else (None,):
            found.add(page, view, case.label == "dead", case.host, case.style)
    for labelled in corpus():
        if labelled.expect in ("ok", "soft-404"):
            found.add(read(labelled.html), None, labelled.expect == "soft-404", f"corpus-{labelled.lang}",
                      f"corpus-{labelled.style}")
    for style in ("visible", "hidden"):  # the seed page: a live story inside a "not found" template
        found.add(read(seedpage.build(style)), None, False, "seed", f"seed-{style}")
    return found


def out_of_fold(x: np.ndarray, y: np.ndarray, groups: list[str], c: float) -> np.ndarray:
    oof = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=5).split(x, y, groups):
        fitted = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(x[train], y[train])
        oof[test] = fitted.predict_proba(x[test])[:, 1]
    return oof


def fit(x: np.ndarray, y: np.ndarray, groups: list[str], styles: list[str]) -> dict[str, object]:
    """The regularisation with the best out-of-fold recall at zero false alarms, fitted on all rows."""
    best = None
    for c in C_VALUES:
        oof = out_of_fold(x, y, groups, c)
        dead_at = float(oof[y == 0].max()) + MARGIN  # above 1: nothing is called dead
        recall = float((oof[y == 1] >= dead_at).mean())
        print(f"  C={c}: out-of-fold recall at zero false alarms {recall:.3f} (dead_at {dead_at:.3f})")
        if best is None or recall > best[0]:
            best = (recall, c, dead_at, oof)
    assert best is not None
    recall, c, dead_at, oof = best
    worst = sorted(((p, s, g) for p, s, g, label in zip(oof, styles, groups, y, strict=True) if label == 0),
                   reverse=True)[:4]
    print("  most dead-looking live pages (out of fold):", [(round(float(p), 3), s, g) for p, s, g in worst])
    missed: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p, s, label in zip(oof, styles, y, strict=True):
        if label == 1:
            missed[s][0] += int(p < dead_at)
            missed[s][1] += 1
    print("  missed out of fold, by style:", {s: f"{m}/{n}" for s, (m, n) in sorted(missed.items()) if m})
    final = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(x, y)
    fitted_live = float(final.predict_proba(x[y == 0])[:, 1].max())
    dead_at = max(dead_at, fitted_live + MARGIN)  # above every live row for the model that is kept, too
    for name, weight in sorted(zip(NAMES, final.coef_[0], strict=True), key=lambda p: -abs(p[1]))[:8]:
        print(f"    {name:<16}{weight:+.2f}")
    return {"weights": [round(float(w), 6) for w in final.coef_[0]], "bias": round(float(final.intercept_[0]), 6),
            "dead_at": round(dead_at, 4),
            "trained_on": {"rows": len(y), "dead": int(y.sum()), "groups": len(set(groups)), "C": c,
                           "out_of_fold_recall": round(recall, 4)}}


def main() -> None:
    use_lexicon("dev")  # the held-out platforms' wording stays unseen (benchmarks/soft404.py measures it)
    data = rows()
    models = {}
    for part in ("alone", "probed"):
        chosen = [i for i, s in enumerate(data.styles) if ("+probe" in s) == (part == "probed")]
        print(f"{part}: {len(chosen)} rows")
        models[part] = fit(np.array([data.x[i] for i in chosen]), np.array([data.y[i] for i in chosen]),
                           [data.groups[i] for i in chosen], [data.styles[i] for i in chosen])
    OUT.write_text(json.dumps({"names": list(NAMES), **models}, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
