"""Raw replay speed: `scrapy replay` beside pywb serving the same WARCs and CDXJ, in the same run.

Target: at least pywb's requests/s for raw replay (`id_`, the archived status, headers and body as they were).

The store: real crawls of a generated sample web (`FixtureWeb(size=--size)`, every listing page followed, no
browser), crawl after crawl into one FileStore until its CDXJ holds `--min-captures` lines (the second crawl's
unchanged pages are revisit records, resolved to their original's payload at replay, by both servers).
`--store DIR` crawls into DIR, or reuses it when it holds enough captures already.

The servers, each one process, run one at a time (never both under load at once), each fresh:
- ours: `scrapy replay` (tests/replayserver.py: aiohttp, one event loop, index lookups and record reads in
  its thread pool of 8), with a capture index built from scratch at start (start-up time reported, and again
  with the index already built: the difference is the index build);
- pywb: `wayback -p PORT -b 127.0.0.1` from `.venv-pywb` (`make interop`), its default server: gevent's
  WSGIServer, one process, one greenlet per connection, its access log on stderr (drained here), on a
  collection whose archive/ links to our WARCs and whose indexes/index.cdxj is our CDXJ lines, sorted.

The load: the same request list for both, `--requests` captures drawn with `--seed` from the store's CDXJ
(HTTP captures and revisits, the exact 14-digit timestamp of each line), `/web/TSid_/URL` for ours and
`/NAME/TSid_/URL` for pywb, sent by an asyncio client (aiohttp, keep-alive, `--concurrency` connections, no
decompression) after `--warmup` requests of another sample. Latency is from sending a request to its last
body byte. Every response's status is checked against its CDXJ line's (a mismatch is an error, counted and
shown, and its request stays out of the figures); bodies are compared between the two servers. Then a second
pass at concurrency 1 (`--serial-requests`): the latency floor. The client shares the machine's cores with
the server; the figures say how many there are.

    python benchmarks/replay.py [--size 10000] [--min-captures 10000] [--store DIR] [--keep]
                                [--requests 5000] [--warmup 500] [--concurrency 16] [--serial-requests 1000]
                                [--runs 1] [--seed 1] [--pywb .venv-pywb/bin]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from yarl import URL

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.crawling import run_crawl, write_site  # noqa: E402
from tests.fixtureweb.process import FixtureWeb  # noqa: E402
from tests.replayserver import ReplayProcess  # noqa: E402
from tests.servers import free_port  # noqa: E402

SITE = "replaybench"
COLLECTION = "ours"
TARGET_RATIO = 1.0  # ours / pywb, requests per second


# --- the store -----------------------------------------------------------------------------------------------

def cdxj_lines(store: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(SURT, timestamp, fields) of every CDXJ line of the store."""
    found = []
    for path in sorted(store.glob("crawls/*/cdxj/*.cdxj")):
        for line in path.read_text().splitlines():
            key, ts, body = line.split(" ", 2)
            found.append((key, ts, json.loads(body)))
    return found


def bench_site(work: Path) -> dict[str, str]:
    """The demo site config with every listing page followed (the big web's sections run long)."""
    demo = (ROOT / "settings" / "sites" / "demo.toml").read_text()
    toml, replaced = re.subn(r"(?m)^max_pages_per_section = \d+$", "max_pages_per_section = 1000000", demo)
    if not replaced:
        raise SystemExit("settings/sites/demo.toml has no max_pages_per_section line to raise")
    return write_site(work, SITE, toml)


def make_store(store: Path, size: int, min_captures: int, min_crawls: int) -> None:
    """Crawl the generated web into `store` until it has `min_crawls` crawls and `min_captures` CDXJ lines."""
    have = len(cdxj_lines(store)) if store.exists() else 0
    crawls = len(list(store.glob("crawls/*/crawl.json")))
    if have >= min_captures and crawls >= min_crawls:
        print(f"store {store}: {crawls} crawls, {have:,} captures, reused")
        return
    store.mkdir(parents=True, exist_ok=True)
    settings = {"RENDER_ENABLED": "False", "LOG_LEVEL": "WARNING", "CRAWL_PROGRESS": "off",
                "ARCHIVE_DEDUP_INDEX_DIR": str(store.parent / "dedup-index"), **bench_site(store.parent)}
    with FixtureWeb(size=size) as web:
        number = len(list(store.glob("crawls/*")))
        while have < min_captures or number < min_crawls:
            number += 1
            began = time.perf_counter()
            result = run_crawl(web, store, site=SITE, settings=settings, crawl_id=f"replaybench-{number}")
            if result.returncode:
                raise SystemExit(f"crawl {number} failed:\n{result.stderr[-3000:]}")
            before, have = have, len(cdxj_lines(store))
            seconds = time.perf_counter() - began
            print(f"crawl {result.crawl_id}: {len(result.log):,} requests, {have - before:,} captures in "
                  f"{seconds:.0f} s ({len(result.log) / seconds:.0f} requests/s with start-up)", flush=True)


