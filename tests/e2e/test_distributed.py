"""Distributed mode: several `scrapy crawl` workers on one frontier in a real redis-server, on the sample web,
checked against the single-process crawl of the same web (the session's `demo_crawl`).

- Together they fetch each URL as often as one process does, their crawl logs hold the same URLs, their
  items are the same, and every worker's WARCs pass `warcio check` with one CDXJ each.
- One of them killed with SIGKILL midway: the others finish the crawl; the requests it held go back to the
  queue and are fetched again, what it left in its spool is stored, and nothing of the crawl is missing.
- Redis stopped for a while midway: the workers wait, nothing is lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archive.store import FileStore
from crawler.summary import read_jsonl_parts
from tests.crawling import SAMPLE_WEB_NETWORK, CrawlResult, path_of, scrapy
from tests.fixtureweb.process import ROOT, FixtureWeb
from tests.servers import RedisServer

BIN = Path(sys.executable).parent
# Chromium's own requests (scripts, styles, the live section's JSON): each worker's browser has its cache.
BROWSER_ASSETS = ("/static/", "/api/")
OUTAGE_WAIT = 30.0  # seconds Redis stays paused at most: well under the workers' timeout (60 s), so none is reaped


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def start_worker(web: FixtureWeb, redis_url: str, work: Path, crawl_id: str, worker: str,
                 timeout: str = "8s") -> subprocess.Popen[str]:
    settings = {"STORE_URI": f"file://{work / 'store'}", "STORE_SPOOL_DIR": str(work / "spool"),
                "CRAWL_ID": crawl_id, "NETWORK_ALLOW": SAMPLE_WEB_NETWORK, "CRAWL_FRONTIER": "redis",
                "REDIS_URL": redis_url, "CRAWL_WORKER": worker, "CRAWL_WORKER_TIMEOUT": timeout,
                "ARCHIVE_DEDUP_INDEX_DIR": str(work / "index"), "LOG_LEVEL": "INFO"}
    args = ["crawl", "news", "-a", "site=demo", "-a", f"base_url={web.base_url}/"]
    for key, value in settings.items():
        args += ["-s", f"{key}={value}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (work / f"{worker}.log").open("w")
    return subprocess.Popen([str(BIN / "scrapy"), *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=log, text=True)


def wait_all(workers: list[subprocess.Popen[str]], timeout: float = 600) -> list[int]:
    deadline = time.monotonic() + timeout
    return [w.wait(timeout=max(1.0, deadline - time.monotonic())) for w in workers]


def until_served(web: FixtureWeb, count: int, workers: list[subprocess.Popen[str]]) -> None:
    """Wait until the sample web has answered `count` requests (progress, not time), or a worker ended."""
    while len(web.requests()) < count:
        assert all(w.poll() is None for w in workers), "a worker ended before the crawl was midway"
        time.sleep(0.05)


def entries(log: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """(kind, path) of every entry; probes ask for random URLs, so they count by kind only."""
    return Counter((e["kind"], path_of(e["url"]) if e["kind"] != "probe" else "") for e in log)


def without_probes(log: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    return Counter({key: n for key, n in entries(log).items() if key[0] != "probe"})


def stories(items: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(path_of(i["url"]), i["title"], i["text"][:200] if i["text"] else "") for i in items}


def fetched(served: list[str], log: list[dict[str, Any]]) -> Counter[str]:
    """What was fetched, by path: not the browser's own requests, nor host probes (random URLs each run)."""
    probes = {path_of(e["url"]) for e in log if e["kind"] == "probe"}
    return Counter(p for p in served if not p.startswith(BROWSER_ASSETS) and p not in probes)


