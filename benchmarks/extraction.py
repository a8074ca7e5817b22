"""Article-body extraction on the shared benchmark: our extractor beside plain `trafilatura.extract`.

Metric: the benchmark's own (scrapinghub/article-extraction-benchmark, evaluate.py): per page, counts of
4-token shingles of `\\w+` tokens matched between extracted text and the hand-cleaned `articleBody`,
normalised per page; precision and recall are means over pages, F1 their harmonic mean. Also printed:
how often each side finds a title, an author and a publication date (where structured data helps), and
milliseconds per page.

    python benchmarks/extraction.py [--data ../shared/data/article-extraction-benchmark]
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
from pathlib import Path

import trafilatura

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from crawler.extract import extract_article

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "article-extraction-benchmark"
TOKEN = re.compile(r"\w+", re.UNICODE)
Counts = tuple[float, float, float]


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


def run(pages: dict[str, tuple[str, str, str]], extract: Callable[[str, str], tuple[str, dict[str, bool]]]
        ) -> tuple[list[Counts], Counter[str], list[float]]:
    rows, found, times = [], Counter[str](), []
    for html, url, truth in pages.values():
        start = time.perf_counter()
        text, fields = extract(html, url)
        times.append((time.perf_counter() - start) * 1000)
        rows.append(match(truth, text))
        found.update(k for k, v in fields.items() if v)
    return rows, found, times


def ours(html: str, url: str) -> tuple[str, dict[str, bool]]:
    art = extract_article(html, url)
    if art is None:
        return "", {}
    return art.text, {"title": bool(art.title), "author": bool(art.authors), "date": bool(art.published)}


def plain(html: str, url: str) -> tuple[str, dict[str, bool]]:
    text = trafilatura.extract(html, include_comments=False) or ""
    meta = trafilatura.extract_metadata(html, default_url=url)
    fields = {"title": bool(meta and meta.title), "author": bool(meta and meta.author),
              "date": bool(meta and meta.date)}
    return text, fields


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    truth = json.loads((args.data / "ground-truth.json").read_text())
    pages = {key: (gzip.decompress((args.data / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8"),
                   value["url"], value["articleBody"]) for key, value in truth.items()}
    print(f"{len(pages)} pages from {args.data}")
    results = {"trafilatura.extract": run(pages, plain), "palimpsest": run(pages, ours)}
    print(f"{'extractor':<22}{'precision':>10}{'recall':>8}{'F1':>8}{'title':>7}{'author':>7}{'date':>6}"
          f"{'ms/page p50':>13}{'p95':>7}")
    for name, (rows, found, times) in results.items():
        p, r, f1 = scores(rows)
        p95 = statistics.quantiles(times, n=20)[-1]
        print(f"{name:<22}{p:>10.4f}{r:>8.4f}{f1:>8.4f}{found['title']:>7}{found['author']:>7}{found['date']:>6}"
              f"{statistics.median(times):>13.1f}{p95:>7.1f}")
    f1_ours, f1_plain = scores(results["palimpsest"][0])[2], scores(results["trafilatura.extract"][0])[2]
    print(f"F1 ratio palimpsest / trafilatura: {f1_ours / f1_plain:.4f} (published trafilatura F1: 0.960)")


if __name__ == "__main__":
    main()
