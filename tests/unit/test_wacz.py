"""WACZ packaging (archive/wacz.py) of a small store laid out as a crawl leaves it: two WARCs written with
warcio (a revisit in the second points at the first), their CDXJ, a crawl log and a manifest. Read back with
zipfile, warcio and ArchiveReader; `wacz validate` on real crawls is in tests/e2e/test_wacz.py."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import zipfile
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import surt
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

import archive.wacz as wacz_module
from archive.reader import ArchiveReader, wacz_member_offset
from archive.store import FileStore
from archive.wacz import WaczError, _Package, wacz_key, write_wacz
from crawler.run import CrawlRun

CRAWL = "news-20261203T100000Z"
BASE = "http://news.test"
WARC_A = "PALIMPSEST-20261203100000000-00000-host.warc.gz"
WARC_B = "PALIMPSEST-20261203100500000-00001-host.warc.gz"


def _warc(path: Path, pages: list[tuple[str, bytes, str]], revisit_of: tuple[str, str] | None = None) -> list[str]:
    """Response records (and a metadata record each) for `pages`; returns their CDXJ lines, sorted."""
    lines = []
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, body, date in pages:
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
            record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                               length=len(body), warc_headers_dict={"WARC-Date": date})
            lines.append(_write(writer, fh, record, path.name, "text/html", "200"))
            meta = writer.create_warc_record(f"urn:meta:{url}", "metadata", payload=io.BytesIO(b"verdict: ok\r\n"),
                                             length=13, warc_content_type="application/warc-fields")
            writer.write_record(meta)
        if revisit_of:
            url, digest = revisit_of
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
            record = writer.create_revisit_record(url, digest, url, "2026-12-03T10:00:01Z", http_headers=http)
            record.rec_headers.replace_header("WARC-Date", "2026-12-03T10:05:09Z")
            lines.append(_write(writer, fh, record, path.name, "warc/revisit", "200"))
    return sorted(lines)


def _write(writer: WARCWriter, fh: Any, record: Any, filename: str, mime: str, status: str) -> str:
    offset = fh.tell()
    writer.write_record(record)
    headers = record.rec_headers
    fields = {"url": headers.get_header("WARC-Target-URI"), "mime": mime, "status": status,
              "digest": headers.get_header("WARC-Payload-Digest"), "length": str(fh.tell() - offset),
              "offset": str(offset), "filename": filename}
    ts = "".join(c for c in headers.get_header("WARC-Date") if c.isdigit())[:14]
    return f"{surt.surt(fields['url'])} {ts} {json.dumps(fields)}"


def _log_entry(url: str, kind: str, verdict: str | None, ts: str, title: str | None = None,
               final_url: str | None = None) -> dict[str, Any]:
    record_id = f"<urn:uuid:{hashlib.md5(url.encode()).hexdigest()}>"
    return {"url": url, "final_url": final_url or url, "status": 200, "kind": kind, "verdict": verdict,
            "fetched_at": ts, "title": title, "warc": {"filename": WARC_A, "offset": 0, "length": 1,
                                                     "record_id": record_id}}


def make_store(root: Path, complete: bool | None = True, crawl_id: str = CRAWL) -> FileStore:
    """A crawl as the archive service stores it; `complete=None`: no crawl.json (still running)."""
    store = FileStore(root, fsync=False)
    prefix = root / "crawls" / crawl_id
    for sub in ("warc", "cdxj", "log"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    pages_a = [(f"{BASE}/", b"<html><title>Front</title>front</html>", "2026-12-03T10:00:00Z"),
               (f"{BASE}/world/a1.html", b"<html><title>A1</title>story one</html>", "2026-12-03T10:00:01Z"),
               (f"{BASE}/world/a2.html", b"<html>moved</html>", "2026-12-03T10:00:02Z"),
               (f"{BASE}/gone.html", b"<html>not found</html>", "2026-12-03T10:00:03Z")]
    pages_b = [(f"{BASE}/business/b1.html", b"<html><title>B1</title>story two</html>", "2026-12-03T10:05:00Z"),
               (f"{BASE}/%E4%B8%AD/c1.html", "<html>中文</html>".encode(), "2026-12-03T10:05:01Z")]
    lines_a = _warc(prefix / "warc" / WARC_A, pages_a)
    digest = next(json.loads(x.split(" ", 2)[2])["digest"] for x in lines_a if "/world/a1.html" in x)
    lines_b = _warc(prefix / "warc" / WARC_B, pages_b, revisit_of=(f"{BASE}/world/a1.html", digest))
    for name, lines in ((WARC_A, lines_a), (WARC_B, lines_b)):
        (prefix / "cdxj" / name.replace(".warc.gz", ".cdxj")).write_text("".join(f"{x}\n" for x in lines))
    log = [_log_entry(f"{BASE}/", "section", "ok", "2026-12-03T10:00:00Z", "Front"),
           _log_entry(f"{BASE}/world/a1.html", "article", "ok", "2026-12-03T10:00:01Z", "A1"),
           _log_entry(f"{BASE}/world/old.html", "article", "ok", "2026-12-03T10:00:02Z", None,
                      final_url=f"{BASE}/world/a2.html"),
           _log_entry(f"{BASE}/gone.html", "article", "soft-404", "2026-12-03T10:00:03Z", "Not found"),
           _log_entry(f"{BASE}/probe-xyz", "probe", "ok", "2026-12-03T10:00:03Z")]
    (prefix / "log" / "part-00000.jsonl.gz").write_bytes(gzip.compress("".join(json.dumps(e) + "\n" for e in log)
                                                                       .encode()))
    log2 = [_log_entry(f"{BASE}/business/b1.html", "recheck", "ok", "2026-12-03T10:05:00Z", "B1"),
            _log_entry(f"{BASE}/%E4%B8%AD/c1.html", "article", None, "2026-12-03T10:05:01Z", "needs render")]
    (prefix / "log" / "part-00001.jsonl.gz").write_bytes(gzip.compress(b"not json\n" + "".join(
        json.dumps(e) + "\n" for e in log2).encode()))
    if complete is not None:
        (prefix / "crawl.json").write_text(json.dumps({"crawl_id": crawl_id, "site": "news", "complete": complete}))
    return store


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return make_store(tmp_path / "store")


def cdxj_lines(store: FileStore) -> list[str]:
    found: list[str] = []
    for path in sorted((store.root / "crawls" / CRAWL / "cdxj").glob("*.cdxj")):
        found += path.read_text().splitlines()
    return found


def test_members_stored_and_datapackage_hashes_right(store: FileStore, tmp_path: Path) -> None:
    out = tmp_path / "crawl.wacz"
    summary = write_wacz(store, CRAWL, out)
    with zipfile.ZipFile(out) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        assert set(infos) == {f"archive/{WARC_A}", f"archive/{WARC_B}", "indexes/index.cdxj", "pages/pages.jsonl",
                              "datapackage.json", "datapackage-digest.json"}
        for name in (WARC_A, WARC_B):
            assert infos[f"archive/{name}"].compress_type == zipfile.ZIP_STORED
            assert zf.read(f"archive/{name}") == (store.root / "crawls" / CRAWL / "warc" / name).read_bytes()
        package_bytes = zf.read("datapackage.json")
        package = json.loads(package_bytes)
        assert package["profile"] == "data-package" and package["wacz_version"] == "1.1.1"
        assert package["created"].endswith("Z") and CRAWL in package["title"]
        assert package["mainPageUrl"] == f"{BASE}/" and package["mainPageDate"] == "2026-12-03T10:00:00Z"
        resources = {r["path"]: r for r in package["resources"]}
        assert set(resources) == set(infos) - {"datapackage.json", "datapackage-digest.json"}
        for path, resource in resources.items():
            data = zf.read(path)
            assert resource["hash"] == f"sha256:{hashlib.sha256(data).hexdigest()}"
            assert resource["bytes"] == len(data) and resource["name"] == path.rsplit("/", 1)[-1].lower()
        digest = json.loads(zf.read("datapackage-digest.json"))
        assert digest == {"path": "datapackage.json", "hash": f"sha256:{hashlib.sha256(package_bytes).hexdigest()}"}
    assert (summary.warcs, summary.index_lines, summary.pages, summary.files) == (2, len(cdxj_lines(store)), 3, 6)
    assert not summary.compressed_index and summary.bytes == out.stat().st_size
    assert summary.problems == ["part-00001.jsonl.gz: 1 lines are not JSON, left out of the pages"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_index_sorted_and_pointing_at_records(store: FileStore, tmp_path: Path) -> None:
    out = tmp_path / "crawl.wacz"
    write_wacz(store, CRAWL, out)
    with zipfile.ZipFile(out) as zf:
        lines = zf.read("indexes/index.cdxj").decode().splitlines()
    assert lines == sorted(cdxj_lines(store)) and len(lines) == 7  # 6 responses and the revisit
    raw = out.read_bytes()
    for line in lines:
        fields = json.loads(line.split(" ", 2)[2])
        start, size = wacz_member_offset(out, f"archive/{fields['filename']}")
        offset, length = int(fields["offset"]), int(fields["length"])
        assert offset + length <= size
        record = next(iter(ArchiveIterator(io.BytesIO(raw[start + offset:start + offset + length]))))
        assert record.rec_headers.get_header("WARC-Target-URI") == fields["url"]
        assert record.rec_type == ("revisit" if fields["mime"] == "warc/revisit" else "response")


def test_compressed_index_above_the_threshold(store: FileStore, tmp_path: Path) -> None:
    out = tmp_path / "crawl.wacz"
    summary = write_wacz(store, CRAWL, out, compress_above=3, block_lines=2)
    assert summary.compressed_index and summary.index_lines == 7
    with zipfile.ZipFile(out) as zf:
        assert "indexes/index.cdxj" not in zf.namelist()
        assert zf.getinfo("indexes/index.cdx.gz").compress_type == zipfile.ZIP_STORED
        packed = zf.read("indexes/index.cdx.gz")
        idx = zf.read("indexes/index.idx").decode().splitlines()
        listed = {r["path"] for r in json.loads(zf.read("datapackage.json"))["resources"]}
    assert {"indexes/index.cdx.gz", "indexes/index.idx"} <= listed
    assert idx[0] == '!meta 0 {"format": "cdxj-gzip-1.0", "filename": "index.cdx.gz"}'
    assert gzip.decompress(packed).decode().splitlines() == sorted(cdxj_lines(store))
    blocks, end = [], 0
    for line in idx[1:]:
        key, ts, fields_text = line.split(" ", 2)
        fields = json.loads(fields_text)
        assert fields["offset"] == end and fields["filename"] == "index.cdx.gz"
        block = packed[fields["offset"]:fields["offset"] + fields["length"]]
        assert fields["digest"] == f"sha256:{hashlib.sha256(block).hexdigest()}"
        block_lines = gzip.decompress(block).decode().splitlines()
        assert block_lines[0].startswith(f"{key} {ts} ") and len(block_lines) <= 2
        blocks += block_lines
        end += fields["length"]
    assert end == len(packed) and len(idx) == 1 + 4 and blocks == sorted(cdxj_lines(store))


def test_exactly_at_the_threshold_stays_plain(store: FileStore, tmp_path: Path) -> None:
    assert not write_wacz(store, CRAWL, tmp_path / "a.wacz", compress_above=7).compressed_index
    assert write_wacz(store, CRAWL, tmp_path / "b.wacz", compress_above=6).compressed_index


def test_pages_are_the_live_articles(store: FileStore, tmp_path: Path) -> None:
    out = tmp_path / "crawl.wacz"
    write_wacz(store, CRAWL, out)
    with zipfile.ZipFile(out) as zf:
        header, *pages = [json.loads(x) for x in zf.read("pages/pages.jsonl").decode().splitlines()]
    assert header == {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}
    assert [(p["url"], p["ts"], p.get("title")) for p in pages] == [
        (f"{BASE}/world/a1.html", "2026-12-03T10:00:01Z", "A1"),
        (f"{BASE}/world/a2.html", "2026-12-03T10:00:02Z", None),  # the final URL of a redirect
        (f"{BASE}/business/b1.html", "2026-12-03T10:05:00Z", "B1"),  # a recheck
    ]
    assert len({p["id"] for p in pages}) == 3


def test_an_unfinished_crawl_is_refused_unless_partial(tmp_path: Path) -> None:
    for complete, why in ((False, "is incomplete"), (None, "has no crawl.json")):
        store = make_store(tmp_path / f"store-{complete}", complete=complete)
        out = tmp_path / f"{complete}.wacz"
        with pytest.raises(WaczError, match=why) as raised:
            write_wacz(store, CRAWL, out)
        assert CRAWL in str(raised.value) and "partial" in str(raised.value)
        assert not out.exists() and not list(tmp_path.glob(".*.tmp"))
        assert write_wacz(store, CRAWL, out, partial=True).warcs == 2
    with pytest.raises(WaczError, match="'nope': not in the store"):
        write_wacz(make_store(tmp_path / "store-x"), "nope", tmp_path / "x.wacz")


def test_a_crawl_without_warcs_is_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    for path in (store.root / "crawls" / CRAWL / "warc").iterdir():
        path.unlink()
    with pytest.raises(WaczError, match="no WARC files"):
        write_wacz(store, CRAWL, tmp_path / "x.wacz")


def test_warcs_are_copied_in_chunks(store: FileStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A WARC goes through in ranged reads (never `get_bytes`), and the chunked copy is byte-exact."""
    reads: list[tuple[str, int]] = []
    real_range, real_bytes = store.get_range, store.get_bytes

    def get_range(key: str, start: int, length: int) -> bytes:
        reads.append((key, length))
        return real_range(key, start, length)

    def get_bytes(key: str) -> bytes:
        assert "/warc/" not in key and "/cdxj/" not in key, key
        return real_bytes(key)

    monkeypatch.setattr(store, "get_range", get_range)
    monkeypatch.setattr(store, "get_bytes", get_bytes)
    monkeypatch.setattr(wacz_module, "COPY_CHUNK", 1000)
    out = tmp_path / "crawl.wacz"
    write_wacz(store, CRAWL, out)
    warc_reads = [length for key, length in reads if key.endswith(WARC_A)]
    assert len(warc_reads) > 1 and max(warc_reads) <= 1000
    with zipfile.ZipFile(out) as zf:
        assert zf.read(f"archive/{WARC_A}") == (store.root / "crawls" / CRAWL / "warc" / WARC_A).read_bytes()


