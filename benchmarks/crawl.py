"""Crawl speed on the sample web: the `news` spider (everything on, Chromium for the 4 pages that need it),
the same without a browser, a bare Scrapy spider fetching the same URLs with no pipelines, and
`wget --recursive` over the same web.

Scrapy figures use the crawl's own elapsed time (start-up excluded); wget's is wall-clock. Each is run
`--runs` times and the median is reported.

    python benchmarks/crawl.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.crawling import run_crawl  # noqa: E402
from tests.fixtureweb.process import FixtureWeb  # noqa: E402


def news_run(web: FixtureWeb, work: Path, n: int, render: bool = True) -> tuple[int, float, list[str]]:
    settings = {"LOG_LEVEL": "WARNING", "RENDER_ENABLED": str(render)}
    result = run_crawl(web, work / f"store{n}-{render}", settings=settings, crawl_id=f"bench-{n}-{render}")
    if result.returncode:
        raise SystemExit(result.stderr[-2000:])
    urls = [e["url"] for e in result.log]
    return len(result.log), float(result.manifest["stats"]["elapsed_time_seconds"]), urls


def bare_run(urls: list[str], work: Path, n: int) -> tuple[int, float]:
    url_file, out = work / "urls.txt", work / f"bare{n}.json"
    url_file.write_text("\n".join(urls))
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bare_crawl.py"), str(url_file), str(out)],
                   check=True, cwd=ROOT)
    data = json.loads(out.read_text())
    return int(data["pages"]), float(data["elapsed"])


def wget_run(web: FixtureWeb, work: Path, n: int) -> tuple[int, float] | None:
    wget = shutil.which("wget")
    if wget is None:
        return None
    target = work / f"wget{n}"
    start = time.perf_counter()
    subprocess.run([wget, "--recursive", "--level=inf", "--no-verbose", "--reject-regex=/calendar/|/search",
                    "-e", "robots=on", "--directory-prefix", str(target), f"{web.base_url}/"],
                   cwd=work, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    return sum(1 for p in target.rglob("*") if p.is_file()), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"news spider": [], "news, no browser": [], "bare scrapy": [],
                                     "wget --recursive": []}
    pages: dict[str, int] = {}
    with FixtureWeb() as web, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in range(args.runs):
            count, elapsed, urls = news_run(web, work, n)
            rates["news spider"].append(count / elapsed)
            pages["news spider"] = count
            count, elapsed, _ = news_run(web, work, n, render=False)  # the 4 pages that need Chromium left out
            rates["news, no browser"].append(count / elapsed)
            pages["news, no browser"] = count
            count, elapsed = bare_run(urls, work, n)
            rates["bare scrapy"].append(count / elapsed)
            pages["bare scrapy"] = count
            got = wget_run(web, work, n)
            if got:
                rates["wget --recursive"].append(got[0] / got[1])
                pages["wget --recursive"] = got[0]
    base = statistics.median(rates["bare scrapy"])
    print(f"sample web, {args.runs} runs each, median pages/s")
    print(f"{'crawler':<20}{'pages':>7}{'pages/s':>10}{'vs bare':>9}")
    for name, values in rates.items():
        if values:
            rate = statistics.median(values)
            print(f"{name:<20}{pages[name]:>7}{rate:>10.1f}{rate / base:>9.2f}")


if __name__ == "__main__":
    main()
