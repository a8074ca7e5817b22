"""Salvaging half-written spool files after a kill."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from archive.archiver import Archiver
from archive.recovery import close_open_part, complete_members, recover, store_key
from archive.warc import Exchange
from archive.warcfile import WarcFileWriter


def test_a_cut_warc_keeps_its_complete_records_and_gets_a_cdxj(tmp_path: Path) -> None:
    crawl_spool = tmp_path / "spool" / "crawl-1" / "warc"
    writer = WarcFileWriter(crawl_spool, "T", 10**9, {}, lambda w, c: None)
    archiver = Archiver(writer, None)
    for n in range(3):
        archiver.archive(Exchange(f"http://n.test/{n}", "GET", f"/{n}", [], b"", "HTTP/1.1", 200,
                                  [("Content-Type", "text/html")], b"<p>story</p>" * 50, datetime.now(UTC)))
    assert writer._fh is not None
    writer._fh.close()  # the process dies here: no rename, no CDXJ
    open_file = crawl_spool / f"{writer.name}.open"
    data = open_file.read_bytes()
    open_file.write_bytes(data[:-30])  # and the last record was half written
    found: list[tuple[str, Path]] = []
    assert recover(tmp_path / "spool", lambda key, path: found.append((key, path))) == 2
    warc, cdxj = (path for _, path in found)
    with warc.open("rb") as fh:
        assert [r.rec_type for r in ArchiveIterator(fh)] == ["warcinfo", "response", "request", "response", "request",
                                                              "response"]
    assert len(cdxj.read_text().splitlines()) == 3
    assert found[0][0] == f"crawls/crawl-1/warc/{warc.name}"
    assert found[1][0] == f"crawls/crawl-1/cdxj/{cdxj.name}"


def test_a_cut_part_keeps_its_complete_lines(tmp_path: Path) -> None:
    part = tmp_path / "part-00003.jsonl.gz.open"
    part.write_bytes(gzip.compress(b'{"a":1}\n{"a":2}\n{"a":')[:-4])
    restored = close_open_part(part)
    assert gzip.decompress(restored.read_bytes()) == b'{"a":1}\n{"a":2}\n'


def test_store_keys_mirror_the_spool() -> None:
    assert store_key("c1", Path("log/part-00000.jsonl.gz")) == "crawls/c1/log/part-00000.jsonl.gz"
    assert store_key("c1", Path("warc/X.cdxj")) == "crawls/c1/cdxj/X.cdxj"
    assert complete_members(gzip.compress(b"a") + gzip.compress(b"b")[:5]) == len(gzip.compress(b"a"))