@dataclass(frozen=True)
class Target:
    ts: str
    url: str
    statuses: frozenset[int]  # what the CDXJ says (a URL captured twice in one second may have two)


def targets(store: Path) -> list[Target]:
    """Every (URL, timestamp) raw replay can be asked for: HTTP captures and revisits of http(s) URLs."""
    statuses: dict[tuple[str, str], set[int]] = {}
    urls: dict[tuple[str, str], str] = {}
    for key, ts, fields in cdxj_lines(store):
        url = str(fields.get("url", ""))
        if not url.startswith(("http://", "https://")) or not str(fields.get("status", "")).isdigit():
            continue
        statuses.setdefault((key, ts), set()).add(int(fields["status"]))
        urls.setdefault((key, ts), url)
    return [Target(ts, urls[k], frozenset(s)) for k, s in sorted(statuses.items())]


# --- the servers ---------------------------------------------------------------------------------------------

class Pywb:
    """`wayback` on a collection of our WARCs (symlinked) and our CDXJ (sorted into one index)."""

    def __init__(self, pywb_bin: Path, store: Path, work: Path) -> None:
        self.bin, self.work = pywb_bin, work
        coll = work / "collections" / COLLECTION
        (coll / "archive").mkdir(parents=True)
        (coll / "indexes").mkdir()
        for warc in store.glob("crawls/*/warc/*.warc.gz"):
            (coll / "archive" / warc.name).symlink_to(warc.resolve())
        lines = sorted(line for cdxj in store.glob("crawls/*/cdxj/*.cdxj") for line in cdxj.read_text().splitlines())
        (coll / "indexes" / "index.cdxj").write_text("".join(line + "\n" for line in lines))
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.start_seconds = 0.0
        self.log_lines = 0

    def __enter__(self) -> Pywb:
        port = free_port()
        began = time.perf_counter()
        self.proc = subprocess.Popen([str(self.bin / "wayback"), "-p", str(port), "-b", "127.0.0.1"], cwd=self.work,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ready = threading.Event()

        def drain() -> None:  # its access log goes to stderr: read it all, or pywb blocks on a full pipe
            assert self.proc is not None and self.proc.stderr is not None
            for line in self.proc.stderr:
                self.log_lines += 1
                if b"Starting Gevent Server" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True).start()
        ready.wait(60)
        if self.proc.poll() is not None or not ready.is_set():
            self.stop()
            raise SystemExit("pywb did not start")
        self.start_seconds = time.perf_counter() - began
        self.base = f"http://127.0.0.1:{port}/{COLLECTION}"
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the load ------------------------------------------------------------------------------------------------

@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)  # seconds, of requests answered as the CDXJ says
    errors: list[str] = field(default_factory=list)
    bodies: dict[int, bytes] = field(default_factory=dict)  # request number -> digest of the body
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies) + len(self.errors)


async def load(base: str, batch: list[Target], concurrency: int, keep_bodies: bool, close: bool) -> Result:
    result = Result()
    todo = iter(enumerate(batch))
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=close)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:

        async def worker() -> None:
            for number, target in todo:
                url = URL(f"{base}/{target.ts}id_/{target.url}", encoded=True)
                began = time.perf_counter()
                try:
                    async with session.get(url, allow_redirects=False) as resp:
                        body = await resp.read()
                        status = resp.status
                except (TimeoutError, aiohttp.ClientError) as exc:
                    result.errors.append(f"{type(exc).__name__}: {exc} {target.ts} {target.url}")
                    continue
                elapsed = time.perf_counter() - began
                if status not in target.statuses:
                    result.errors.append(f"status {status}, CDXJ {sorted(target.statuses)}: {target.ts} {target.url}")
                    continue
                result.latencies.append(elapsed)
                if keep_bodies:
                    result.bodies[number] = hashlib.blake2b(body, digest_size=16).digest()

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - began
    return result


MODES = ("keep-alive", "close")  # connections reused, or one new connection per request