def test_archive_reader_reads_a_wacz(store: FileStore, tmp_path: Path) -> None:
    out = tmp_path / "crawl.wacz"
    write_wacz(store, CRAWL, out)
    reader = ArchiveReader([out])
    captures = list(reader.captures())
    assert reader.problems == []
    assert {c.filename for c in captures} == {f"crawl.wacz#archive/{WARC_A}", f"crawl.wacz#archive/{WARC_B}"}
    assert len(captures) == 7 and reader.records[f"crawl.wacz#archive/{WARC_A}"] == 8  # 4 responses, 4 metadata
    revisit = next(c for c in captures if c.record_type == "revisit")
    original = next(c for c in captures if c.url == f"{BASE}/world/a1.html" and c.record_type == "response")
    assert revisit.payload == original.payload and revisit.resolved_from == (original.filename, original.offset)


def test_a_broken_wacz_is_a_problem_not_a_crash(store: FileStore, tmp_path: Path) -> None:
    out = tmp_path / "crawl.wacz"
    write_wacz(store, CRAWL, out)
    data = out.read_bytes()
    cut = tmp_path / "cut.wacz"
    cut.write_bytes(data[: len(data) // 2])
    reader = ArchiveReader([cut, out])
    assert len(list(reader.captures())) == 7  # the good one is still read
    assert [p.filename for p in reader.problems] == ["cut.wacz"] and "not a readable WACZ" in reader.problems[0].message
    start, size = wacz_member_offset(out, f"archive/{WARC_A}")
    flipped = bytearray(data)
    flipped[start + size // 2] ^= 0xFF  # inside a gzip member: unreadable from there, the CRC check fails too
    bad = tmp_path / "bad.wacz"
    bad.write_bytes(bytes(flipped))
    reader = ArchiveReader([bad])
    list(reader.captures())
    assert reader.problems and all(p.filename.startswith("bad.wacz#archive/") for p in reader.problems)


def test_member_offset_refuses_a_deflated_member(store: FileStore, tmp_path: Path) -> None:
    out = tmp_path / "crawl.wacz"
    write_wacz(store, CRAWL, out)
    with pytest.raises(ValueError, match="compressed"):
        wacz_member_offset(out, "pages/pages.jsonl")
    with pytest.raises(KeyError):
        wacz_member_offset(out, "archive/missing.warc.gz")


def test_zip64_members_keep_their_offsets(tmp_path: Path) -> None:
    """A member announced past 2 GiB gets ZIP64 headers (a longer local extra field): the data offset is
    still found, and the zip still reads."""
    out = tmp_path / "z.wacz"
    with zipfile.ZipFile(out, "w") as zf:
        package = _Package(zf, datetime(2026, 12, 3))
        with package.member("archive/a.warc.gz", stored=True, size_hint=3 << 30) as member:
            member.write(b"WARC/1.1 pretend")
    start, size = wacz_member_offset(out, "archive/a.warc.gz")
    assert out.read_bytes()[start:start + size] == b"WARC/1.1 pretend"
    with zipfile.ZipFile(out) as zf:
        assert zf.read("archive/a.warc.gz") == b"WARC/1.1 pretend"
        assert package.resources[0]["bytes"] == size


class _Stats:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def inc_value(self, key: str, count: int = 1) -> None:
        self.values[key] = self.values.get(key, 0) + count

    def set_value(self, key: str, value: Any) -> None:
        self.values[key] = value


def _run(store: FileStore, spool: Path) -> tuple[CrawlRun, _Stats]:
    run = CrawlRun.__new__(CrawlRun)  # only what _store_wacz uses: no crawler, no archive service
    stats = _Stats()
    run.crawler = SimpleNamespace(stats=stats)  # type: ignore[assignment]
    run.store, run.crawl_id = store, CRAWL
    uploads = {"give_up": 5.0, "backoff": 0.05, "max_backoff": 0.2}
    run.archive = SimpleNamespace(spool=spool, options=SimpleNamespace(uploads=uploads))  # type: ignore[assignment]
    return run, stats


def test_archive_wacz_stores_the_package_at_its_key(store: FileStore, tmp_path: Path) -> None:
    run, stats = _run(store, tmp_path / "spool" / CRAWL)
    run._store_wacz()
    assert stats.values["archive/wacz/stored"] == 1 and "archive/wacz/failed" not in stats.values
    with zipfile.ZipFile(store.root / wacz_key(CRAWL)) as zf:
        assert f"archive/{WARC_A}" in zf.namelist()
    assert wacz_key(CRAWL) == f"crawls/{CRAWL}/wacz/{CRAWL}.wacz"
    assert not [p for p in (tmp_path / "spool").rglob("*") if p.is_file()]


def test_archive_wacz_failure_is_counted_not_raised(store: FileStore, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    for path in (store.root / "crawls" / CRAWL / "warc").iterdir():
        path.unlink()
    run, stats = _run(store, tmp_path / "spool" / CRAWL)
    run._store_wacz()
    assert stats.values == {"archive/wacz/failed": 1}
    assert "could not be made or stored" in caplog.text and f"scrapy wacz {CRAWL}" in caplog.text
    assert not (store.root / wacz_key(CRAWL)).exists()
