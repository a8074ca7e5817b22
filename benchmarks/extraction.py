"""Article-body extraction on the shared benchmark: our extractor beside plain `trafilatura.extract`.

Metric: the benchmark's own (scrapinghub/article-extraction-benchmark, evaluate.py): per page, counts of
4-token shingles of `\\w+` tokens matched between extracted text and the hand-cleaned `articleBody`,
normalised per page; precision and recall are means over pages, F1 their harmonic mean. Also printed:
how often each side finds a title, an author and a publication date (where structured data helps).

Time: per page, in one run, `parse_html` (the one parse the crawler makes of a page), `extract_from_tree` on
that tree, and `trafilatura.extract(html)` (which parses for itself), interleaved page by page and in
alternating order so that load from other processes falls on both sides alike. Both sides are warmed up
first (imports, stop lists, compiled patterns). Target: ours (parse + extract) at most 1.2x trafilatura's
time, p50 and mean, with an F1 above trafilatura's. trafilatura's metadata fields come from a separate,
untimed `extract_metadata` call.

    python benchmarks/extraction.py [--data ../shared/data/article-extraction-benchmark] [--summary]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import trafilatura

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from crawler.extract import Extracted, extract_from_tree, parse_html

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "article-extraction-benchmark"
TOKEN = re.compile(r"\w+", re.UNICODE)
TARGET_RATIO = 1.2  # ours (parse + extraction) against trafilatura.extract, p50 and mean
Counts = tuple[float, float, float]
T = TypeVar("T")


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = TOKEN.findall(text or "")
    return Counter(tuple(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens[i:i + n])


def match(true: str, pred: str) -> Counts:
    """(tp, fp, fn) over shingles, normalised so that long pages do not weigh more."""
    want, got = shingles(true), shingles(pred)
    tp = fp = fn = 0.0
    for key in want.keys() | got.keys():
        t, p = want.get(key, 0), got.get(key, 0)
        tp, fp, fn = tp + min(t, p), fp + max(0, p - t), fn + max(0, t - p)
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def scores(rows: list[Counts]) -> tuple[float, float, float]:
    def precision(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else (0.0 if tp == fp == 0 else tp / (tp + fp))

    def recall(tp: float, fp: float, fn: float) -> float:
        return 1.0 if fp == fn == 0 else (0.0 if tp == fn == 0 else tp / (tp + fn))

    p = statistics.mean(precision(*r) for r in rows if r[0] + r[1] > 0)
    r = statistics.mean(recall(*r) for r in rows if r[0] + r[2] > 0)
    return p, r, 2 * p * r / (p + r)


@dataclass
class Page:
    key: str
    html: str
    url: str
    truth: str


@dataclass
class Side:
    """One extractor's results over the pages: texts' match counts, fields found, times in ms."""

    rows: list[Counts] = field(default_factory=list)
    found: Counter[str] = field(default_factory=Counter)
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def _timed(fn: Callable[[], T]) -> tuple[T, float, float]:
    """Result, wall ms, cpu ms (this process only: a check on the wall time when other processes load the machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def _ours(page: Page) -> tuple[Extracted | None, float, float, float, float]:
    """Extracted fields, parse wall/cpu ms, extraction wall/cpu ms."""
    tree, parse_wall, parse_cpu = _timed(lambda: parse_html(page.html))
    if tree is None:
        return None, parse_wall, parse_cpu, 0.0, 0.0
    art, wall, cpu = _timed(lambda: extract_from_tree(tree, page.url))
    return art, parse_wall, parse_cpu, wall, cpu


def _theirs(page: Page) -> tuple[str, float, float]:
    text, wall, cpu = _timed(lambda: trafilatura.extract(page.html, include_comments=False))
    return text or "", wall, cpu


def run(pages: list[Page], per_page: bool) -> tuple[Side, Side]:
    """Both extractors on every page, interleaved: ours and trafilatura's results."""
    ours, theirs = Side(), Side()
    for page in pages[:3]:  # warm-up, untimed
        _ours(page), _theirs(page)
    if per_page:
        print(f"{'page':<10}{'parse':>8}{'extract':>9}{'ours':>8}{'trafilatura':>13}{'ratio':>7}  (wall ms)")
    for i, page in enumerate(pages):
        if i % 2:
            text, t_wall, t_cpu = _theirs(page)
            art, p_wall, p_cpu, e_wall, e_cpu = _ours(page)
        else:
            art, p_wall, p_cpu, e_wall, e_cpu = _ours(page)
            text, t_wall, t_cpu = _theirs(page)
        ours.wall.append(p_wall + e_wall)
        ours.cpu.append(p_cpu + e_cpu)
        theirs.wall.append(t_wall)
        theirs.cpu.append(t_cpu)
        ours.rows.append(match(page.truth, art.text if art else ""))
        theirs.rows.append(match(page.truth, text))
        if art:
            ours.found.update(k for k, v in {"title": art.title, "author": art.authors, "date": art.published}.items()
                              if v)
        meta = trafilatura.extract_metadata(page.html, default_url=page.url)
        theirs.found.update(k for k, v in {"title": meta.title, "author": meta.author, "date": meta.date}.items()
                            if v)
        if per_page:
            print(f"{page.key[:8]:<10}{p_wall:>8.1f}{e_wall:>9.1f}{p_wall + e_wall:>8.1f}{t_wall:>13.1f}"
                  f"{(p_wall + e_wall) / t_wall:>7.2f}")
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--summary", action="store_true", help="leave out the per-page times")
    args = parser.parse_args()
    truth = json.loads((args.data / "ground-truth.json").read_text())
    pages = [Page(key, gzip.decompress((args.data / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8"),
                  value["url"], value["articleBody"]) for key, value in truth.items()]
    print(f"{len(pages)} pages from {args.data}")
    ours, theirs = run(pages, not args.summary)
    print(f"{'extractor':<22}{'precision':>10}{'recall':>8}{'F1':>8}{'title':>7}{'author':>7}{'date':>6}"
          f"{'ms p50':>8}{'mean':>7}{'p95':>7}{'cpu p50':>9}{'mean':>7}")
    for name, side in (("trafilatura.extract", theirs), ("palimpsest", ours)):
        p, r, f1 = scores(side.rows)
        print(f"{name:<22}{p:>10.4f}{r:>8.4f}{f1:>8.4f}{side.found['title']:>7}{side.found['author']:>7}"
              f"{side.found['date']:>6}{statistics.median(side.wall):>8.1f}{statistics.mean(side.wall):>7.1f}"
              f"{statistics.quantiles(side.wall, n=20)[-1]:>7.1f}{statistics.median(side.cpu):>9.1f}"
              f"{statistics.mean(side.cpu):>7.1f}")
    f1_ours, f1_theirs = scores(ours.rows)[2], scores(theirs.rows)[2]
    ratios = {
        "p50": statistics.median(ours.wall) / statistics.median(theirs.wall),
        "mean": statistics.mean(ours.wall) / statistics.mean(theirs.wall),
        "cpu p50": statistics.median(ours.cpu) / statistics.median(theirs.cpu),
        "cpu mean": statistics.mean(ours.cpu) / statistics.mean(theirs.cpu),
    }
    print("time palimpsest (parse + extract) / trafilatura.extract: "
          + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    print(f"F1 palimpsest / trafilatura: {f1_ours / f1_theirs:.4f} (published trafilatura F1: 0.960)")
    met = ratios["p50"] <= TARGET_RATIO and ratios["mean"] <= TARGET_RATIO and f1_ours > f1_theirs
    print(f"target: time ratio <= {TARGET_RATIO} (p50 and mean, wall) with F1 above trafilatura's: "
          f"{'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
