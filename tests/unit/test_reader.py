"""Reading other tools' WARC and ARC files: good ones completely, broken ones reported and skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.reader import ArchiveReader, decode_content

# (file, records, captures). Record counts were read with warcio and, for every WARC, agree with a plain
# count of `WARC/1.x` header lines in the (decompressed) file.
GOOD = [
    ("ukwa/IAH-20080430204825-00000-blackbook-truncated.arc.gz", 9, 8),
    ("ukwa/IAH-20080430204825-00000-blackbook-truncated.warc", 23, 8),
    ("ukwa/IAH-20080430204825-00000-blackbook-truncated.warc.gz", 23, 8),
    ("ukwa/IAH-urls-wget.warc.gz", 36, 19),
    ("ukwa/compression/transfer_compression_brotli.warc", 5, 2),
    ("ukwa/compression/transfer_compression_brotli.warc.gz", 5, 2),
    ("ukwa/compression/transfer_compression_gzip.warc", 5, 2),
    ("ukwa/compression/transfer_compression_gzip.warc.gz", 5, 2),
    ("ukwa/compression/transfer_compression_none.warc", 5, 2),
    ("ukwa/compression/transfer_compression_none.warc.gz", 5, 2),
    ("ukwa/ip-host-testcase.warc.gz", 6, 3),
    ("ukwa/truncated_datetime.warc", 5, 2),
    ("ukwa/wikipedia-mona-lisa/flashfrozen-jwat-recompressed.warc.gz", 82, 42),
    ("warcio/example-digest.warc", 4, 0),
    ("warcio/example-iana.org-chunked.warc", 3, 1),
    ("warcio/example-resource.warc.gz", 3, 1),
    ("warcio/example-space-in-target-uri.warc.gz", 2, 1),
    ("warcio/example-space-in-url.arc", 2, 1),
    ("warcio/example-wget-bad-target-uri.warc.gz", 6, 3),
    ("warcio/example.arc", 2, 1),
    ("warcio/example.arc.gz", 2, 1),
    ("warcio/example.warc", 6, 2),
    ("warcio/example.warc.gz", 6, 2),
    ("warcio/post-test.warc.gz", 6, 3),
]
BROKEN = [
    ("warcio/example-bad-non-chunked.warc.gz", "non-chunked gzip"),
    ("warcio/example-wrong-chunks.warc.gz", "Unknown archive format"),
    ("warcio/example-trunc.warc", "does not end where its Content-Length says"),
    ("warcio/bad.arc", "invalid record length 'abc'"),
    ("ukwa/IAH-20080430204825-00000-blackbook-truncated.arc", "Unknown archive format"),
]


@pytest.fixture(scope="module")
def interop(shared_data: Path) -> Path:
    return shared_data / "warc-interop"


@pytest.mark.parametrize(("name", "records", "captures"), GOOD)
def test_good_files_read_completely(interop: Path, name: str, records: int, captures: int) -> None:
    reader = ArchiveReader([interop / name])
    found = list(reader.captures())
    assert reader.problems == []
    assert reader.records[Path(name).name] == records
    assert len(found) == captures


@pytest.mark.parametrize(("name", "message"), BROKEN)
def test_broken_files_are_reported_with_file_and_offset(interop: Path, name: str, message: str) -> None:
    reader = ArchiveReader([interop / name])
    list(reader.captures())
    assert reader.problems
    assert any(message in p.message for p in reader.problems), reader.problems
    assert all(p.filename == Path(name).name and p.offset is not None for p in reader.problems)


def test_a_broken_file_does_not_stop_the_next_one(interop: Path) -> None:
    reader = ArchiveReader([interop / "warcio/example-wrong-chunks.warc.gz", interop / "warcio/example.warc.gz"])
    urls = [c.url for c in reader.captures()]
    assert len(reader.problems) == 1 and urls[-2:] == ["http://example.com/", "http://example.com/"]


def test_revisits_resolve_to_their_original_payload(interop: Path) -> None:
    captures = list(ArchiveReader([interop / "warcio/example.warc.gz"]).captures())
    response, revisit = captures
    assert revisit.record_type == "revisit" and revisit.resolved_from == ("example.warc.gz", response.offset)
    assert revisit.payload == response.payload and b"Example Domain" in revisit.content()


@pytest.mark.parametrize("coding", ["brotli", "gzip", "none"])
def test_content_encodings_are_undone(interop: Path, coding: str) -> None:
    path = interop / f"ukwa/compression/transfer_compression_{coding}.warc.gz"
    page = next(c for c in ArchiveReader([path]).captures() if c.record_type == "response")
    assert page.content().lstrip().lower().startswith((b"<!doctype", b"<html"))


def test_undecodable_content_comes_back_as_received() -> None:
    assert decode_content(b"not gzip", "gzip") == b"not gzip"
