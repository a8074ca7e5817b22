"""Salvaging a ~1 GB WARC cut mid-record, as a killed crawl leaves it: wall time and peak memory.

Targets (issue 10): under 30 s and under 100 MB of peak RSS for 1 GB.

The WARC is written as our writer writes it (archive.warc records, one gzip member each, response +
request per exchange), from a realistic mix: the 181 real news pages of
../shared/data/article-extraction-benchmark served gzip-encoded (stored as they came, as our writer does)
and some served plain (deflated), images (random bytes: incompressible), small redirects and 404 pages.
So the file really is `--size-mb` on disk, with news-sized records (~50k records per GB). It is then cut
in the middle of its last response, evicted from the page cache (unless `--warm`), and salvaged by
`recover_crawl` (scan, index, CDXJ, fsync, rename) in a fresh process, whose peak RSS (ru_maxrss and
/proc VmHWM, both lifetime peaks of that process, interpreter and imports included) is reported beside its
RSS before the salvage. Everything is written to a temporary directory, deleted afterwards.

    python benchmarks/recovery.py [--size-mb 1000] [--warm]
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from archive.recovery import cdxj_problem, recover_crawl  # noqa: E402
from archive.warc import (  # noqa: E402
    Exchange,
    gzip_member,
    new_record_id,
    payload_digest,
    request_record,
    response_record,
    warcinfo_record,
)

PAGES = ROOT.parent / "shared" / "data" / "article-extraction-benchmark" / "html"
TARGET_SECONDS = 30.0
TARGET_MB = 100.0
CRAWL = "bench-recovery"


def status_kb(field: str) -> int:
    """A `VmXXX:` line of /proc/self/status, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def pages() -> list[bytes]:
    """Real news pages (decompressed); synthetic ones when the shared data is not there."""
    found = [gzip.decompress(p.read_bytes()) for p in sorted(PAGES.glob("*.html.gz"))]
    if found:
        return found
    words = [f"word{n}".encode() for n in range(5000)]
    rng = random.Random(1)
    return [b"<html><body><p>" + b" ".join(rng.choices(words, k=20000)) + b"</p></body></html>" for _ in range(50)]


def build(path: Path, size: int) -> tuple[int, int, int]:
    """Write a WARC of about `size` bytes; returns (records, start of the last response, its length)."""
    rng = random.Random(10)
    html = pages()
    encoded = [gzip.compress(page, 6) for page in html]
    noise = os.urandom(8 << 20)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    records = 0
    last = (0, 0)
    with path.open("wb", buffering=1 << 20) as fh:
        fh.write(gzip_member(warcinfo_record(path.name.removesuffix(".open"), {"software": "benchmark"}, start,
                                             new_record_id()).to_bytes()))
        n = 0
        while fh.tell() < size:
            kind = rng.random()
            headers = [("Date", "Tue, 01 Dec 2026 10:00:00 GMT"), ("Server", "bench")]
            status = 200
            if kind < 0.55:  # a news page, sent gzip-encoded: stored as it came
                page = rng.randrange(len(html))
                body = encoded[page]
                headers += [("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip")]
            elif kind < 0.65:  # a news page sent plain: deflated by the writer
                body = html[rng.randrange(len(html))]
                headers += [("Content-Type", "text/html; charset=utf-8")]
            elif kind < 0.80:  # an image
                length = rng.randrange(10 << 10, 200 << 10)
                at = rng.randrange(len(noise) - length)
                body = noise[at:at + length]
                headers += [("Content-Type", "image/jpeg")]
            else:  # a redirect or a small error page
                status = rng.choice((301, 404))
                body = b"<html><body>moved or gone</body></html>" * 20
                headers += [("Content-Type", "text/html"), ("Location", "https://news.example/")]
            headers.append(("Content-Length", str(len(body))))
            url = f"https://news.example/section-{n % 40}/2026/12/01/story-{n}.html"
            exchange = Exchange(url, "GET", url.split("news.example", 1)[1],
                                [("Host", "news.example"), ("User-Agent", "palimpsest-bench")], b"", "HTTP/1.1",
                                status, headers, body, start + timedelta(milliseconds=n))
            response_id = new_record_id()
            response = response_record(exchange, response_id, payload_digest(body))
            request = request_record(exchange, new_record_id(), response_id)
            for record in (response, request):
                data = gzip_member(record.to_bytes(), 6 if record.compressible else 0)
                if record is response:
                    last = (fh.tell(), len(data))
                fh.write(data)
                records += 1
            n += 1
        fh.flush()
        os.fsync(fh.fileno())
    return records, *last


