"""Re-processing speed beside crawling speed, on the sample web, in the same run.

A live `news` crawl of the sample web (everything on, Chromium for the pages that need it), then
`scrapy reprocess` of that crawl (no network, no browser: every answer read from its WARC) with the web
stopped. Both figures use the crawl's own elapsed time from its manifest (start-up excluded): pages/s is
crawl-log entries per second, captures/s the archived captures read per second. Each is run `--runs` times
and the median is reported, with the ratio.

    python benchmarks/reprocess.py [--runs 3] [--size N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.crawling import run_crawl, scrapy  # noqa: E402
from tests.fixtureweb.process import FixtureWeb  # noqa: E402


def live_run(web: FixtureWeb, work: Path, n: int) -> tuple[int, float]:
    settings = {"LOG_LEVEL": "WARNING", "ARCHIVE_DEDUP_INDEX_DIR": str(work / "index")}
    result = run_crawl(web, work / "store", settings=settings, crawl_id=f"live-{n}")
    if result.returncode:
        raise SystemExit(result.stderr[-2000:])
    return len(result.log), float(result.manifest["stats"]["elapsed_time_seconds"])


def reprocess_run(work: Path, n: int) -> tuple[int, int, float]:
    settings = {"STORE_URI": f"file://{work / 'store'}", "STORE_SPOOL_DIR": str(work / "spool"),
                "CRAWL_ID": f"again-{n}", "LOG_LEVEL": "WARNING"}
    args = ["reprocess", f"live-{n}", *[a for k, v in settings.items() for a in ("-s", f"{k}={v}")]]
    proc = scrapy(args, timeout=900)
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    manifest = json.loads((work / "store" / "crawls" / f"again-{n}" / "crawl.json").read_text())
    stats = manifest["stats"]
    return int(stats.get("reprocess/captures", 0)), int(manifest["counts"]["log_entries"]), \
        float(stats["elapsed_time_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=None, help="articles of the sample web (default: its own)")
    opts = parser.parse_args()
    live, again, entries = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in range(opts.runs):
            with FixtureWeb(size=opts.size) as web:
                pages, crawled = live_run(web, work, n)
            live.append(pages / crawled)
            captures, logged, seconds = reprocess_run(work, n)  # the web is stopped: nothing to reach
            again.append(captures / seconds)
            entries.append(logged / seconds)
            print(f"run {n + 1}: live {pages} pages in {crawled:.2f} s; reprocess {captures} captures "
                  f"({logged} log entries) in {seconds:.2f} s", file=sys.stderr)
    live_rate, again_rate, entry_rate = (statistics.median(x) for x in (live, again, entries))
    print(f"live crawl:  {live_rate:8.1f} pages/s (median of {opts.runs})")
    print(f"reprocess:   {again_rate:8.1f} captures/s ({entry_rate:.1f} log entries/s), no network, no browser")
    print(f"ratio:       {again_rate / live_rate:8.2f}x captures/s over live pages/s")


if __name__ == "__main__":
    main()
