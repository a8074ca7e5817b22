"""FileStore and rolling parts: only complete files under final names, manifests that match the bytes."""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from pathlib import Path

import pytest

from archive.parts import PartWriter
from archive.store import FileStore, StoredObject, open_store
from crawler.errors import ConfigError, StoreError


def test_put_file_moves_a_complete_file_into_place(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    local = tmp_path / "spool" / "x.tmp"
    local.parent.mkdir()
    local.write_bytes(b"hello")
    obj = store.put_file("crawls/c/log/part-00000.jsonl.gz", local)
    assert obj == StoredObject("crawls/c/log/part-00000.jsonl.gz", 5, hashlib.sha256(b"hello").hexdigest())
    assert not local.exists()
    assert store.get_bytes(obj.key) == b"hello"
    assert list(store.keys("crawls/c")) == [obj.key]


def test_put_bytes_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.put_bytes("a/crawl.json", b"{}")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["crawl.json"]


@pytest.mark.parametrize("key", ["/etc/passwd", "a/../../b"])
def test_keys_cannot_escape_the_store(tmp_path: Path, key: str) -> None:
    with pytest.raises(StoreError):
        FileStore(tmp_path).put_bytes(key, b"x")


def test_open_store_by_scheme(tmp_path: Path) -> None:
    assert isinstance(open_store(f"file://{tmp_path}"), FileStore)
    with pytest.raises(ConfigError, match="STORE_URI"):
        open_store("gopher://x/y")
    with pytest.raises(StoreError, match="no bucket"):
        open_store("s3:///prefix")


def test_parts_roll_at_the_record_bound_and_only_complete_parts_are_stored(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "store")
    stored: list[StoredObject] = []
    writer = PartWriter(lambda key, path: stored.append(store.put_file(key, path)), "crawls/c/items",
                        tmp_path / "spool", max_records=3, max_bytes=1 << 20)
    for n in range(7):
        writer.write({"n": n, "text": "中文"})
    assert [o.key for o in stored] == ["crawls/c/items/part-00000.jsonl.gz", "crawls/c/items/part-00001.jsonl.gz"]
    assert [p.name for p in (tmp_path / "spool").iterdir()] == ["part-00002.jsonl.gz.open"]
    writer.close()
    records = [json.loads(line) for o in stored for line in gzip.decompress(store.get_bytes(o.key)).splitlines()]
    assert len(stored) == 3 and writer.total_records == 7
    assert [r["n"] for r in records] == [0, 1, 2, 3, 4, 5, 6]
    last = gzip.decompress(store.get_bytes(stored[2].key)).decode()
    assert last == '{"n":6,"text":"中文"}\n'


def test_parts_roll_at_the_byte_bound(tmp_path: Path) -> None:
    stored: list[StoredObject] = []
    store = FileStore(tmp_path)
    writer = PartWriter(lambda key, path: stored.append(store.put_file(key, path)), "p", tmp_path / "spool", 1000,
                        1024)
    for _ in range(10):
        writer.write({"blob": "x" * 300})
    writer.close()
    counts = [len(gzip.decompress((tmp_path / o.key).read_bytes()).splitlines()) for o in stored]
    assert counts == [4, 4, 2]  # a part closes with the record that reaches the bound


def test_an_open_part_holds_every_record_written_so_far(tmp_path: Path) -> None:
    """What a SIGKILL leaves: the open part, never closed, must already hold the records on disk."""
    writer = PartWriter(lambda key, path: None, "p", tmp_path, max_records=100, max_bytes=1 << 20)
    for n in range(7):
        writer.write({"n": n})
    on_disk = (tmp_path / "part-00000.jsonl.gz.open").read_bytes()  # the writer is still open: no trailer
    decompressor = zlib.decompressobj(zlib.MAX_WBITS + 16)
    assert decompressor.decompress(on_disk).count(b"\n") == 7