def run_load(base: str, warmup: list[Target], batch: list[Target], concurrency: int, mode: str) -> Result:
    asyncio.run(load(base, warmup, concurrency, keep_bodies=False, close=mode == "close"))
    return asyncio.run(load(base, batch, concurrency, keep_bodies=True, close=mode == "close"))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def row(name: str, result: Result) -> str:
    rate = len(result.latencies) / result.seconds if result.seconds else 0.0
    return (f"{name:<22} {result.requests:>8,} {len(result.errors):>7,} {rate:>9.1f} {pct(result.latencies, 0.5):>8.2f}"
            f" {pct(result.latencies, 0.95):>8.2f} {pct(result.latencies, 0.99):>8.2f}")


HEADER = (f"{'server, connections':<22} {'requests':>8} {'errors':>7} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8}"
          f" {'p99 ms':>8}")


def show_errors(name: str, result: Result, limit: int = 10) -> None:
    if result.errors:
        kinds = Counter(e.split(":")[0] for e in result.errors)
        print(f"  {name}: {len(result.errors)} mismatches or failures ({dict(kinds.most_common(5))}), e.g.:")
        for error in result.errors[:limit]:
            print(f"    {error}")


def compare_bodies(mode: str, ours: Result, pywb: Result) -> None:
    both = ours.bodies.keys() & pywb.bodies.keys()
    differ = sum(ours.bodies[n] != pywb.bodies[n] for n in both)
    print(f"  bodies, {mode}: {len(both) - differ:,} of {len(both):,} requests answered by both got the same bytes")


def rate_of(result: Result) -> float:
    return len(result.latencies) / result.seconds if result.seconds else 0.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000, help="articles in the generated web (about)")
    parser.add_argument("--min-captures", type=int, default=10_000)
    parser.add_argument("--crawls", type=int, default=2, help="crawls at least (the second's are mostly revisits)")
    parser.add_argument("--store", type=Path, help="crawl into DIR, or reuse the store it holds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary store (its path is printed)")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--serial-requests", type=int, default=1000, help="requests of the concurrency-1 pass")
    parser.add_argument("--runs", type=int, default=1, help="rounds of both servers (the order alternates)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--modes", type=modes, default=list(MODES),
                        help="connection modes, comma-separated: keep-alive (reused), close (one per request)")
    parser.add_argument("--pywb", type=Path, default=ROOT / ".venv-pywb" / "bin", help="bin/ of a venv with pywb")
    args = parser.parse_args()
    if not (args.pywb / "wayback").exists():
        raise SystemExit(f"no pywb in {args.pywb}: `make .venv-pywb/.installed` (or `make interop`) makes one")
    return args


def modes(value: str) -> list[str]:
    chosen = value.split(",")
    if not chosen or set(chosen) - set(MODES):
        raise argparse.ArgumentTypeError(f"modes are {', '.join(MODES)}")
    return chosen


def describe_store(store: Path) -> list[Target]:
    lines = cdxj_lines(store)
    found = targets(store)
    crawls = len(list(store.glob("crawls/*/crawl.json")))
    warcs = list(store.glob("crawls/*/warc/*.warc.gz"))
    revisits = sum(1 for _, _, f in lines if f.get("mime") == "warc/revisit")
    print(f"store: {crawls} crawls, {len(lines):,} CDXJ lines ({revisits:,} revisits), {len(warcs)} WARCs of "
          f"{sum(w.stat().st_size for w in warcs) / 1e6:.1f} MB; {len(found):,} replayable (URL, timestamp)")
    return found


Table = dict[tuple[str, str], list[Result]]  # (server, connection mode) -> one Result per run


