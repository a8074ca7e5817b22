"""WARC records and CDXJ lines from one exchange (pure functions)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.archiver import Archiver
from archive.cdxj import cdxj_line, url_key
from archive.digests import DigestIndex
from archive.warc import Exchange, Written, gzip_member, payload_digest, response_head, response_record
from archive.warcfile import WarcFileWriter, iipc_name
from tests.durability import record_fsyncs_and_renames

WHEN = datetime(2026, 11, 28, 10, 33, 5, 123456, tzinfo=UTC)


def _exchange(body: bytes = b"<html>hi</html>", url: str = "http://news.test/a?b=1") -> Exchange:
    return Exchange(url=url, method="GET", request_line_target="/a?b=1", request_headers=[("Host", "news.test")],
                    request_body=b"", protocol="HTTP/1.1", status=200,
                    response_headers=[("Content-Type", "text/html; charset=utf-8"), ("Set-Cookie", "a=1"),
                                      ("Set-Cookie", "b=2"), ("Transfer-Encoding", "chunked")],
                    body=body, date=WHEN, ip_address="127.0.0.1")


def test_chunking_undone_by_the_transport_is_not_claimed() -> None:
    head = response_head(_exchange())
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and head.endswith(b"\r\n\r\n")
    assert b"\r\nTransfer-Encoding" not in head and b"X-Archive-Orig-Transfer-Encoding: chunked\r\n" in head
    assert b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n" in head


def test_each_record_is_its_own_gzip_member() -> None:
    data = gzip_member(response_record(_exchange(), "<urn:uuid:1>", "sha1:X").to_bytes())
    record = next(iter(ArchiveIterator(io.BytesIO(data))))
    assert record.rec_headers.get_header("WARC-Date") == "2026-11-28T10:33:05.123Z"
    assert record.rec_headers.get_header("WARC-IP-Address") == "127.0.0.1"
    assert record.rec_headers.get_header("WARC-Payload-Digest") == "sha1:X"
    assert record.raw_stream.read() == b"<html>hi</html>"
    assert [v for k, v in record.http_headers.headers if k == "Set-Cookie"] == ["a=1", "b=2"]


def test_iipc_names() -> None:
    assert iipc_name("PALIMPSEST", WHEN, 7, "crawler1") == "PALIMPSEST-20261128103305123-00007-crawler1.warc.gz"


def test_cdxj_line_has_pywb_fields_then_ours() -> None:
    written = Written("<urn:uuid:1>", "response", "http://news.test/a?b=1", "f.warc.gz", 10, 99, WHEN,
                      "sha1:ABC", "text/html", 200)
    assert cdxj_line(written, {"verdict": "ok"}) == (
        'test,news)/a?b=1 20261128103305 {"url": "http://news.test/a?b=1", "mime": "text/html", "status": "200", '
        '"digest": "sha1:ABC", "length": "99", "offset": "10", "filename": "f.warc.gz", "record_id": "<urn:uuid:1>", '
        '"warc_date": "2026-11-28T10:33:05.123Z", "verdict": "ok"}')
    assert url_key("http://www.news.test/") == "test,news)/"


def test_identical_payloads_become_revisits_and_files_rotate(tmp_path: Path) -> None:
    closed: list[tuple[Path, Path]] = []
    writer = WarcFileWriter(tmp_path, "T", 2000, {"isPartOf": "c"}, lambda w, c: closed.append((w, c)))
    archiver = Archiver(writer, DigestIndex(tmp_path / "digests.sqlite"))
    first = archiver.archive(_exchange(b"x" * 1500, "http://news.test/one"))
    second = archiver.archive(_exchange(b"x" * 1500, "http://news.test/two"))
    empty = [archiver.archive(_exchange(b"", f"http://news.test/e{n}")) for n in range(2)]
    archiver.close()
    assert (first.record_type, second.record_type) == ("response", "revisit")
    assert [e.record_type for e in empty] == ["response", "response"]  # empty payloads are never deduplicated
    assert len(closed) >= 2 and all(w.exists() and c.exists() for w, c in closed)
    assert not list(tmp_path.glob("*.open"))
    with closed[0][0].open("rb") as fh:
        assert next(iter(ArchiveIterator(fh))).rec_type == "warcinfo"


def test_a_verdict_that_follows_its_record_past_a_rotation_still_reaches_the_cdxj(tmp_path: Path) -> None:
    """A page is read after its response is written; its file filling up in between must not lose the
    verdict on the page's CDXJ line. Once the file is finished, a late verdict is counted, not kept."""
    closed: list[Path] = []
    writer = WarcFileWriter(tmp_path, "T", 2000, {}, lambda w, c: closed.append(c))
    archiver = Archiver(writer, None)
    first = archiver.archive(_exchange(os.urandom(2500), "http://news.test/one"))  # fills the first file
    archiver.archive(_exchange(b"b" * 100, "http://news.test/two"))  # the second file
    assert not closed  # the first file waits out its grace period
    writer.annotate(first.record_id, {"verdict": "ok", "reasons": ["content"]})
    archiver.close()
    lines = closed[0].read_text().splitlines()
    assert len(closed) == 2 and len(lines) == 1
    assert json.loads(lines[0].split(" ", 2)[2])["verdict"] == "ok"
    writer.annotate(first.record_id, {"verdict": "error"})
    assert writer.late_annotations == 1


