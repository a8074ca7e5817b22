"""Salvaging half-written spool files after a kill: under the spool lock, streaming, linear, nothing lost."""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive import recovery
from archive.archiver import Archiver
from archive.recovery import (
    SalvageError,
    cdxj_problem,
    close_open_part,
    close_open_warc,
    complete_prefix,
    index_warc,
    members,
    recover,
    recover_crawl,
    scan_warc,
    store_key,
)
from archive.spoollock import SpoolLock, SpoolLockedError
from archive.warc import (
    Exchange,
    Record,
    derived_record,
    gzip_member,
    metadata_record,
    new_record_id,
    payload_digest,
    request_record,
    response_record,
    warcinfo_record,
)
from archive.warcfile import WarcFileWriter
from tests.unit.test_spoollock import held_elsewhere, kill

Found = list[tuple[str, Path]]


class MovingStore:
    """Takes submitted files out of the spool, as the uploader does."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.keys: list[str] = []

    def submit(self, key: str, path: Path) -> None:
        self.keys.append(key)
        (self.root / key).parent.mkdir(parents=True, exist_ok=True)
        path.rename(self.root / key)


def exchange(n: int, body: bytes = b"<p>story</p>" * 50, mime: str = "text/html") -> Exchange:
    return Exchange(f"http://n.test/{n}", "GET", f"/{n}", [], b"", "HTTP/1.1", 200, [("Content-Type", mime)], body,
                    datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=n))


def written_warc(directory: Path, exchanges: int) -> tuple[Path, Path]:
    """A WARC and its CDXJ as the writer closes them."""
    closed: list[tuple[Path, Path]] = []
    writer = WarcFileWriter(directory, "T", 10**12, {}, lambda w, c: closed.append((w, c)))
    archiver = Archiver(writer, None)
    for n in range(exchanges):
        archiver.archive(exchange(n))
    writer.close()
    return closed[0]


def killed_warc(directory: Path, exchanges: int, cut: int = 30) -> tuple[Path, str]:
    """`NAME.warc.gz.open` as a killed writer leaves it (its last record cut `cut` bytes short), and the
    CDXJ the writer would have written had it closed the file."""
    warc, cdxj = written_warc(directory, exchanges)
    expected = cdxj.read_text()
    cdxj.unlink()
    data = warc.read_bytes()
    warc.unlink()
    opened = warc.with_name(warc.name + ".open")
    opened.write_bytes(data[:-cut] if cut else data)
    return opened, expected


def raw_warc(path: Path, members: int, body: bytes = b"x" * 200, mime: str = "text/html") -> int:
    """A WARC of `members` gzip members (warcinfo + responses), written with archive.warc; returns the
    number of responses."""
    with path.open("wb") as fh:
        fh.write(gzip_member(warcinfo_record(path.name, {"software": "test"}, datetime.now(UTC),
                                             new_record_id()).to_bytes()))
        for n in range(members - 1):
            ex = exchange(n, body, mime)
            record = response_record(ex, new_record_id(), payload_digest(body))
            fh.write(gzip_member(record.to_bytes(), 6 if record.compressible else 0))
    return members - 1


def keys(found: Found) -> list[str]:
    return [key for key, _ in found]


def test_a_cut_warc_keeps_its_complete_records_and_gets_the_cdxj_its_writer_would_have_written(
        tmp_path: Path) -> None:
    crawl_spool = tmp_path / "spool" / "crawl-1" / "warc"
    opened, expected = killed_warc(crawl_spool, 3)
    found: Found = []
    assert recover(tmp_path / "spool", lambda key, path: found.append((key, path))) == 2
    warc, cdxj = (path for _, path in found)
    assert warc.name == opened.name.removesuffix(".open")
    assert not opened.exists()
    with warc.open("rb") as fh:
        assert [r.rec_type for r in ArchiveIterator(fh)] == ["warcinfo", "response", "request", "response", "request",
                                                              "response"]
    # Same lines, field for field, as the writer's own (the cut request does not change the index).
    assert cdxj.read_text() == expected
    assert keys(found) == [f"crawls/crawl-1/warc/{warc.name}", f"crawls/crawl-1/cdxj/{cdxj.name}"]
    assert not list(crawl_spool.glob("*.open"))


def test_a_complete_open_warc_keeps_the_cdxj_its_writer_finished(tmp_path: Path) -> None:
    """Killed between the writer's CDXJ rename and its WARC rename: the CDXJ (with our annotations) stays."""
    directory = tmp_path / "crawl-1" / "warc"
    opened, expected = killed_warc(directory, 3, cut=0)
    cdxj = directory / (opened.name.removesuffix(".warc.gz.open") + ".cdxj")
    annotated = expected.replace('"filename"', '"verdict": "ok", "filename"')
    cdxj.write_text(annotated)
    (directory / (cdxj.name + ".open")).write_text("half a CDXJ of an earlier attempt")
    found: Found = []
    assert recover_crawl(tmp_path / "crawl-1", lambda key, path: found.append((key, path))) == 2
    assert cdxj.read_text() == annotated
    assert sorted(p.name for p in directory.iterdir()) == sorted([cdxj.name, opened.name.removesuffix(".open")])


