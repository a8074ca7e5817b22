"""Answering requests from the archive (crawler/replayhandler.py, crawler/archivelookup.py) over real WARCs:
warcio's own test files and the UKWA ones in shared/data, indexed with archive/indexing.py."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse

from archive.captureindex import CaptureIndex, CaptureRow, SourceRow
from archive.cdxj import url_key
from archive.indexing import index_files
from archive.store import FileStore
from crawler.archivelookup import ArchiveLookup
from crawler.replayhandler import dechunk, location, page_response
from crawler.reprocessing import ReprocessError, archive_site, archive_urls, site_name_for, split_sources
from crawler.reprocessmw import ArchivedProbes
from crawler.soft404.probes import probe_url

IANA = "http://www.iana.org/"


def _lookup(tmp_path: Path, files: list[Path], at: str = "20170306000000") -> tuple[CaptureIndex, ArchiveLookup]:
    index = CaptureIndex(tmp_path / "index.sqlite", "test")
    index_files(index, files)
    return index, ArchiveLookup(index, None, [str(p.resolve()) for p in files], at)


def test_dechunk_undoes_chunked_framing_and_leaves_other_bodies_alone() -> None:
    assert dechunk(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n") == b"hello world"
    assert dechunk(b"<html>not chunked</html>") == b"<html>not chunked</html>"


def test_a_chunked_capture_becomes_the_response_the_http_client_would_give(shared_data: Path,
                                                                           tmp_path: Path) -> None:
    path = shared_data / "warc-interop" / "warcio" / "example-iana.org-chunked.warc"
    _, lookup = _lookup(tmp_path, [path])
    found = lookup.page(IANA)
    assert found.capture is not None and found.unreadable == []
    request = Request(IANA)
    response = page_response(request, found.capture)
    assert isinstance(response, HtmlResponse) and response.status == 200
    assert b"transfer-encoding" not in {k.lower() for k in response.headers}  # the framing is gone with it
    assert response.body.rstrip().endswith(b"</html>") and not response.body.startswith(b"1")
    assert location(found.capture) == {"filename": path.name, "offset": found.capture.row.offset,
                                       "length": found.capture.row.length,
                                       "record_id": found.capture.capture.record_id}


def test_a_gzipped_body_stays_encoded_for_the_decoding_middleware(shared_data: Path, tmp_path: Path) -> None:
    path = shared_data / "warc-interop" / "ukwa" / "compression" / "transfer_compression_gzip.warc.gz"
    _, lookup = _lookup(tmp_path, [path], "20190815000000")
    url = "http://tokemon.sb.statsbiblioteket.dk/"
    found = lookup.page(url)
    assert found.capture is not None
    response = page_response(Request(url), found.capture)
    assert response.headers.get(b"Content-Encoding") == b"gzip"
    assert gzip.decompress(response.body)  # as received: Scrapy's middleware decodes it, as in a live crawl


def test_a_url_never_archived_is_not_found_and_says_so(shared_data: Path, tmp_path: Path) -> None:
    _, lookup = _lookup(tmp_path, [shared_data / "warc-interop" / "warcio" / "example.warc.gz"])
    found = lookup.page("http://example.com/never-archived")
    assert found.capture is None and not found.archived and found.unreadable == []


def test_an_index_line_that_points_nowhere_is_unreadable_with_its_file_and_offset(shared_data: Path,
                                                                                  tmp_path: Path) -> None:
    path = (shared_data / "warc-interop" / "warcio" / "example.warc.gz").resolve()
    index = CaptureIndex(tmp_path / "index.sqlite", "test")
    row = CaptureRow(url_key("http://example.com/"), "20140216050221", "http://example.com/", 200, "text/html",
                     None, str(path), path.name, 123, 400)
    index.replace_source(SourceRow(str(path), "warc", None, None, None, True, 1, []), "x", [row])
    found = ArchiveLookup(index, None, [str(path)], "20140216050221").page("http://example.com/")
    assert found.capture is None and found.archived
    assert [(e.filename, e.offset) for e in found.unreadable] == [(path.name, 123)]


def test_a_revisit_whose_original_is_missing_is_unreadable(shared_data: Path, tmp_path: Path) -> None:
    """example.warc.gz's revisit, its original left out of the index."""
    path = shared_data / "warc-interop" / "warcio" / "example.warc.gz"
    index, lookup = _lookup(tmp_path, [path])
    revisits = [r for r in index._db().execute("SELECT url FROM cdx WHERE mime = 'warc/revisit'")]
    assert revisits
    index._db().execute("DELETE FROM cdx WHERE mime != 'warc/revisit'")
    index._db().commit()
    found = lookup.page(revisits[0][0])
    assert found.capture is None and found.unreadable
    assert "original" in found.unreadable[0].message


