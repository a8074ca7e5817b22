"""What archiving costs.

1. The same sample-web crawl with archiving on and off, alternating, `--runs` times each: median pages/s
   and the ratio (target: archiving costs at most 10%); and with archiving on but no fsync before renames
   (STORE_FSYNC = False): what durability costs.
2. The WARC writer's throughput beside `gzip -6` on the same bytes: exchanges repeated to `--megabytes`,
   written by our writer (records built, gzip per record, CDXJ lines) and, serialised uncompressed to one
   file, compressed by the gzip command (target: at least 0.7 of gzip's speed). Measured twice: on the
   sample web's own exchanges (~2 KB pages: per-record costs dominate) and on the 181 real news pages of
   ../shared/data/article-extraction-benchmark, served gzip-encoded (as news servers send them: our writer
   stores such payloads instead of deflating them again) and served uncompressed (both sides deflate).

    python benchmarks/archive.py [--runs 3] [--megabytes 64]
"""

from __future__ import annotations

import argparse
import gzip as gzip_lib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from archive.archiver import Archiver  # noqa: E402
from archive.reader import ArchiveReader  # noqa: E402
from archive.warc import Exchange, new_record_id, payload_digest, request_record, response_record  # noqa: E402
from archive.warcfile import WarcFileWriter  # noqa: E402
from tests.crawling import CrawlResult, path_of, run_crawl  # noqa: E402
from tests.fixtureweb.process import FixtureWeb  # noqa: E402


def crawl_rate(web: FixtureWeb, work: Path, name: str, archive: bool, fsync: bool = True) -> tuple[float, CrawlResult]:
    result = run_crawl(web, work / name, crawl_id=name,
                       settings={"LOG_LEVEL": "WARNING", "ARCHIVE_ENABLED": str(archive), "STORE_FSYNC": str(fsync),
                                 "ARCHIVE_DEDUP_INDEX_DIR": str(work / name / "index")})
    if result.returncode:
        raise SystemExit(result.stderr[-2000:])
    return len(result.log) / float(result.manifest["stats"]["elapsed_time_seconds"]), result


def exchanges_from(result: CrawlResult) -> list[Exchange]:
    """The crawl's exchanges, as the capture middleware handed them to the writer."""
    out = []
    for capture in ArchiveReader(sorted((result.crawl_dir / "warc").glob("*.warc.gz"))).captures():
        if capture.record_type != "response" or capture.http_headers is None:
            continue
        parts = path_of(capture.url)
        out.append(Exchange(capture.url, "GET", parts, [("Host", "127.0.0.1")], b"", "HTTP/1.1",
                            capture.status or 200, list(capture.http_headers.headers), capture.payload,
                            datetime.now(UTC), "127.0.0.1"))
    return out


def writer_vs_gzip(exchanges: list[Exchange], work: Path, megabytes: int) -> tuple[float, float, int]:
    """MB/s of our writer and of `gzip -6` over the same uncompressed record bytes."""
    plain = work / "records.warc"
    size = passes = 0
    with plain.open("wb") as fh:
        while size < megabytes * 1_000_000:
            passes += 1
            for exchange in exchanges:
                response_id = new_record_id()
                for record in (response_record(exchange, response_id, payload_digest(exchange.body)),
                               request_record(exchange, new_record_id(), response_id)):
                    size += fh.write(record.to_bytes())
    archiver = Archiver(WarcFileWriter(work / "out", "BENCH", 10**12, {}, lambda warc, cdxj: None), None)
    start = time.perf_counter()
    for _ in range(passes):
        for exchange in exchanges:
            archiver.archive(exchange)
    archiver.close()
    ours = time.perf_counter() - start
    gzip = shutil.which("gzip")
    if gzip is None:
        raise SystemExit("gzip not found")
    start = time.perf_counter()
    with plain.open("rb") as src:
        subprocess.run([gzip, "-6", "-c"], stdin=src, stdout=subprocess.DEVNULL, check=True)
    theirs = time.perf_counter() - start
    return size / ours / 1e6, size / theirs / 1e6, size


def real_news_exchanges(encoded: bool) -> list[Exchange]:
    """The shared benchmark's real article pages, as a server would send them: gzip-encoded or plain."""
    folder = ROOT.parent / "shared" / "data" / "article-extraction-benchmark" / "html"
    out = []
    for n, path in enumerate(sorted(folder.glob("*.html.gz"))):
        url = f"https://news{n % 40}.example/article/{path.name[:16]}.html"
        html = gzip_lib.decompress(path.read_bytes())
        headers = [("Content-Type", "text/html; charset=utf-8")]
        if encoded:
            headers.append(("Content-Encoding", "gzip"))
        out.append(Exchange(url, "GET", url.split("example", 1)[1], [("Host", "news.example")], b"", "HTTP/1.1",
                            200, headers, gzip_lib.compress(html, 6) if encoded else html, datetime.now(UTC),
                            "127.0.0.1"))
    return out


def report_writer(label: str, exchanges: list[Exchange], work: Path, megabytes: int) -> None:
    ours, theirs, size = writer_vs_gzip(exchanges, work, megabytes)
    mean = sum(len(e.body) for e in exchanges) / len(exchanges) / 1000
    print(f"WARC writer, {label} (mean body {mean:.1f} kB), {size / 1e6:.0f} MB of records")
    print(f"  palimpsest writer {ours:8.1f} MB/s")
    print(f"  gzip -6           {theirs:8.1f} MB/s   ratio {ours / theirs:.3f} (target >= 0.7)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--megabytes", type=int, default=64)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"off": [], "on": [], "nofsync": []}
    with FixtureWeb() as web, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        archived: CrawlResult | None = None
        for n in range(args.runs):
            for label, archive, fsync in (("off", False, True), ("on", True, True), ("nofsync", True, False)):
                rate, result = crawl_rate(web, work, f"{label}{n}", archive, fsync)
                rates[label].append(rate)
                archived = result if label == "on" else archived
        on, off, nofsync = (statistics.median(rates[k]) for k in ("on", "off", "nofsync"))
        print(f"sample-web crawl, {args.runs} runs each, median pages/s")
        print(f"  archiving off            {off:8.1f}")
        print(f"  archiving on             {on:8.1f}   ratio {on / off:.3f} (cost {100 * (1 - on / off):.1f}%, "
              "target <= 10%)")
        print(f"  archiving on, no fsync   {nofsync:8.1f}   fsync costs {100 * (1 - on / nofsync):.1f}% of that")
        assert archived is not None
        report_writer("sample-web exchanges", exchanges_from(archived), work, args.megabytes)
        report_writer("real news pages, gzip-encoded (stored, not deflated again)", real_news_exchanges(True),
                      work, args.megabytes)
        report_writer("real news pages, sent uncompressed (both deflate)", real_news_exchanges(False),
                      work, args.megabytes)


if __name__ == "__main__":
    main()