@pytest.mark.parametrize("damage", ["missing", "cut", "empty", "garbage-line", "points-outside"])
def test_a_finished_warc_gets_a_missing_or_cut_cdxj_rebuilt(tmp_path: Path, damage: str) -> None:
    warc, cdxj = written_warc(tmp_path / "crawl-1" / "warc", 4)
    expected = cdxj.read_text()
    lines = expected.splitlines(keepends=True)
    if damage == "missing":
        cdxj.unlink()
    elif damage == "cut":
        cdxj.write_text(expected[:-7])
    elif damage == "empty":
        cdxj.write_text("")
    elif damage == "garbage-line":
        cdxj.write_text("".join([lines[0], "not a CDXJ line\n", *lines[2:]]))
    else:
        fields = json.loads(lines[-1].split(" ", 2)[2])
        fields["offset"] = str(warc.stat().st_size)
        surt, stamp, _ = lines[-1].split(" ", 2)
        cdxj.write_text("".join([*lines[:-1], f"{surt} {stamp} {json.dumps(fields)}\n"]))
    assert cdxj_problem(cdxj, warc.name, warc.stat().st_size) is not None
    found: Found = []
    assert recover(tmp_path, lambda key, path: found.append((key, path))) == 2
    assert cdxj.read_text() == expected
    assert keys(found) == [f"crawls/crawl-1/warc/{warc.name}", f"crawls/crawl-1/cdxj/{cdxj.name}"]


def test_a_whole_cdxj_is_submitted_as_it_is(tmp_path: Path) -> None:
    warc, cdxj = written_warc(tmp_path / "crawl-1" / "warc", 2)
    annotated = cdxj.read_text().replace('"filename"', '"verdict": "ok", "filename"')
    cdxj.write_text(annotated)
    assert cdxj_problem(cdxj, warc.name, warc.stat().st_size) is None
    assert recover(tmp_path, lambda key, path: None) == 2
    assert cdxj.read_text() == annotated