def test_the_nearest_capture_to_the_runs_moment_answers(shared_data: Path, tmp_path: Path) -> None:
    files = [shared_data / "warc-interop" / "warcio" / name for name in ("example.warc.gz", "example.arc.gz")]
    index, _ = _lookup(tmp_path, files)
    moments = sorted({r.ts for r in index.captures("http://example.com/")})
    assert len(moments) >= 2
    for moment in moments:
        found = ArchiveLookup(index, None, [str(p.resolve()) for p in files], moment).page("http://example.com/")
        assert found.capture is not None and found.capture.row.ts == moment


def test_probes_ask_for_the_probe_the_source_crawl_fetched() -> None:
    archived = "http://news.example/world/2026/10/05/cjf2jo9ioujw.html"
    probes = ArchivedProbes({("news.example", "/world/#/#/#", "html"): archived})
    assert probes.url_for("http://news.example/world/2026/11/12/some-story-31.html") == archived
    assert probes.url_for("http://news.example/tech/article/10135") == archived  # the host's, failing the shape
    made_up = probes.url_for("http://other.example/a/b.html")
    assert made_up.startswith("http://other.example/a/") and made_up != probe_url("http://other.example/a/b.html")


def test_sources_are_crawls_of_the_store_or_archive_files(shared_data: Path, tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    (tmp_path / "store" / "crawls" / "demo-1").mkdir(parents=True)
    folder = shared_data / "warc-interop" / "warcio"
    crawls, files = split_sources(["demo-1", str(folder / "example.warc.gz"), str(folder)], store)
    assert crawls == ["demo-1"] and len(files) > 10 and all(p.is_absolute() for p in files)
    with pytest.raises(ReprocessError, match="neither a crawl"):
        split_sources(["no-such-crawl"], store)


def test_archive_files_get_a_site_of_their_hosts(shared_data: Path, tmp_path: Path) -> None:
    files = [shared_data / "warc-interop" / "warcio" / "example.warc.gz",
             shared_data / "warc-interop" / "warcio" / "example-iana.org-chunked.warc"]
    index, _ = _lookup(tmp_path, files)
    urls, pages = archive_urls(index, [p.resolve() for p in files])
    assert IANA in urls and IANA in pages
    assert site_name_for(["http://www.example.com/a", "http://example.com/b", IANA]) == "example-com"
    site = archive_site("example-com", urls)
    assert set(site.domains) >= {"www.iana.org", "example.com"} and not site.obey_robots


def test_reprocessing_can_fetch_nothing_but_from_the_archive() -> None:
    """Every http(s) request goes to the archive's handler; every other scheme Scrapy could fetch is off."""
    from scrapy.utils.project import get_project_settings  # noqa: PLC0415

    from crawler.reprocessmw import HANDLER, ReprocessAddon  # noqa: PLC0415

    settings = get_project_settings()
    ReprocessAddon().update_settings(settings)
    handlers = settings.getdict("DOWNLOAD_HANDLERS")
    assert handlers["http"] == handlers["https"] == HANDLER
    assert all(handlers[scheme] is None for scheme in ("ftp", "s3", "file", "data"))
