"""The capture index and the record reader on WARCs written here with warcio: lookups by SURT and time,
revisits resolved, and every kind of broken input answered with its file and offset."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archive.captureindex import CaptureIndex, CaptureRow
from archive.indexing import WARC_SUFFIXES, index_files, update_from_store, warc_rows
from archive.memento import BadRequestError, Uris, check_url, memento_links, parse_timestamp, timemap_link
from archive.records import RecordError, RecordReader
from archive.store import FileStore
from archive.wacz import write_wacz

PAGE = b"<html><body><h1>Story</h1><p>" + b"text " * 50 + b"</p></body></html>"


def _response(writer: WARCWriter, url: str, date: str, body: bytes, status: str = "200 OK") -> None:
    http = StatusAndHeaders(status, [("Content-Type", "text/html; charset=utf-8"), ("Set-Cookie", "a=1"),
                                     ("Set-Cookie", "b=2")], protocol="HTTP/1.1")
    record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                       warc_headers_dict={"WARC-Date": date})
    writer.write_record(record)


def _revisit(writer: WARCWriter, url: str, date: str, digest: str, refers_date: str) -> None:
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    record = writer.create_revisit_record(url, digest, url, refers_date, http_headers=http,
                                          warc_headers_dict={"WARC-Date": date})
    writer.write_record(record)


def write_warc(path: Path, missing_original: bool = False) -> None:
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        _response(writer, "http://www.example.com/a", "2026-01-01T00:00:00Z", PAGE)
        _response(writer, "http://example.com/a", "2026-03-01T00:00:00Z", PAGE + b"<!-- edited -->")
        _response(writer, "http://example.com/b?x=1", "2026-02-01T00:00:00Z", b"gone", "404 Not Found")
        _response(writer, "http://news.example.com/c", "2026-02-01T00:00:00Z", PAGE)
    digest = next(r.digest for r in warc_rows(path, "x", []) if r.url.endswith("/a") and r.digest)
    assert digest is not None
    with path.open("ab") as fh:
        writer = WARCWriter(fh, gzip=True)
        _revisit(writer, "http://example.com/a", "2026-04-01T00:00:00Z", digest, "2026-01-01T00:00:00Z")
        if missing_original:
            _revisit(writer, "http://example.com/z", "2026-04-02T00:00:00Z", "sha1:AAAA", "2026-01-01T00:00:00Z")


def cdxj(rows: list[CaptureRow]) -> str:
    lines = [f"{r.urlkey} {r.ts} " + json.dumps({"url": r.url, "mime": r.mime, "status": str(r.status or ""),
                                                   "digest": r.digest, "length": str(r.length),
                                                   "offset": str(r.offset), "filename": r.filename})
             for r in rows]
    return "\n".join(sorted(lines)) + "\n"


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    root = tmp_path / "store"
    warc = root / "crawls/c1/warc/c1.warc.gz"
    warc.parent.mkdir(parents=True)
    write_warc(warc, missing_original=True)
    (root / "crawls/c1/cdxj").mkdir()
    text = cdxj(list(warc_rows(warc, "c1", [])))
    text += 'com,example)/nowhere 20260101000000 {"url": "http://example.com/nowhere", "status": "200", ' \
            '"mime": "text/html", "offset": "99999999", ' \
            '"length": "100", "filename": "c1.warc.gz"}\nnot a cdxj line\n'
    (root / "crawls/c1/cdxj/c1.cdxj").write_text(text)
    (root / "crawls/c1/crawl.json").write_text(json.dumps({"site": "example", "started_at": "2026-01-01T00:00:00Z",
                                                          "complete": True}))
    return FileStore(root, f"file://{root}")


def test_store_crawls_are_indexed_once_and_looked_up_by_surt_and_time(store: FileStore, tmp_path: Path) -> None:
    index = CaptureIndex(tmp_path / "index.sqlite", store.uri)
    update = update_from_store(index, store)
    assert update.indexed == ["c1"]
    assert any("1 lines are not CDXJ" in p for p in update.problems)
    assert any("1 lines point outside their WARC" in p for p in update.problems)
    assert update_from_store(index, store).unchanged == 1  # nothing changed: nothing read again
    assert [r.ts[:8] for r in index.captures("https://example.com/a")] == ["20260101", "20260301", "20260401"]
    assert index.nearest("http://example.com/a", "20260215000000").ts.startswith("20260301")  # type: ignore[union-attr]
    assert index.nearest("http://example.com/a", None).is_revisit  # type: ignore[union-attr]
    assert index.nearest("http://example.com/never", None) is None
    nowhere = index.nearest("http://example.com/nowhere", None)  # archived, its record out of reach: a 502
    assert nowhere is not None
    with pytest.raises(RecordError, match=r"c1.warc.gz at offset 99999999: .*truncated"):
        RecordReader(index, store).read(nowhere)
    assert {r.url for r in index.search("example.com", "domain")} >= {"http://news.example.com/c",
                                                                     "http://example.com/b?x=1"}
    assert {r.url for r in index.search("http://example.com/b", "prefix")} == {"http://example.com/b?x=1"}


def test_records_are_read_by_range_and_revisits_resolved(store: FileStore, tmp_path: Path) -> None:
    index = CaptureIndex(tmp_path / "index.sqlite", store.uri)
    update_from_store(index, store)
    reader = RecordReader(index, store)
    revisit = index.nearest("http://example.com/a", "20260401000000")
    assert revisit is not None and revisit.is_revisit
    read = reader.read(revisit)
    assert read.capture.payload == PAGE and read.original is not None and read.original.ts == "20260101000000"
    missing = index.nearest("http://example.com/z", None)
    assert missing is not None
    with pytest.raises(RecordError, match=r"c1.warc.gz at offset \d+: revisit .* original is not in the archive"):
        reader.read(missing)


def test_a_truncated_file_is_an_error_naming_file_and_offset(store: FileStore, tmp_path: Path) -> None:
    index = CaptureIndex(tmp_path / "index.sqlite", store.uri)
    update_from_store(index, store)
    warc = store.root / "crawls/c1/warc/c1.warc.gz"
    last = max(index.captures("http://news.example.com/c"), key=lambda r: r.offset)
    data = warc.read_bytes()
    warc.write_bytes(data[: last.offset + last.length // 2])  # cut inside the record, after indexing
    with pytest.raises(RecordError, match="truncated"):
        RecordReader(index, store).read(last)
    warc.write_bytes(data[: last.offset] + b"\x1f\x8b garbage" + data[last.offset + 10:])
    with pytest.raises(RecordError, match=r"offset \d+: unreadable record"):
        RecordReader(index, store).read(last)


def test_loose_warc_arc_and_broken_files_are_indexed_as_far_as_they_read(shared_data: Path, tmp_path: Path) -> None:
    index = CaptureIndex(tmp_path / "files.sqlite", "files")
    interop = shared_data / "warc-interop"
    paths = sorted(p for p in interop.rglob("*") if p.is_file() and p.name.endswith(WARC_SUFFIXES))
    update = index_files(index, paths)
    assert len(update.indexed) == len(paths)
    assert any("example-wrong-chunks.warc.gz: unreadable after offset" in p for p in update.problems)
    reader = RecordReader(index)
    by_name = {Path(s.source).name: s for s in index.sources()}
    for name in ("IAH-20080430204825-00000-blackbook-truncated.warc.gz", "IAH-urls-wget.warc.gz", "example.arc",
                 "example.arc.gz", "example.warc.gz"):
        rows = index.of_source(by_name[name].source)
        assert rows and by_name[name].captures == len(rows), name
        html = [r for r in rows if r.mime == "text/html" and r.status == 200]
        assert html and b"<" in reader.read(html[0]).capture.content(), name


def test_timestamps_urls_and_memento_links() -> None:
    assert parse_timestamp("2026") == "20260101000000" and parse_timestamp("20260315") == "20260315000000"
    for bad in ("", "12", "2026x", "20261301", "202601011"[:3]):
        with pytest.raises(BadRequestError):
            parse_timestamp(bad)
    assert check_url("example.com/a") == "http://example.com/a"
    for bad in ("ftp://x/", "http:///a", "http://[::1/", "http://a b/"):
        with pytest.raises(BadRequestError):
            check_url(bad)
    rows = [CaptureRow("k", ts, "http://e.com/", 200, "text/html", None, "c", "f", 0, 1)
            for ts in ("20260101000000", "20260201000000", "20260301000000")]
    uris = Uris("http://replay")
    links = memento_links(uris, "http://e.com/", rows, rows[1])
    assert '<http://replay/web/20260101000000id_/http://e.com/>; rel="first prev memento"' in links
    assert '<http://replay/web/20260201000000id_/http://e.com/>; rel="memento"' in links
    assert '<http://replay/web/20260301000000id_/http://e.com/>; rel="next last memento"' in links
    assert 'rel="first last memento"' in memento_links(uris, "http://e.com/", rows[:1], rows[0])
    timemap = timemap_link(uris, "http://e.com/", rows)
    assert timemap.count("memento") == 3 and 'rel="self"; type="application/link-format"' in timemap


def test_a_wacz_is_indexed_from_its_own_index_and_read_by_range(store: FileStore, tmp_path: Path) -> None:
    (store.root / "crawls/c1/cdxj/c1.cdxj").write_text(cdxj(list(warc_rows(store.root / "crawls/c1/warc/c1.warc.gz",
                                                                      "c1", []))))
    package = tmp_path / "c1.wacz"
    write_wacz(store, "c1", package)
    index = CaptureIndex(tmp_path / "files.sqlite", "files")
    update = index_files(index, [package])
    assert update.indexed == [str(package.resolve())]
    rows = index.of_source(str(package.resolve()))
    assert rows and all(r.filename == "archive/c1.warc.gz" for r in rows)
    revisit = index.nearest("http://example.com/a", "20260401000000")
    assert revisit is not None and revisit.is_revisit
    assert RecordReader(index).read(revisit).capture.payload == PAGE  # range read inside the zip, revisit resolved


def test_raw_replay_passes_an_archived_page_s_own_memento_headers_on_renamed() -> None:
    """The replay sets Link, Memento-Datetime and Content-Location on a memento itself; the archived page's
    own (a `Link: rel=canonical`, a Memento-Datetime of an archive that was crawled) must not be lost or
    taken for ours."""
    from archive.reader import Capture  # noqa: PLC0415
    from archive.records import ReadCapture  # noqa: PLC0415
    from archive.replayresponse import raw_response  # noqa: PLC0415

    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Link", '<https://a.test/x>; rel="canonical"'),
                                       ("Link", "</style.css>; rel=preload"),
                                       ("Memento-Datetime", "Tue, 01 Dec 2026 10:00:00 GMT")], protocol="HTTP/1.1")
    capture = Capture("https://a.test/x", "2026-12-01T10:00:00Z", "response", 200, http, b"<p>x</p>", "f.warc.gz",
                      0, "<urn:uuid:1>", None)
    row = CaptureRow("test,a)/x", "20261201100000", "https://a.test/x", 200, "text/html", None, "crawl",
                     "f.warc.gz", 0, 100)
    response = raw_response(ReadCapture(row, capture))
    assert response.headers.getall("X-Archive-Orig-Link") == ['<https://a.test/x>; rel="canonical"',
                                                              "</style.css>; rel=preload"]
    assert response.headers["X-Archive-Orig-Memento-Datetime"] == "Tue, 01 Dec 2026 10:00:00 GMT"
    assert "Link" not in response.headers and "Memento-Datetime" not in response.headers
