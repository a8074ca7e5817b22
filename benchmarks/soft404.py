"""The page classifier on every labelled page we have, beside a keyword-only detector on the same pages.

Pages: the labelled corpus (tests/soft404corpus.py: error templates in 10 languages and several styles,
briefs, photo pages, mixed template+article pages), the seed page in its three served forms, both states
of the sample web (every article, every dead page, redirects followed in-process), and the 181 real news
pages of ../shared/data/article-extraction-benchmark (all live).

Printed: precision / recall / F1 for "dead" (not-found + soft-404), the confusion matrix over verdicts,
results per language and per page style, and the milliseconds the classifier adds per page (median, p95;
the HTML parse is shared with the crawl log and reported apart; no network).

    python benchmarks/soft404.py
"""

from __future__ import annotations

import gzip
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from crawler.extract import parse_html  # noqa: E402
from crawler.soft404.classify import classify_page, redirect_verdict  # noqa: E402
from crawler.soft404.cues import NOT_FOUND  # noqa: E402
from crawler.soft404.page import read_page  # noqa: E402
from crawler.soft404.status import Verdict, from_status  # noqa: E402
from tests import seedpage  # noqa: E402
from tests.fixtureweb.server import Web  # noqa: E402
from tests.soft404corpus import corpus  # noqa: E402

DEAD = {"not-found", "soft-404"}
BENCHMARK = ROOT.parent / "shared" / "data" / "article-extraction-benchmark" / "html"


@dataclass
class Case:
    """One fetched page with its expected verdict."""

    source: str
    lang: str
    style: str
    expect: str
    status: int
    html: bytes
    requested: str
    final: str


def sample_web_cases() -> list[Case]:
    cases = []
    web = Web()
    for number in (1, 2):
        web.number = number
        state = web.state
        pages = [(a.path, a.lang, f"article-{a.template}", "ok") for a in state.articles.values()]
        pages += [(d.path, d.lang, d.how.split(":")[0], d.expect if d.expect != "moved" else "ok")
                  for d in state.dead.values()]
        for path, lang, style, expect in pages:
            final, reply = path, web.answer("GET", path, "http://web.test")
            for _ in range(5):  # follow redirects as the crawler does
                location = dict(reply.headers).get("Location")
                if reply.status not in (301, 302) or not location:
                    break
                final, reply = location, web.answer("GET", location, "http://web.test")
            cases.append(Case(f"sample-web-{number}", lang, style, expect, reply.status, reply.body,
                              "http://web.test" + path, "http://web.test" + final))
    return cases


def other_cases() -> list[Case]:
    cases = [Case("corpus", p.lang, p.style, p.expect, 200, p.html.encode(), f"https://n.test/{p.name}",
                  f"https://n.test/{p.name}") for p in corpus()]
    for style, expect in (("visible", "ok"), ("hidden", "ok"), ("error-only", "soft-404")):
        cases.append(Case("seed", "en", f"seed-{style}", expect, 200, seedpage.build(style).encode(), seedpage.URL,
                          seedpage.URL))
    for path in sorted(BENCHMARK.glob("*.html.gz")):
        url = f"https://real.test/{path.name}"
        cases.append(Case("real-articles", "various", "real-article", "ok", 200, gzip.decompress(path.read_bytes()),
                          url, url))
    return cases


def ours(case: Case, timings: dict[str, list[float]]) -> str:
    if not 200 <= case.status < 300:
        return from_status(case.status).verdict or "none"
    moved = redirect_verdict(case.requested, case.final, case.requested != case.final)
    if moved is not None:
        return moved.verdict or "none"
    start = time.perf_counter()
    tree = parse_html(case.html)
    parsed = time.perf_counter()
    verdict = classify_page(read_page(tree)) if tree is not None else Verdict("ok", [], None)
    done = time.perf_counter()
    timings["parse"].append((parsed - start) * 1000)
    timings["classify"].append((done - parsed) * 1000)
    return verdict.verdict or ("needs-render" if "needs-render" in verdict.reasons else "none")


def keywords(case: Case, timings: dict[str, list[float]]) -> str:
    """The detector the field uses today: status codes, then error wording anywhere on the page."""
    if not 200 <= case.status < 300:
        return from_status(case.status).verdict or "none"
    start = time.perf_counter()
    tree = parse_html(case.html)
    text = tree.text_content() if tree is not None else ""
    found = NOT_FOUND.search(text)
    timings["classify"].append((time.perf_counter() - start) * 1000)
    return "soft-404" if found else "ok"


def scores(pairs: list[tuple[str, str]]) -> tuple[float, float, float]:
    tp = sum(1 for want, got in pairs if want in DEAD and got in DEAD)
    fp = sum(1 for want, got in pairs if want not in DEAD and got in DEAD)
    fn = sum(1 for want, got in pairs if want in DEAD and got not in DEAD)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def report(name: str, cases: list[Case], detector: Callable[[Case, dict[str, list[float]]], str]) -> list[str]:
    timings: dict[str, list[float]] = defaultdict(list)
    got = [detector(case, timings) for case in cases]
    pairs = [(case.expect, verdict) for case, verdict in zip(cases, got, strict=True)]
    p, r, f1 = scores(pairs)
    print(f"\n== {name}: {len(cases)} pages")
    print(f"dead (not-found + soft-404): precision {p:.4f}  recall {r:.4f}  F1 {f1:.4f}")
    live_real = [v for case, v in zip(cases, got, strict=True) if case.source == "real-articles"]
    print(f"real articles called dead: {sum(v in DEAD for v in live_real)} of {len(live_real)}")
    mixed = [v for case, v in zip(cases, got, strict=True) if "mixed" in case.style or case.style == "seed-visible"]
    print(f"mixed template+article pages ok: {sum(v == 'ok' for v in mixed)} of {len(mixed)}")
    labels = sorted({*(c.expect for c in cases), *got})
    matrix = Counter(pairs)
    print("confusion (rows: expected, columns: verdict)")
    print(" " * 14 + "".join(f"{label:>14}" for label in labels))
    for want in labels:
        print(f"{want:>14}" + "".join(f"{matrix[want, g]:>14}" for g in labels))
    for key in ("lang", "style"):
        groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for case, pair in zip(cases, pairs, strict=True):
            groups[getattr(case, key)].append(pair)
        wrong = {k: sum(1 for want, g in v if (want in DEAD) != (g in DEAD)) for k, v in groups.items()}
        print(f"per {key}: " + ", ".join(f"{k} {len(groups[k]) - wrong[k]}/{len(groups[k])}" for k in sorted(groups)))
    for part, values in sorted(timings.items()):
        if values:
            p95 = statistics.quantiles(values, n=20)[-1]
            print(f"ms/page {part}: median {statistics.median(values):.2f}  p95 {p95:.2f}")
    return got


def main() -> None:
    cases = sample_web_cases() + other_cases()
    report("keyword baseline", cases, keywords)
    report("palimpsest classifier", cases, ours)


if __name__ == "__main__":
    main()