class Bench:
    """The rounds: each server started fresh, loaded with every pass and mode, stopped."""

    def __init__(self, args: argparse.Namespace, store: Path, tmp: Path, found: list[Target]) -> None:
        self.args, self.store, self.tmp = args, store, tmp
        rng = random.Random(args.seed)
        batch = [rng.choice(found) for _ in range(args.requests)]
        warmup = [rng.choice(found) for _ in range(args.warmup)]
        serial = [rng.choice(found) for _ in range(args.serial_requests)]
        statuses = Counter(min(t.statuses) for t in batch)
        print(f"load: {len(batch):,} requests (seed {args.seed}; statuses {dict(sorted(statuses.items()))}) at "
              f"concurrency {args.concurrency} after {len(warmup)} warm-up requests, then {len(serial):,} at "
              f"concurrency 1; connections {', '.join(args.modes)}; the client shares this machine's "
              f"{os.cpu_count()} cores with the server (one server at a time)", flush=True)
        self.passes = ((f"concurrency {args.concurrency}", args.concurrency, warmup, batch),
                       ("concurrency 1", 1, warmup[:50], serial))
        self.results: dict[str, Table] = {label: {} for label, *_ in self.passes}
        self.starts: dict[str, list[float]] = {"ours, index built": [], "ours, index reused": [], "pywb": []}

    def measure(self, server: str, base: str) -> None:
        for label, concurrency, warm, todo in self.passes:
            for mode in self.args.modes:
                got = run_load(base, warm, todo, concurrency, mode)
                self.results[label].setdefault((server, mode), []).append(got)

    def ours(self, n: int) -> None:
        work = self.tmp / f"ours-{n}"
        work.mkdir()
        began = time.perf_counter()
        with ReplayProcess(f"file://{self.store}", work) as server:
            self.starts["ours, index built"].append(time.perf_counter() - began)
            self.measure("ours", f"{server.main_url}/web")
        began = time.perf_counter()
        with ReplayProcess(f"file://{self.store}", work):
            self.starts["ours, index reused"].append(time.perf_counter() - began)

    def pywb(self, n: int) -> None:
        with Pywb(self.args.pywb, self.store, self.tmp / f"pywb-{n}") as server:
            self.starts["pywb"].append(server.start_seconds)
            self.measure("pywb", server.base)

    def run(self) -> None:
        for n in range(self.args.runs):
            for name in ("ours", "pywb") if n % 2 == 0 else ("pywb", "ours"):
                began = time.perf_counter()
                getattr(self, name)(n)
                print(f"  round {n + 1}: {name} done in {time.perf_counter() - began:.0f} s (load average "
                      f"{os.getloadavg()[0]:.2f})", flush=True)

    def report(self, captures: int) -> int:
        med = {k: statistics.median(v) for k, v in self.starts.items()}
        print("\nstart-up to listening, s: " + ", ".join(f"{k} {v:.2f}" for k, v in med.items()))
        print(f"  (ours builds its capture index of {captures:,} CDXJ lines at start: about "
              f"{med['ours, index built'] - med['ours, index reused']:.2f} s of its first start)")
        for label, *_ in self.passes:
            self.report_pass(label, self.results[label])
        return sum(len(r.errors) for table in self.results.values() for got in table.values() for r in got)

    def report_pass(self, label: str, table: Table) -> None:
        print(f"\n{label}:")
        print(HEADER)
        for (server, mode), got in table.items():
            for n, result in enumerate(got):
                print(row(f"{server}, {mode}" + (f" #{n + 1}" if len(got) > 1 else ""), result))
        for (server, mode), got in table.items():
            show_errors(f"{server}, {mode}", got[-1])
        rate = {key: statistics.median(rate_of(r) for r in got) for key, got in table.items()}
        p50 = {key: statistics.median(pct(r.latencies, 0.5) for r in got) for key, got in table.items()}
        runs = f" (medians of {self.args.runs} runs)" if self.args.runs > 1 else ""
        for mode in self.args.modes:
            compare_bodies(mode, table[("ours", mode)][-1], table[("pywb", mode)][-1])
            print(f"  ours/pywb, {mode}: req/s {rate[('ours', mode)] / rate[('pywb', mode)]:.2f}, "
                  f"p50 {p50[('ours', mode)] / p50[('pywb', mode)]:.2f}{runs}")
        best = {server: max(self.args.modes, key=functools.partial(lambda s, m: rate[(s, m)], server))
                for server in ("ours", "pywb")}
        ratio = rate[("ours", best["ours"])] / rate[("pywb", best["pywb"])]
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        print(f"  ours/pywb, each with its faster mode ({best['ours']} / {best['pywb']}): req/s {ratio:.2f} "
              f"(target >= {TARGET_RATIO:.1f}: {verdict}), "
              f"p50 {p50[('ours', best['ours'])] / p50[('pywb', best['pywb'])]:.2f}{runs}")


def main() -> int:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="replaybench-"))
    try:
        store = (args.store or tmp / "data" / "store").resolve()
        make_store(store, args.size, args.min_captures, args.crawls)
        found = describe_store(store)
        bench = Bench(args, store, tmp, found)
        bench.run()
        errors = bench.report(len(cdxj_lines(store)))
        print(f"\n{errors} responses whose status was not the CDXJ's, or that failed" if errors else "")
        return 1 if errors else 0
    finally:
        if args.keep and not args.store:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