def salvage() -> dict[str, Any]:
    """The measured part, in a process of its own, started before the WARC is built: ru_maxrss counts the
    parent's memory at the fork too, so the parent is still small then. Told the directory on stdin."""
    logging.basicConfig(level=logging.WARNING, format="  (salvage) %(message)s")
    crawl_dir = Path(sys.stdin.readline().strip())
    before = status_kb("VmRSS")
    cpu = time.process_time()
    started = time.perf_counter()
    submitted = recover_crawl(crawl_dir, lambda key, path: None)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu": time.process_time() - cpu, "submitted": submitted, "rss_before_kb": before,
            "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "hwm_kb": status_kb("VmHWM")}


def prepare(path: Path, size: int, warm: bool) -> tuple[int, int]:
    """Build the WARC, cut it mid-record, drop it from the page cache; returns (records, where the cut
    record starts: what the salvage must keep)."""
    started = time.perf_counter()
    records, last_start, last_length = build(path, size)
    built = time.perf_counter() - started
    written = path.stat().st_size
    cut = last_start + last_length // 2
    os.truncate(path, cut)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        if not warm:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # read from the disk, as after a reboot
    finally:
        os.close(fd)
    print(f"built {written / 1e6:.0f} MB, {records} records in {built:.1f}s; cut at {cut} "
          f"(mid-record, {written - cut} bytes short); page cache {'warm' if warm else 'dropped'}")
    return records, last_start


def report(path: Path, records: int, keep: int, result: dict[str, Any], size_mb: int) -> bool:
    """Print the figures and check what the salvage produced; True when all is well."""
    warc = path.with_name(path.name.removesuffix(".open"))
    cdxj = warc.with_name(warc.name.removesuffix(".warc.gz") + ".cdxj")
    with cdxj.open("rb") as fh:
        captures = sum(1 for _ in fh)
    checks = {
        "complete records kept": warc.stat().st_size == keep,
        "every complete response indexed": captures == (records - 2) // 2,  # warcinfo, the cut response
        "CDXJ whole": cdxj_problem(cdxj, warc.name, warc.stat().st_size) is None,
        "WARC and CDXJ submitted": result["submitted"] == 2,
    }
    seconds, target = result["seconds"], TARGET_SECONDS * size_mb / 1000
    maxrss_mb = result["maxrss_kb"] / 1024
    print(f"salvaged {warc.stat().st_size / 1e6:.0f} MB, {captures} captures indexed")
    print(f"  wall time   {seconds:6.1f} s    (target < {target:.0f} s); CPU {result['cpu']:.1f} s")
    print(f"  peak RSS    {maxrss_mb:6.1f} MB   ru_maxrss; VmHWM {result['hwm_kb'] / 1024:.1f} MB; "
          f"{result['rss_before_kb'] / 1024:.1f} MB before the salvage (target < {TARGET_MB:.0f} MB)")
    for name, passed in checks.items():
        print(f"  {'ok  ' if passed else 'FAIL'} {name}")
    ok = seconds < target and maxrss_mb < TARGET_MB and all(checks.values())
    print("targets met" if ok else "TARGETS MISSED")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=1000, help="size of the WARC on disk (time target scales)")
    parser.add_argument("--warm", action="store_true", help="leave the WARC in the page cache")
    parser.add_argument("--salvage", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.salvage:
        print(json.dumps(salvage()))
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="palimpsest-recovery-"))
    child = subprocess.Popen([sys.executable, __file__, "--salvage"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    try:
        if shutil.disk_usage(tmp).free < 2 * args.size_mb * 1_000_000:
            print(f"not enough free space in {tmp} for a {args.size_mb} MB WARC", file=sys.stderr)
            return 2
        path = tmp / CRAWL / "warc" / "BENCH-20261201100000000-00000-bench.warc.gz.open"
        path.parent.mkdir(parents=True)
        records, keep = prepare(path, args.size_mb * 1_000_000, args.warm)
        out, _ = child.communicate(f"{tmp / CRAWL}\n")
        if child.returncode:
            print(f"the salvage failed (exit {child.returncode})", file=sys.stderr)
            return 1
        return 0 if report(path, records, keep, json.loads(out.strip().splitlines()[-1]), args.size_mb) else 1
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