def test_the_one_pass_index_is_warcio_s_index(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Every kind of record our writer makes, and odd ones, indexed from the members' heads as warcio's
    ArchiveIterator indexes them."""
    date = datetime(2026, 12, 1, 10, tzinfo=UTC)
    page = exchange(1)
    response_id = new_record_id()
    http_revisit = [("WARC-Type", "revisit"), ("WARC-Record-ID", new_record_id()),
                    ("WARC-Date", "2026-12-01T10:00:01Z"), ("WARC-Target-URI", "http://n.test/1"),
                    ("WARC-Payload-Digest", payload_digest(page.body)),
                    ("Content-Type", "application/http; msgtype=response")]
    bare_revisit = [("WARC-Type", "revisit"), ("WARC-Record-ID", new_record_id()),
                    ("WARC-Date", "2026-12-01T10:00:02Z"), ("WARC-Target-URI", "urn:dom:http://n.test/1"),
                    ("WARC-Payload-Digest", "sha1:X")]
    odd = [("WARC-Type", "response"), ("WARC-Record-ID", new_record_id()), ("WARC-Date", "2026-12-01T10:00:03.5Z"),
           ("WARC-Target-URI", "<http://n.test/wget bracket>"), ("Content-Type", "application/http; msgtype=response")]
    big_head = b"HTTP/1.1 404 Not Found\r\nSet-Cookie: " + b"c" * 100_000 + b"\r\nContent-Type: text/plain\r\n\r\ngone"
    records = [
        response_record(page, response_id, payload_digest(page.body)),
        request_record(page, new_record_id(), response_id),
        metadata_record("metadata://n.test/1", [("verdict", "ok")], date, new_record_id(), response_id),
        Record("revisit", http_revisit, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n"),
        Record("revisit", bare_revisit, b""),
        derived_record("conversion", "urn:dom:http://n.test/1", "text/html", b"<p>dom</p>", date, new_record_id(),
                       payload_digest(b"<p>dom</p>"), response_id),
        derived_record("resource", "urn:screenshot:http://n.test/1", "image/png", b"\x89PNG" * 100, date,
                       new_record_id(), payload_digest(b"\x89PNG" * 100), response_id),
        Record("response", odd, b"HTTP/1.1 301 Moved\r\nLocation: /\r\nX-Folded: a\r\n  b\r\n"
                                b"Content-Type: text/html;charset=utf-8\r\n\r\n"),
        Record("response", [*odd[:3], ("WARC-Target-URI", "http://n.test/big"), odd[4]], big_head),
        Record("response", [*odd[:3], ("WARC-Target-URI", "http://例え.テスト/記事"), odd[4]],
               b"HTTP/1.0 200\r\n\r\n\xff\xfe"),
    ]
    path = tmp_path / "T.warc.gz"
    with path.open("wb") as fh:
        for record in records:
            fh.write(gzip_member(record.to_bytes()))
    caplog.set_level(logging.INFO, "archive.recovery")
    end, lines = scan_warc(path, path.name)
    assert end == path.stat().st_size
    assert lines is not None
    ours = tmp_path / "ours.cdxj"
    with ours.open("w") as out:
        lines.write(out)
    theirs = tmp_path / "theirs.cdxj"
    with theirs.open("w") as out:
        index_warc(path, end, path.name).write(out)
    assert ours.read_text() == theirs.read_text()
    assert len(ours.read_text().splitlines()) == 8  # not the request, nor the metadata
    assert "ArchiveIterator" not in caplog.text  # indexed in the one pass, not by the fallback


def _open_part(path: Path, lines: list[bytes], cut: int = 4) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = gzip.compress(b"".join(lines))
    path.write_bytes(data[:-cut] if cut else data)


def test_two_crawls_sharing_a_spool_never_salvage_each_other_s_open_files(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    a_warc, _ = killed_warc(spool / "crawl-a" / "warc", 2)
    b_warc, _ = killed_warc(spool / "crawl-b" / "warc", 2)
    a_part = spool / "crawl-a" / "log" / "part-00000.jsonl.gz.open"
    _open_part(a_part, [b'{"a":1}\n', b'{"a":2}\n', b'{"a":'])
    before = {p: p.read_bytes() for p in (a_warc, a_part)}
    store = MovingStore(tmp_path / "store")
    with held_elsewhere(spool / "crawl-a") as (crawl_a, _):  # crawl A is running
        assert recover(spool, store.submit) == 2
        assert all(key.startswith("crawls/crawl-b/") for key in store.keys)
        assert not b_warc.exists()
        assert {p: p.read_bytes() for p in before} == before  # A's files untouched, still open
        assert SpoolLock(spool / "crawl-a").holder() == crawl_a.pid
        with pytest.raises(SpoolLockedError):
            recover_crawl(spool / "crawl-a", store.submit)
        assert {p: p.read_bytes() for p in before} == before
        kill(crawl_a)  # SIGKILLed: its spool is recoverable at once
    store.keys.clear()
    assert recover(spool, store.submit) == 3
    assert sorted(store.keys) == sorted([
        f"crawls/crawl-a/warc/{a_warc.name.removesuffix('.open')}",
        f"crawls/crawl-a/cdxj/{a_warc.name.removesuffix('.warc.gz.open')}.cdxj",
        "crawls/crawl-a/log/part-00000.jsonl.gz"])
    assert not a_warc.exists() and not a_part.exists()
    assert not list((spool / "crawl-a").rglob("*.*"))  # nothing left, the lock file neither
    assert not any(".lock" in key for key in store.keys)


def test_skip_and_caches_and_the_lock_file_are_never_submitted(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    for crawl in ("crawl-a", "crawl-b"):
        _open_part(spool / crawl / "log" / "part-00000.jsonl.gz.open", [b'{"a":1}\n'], cut=0)
        for name in ("digests.sqlite", "digests.sqlite-wal", ".lock"):
            (spool / crawl / name).write_bytes(b"cache")
    found: Found = []
    assert recover(spool, lambda key, path: found.append((key, path)), skip="crawl-b") == 1
    assert keys(found) == ["crawls/crawl-a/log/part-00000.jsonl.gz"]
    assert not (spool / "crawl-a" / "digests.sqlite").exists()  # a dead crawl's cache goes
    assert (spool / "crawl-b" / "log" / "part-00000.jsonl.gz.open").exists()
    found.clear()
    with SpoolLock(spool / "crawl-b"):  # the crawl's own directory, continued under its reused id
        assert recover_crawl(spool / "crawl-b", lambda key, path: found.append((key, path))) == 1
        assert (spool / "crawl-b" / "digests.sqlite").exists()  # its own cache it keeps
    assert keys(found) == ["crawls/crawl-b/log/part-00000.jsonl.gz"]


def test_garbage_is_left_where_it_is_and_counted(tmp_path: Path) -> None:
    warc_dir = tmp_path / "crawl-1" / "warc"
    good, _ = killed_warc(warc_dir, 2)
    damaged = written_warc(tmp_path / "other", 2)[0].read_bytes()
    shutil.rmtree(tmp_path / "other")
    garbage = {
        warc_dir / "G0.warc.gz": damaged + b"\x1f\x8b but damaged from here on",  # finished, no CDXJ
        warc_dir / "G1.warc.gz.open": b"\x00not gzip at all" * 300,
        warc_dir / "G2.warc.gz.open": gzip.compress(b"gzip, but not a WARC\n") * 3,
        warc_dir / "G3.warc.gz": b"\x00a finished name, no CDXJ, not a WARC" * 10,
        warc_dir / "G4.cdxj": b"a CDXJ cut, its WARC no longer here",
        tmp_path / "crawl-1" / "log" / "part-00000.jsonl.gz.open": b"\x00not gzip" * 40,
        tmp_path / "crawl-1" / "log" / "part-00001.jsonl.gz.open": gzip.compress(b"not json\nnor this\n"),
    }
    (tmp_path / "crawl-1" / "log").mkdir()
    for path, data in garbage.items():
        path.write_bytes(data)
    failed: list[tuple[Path, str]] = []
    found: Found = []
    assert recover(tmp_path, lambda key, path: found.append((key, path)),
                   failed=lambda path, why: failed.append((path, why))) == 2
    assert [path.name for _, path in found] == [good.name.removesuffix(".open"),
                                                good.name.removesuffix(".warc.gz.open") + ".cdxj"]
    assert sorted(path for path, _ in failed) == sorted(garbage)
    assert all(str(path) in why for path, why in failed)  # says which file, and what is wrong
    assert {path: path.read_bytes() for path in garbage} == garbage  # never deleted, never changed
    assert not list(tmp_path.rglob("*.salvage")) and not list(tmp_path.rglob("*.cdxj.open"))


def test_an_empty_open_part_is_dropped_and_an_empty_open_warc_reported(tmp_path: Path) -> None:
    part = tmp_path / "part-00000.jsonl.gz.open"
    with gzip.open(part, "wb"):
        pass  # opened, never written
    assert close_open_part(part) is None
    assert not part.exists()
    empty = tmp_path / "X.warc.gz.open"
    empty.write_bytes(b"")
    with pytest.raises(SalvageError):
        close_open_warc(empty)
    assert empty.exists()


def test_a_crawl_killed_as_it_opened_a_warc_leaves_nothing_to_report(tmp_path: Path) -> None:
    """Killed between creating a WARC and writing its warcinfo: the spool holds a file of 0 bytes. The
    recovery removes it (there is not a byte to keep) instead of reporting it at every start for ever."""
    crawl = tmp_path / "spool" / "c1"
    (crawl / "warc").mkdir(parents=True)
    empty = crawl / "warc" / "TEST-20261201000000000-00003.warc.gz.open"
    empty.write_bytes(b"")
    failed: list[tuple[Path, str]] = []
    submitted: list[str] = []
    assert recover_crawl(crawl, lambda key, path: submitted.append(key),
                         failed=lambda path, why: failed.append((path, why))) == 0
    assert not empty.exists() and failed == [] and submitted == []


def test_a_cut_part_keeps_its_complete_lines(tmp_path: Path) -> None:
    part = tmp_path / "part-00003.jsonl.gz.open"
    part.write_bytes(gzip.compress(b'{"a":1}\n{"a":2}\n{"a":')[:-4])
    restored = close_open_part(part)
    assert restored is not None
    assert gzip.decompress(restored.read_bytes()) == b'{"a":1}\n{"a":2}\n'
    assert not part.exists()


def test_a_crash_during_a_part_s_salvage_loses_nothing(tmp_path: Path) -> None:
    log = tmp_path / "crawl-1" / "log"
    # Killed while writing the salvage: the .open is still there, the half-written salvage is redone.
    _open_part(log / "part-00000.jsonl.gz.open", [b'{"a":1}\n', b'{"a":2}\n', b'{"a":'])
    (log / "part-00000.jsonl.gz.salvage").write_bytes(b"half")
    # Killed after the salvage was fsynced and its .open removed, before the rename: it is complete.
    (log / "part-00001.jsonl.gz.salvage").write_bytes(gzip.compress(b'{"b":1}\n'))
    found: Found = []
    assert recover(tmp_path, lambda key, path: found.append((key, path))) == 2
    assert keys(found) == ["crawls/crawl-1/log/part-00000.jsonl.gz", "crawls/crawl-1/log/part-00001.jsonl.gz"]
    assert gzip.decompress((log / "part-00000.jsonl.gz").read_bytes()) == b'{"a":1}\n{"a":2}\n'
    assert gzip.decompress((log / "part-00001.jsonl.gz").read_bytes()) == b'{"b":1}\n'
    assert sorted(p.name for p in log.iterdir()) == ["part-00000.jsonl.gz", "part-00001.jsonl.gz"]


class _Counting:
    """A zlib decompressor that counts the bytes it is fed."""

    def __init__(self, real: Any, fed: list[int]) -> None:
        self._real, self._fed = real, fed

    def decompress(self, data: Any, max_length: int = 0) -> bytes:
        self._fed[0] += len(data)
        return bytes(self._real.decompress(data, max_length))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _fed_to_zlib(tmp_path: Path, members: int, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """Bytes fed to zlib to salvage a cut WARC of `members` members (scan and index), and its size."""
    directory = tmp_path / f"n{members}"
    directory.mkdir()
    path = directory / "T.warc.gz.open"
    raw_warc(path, members)
    size = path.stat().st_size
    with path.open("r+b") as fh:
        fh.truncate(size - 20)
    real = zlib.decompressobj
    fed = [0]
    monkeypatch.setattr(zlib, "decompressobj", lambda *args: _Counting(real(*args), fed))
    try:
        _, cdxj = close_open_warc(path)
    finally:
        monkeypatch.setattr(zlib, "decompressobj", real)
    assert len(cdxj.read_text().splitlines()) == members - 2  # the cut response is not indexed
    return fed[0], size


def test_salvage_does_linear_decompression_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small, small_size = _fed_to_zlib(tmp_path, 500, monkeypatch)
    large, large_size = _fed_to_zlib(tmp_path, 2000, monkeypatch)
    # 4x the members: 4x the work (quadratic would be 16x).
    assert large / small < 6 * large_size / small_size / 4
    # And about once per byte: no member re-feeds (or copies) what follows it.
    salvaged = tmp_path / "n2000" / "T.warc.gz"
    real = zlib.decompressobj
    fed = [0]
    monkeypatch.setattr(zlib, "decompressobj", lambda *args: _Counting(real(*args), fed))
    with salvaged.open("rb") as fh:
        assert complete_prefix(fh) == salvaged.stat().st_size
    monkeypatch.setattr(zlib, "decompressobj", real)
    assert fed[0] <= 2 * salvaged.stat().st_size


def test_salvage_memory_is_bounded_by_one_chunk_not_the_file(tmp_path: Path) -> None:
    warc_path = tmp_path / "T.warc.gz.open"
    raw_warc(warc_path, 200, os.urandom(64 << 10), "image/jpeg")  # ~13 MB, stored (incompressible)
    with warc_path.open("r+b") as fh:
        fh.truncate(warc_path.stat().st_size - 1000)
    part_path = tmp_path / "part-00000.jsonl.gz.open"
    with gzip.open(part_path, "wb") as fh:
        for n in range(12_000):
            fh.write(json.dumps({"n": n, "text": "story " * 170}).encode() + b"\n")  # ~12 MB of lines
    tracemalloc.start()
    try:
        close_open_warc(warc_path)
        warc_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        close_open_part(part_path)
        part_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert warc_peak < 6 << 20
    assert part_peak < 6 << 20


def test_the_index_spills_sorted_runs_past_its_memory_bound(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "T.warc.gz.open"
    raw_warc(path, 300)
    in_memory = tmp_path / "copy"
    in_memory.mkdir()
    (in_memory / path.name).write_bytes(path.read_bytes())
    _, expected = close_open_warc(in_memory / path.name)
    monkeypatch.setattr(recovery, "SORT_MEMORY", 4000)  # a run every ~10 lines
    _, cdxj = close_open_warc(path)
    assert cdxj.read_text() == expected.read_text()
    lines = cdxj.read_text().splitlines()
    assert lines == sorted(lines) and len(lines) == 299


def test_store_keys_mirror_the_spool(tmp_path: Path) -> None:
    assert store_key("c1", Path("log/part-00000.jsonl.gz")) == "crawls/c1/log/part-00000.jsonl.gz"
    assert store_key("c1", Path("warc/X.cdxj")) == "crawls/c1/cdxj/X.cdxj"
    path = tmp_path / "two"
    path.write_bytes(gzip.compress(b"a") + gzip.compress(b"b")[:5])
    with path.open("rb") as fh:
        assert complete_prefix(fh) == len(gzip.compress(b"a"))


def test_a_gzip_bomb_costs_time_not_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.warc.gz.open"
    with path.open("wb") as fh:
        fh.write(zlib.compress(b"\0" * (64 << 20), 9, wbits=zlib.MAX_WBITS + 16))
        fh.write(gzip.compress(b"next"))
    tracemalloc.start()
    try:
        with path.open("rb") as fh:
            found = [(member.size, len(member.head)) for member in members(fh)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found == [(64 << 20, recovery.HEAD), (4, 4)]
    assert peak < 6 << 20