def read_crawl(work: Path, crawl_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    store = FileStore(work / "store")
    manifest = json.loads((work / "store" / "crawls" / crawl_id / "crawl.json").read_text())
    return (manifest, read_jsonl_parts(store, f"crawls/{crawl_id}/log"),
            read_jsonl_parts(store, f"crawls/{crawl_id}/items"))


def test_three_workers_fetch_each_url_once_and_archive_what_one_process_does(
        web: FixtureWeb, demo_crawl: CrawlResult, redis_server: RedisServer, tmp_path: Path) -> None:
    web.requests(reset=True)
    workers = [start_worker(web, redis_server.url, tmp_path, "dist", f"w{n}") for n in range(3)]
    assert wait_all(workers) == [0, 0, 0], [(tmp_path / f"w{n}.log").read_text()[-2000:] for n in range(3)]
    served = web.requests()
    manifest, log, items = read_crawl(tmp_path, "dist")
    # each URL as often as one process fetches it
    assert fetched(served, log) == fetched(demo_crawl.served, demo_crawl.log)
    assert entries(log) == entries(demo_crawl.log)
    assert stories(items) == stories(demo_crawl.items)
    assert manifest["complete"] is True and sorted(w["worker"] for w in manifest["workers"]) == ["w0", "w1", "w2"]
    assert manifest["counts"]["log_entries"] == len(log) and manifest["counts"]["items"] == len(items)
    crawl_dir = tmp_path / "store" / "crawls" / "dist"
    warcs = sorted((crawl_dir / "warc").glob("*.warc.gz"))
    assert {w.name.removesuffix(".warc.gz").rsplit("-", 1)[1] for w in warcs} == {"w0", "w1", "w2"}
    assert sorted(c.stem for c in (crawl_dir / "cdxj").glob("*.cdxj")) == [w.name.removesuffix(".warc.gz")
                                                                        for w in warcs]
    check = subprocess.run([str(BIN / "warcio"), "check", *map(str, warcs)], capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
    parts = sorted(p.name for p in (crawl_dir / "log").iterdir())
    assert all(p.startswith("part-") and p.endswith(("-w0.jsonl.gz", "-w1.jsonl.gz", "-w2.jsonl.gz")) for p in parts)
    # shared: one robots.txt fetch and one probe per URL shape for the crawl, as in one process
    assert fetched(served, log)["/robots.txt"] == 1
    assert entries(log)[("probe", "")] == entries(demo_crawl.log)[("probe", "")]
    assert not (tmp_path / "spool").exists() or not any(p.is_file() for p in (tmp_path / "spool").rglob("*"))


def test_a_worker_killed_midway_loses_nothing_of_the_crawl(
        web: FixtureWeb, demo_crawl: CrawlResult, redis_server: RedisServer, tmp_path: Path) -> None:
    web.requests(reset=True)
    workers = [start_worker(web, redis_server.url, tmp_path, "killed", f"w{n}") for n in range(3)]
    until_served(web, len(demo_crawl.served) // 3, workers)
    os.kill(workers[1].pid, signal.SIGKILL)
    assert wait_all(workers) == [0, -signal.SIGKILL, 0], (tmp_path / "w0.log").read_text()[-2000:]
    manifest, log, items = read_crawl(tmp_path, "killed")
    # every URL of the crawl has its entry (the killed worker's in-hand requests were fetched again)
    assert set(entries(log)) == set(entries(demo_crawl.log))
    assert {s[0] for s in stories(items)} == {s[0] for s in stories(demo_crawl.items)}
    assert manifest["recovered_workers"] == ["w1"] and manifest["lost_workers"] == []
    assert manifest["complete"] is True and sorted(w["worker"] for w in manifest["workers"]) == ["w0", "w2"]
    assert manifest["stats"]["frontier/requeued_from_lost_workers"] >= 1
    # what it had written (its WARC, salvaged from its spool) is in the store, and its spool is gone
    assert any(w.name.endswith("-w1.warc.gz") for w in (tmp_path / "store/crawls/killed/warc").iterdir())
    assert not (tmp_path / "spool" / "killed@w1").exists()


def test_redis_going_away_midway_pauses_the_workers_and_loses_nothing(
        web: FixtureWeb, demo_crawl: CrawlResult, redis_server: RedisServer, tmp_path: Path) -> None:
    web.requests(reset=True)
    workers = [start_worker(web, redis_server.url, tmp_path, "outage", f"w{n}", timeout="60s") for n in range(2)]
    until_served(web, len(demo_crawl.served) // 3, workers)
    redis_server.pause()
    try:  # until a worker meets the outage (a Redis call's timeout is 5 s): progress, not a fixed time
        deadline = time.monotonic() + OUTAGE_WAIT
        while not any("Redis is unreachable" in (tmp_path / f"w{n}.log").read_text() for n in range(2)) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        redis_server.resume()
    assert any("Redis is unreachable" in (tmp_path / f"w{n}.log").read_text() for n in range(2)), \
        f"no worker met the outage in {OUTAGE_WAIT:.0f} s"
    assert wait_all(workers) == [0, 0], (tmp_path / "w0.log").read_text()[-2000:]
    manifest, log, items = read_crawl(tmp_path, "outage")
    # A worker that cannot read the probe answers shared in Redis fetches its own: more probes, no less.
    probes, single = entries(log).pop(("probe", "")), entries(demo_crawl.log).pop(("probe", ""))
    assert single <= probes <= 2 * single
    assert without_probes(log) == without_probes(demo_crawl.log)
    assert stories(items) == stories(demo_crawl.items)
    assert manifest["complete"] is True and manifest["stats"]["frontier/redis_outages"] >= 1
    assert "Redis is unreachable" in (tmp_path / "w0.log").read_text() + (tmp_path / "w1.log").read_text()


def test_a_distributed_crawl_needs_a_shared_crawl_id_and_a_reachable_redis(tmp_path: Path) -> None:
    base = ["crawl", "news", "-a", "site=demo", "-s", "CRAWL_FRONTIER=redis"]
    no_id = scrapy([*base, "-s", "REDIS_URL=redis://127.0.0.1:1/0"])
    assert no_id.returncode == 2 and "key 'CRAWL_FRONTIER'" in no_id.stderr and "CRAWL_ID" in no_id.stderr
    no_url = scrapy([*base, "-s", "CRAWL_ID=x"])
    assert no_url.returncode == 2 and "key 'REDIS_URL'" in no_url.stderr
    from tests.servers import free_port  # noqa: PLC0415

    dead = scrapy([*base, "-s", "CRAWL_ID=x", "-s", f"REDIS_URL=redis://:s3cret-pw@127.0.0.1:{free_port()}/0"])
    assert dead.returncode == 2 and "cannot reach Redis" in dead.stderr and "s3cret-pw" not in dead.stderr
