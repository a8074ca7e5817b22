"""Distributed mode on one machine: pages/s of one, two and three workers sharing a Redis frontier, beside the
single-process crawl of the same generated sample web, in one run.

Every crawl follows every listing page of a web of `--size` articles (benchmarks/soak.py's site config), with
the browser off (each worker would start its own Chromium). Figures: pages (crawl-log entries), wall time
from the first process start to the last exit, pages/s over that wall time and over the crawl's own span
(first to last `fetched_at`), each beside the single process; and whether the distributed crawl lost or
repeated anything: the union of its crawl logs against the single process's URLs, and how many URLs the
web served more than once. On a 2-core machine the point is that adding workers loses no page and does not
slow the crawl much (they share the cores); on several machines each worker brings its own.

    python benchmarks/distributed.py [--size 5000] [--workers 1,2,3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from archive.store import FileStore  # noqa: E402
from benchmarks.soak import SOAK_SITE, soak_site  # noqa: E402
from crawler.summary import read_jsonl_parts  # noqa: E402
from tests.crawling import SAMPLE_WEB_NETWORK, path_of  # noqa: E402
from tests.fixtureweb.process import FixtureWeb  # noqa: E402
from tests.servers import RedisServer  # noqa: E402


@dataclass
class Result:
    pages: int
    wall: float
    span: float
    urls: set[tuple[str, str]]
    repeated: int


def run(web: FixtureWeb, work: Path, crawl_id: str, workers: int, redis_url: str | None) -> Result:
    settings = {"STORE_URI": f"file://{work / 'store'}", "STORE_SPOOL_DIR": str(work / "spool"),
                "CRAWL_ID": crawl_id, "LOG_LEVEL": "WARNING", "RENDER_ENABLED": "False",
                "NETWORK_ALLOW": SAMPLE_WEB_NETWORK, "ARCHIVE_DEDUP_INDEX_DIR": str(work / "index" / crawl_id),
                **soak_site(work)}
    if redis_url:
        settings.update(CRAWL_FRONTIER="redis", REDIS_URL=redis_url)
    web.requests(reset=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    began = time.monotonic()
    procs = []
    for n in range(workers):
        extra = {"CRAWL_WORKER": f"w{n}"} if redis_url else {}
        args = [str(Path(sys.executable).with_name("scrapy")), "crawl", "news", "-a", f"site={SOAK_SITE}",
                "-a", f"base_url={web.base_url}/"]
        for key, value in {**settings, **extra}.items():
            args += ["-s", f"{key}={value}"]
        output = (work / f"{crawl_id}-{n}.log").open("w")
        procs.append(subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=output))
    codes = [p.wait() for p in procs]
    wall = time.monotonic() - began
    if any(codes):
        raise SystemExit(f"{crawl_id}: exit codes {codes}; see {work}/{crawl_id}-*.log")
    log = read_jsonl_parts(FileStore(work / "store"), f"crawls/{crawl_id}/log")
    stamps = sorted(datetime.fromisoformat(e["fetched_at"].replace("Z", "+00:00")) for e in log)
    span = max((stamps[-1] - stamps[0]).total_seconds(), 1.0) if stamps else 1.0
    probes = {path_of(e["url"]) for e in log if e["kind"] == "probe"}
    served = Counter(p for p in web.requests() if p not in probes)
    return Result(len(log), wall, span, {(e["kind"], path_of(e["url"])) for e in log if e["kind"] != "probe"},
                  sum(1 for count in served.values() if count > 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=5000, help="articles in the generated web (about)")
    parser.add_argument("--workers", default="1,2,3", help="worker counts to run, comma-separated")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n]
    with tempfile.TemporaryDirectory(prefix="palimpsest-distributed-") as tmp, FixtureWeb(size=args.size) as web, \
            RedisServer() as redis_server:
        work = Path(tmp)
        print(f"sample web of --size {args.size}; {os.cpu_count()} cores; redis-server on {redis_server.url}")
        single = run(web, work, "single", 1, None)
        rows = [("single process", single)]
        for n in counts:
            rows.append((f"redis, {n} worker{'s' if n > 1 else ''}", run(web, work, f"redis-{n}", n,
                                                                         redis_server.url)))
    base_wall, base_span = single.pages / single.wall, single.pages / single.span
    print(f"{'crawl':<20}{'pages':>7}{'wall s':>8}{'pages/s':>9}{'ratio':>7}{'span p/s':>10}{'ratio':>7}"
          f"{'missing':>9}{'extra':>7}{'repeated':>10}")
    for name, row in rows:
        pages, wall, span = row.pages, row.wall, row.span
        print(f"{name:<20}{pages:>7}{wall:>8.1f}{pages / wall:>9.1f}{pages / wall / base_wall:>7.2f}"
              f"{pages / span:>10.1f}{pages / span / base_span:>7.2f}{len(single.urls - row.urls):>9}"
              f"{len(row.urls - single.urls):>7}{row.repeated:>10}")
    print("missing / extra: crawl-log URLs the single process has and this crawl has not, and the reverse; "
          "repeated: URLs the web served more than once")


if __name__ == "__main__":
    main()