def test_a_truncated_payload_is_never_a_revisit(tmp_path: Path) -> None:
    archiver = Archiver(WarcFileWriter(tmp_path, "T", 10**9, {}, lambda w, c: None),
                        DigestIndex(tmp_path / "digests.sqlite"))
    body = b"<p>the first megabytes of a long page</p>" * 20
    cut = [archiver.archive(replace(_exchange(body, f"http://news.test/{n}"), truncated="length"))
           for n in range(2)]
    whole = [archiver.archive(_exchange(body, f"http://news.test/whole{n}")) for n in range(2)]
    archiver.close()
    assert [w.record_type for w in cut] == ["response", "response"]  # each keeps its WARC-Truncated
    assert [w.record_type for w in whole] == ["response", "revisit"]  # not a revisit of a cut copy


def test_already_compressed_payloads_are_stored_not_deflated_again(tmp_path: Path) -> None:
    plain = _exchange(b"<p>words words words words words</p>" * 50)
    encoded = _exchange(gzip.compress(plain.body))
    encoded.response_headers.append(("Content-Encoding", "gzip"))
    assert response_record(plain, "<urn:uuid:1>", "sha1:X").compressible
    assert not response_record(encoded, "<urn:uuid:2>", "sha1:X").compressible
    writer = WarcFileWriter(tmp_path, "T", 10**9, {}, lambda w, c: None)
    archiver = Archiver(writer, None)
    first, second = archiver.archive(plain), archiver.archive(encoded)
    archiver.close()
    assert first.length < len(plain.body) / 3  # text: deflated
    assert second.length > len(encoded.body)  # gzip body: stored, still a valid gzip member
    with (tmp_path / first.filename).open("rb") as fh:
        fh.seek(second.offset)
        assert next(iter(ArchiveIterator(fh))).raw_stream.read() == encoded.body


def test_digests_match_the_standard_base32_sha1() -> None:
    for body in (b"", b"x", b"hello world" * 100):
        assert payload_digest(body) == "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode()


def test_sha256_digests_pass_warcio_check(tmp_path: Path) -> None:
    closed: list[Path] = []
    writer = WarcFileWriter(tmp_path, "T", 10**9, {}, lambda w, c: closed.append(w), algorithm="sha256")
    archiver = Archiver(writer, None)
    written = archiver.archive(_exchange())
    archiver.close()
    assert written.payload_digest is not None and written.payload_digest.startswith("sha256:")
    check = subprocess.run([str(Path(sys.executable).with_name("warcio")), "check", "-v", str(closed[0])],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0 and "digest pass" in check.stdout, check.stdout


def test_a_closed_warc_is_fsynced_and_indexed_before_it_takes_its_name(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Crash order: the WARC fsynced, its CDXJ written and renamed, only then the WARC renamed and the
    directory fsynced: a crash anywhere leaves a .open file (salvaged) or a whole WARC with its index."""
    events = record_fsyncs_and_renames(monkeypatch)
    writer = WarcFileWriter(tmp_path, "T", 1_000_000, {"isPartOf": "c"}, lambda warc, cdxj: None, grace=0)
    Archiver(writer, None).archive(_exchange())
    name = writer.name
    writer.close()
    warc, cdxj = tmp_path / name, tmp_path / name.replace(".warc.gz", ".cdxj")
    order = [events.index(e) for e in (("fsync", f"{warc}.open"), ("fsync", f"{cdxj}.open"),
                                       ("rename", str(cdxj)), ("rename", str(warc)), ("fsync", str(tmp_path)))]
    assert order == sorted(order), events
