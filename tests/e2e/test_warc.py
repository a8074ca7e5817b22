"""WARC capture end to end: the sample-web crawl's WARCs read back with warcio and indexed by cdxj-indexer."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.reader import ArchiveReader
from crawler.crawllog import METADATA_URI
from crawler.render import DOM_URI
from tests.crawling import CrawlResult, path_of, run_crawl, write_site
from tests.fixtureweb.process import ROOT, FixtureWeb

BIN = Path(sys.executable).parent
IIPC = re.compile(r"^PALIMPSEST-\d{17}-\d{5}-[A-Za-z0-9-]+\.warc\.gz$")


def warcs(result: CrawlResult) -> list[Path]:
    return sorted((result.crawl_dir / "warc").glob("*.warc.gz"))


def assert_warcio_check_passes(path: Path) -> None:
    check = subprocess.run([str(BIN / "warcio"), "check", str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def records(path: Path) -> Iterator[Any]:
    with path.open("rb") as fh:
        yield from ArchiveIterator(fh)


def record_at(path: Path, offset: int) -> Any:
    with path.open("rb") as fh:
        fh.seek(offset)
        record = next(iter(ArchiveIterator(fh)))
        record.raw = record.raw_stream.read()
        return record


@pytest.fixture(scope="module")
def by_type(demo_crawl: CrawlResult) -> dict[str, list[Any]]:
    """Every record of the crawl, body read, grouped by WARC-Type."""
    grouped: dict[str, list[Any]] = {}
    for path in warcs(demo_crawl):
        for record in records(path):
            record.raw = record.raw_stream.read()
            grouped.setdefault(record.rec_type, []).append(record)
    return grouped


def test_every_warc_passes_warcio_check_and_is_named_the_iipc_way(demo_crawl: CrawlResult) -> None:
    assert warcs(demo_crawl)
    for path in warcs(demo_crawl):
        assert IIPC.match(path.name), path.name
        assert_warcio_check_passes(path)
        first = next(records(path))
        assert first.rec_type == "warcinfo"
        info = first.content_stream().read().decode()
        assert "isPartOf: test-crawl" in info and "robots: obey" in info and "conformsTo:" in info


def test_gzip_encoded_page_is_archived_as_the_server_sent_it(web: FixtureWeb, by_type: dict[str, list[Any]]
                                                             ) -> None:
    page = next(r for r in by_type["response"] if r.http_headers.get_header("Content-Encoding") == "gzip"
                and "/world/" in r.rec_headers.get_header("WARC-Target-URI")
                and r.rec_headers.get_header("WARC-Target-URI").endswith(".html"))
    assert page.raw[:2] == b"\x1f\x8b"  # the block holds the compressed bytes
    with urllib.request.urlopen(web.base_url + path_of(page.rec_headers.get_header("WARC-Target-URI"))) as resp:
        plain = resp.read()  # urllib sends no Accept-Encoding: the same page, uncompressed
    assert gzip.decompress(page.raw) == plain


def test_repeated_headers_query_strings_and_request_headers_survive(by_type: dict[str, list[Any]]) -> None:
    html = next(r for r in by_type["response"] if r.http_headers.get_header("Content-Type", "").startswith("text/h"))
    cookies = [v for k, v in html.http_headers.headers if k.lower() == "set-cookie"]
    assert cookies == ["sid=abc123; Path=/; HttpOnly", "consent=0; Path=/; Max-Age=31536000"]
    assert html.http_headers.protocol == "HTTP/1.1" and html.http_headers.get_statuscode() == "200"
    request = next(r for r in by_type["request"] if r.rec_headers.get_header("WARC-Target-URI").endswith("?page=2"))
    assert request.http_headers.protocol == "GET" and request.http_headers.statusline.endswith(" HTTP/1.1")
    assert request.http_headers.statusline.startswith("/business/?page=2")
    assert request.http_headers.get_header("User-Agent").startswith("Palimpsest/")
    assert "gzip" in request.http_headers.get_header("Accept-Encoding")
    assert request.http_headers.get_header("Host")


def test_dechunked_bodies_do_not_claim_chunking(by_type: dict[str, list[Any]]) -> None:
    """The sample web sends listing pages chunked; the record holds the whole de-chunked body."""
    listing = next(r for r in by_type["response"] if r.rec_headers.get_header("WARC-Target-URI").endswith("/world/"))
    assert listing.http_headers.get_header("Transfer-Encoding") is None
    assert gzip.decompress(listing.raw).rstrip().endswith(b"</html>")


def test_requests_and_metadata_link_to_their_response(by_type: dict[str, list[Any]]) -> None:
    captures = {r.rec_headers.get_header("WARC-Record-ID"): r for r in by_type["response"] + by_type["revisit"]}
    assert len(by_type["request"]) == len(captures)
    for request in by_type["request"]:
        assert request.rec_headers.get_header("WARC-Concurrent-To") in captures
    for meta in by_type["metadata"]:
        target = captures[meta.rec_headers.get_header("WARC-Refers-To")]
        assert meta.rec_headers.get_header("WARC-Target-URI").startswith(METADATA_URI)
        lines = meta.raw.decode().splitlines()
        entry = json.loads(lines[0].split(": ", 1)[1])
        assert entry["warc"]["record_id"] == target.rec_headers.get_header("WARC-Record-ID")
        if target.rec_headers.get_header("WARC-Target-URI").endswith("/world/"):
            outlinks = [line.split(": ", 1)[1] for line in lines[1:]]
            assert outlinks[0].endswith("/world/page/2/")  # <link rel=next> comes first in the page
            assert any(link.endswith("/calendar/2026/11/") for link in outlinks)


def test_revisits_resolve_to_an_archived_payload(demo_crawl: CrawlResult, by_type: dict[str, list[Any]]) -> None:
    revisits = by_type.get("revisit", [])
    assert revisits and len(revisits) == demo_crawl.manifest["counts"]["revisits"]
    originals = {(r.rec_headers.get_header("WARC-Target-URI"), r.rec_headers.get_header("WARC-Payload-Digest")): r
                 for r in by_type["response"]}
    for revisit in revisits:
        key = (revisit.rec_headers.get_header("WARC-Refers-To-Target-URI"),
               revisit.rec_headers.get_header("WARC-Payload-Digest"))
        assert key in originals
        assert revisit.rec_headers.get_header("WARC-Profile").endswith("/revisit/identical-payload-digest")
        assert revisit.http_headers.get_statuscode()  # the revisit keeps its own status line


def test_crawl_log_points_at_each_capture(demo_crawl: CrawlResult) -> None:
    folder = demo_crawl.crawl_dir / "warc"
    fetched = [e for e in demo_crawl.log if e["status"] is not None]
    assert fetched and all(e["warc"] for e in fetched)
    for entry in fetched:
        record = record_at(folder / entry["warc"]["filename"], entry["warc"]["offset"])
        assert record.rec_headers.get_header("WARC-Record-ID") == entry["warc"]["record_id"]
        if "redirect-to-seen-url" in entry["reasons"]:  # points at the redirect itself
            assert record.rec_headers.get_header("WARC-Target-URI") == entry["redirects"][-1]["url"]
            assert record.http_headers.get_statuscode() == "301"
        else:
            assert record.rec_headers.get_header("WARC-Target-URI") == entry["final_url"]


def _cdxj(path: Path, drop: tuple[str, ...] = ()) -> list[tuple[str, str, str]]:
    rows = []
    for line in path.read_text().splitlines():
        key, stamp, data = line.split(" ", 2)
        fields = json.loads(data)
        if fields["url"].startswith(DOM_URI):
            continue  # rendered DOMs (conversion records): ours only, cdxj-indexer does not index them
        for name in drop:
            fields.pop(name, None)
        fields["filename"] = Path(fields["filename"]).name
        rows.append((key, stamp, json.dumps(fields, sort_keys=True)))
    return sorted(rows)


def test_cdxj_equals_what_cdxj_indexer_writes(demo_crawl: CrawlResult, tmp_path: Path) -> None:
    for warc in warcs(demo_crawl):
        ours = demo_crawl.crawl_dir / "cdxj" / warc.name.replace(".warc.gz", ".cdxj")
        lines = ours.read_text().splitlines()
        assert lines == sorted(lines)
        theirs = tmp_path / "theirs.cdxj"
        subprocess.run([str(BIN / "cdxj-indexer"), "-o", str(theirs), str(warc)], check=True)
        assert _cdxj(ours, drop=("verdict", "reasons", "record_id", "warc_date")) == _cdxj(theirs)
    not_found = {path_of(json.loads(line.split(" ", 2)[2])["url"]) for line in lines if '"not-found"' in line}
    dead = {d["path"] for d in demo_crawl.web["dead"] if d["expect"] == "not-found"}
    probes = {path_of(e["url"]) for e in demo_crawl.log if e["kind"] == "probe" and e["status"] == 404}
    assert not_found == dead | probes and len(dead) == 2


def test_rotation_and_a_killed_crawl_leave_valid_warcs(web: FixtureWeb, tmp_path: Path) -> None:
    """Small files so the crawl rotates often; SIGKILL once some are closed; every closed one is whole.

    Closed files wait in the spool for late verdicts (``ANNOTATION_GRACE``) before they are stored, so the
    kill is triggered by closed files anywhere: waiting for three in the store raced the crawl's own end.
    """
    store, spool = tmp_path / "store", tmp_path / "spool"
    cmd = [str(BIN / "scrapy"), "crawl", "news", "-a", "site=demo", "-a", f"base_url={web.base_url}/",
           "-s", f"STORE_URI=file://{store}", "-s", f"STORE_SPOOL_DIR={spool}", "-s", "CRAWL_ID=killed",
           "-s", "ARCHIVE_MAX_FILE_SIZE=60000", "-s", "DOWNLOAD_DELAY=0.02", "-s", "CONCURRENT_REQUESTS=2"]
    log = tmp_path / "crawl.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                stdout=subprocess.DEVNULL, stderr=stderr)
    warc_dir = store / "crawls" / "killed" / "warc"
    deadline = time.monotonic() + 300

    def closed_files() -> list[Path]:
        return sorted(warc_dir.glob("*.warc.gz")) + sorted(spool.rglob("*.warc.gz"))

    while len(closed_files()) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the filesystem for the crawl's progress, not waiting on a server
    assert proc.poll() is None, log.read_text()[-3000:]  # the crawl must still be running to be killed
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    closed = closed_files()
    assert len(closed) >= 3
    for path in closed:  # stored, or closed in the spool and waiting for its grace period
        assert_warcio_check_passes(path)
        cdxj = path.name.replace(".warc.gz", ".cdxj")
        # Stored right after its WARC; a kill between the two leaves it in the spool, not lost.
        assert (store / "crawls" / "killed" / "cdxj" / cdxj).is_file() or list(spool.rglob(cdxj))
    assert not (store / "crawls" / "killed" / "crawl.json").exists()  # an unfinished crawl says so
    open_files = list(spool.rglob("*.warc.gz.open"))  # none if killed between two files
    assert len(open_files) <= 1
    for path in open_files:
        if path.stat().st_size == 0:
            continue  # killed as it was created, before its warcinfo: nothing in it (recovery removes it)
        # Read with the crawl's other files: a revisit in the open file may point at a payload in a closed one.
        reader = ArchiveReader([*closed, *sorted(spool.rglob("*.warc.gz")), path])
        list(reader.captures())
        assert reader.records[path.name] >= 1  # warcinfo, then every record flushed before the kill
        # At most the record being written when the process died is cut: one problem, at the tail.
        tail = ("unreadable after this point", "does not end where its Content-Length says")
        problems = [p for p in reader.problems if p.filename == path.name]
        assert len(problems) <= 1 and len(reader.problems) == len(problems), reader.problems
        assert all(p.message.startswith(tail) or tail[1] in p.message for p in problems), problems


def test_a_body_over_download_maxsize_is_archived_truncated(web: FixtureWeb, tmp_path: Path) -> None:
    settings = write_site(tmp_path, "big", 'base_url = "http://127.0.0.1:1/"\nsitemap_from_robots = false\n'
                                           '[[sections]]\nname = "reports"\nurl = "/media/annual-report.pdf"\n')
    result = run_crawl(web, tmp_path / "store", site="big", settings={**settings, "DOWNLOAD_MAXSIZE": "50000"})
    assert result.returncode == 0, result.stderr[-2000:]
    entry = next(e for e in result.log if e["url"].endswith(".pdf"))
    assert "truncated" in entry["reasons"] and entry["status"] == 200
    record = record_at(result.crawl_dir / "warc" / entry["warc"]["filename"], entry["warc"]["offset"])
    assert record.rec_headers.get_header("WARC-Truncated") == "length"
    with urllib.request.urlopen(web.base_url + "/media/annual-report.pdf") as resp:
        full = resp.read()
    assert len(full) > 50000 and record.raw == full[:50000]


def test_a_later_crawl_of_the_same_store_writes_revisits_for_unchanged_payloads(
        web: FixtureWeb, demo_crawl: CrawlResult) -> None:
    again = run_crawl(web, demo_crawl.store.root, crawl_id="again")
    assert again.returncode == 0, again.stderr[-2000:]
    first_index = {}
    for path in (demo_crawl.crawl_dir / "cdxj").glob("*.cdxj"):
        for line in path.read_text().splitlines():
            fields = json.loads(line.split(" ", 2)[2])
            first_index[fields["url"], fields["digest"]] = fields
    kinds: dict[str, int] = {}
    for path in warcs(again):
        for record in records(path):
            kinds[record.rec_type] = kinds.get(record.rec_type, 0) + 1
            if record.rec_type == "revisit":
                key = (record.rec_headers.get_header("WARC-Refers-To-Target-URI"),
                       record.rec_headers.get_header("WARC-Payload-Digest"))
                assert key in first_index
    # Every non-empty payload was archived by the first crawl: only empty bodies (redirects) stay responses.
    empty = sum(len(e["redirects"]) for e in again.log)  # each redirect hop is an empty-bodied response
    assert kinds["response"] == empty and kinds["revisit"] == again.manifest["counts"]["revisits"] > 250
    assert not list((demo_crawl.store.root.parent / "spool").rglob("*.sqlite"))


def test_reader_gives_back_every_capture_with_revisits_resolved(web: FixtureWeb, demo_crawl: CrawlResult) -> None:
    later = run_crawl(web, demo_crawl.store.root, crawl_id="reread")
    assert later.returncode == 0, later.stderr[-2000:]
    # A revisit may point at any earlier crawl of the store (another test crawls "again" into it): all of
    # them, the originals after the revisits in this order.
    earlier = [d for d in sorted((demo_crawl.store.root / "crawls").iterdir()) if d != later.crawl_dir]
    crawls = [later.crawl_dir, *earlier]
    files = [p for d in crawls for p in sorted((d / "warc").glob("*.warc.gz"))]
    reader = ArchiveReader(files)
    captures = list(reader.captures())
    assert reader.problems == []
    cdxj_files = [p for d in crawls for p in (d / "cdxj").glob("*.cdxj")]
    indexed = sum(len(p.read_text().splitlines()) for p in cdxj_files)
    assert len(captures) == indexed
    revisits = [c for c in captures if c.record_type == "revisit"]
    assert len(revisits) > 250 and all(c.resolved_from for c in revisits)
    article = next(a for a in demo_crawl.web["articles"] if a["template"] == "normal" and "section" in a["routes"])
    page = next(c for c in revisits if path_of(c.url) == article["path"])
    with urllib.request.urlopen(web.base_url + article["path"]) as resp:
        assert page.content() == resp.read()
