"""Rendering on the sample web: speed against plain scrapy-playwright, browser memory over a long run, and
which pages `auto` sends to the browser.

1. Every page of the sample web's sections through Chromium (render = "always"), with our archiving (every
   exchange the browser saw, the DOM, a screenshot), beside benchmarks/bare_render.py (plain
   scrapy-playwright, no archiving) on the same URLs in the same run. Pages/s use each crawl's own elapsed
   time; the median of `--runs` is reported. Target: ratio >= 0.8.
2. The browser's memory (PSS of every Chromium process under the crawl, sampled twice a second) against
   the pages rendered so far, over the whole "always" crawl (300+ pages in a row).
3. The demo site config (render = "auto"): pages rendered, out of pages fetched, against the pages that
   need a browser (the sample web's manifest says which).

    python benchmarks/render.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.crawling import CrawlResult, path_of, run_crawl, write_site  # noqa: E402
from tests.fixtureweb.process import FixtureWeb  # noqa: E402

ALWAYS_SITE = """base_url = "http://127.0.0.1:1/"
max_pages_per_section = 10
sitemap_from_robots = true
render = "always"
[politeness]
concurrency_per_host = 8
""" + "".join(f'[[sections]]\nname = "{s}"\nurl = "/{s}/"\n' for s in ("world", "business", "tech", "china", "live"))


def browser_pss_mb(root: int) -> float:
    """Proportional set size of the Chromium processes descending from `root`, in MB."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    total = 0
    for pid in parents:
        ancestor = parents.get(pid)
        while ancestor and ancestor != root:
            ancestor = parents.get(ancestor)
        if ancestor != root:
            continue
        try:
            name = Path(f"/proc/{pid}/comm").read_text()
            if "chrom" not in name and "headless_shell" not in name:
                continue
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        total += next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
    return total / 1024


class MemoryWatch(threading.Thread):
    """Samples (pages served so far, browser PSS) while a crawl runs in a subprocess we started."""

    def __init__(self, web: FixtureWeb) -> None:
        super().__init__(daemon=True)
        self.web, self.stop = web, threading.Event()
        self.samples: list[tuple[int, float]] = []

    def run(self) -> None:
        while not self.stop.wait(0.5):
            crawlers = [int(p) for p in os.listdir("/proc") if p.isdigit() and _is_crawl(int(p))]
            if crawlers:
                pages = sum(1 for p in self.web.requests() if not p.startswith(("/static/", "/img/", "/api/")))
                pss = sum(browser_pss_mb(pid) for pid in crawlers)
                if pss > 0:  # the browser is up (it starts with the first rendered page)
                    self.samples.append((pages, pss))


def _is_crawl(pid: int) -> bool:
    try:
        return b"crawl\x00news" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def ours(web: FixtureWeb, work: Path, n: int, screenshot: bool, watch: bool) -> tuple[CrawlResult, list[Any]]:
    settings = write_site(work, "always", ALWAYS_SITE)
    settings.update(LOG_LEVEL="WARNING", RENDER_SCREENSHOT=str(screenshot), SOFT404_PROBES="False")
    watcher = MemoryWatch(web) if watch else None
    if watcher:
        watcher.start()
    result = run_crawl(web, work / f"store{n}-{screenshot}", site="always", settings=settings,
                       crawl_id=f"render-{n}-{screenshot}")
    if watcher:
        watcher.stop.set()
        watcher.join()
    if result.returncode:
        raise SystemExit(result.stderr[-3000:])
    return result, watcher.samples if watcher else []


def bare(urls: list[str], work: Path, n: int, max_pages: int, mode: str) -> tuple[int, float]:
    url_file, out = work / "urls.txt", work / f"bare{n}-{mode}.json"
    url_file.write_text("\n".join(urls))
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bare_render.py"), str(url_file), str(out),
                    str(max_pages), mode, str(work / f"bare{n}-{mode}")], check=True, cwd=ROOT)
    data = json.loads(out.read_text())
    return int(data["pages"]), float(data["elapsed"])


def rendered_pages(result: CrawlResult) -> list[dict[str, Any]]:
    return [e for e in result.log if (e["render"] or {}).get("rendered")]


def speed(web: FixtureWeb, work: Path, runs: int) -> list[tuple[int, float]]:
    print("1. rendered pages/s on the same pages: plain scrapy-playwright (no archiving) against")
    print("   - 'archiving': the same spider with our archiving of what the browser saw (exchanges, DOM, PNG)")
    print("   - 'full crawl': our news spider, also crawl log, classifier, extraction and item pipelines")
    names = ("plain", "archiving", "full crawl", "full crawl, no screenshot")
    figures: dict[str, list[float]] = {name: [] for name in names}
    samples: list[tuple[int, float]] = []
    for n in range(runs):
        result, watched = ours(web, work, n, screenshot=True, watch=n == 0)
        samples = samples or watched
        pages = rendered_pages(result)
        figures["full crawl"].append(len(pages) / float(result.manifest["stats"]["elapsed_time_seconds"]))
        plain_result, _ = ours(web, work, n, screenshot=False, watch=False)
        figures["full crawl, no screenshot"].append(
            len(rendered_pages(plain_result)) / float(plain_result.manifest["stats"]["elapsed_time_seconds"]))
        urls = [e["url"] for e in pages]
        for mode, name in (("plain", "plain"), ("archive", "archiving")):
            count, elapsed = bare(urls, work, n, max_pages=2, mode=mode)
            figures[name].append(count / elapsed)
        print(f"   run {n + 1}, {len(pages)} pages: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in figures.items()))
    plain = statistics.median(figures["plain"])
    print(f"   median plain scrapy-playwright: {plain:.2f} pages/s")
    for name in names[1:]:
        value = statistics.median(figures[name])
        print(f"   median {name}: {value:.2f} pages/s, ratio {value / plain:.2f} (target >= 0.8)")
    return samples


def memory(samples: list[tuple[int, float]]) -> None:
    print("2. browser memory (PSS of all Chromium processes) against pages rendered, one crawl in a row")
    if not samples:
        print("   no samples")
        return
    total = samples[-1][0]
    for share in (0.25, 0.5, 0.75, 1.0):
        pages, mb = next((p, m) for p, m in samples if p >= share * total)
        print(f"   after {pages:4d} pages: {mb:7.1f} MB")
    peak = max(m for _, m in samples)
    settled = [m for p, m in samples if p >= 0.25 * total and m > 0]
    print(f"   peak {peak:.1f} MB; from a quarter of the way to the end: min {min(settled):.1f}, "
          f"max {max(settled):.1f} MB (bounded if max/min stays near 1: {max(settled) / min(settled):.2f})")


def auto_share(web: FixtureWeb, work: Path) -> None:
    print("3. render = \"auto\" on the demo site: which pages went to the browser")
    result = run_crawl(web, work / "auto", settings={"LOG_LEVEL": "WARNING"}, crawl_id="auto")
    need = {"/live/"} | {a["path"] for a in result.web["articles"] if a["template"] == "app"} | {
        d["path"] for d in result.web["dead"] if d["how"] == "app-missing"}
    sent = {path_of(e["url"]) for e in rendered_pages(result)}
    print(f"   {len(sent)} of {len(result.log)} pages fetched were rendered ({len(sent) / len(result.log):.1%}); "
          f"pages that need a browser: {len(need)}; rendered without need: {len(sent - need)}; "
          f"needed but not rendered: {len(need - sent)}")
    for entry in rendered_pages(result):
        print(f"     {path_of(entry['url'])}: {entry['render']['reason']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with FixtureWeb() as web, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        samples = speed(web, work, args.runs)
        memory(samples)
        auto_share(web, work)
        print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
