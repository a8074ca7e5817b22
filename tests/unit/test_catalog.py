"""The catalog: incremental, rebuilt from the store alone, honest about every part it could not read."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from archive.cadence import is_due, last_due_point
from archive.catalog import Catalog, CatalogError
from archive.store import FileStore
from crawler.errors import StoreError
from tests.auditstore import T0, Fetch, snapshot, story, write_crawl

DAY = timedelta(days=1)


def fetches(n: int = 3) -> list[Fetch]:
    return [Fetch(f"a{i}", text=story(i), title=f"T{i}") for i in range(n)]


def catalog(tmp_path: Path, workers: int = 0) -> Catalog:
    return Catalog(tmp_path / "catalog.sqlite", FileStore(tmp_path / "store"), workers)


def problems(cat: Catalog, crawl_id: str) -> list[str]:
    return next(c.problems for c in cat.crawls() if c.crawl_id == crawl_id)


def test_updates_are_incremental_and_follow_the_store(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write_crawl(store, "news-1", T0, fetches())
    with catalog(tmp_path) as cat:
        first = cat.update()
        assert first.crawls_indexed == ["news-1"] and first.captures == 3 and first.items == 3
        assert cat.update().crawls_indexed == []
        write_crawl(store, "news-2", T0 + DAY, fetches(4))
        assert cat.update().crawls_indexed == ["news-2"]
        [summary] = cat.summary()
        assert summary == {"site": "news", "crawls": 2, "crawl_states": {"complete": 2}, "urls": 4,
                           "article_urls": 4, "captures": 7}
        for path in sorted((store / "crawls" / "news-1").rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        (store / "crawls" / "news-1").rmdir()
        gone = cat.update()
        assert gone.crawls_removed == ["news-1"] and [c.crawl_id for c in cat.crawls()] == ["news-2"]
        assert cat.summary()[0]["captures"] == 4


def test_a_crawl_without_a_manifest_is_partial_until_it_has_one(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write_crawl(store, "news-1", T0, fetches(), manifest=False)
    with catalog(tmp_path) as cat:
        cat.update()
        [crawl] = cat.crawls()
        assert crawl.state == "partial" and crawl.captures == 3 and "no crawl.json" in crawl.problems[0]
        assert cat.update().crawls_indexed == []  # nothing changed in the store: not read again
        write_crawl(store, "news-1", T0, fetches(), manifest=True)
        assert cat.update().crawls_indexed == ["news-1"]
        assert cat.crawls()[0].state == "complete" and cat.crawls()[0].problems == []


def test_a_manifest_with_files_still_waiting_is_incomplete(tmp_path: Path) -> None:
    write_crawl(tmp_path / "store", "news-1", T0, fetches(), complete=False)
    with catalog(tmp_path) as cat:
        cat.update()
        assert cat.crawls()[0].state == "incomplete" and "still in the spool" in cat.crawls()[0].problems[0]


def test_a_corrupt_or_missing_part_is_reported_and_skipped_and_the_rest_is_read(tmp_path: Path) -> None:
    base = write_crawl(tmp_path / "store", "news-1", T0, fetches())
    items = base / "items" / "part-00000.jsonl.gz"
    data = bytearray(items.read_bytes())
    data[len(data) // 2] ^= 0xFF
    items.write_bytes(bytes(data))
    (base / "log" / "part-00000.jsonl.gz").unlink()
    with catalog(tmp_path) as cat:
        update = cat.update()
        found = problems(cat, "news-1")
        assert any(p.startswith("missing part crawls/news-1/log/part-00000.jsonl.gz") for p in found)
        assert any("corrupt part crawls/news-1/items/part-00000.jsonl.gz" in p for p in found)
        assert all(p.startswith("news-1: ") for p in update.problems) and len(update.problems) == len(found)


def test_cut_gzip_and_bad_lines_keep_what_came_before(tmp_path: Path) -> None:
    base = write_crawl(tmp_path / "store", "news-1", T0, fetches(5), manifest=False)
    log = base / "log" / "part-00000.jsonl.gz"
    lines = gzip.decompress(log.read_bytes()).splitlines(keepends=True)
    log.write_bytes(gzip.compress(lines[0] + b"{not json\n" + b"[1, 2]\n" + b"".join(lines[1:]))[:-30])
    with catalog(tmp_path) as cat:
        cat.update()
        found = problems(cat, "news-1")
        assert any("line 2: not JSON" in p for p in found) and any("line 3: not a JSON object" in p for p in found)
        assert any("not a whole gzip file" in p for p in found)
        assert 1 <= cat.crawls()[0].captures < 5


def test_a_cdxj_that_does_not_match_its_warc_is_reported(tmp_path: Path) -> None:
    base = write_crawl(tmp_path / "store", "news-1", T0, fetches())
    [warc] = (base / "warc").iterdir()
    warc.write_bytes(warc.read_bytes()[:1500])  # cut: the second and third records are gone
    base2 = write_crawl(tmp_path / "store", "news-2", T0 + DAY, fetches())
    [cdxj] = (base2 / "cdxj").iterdir()
    cdxj.write_text(cdxj.read_text().splitlines()[0] + "\n")  # rewritten with one line: no manifest match
    with catalog(tmp_path) as cat:
        cat.update()
        one = problems(cat, "news-1")
        assert any("is 1500 bytes in the store, the manifest says 3000" in p for p in one)
        assert any("does not match its WARC: 2 records reach past the WARC's end (1500 bytes)" in p for p in one)
        two = problems(cat, "news-2")
        assert any(p.startswith("corrupt part crawls/news-2/cdxj/") for p in two)


def test_log_entries_pointing_outside_every_cdxj_are_reported(tmp_path: Path) -> None:
    base = write_crawl(tmp_path / "store", "news-1", T0, fetches(), manifest=False)
    [cdxj] = (base / "cdxj").iterdir()
    cdxj.write_text(cdxj.read_text().splitlines()[0] + "\n")
    with catalog(tmp_path) as cat:
        cat.update()
        assert any("2 crawl-log entries point at WARC records no CDXJ" in p for p in problems(cat, "news-1"))


def test_the_store_is_never_written_and_workers_give_the_same_catalog(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for n in range(3):
        write_crawl(store, f"news-{n}", T0 + n * DAY, fetches(4 + n))
    before = snapshot(store)
    with Catalog(tmp_path / "inline.sqlite", FileStore(store), workers=0) as a, \
            Catalog(tmp_path / "pool.sqlite", FileStore(store), workers=2) as b:
        a.update()
        b.update()
        rows = "SELECT * FROM captures ORDER BY crawl_id, url"
        assert a.db.execute(rows).fetchall() == b.db.execute(rows).fetchall()
        assert a.summary() == b.summary()
    assert snapshot(store) == before


def test_a_catalog_of_an_older_version_is_rebuilt_and_a_foreign_file_refused(tmp_path: Path) -> None:
    write_crawl(tmp_path / "store", "news-1", T0, fetches())
    with catalog(tmp_path) as cat:
        cat.update()
    db = sqlite3.connect(tmp_path / "catalog.sqlite")
    db.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
    db.commit()
    db.close()
    with catalog(tmp_path) as cat:
        update = cat.update()
        assert update.rebuilt and "schema 0" in update.rebuilt and update.crawls_indexed == ["news-1"]
    (tmp_path / "notes.txt").write_text("not a database " * 100)
    with pytest.raises(CatalogError, match="is not a catalog"):
        Catalog(tmp_path / "notes.txt", FileStore(tmp_path / "store"))
    other = sqlite3.connect(tmp_path / "other.sqlite")
    other.execute("CREATE TABLE t (x)")
    other.close()
    with pytest.raises(CatalogError, match="not a Palimpsest catalog"):
        Catalog(tmp_path / "other.sqlite", FileStore(tmp_path / "store"))
    with pytest.raises(CatalogError, match="each store has its own catalog"):
        Catalog(tmp_path / "catalog.sqlite", FileStore(tmp_path / "elsewhere"))


def test_rebuild_starts_over(tmp_path: Path) -> None:
    write_crawl(tmp_path / "store", "news-1", T0, fetches())
    with catalog(tmp_path) as cat:
        cat.update()
        again = cat.update(rebuild=True)
        assert again.crawls_indexed == ["news-1"] and again.rebuilt
        assert cat.summary()[0]["captures"] == 3


def test_a_manifest_that_is_not_json_indexes_the_crawl_as_partial(tmp_path: Path) -> None:
    base = write_crawl(tmp_path / "store", "news-1", T0, fetches())
    (base / "crawl.json").write_text(json.dumps([1, 2]))
    with catalog(tmp_path) as cat:
        cat.update()
        assert cat.crawls()[0].state == "partial"
        assert any("crawl.json cannot be read" in p for p in cat.crawls()[0].problems)


def test_the_recheck_cadence_decays_then_repeats() -> None:
    hour, day = 3600.0, 86400.0
    steps = (hour, 6 * hour, day, 3 * day, 7 * day, 30 * day)
    assert last_due_point(0.5 * hour, steps) is None
    assert last_due_point(2 * hour, steps) == hour
    assert last_due_point(2 * day, steps) == day
    assert last_due_point(45 * day, steps) == 30 * day and last_due_point(61 * day, steps) == 60 * day
    first = 1_000_000.0
    assert not is_due(first, first, first + 0.5 * hour, steps)  # too young
    assert is_due(first, first, first + 2 * hour, steps)  # never fetched since the 1 h point
    assert not is_due(first, first + 1.5 * hour, first + 2 * hour, steps)  # fetched after it
    assert is_due(first, first + 1.5 * hour, first + 7 * hour, steps)
    assert is_due(first, first + 31 * day, first + 61 * day, steps) and not is_due(first, first + 61 * day,
                                                                                   first + 62 * day, steps)


def test_two_updates_of_one_catalog_at_once_index_each_crawl_once(tmp_path: Path) -> None:
    """The scheduler runs several crawls of one store: their catalog updates may overlap."""
    import threading  # noqa: PLC0415

    store = tmp_path / "store"
    for n in range(6):
        write_crawl(store, f"news-{n}", T0 + n * DAY, fetches(50))
    errors: list[BaseException] = []

    def update() -> None:
        try:
            with catalog(tmp_path) as cat:
                cat.update()
        except BaseException as exc:  # reported below, with the other thread's
            errors.append(exc)

    threads = [threading.Thread(target=update) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with catalog(tmp_path) as cat:
        assert cat.summary()[0]["captures"] == 300 and len(cat.crawls()) == 6
        assert cat.db.execute("SELECT COUNT(*) FROM captures").fetchone()[0] == 300


def test_a_crawl_bigger_than_the_cache_is_written_in_url_order(tmp_path: Path) -> None:
    """Each crawl is one run of rows in URL order (the audit merges runs): however its parts came."""
    base = write_crawl(tmp_path / "store", "news-1", T0, fetches(30))
    log = base / "log" / "part-00000.jsonl.gz"
    lines = gzip.decompress(log.read_bytes()).splitlines(keepends=True)
    log.write_bytes(gzip.compress(b"".join(lines[:15])))
    (base / "log" / "part-00001.jsonl.gz").write_bytes(gzip.compress(b"".join(reversed(lines[15:]))))
    (base / "crawl.json").unlink()
    with catalog(tmp_path) as cat:
        cat.update()
        urls = [r[0] for r in cat.db.execute("SELECT url FROM captures ORDER BY rowid")]
        assert urls == sorted(urls) and len(urls) == 30
        assert [url for url, _ in cat.article_history("news")] == sorted(set(urls))


def test_values_of_the_wrong_type_are_kept_as_text_and_said(tmp_path: Path) -> None:
    """Another tool's log: a list for a title, a number past 64 bits, a lone surrogate. Nothing aborts."""
    base = write_crawl(tmp_path / "store", "news-1", T0, fetches(3), manifest=False)
    log = base / "log" / "part-00000.jsonl.gz"
    entries = [json.loads(line) for line in gzip.decompress(log.read_bytes()).splitlines()]
    entries[0]["title"] = ["a", "list"]
    entries[1]["status"] = 2**70
    entries[2]["error"] = "\ud800 lone"
    log.write_bytes(gzip.compress(b"".join(json.dumps(e).encode() + b"\n" for e in entries)))
    with catalog(tmp_path) as cat:
        cat.update()
        assert cat.crawls()[0].captures == 3
        assert any("3 records had values of the wrong type" in p for p in cat.crawls()[0].problems)
        titles = {r[0] for r in cat.db.execute("SELECT title FROM captures")}
        assert '["a", "list"]' in titles


def test_a_store_that_lists_nothing_does_not_empty_the_catalog(tmp_path: Path) -> None:
    write_crawl(tmp_path / "store", "news-1", T0, fetches())
    with catalog(tmp_path) as cat:
        cat.update()
    (tmp_path / "store").rename(tmp_path / "unmounted")
    with catalog(tmp_path) as cat, pytest.raises(CatalogError, match="lists no crawls"):
        cat.update()
    (tmp_path / "unmounted").rename(tmp_path / "store")
    with catalog(tmp_path) as cat:
        assert cat.update().crawls_removed == [] and len(cat.crawls()) == 1


def test_a_part_the_store_failed_to_give_is_read_again_next_update(tmp_path: Path) -> None:
    write_crawl(tmp_path / "store", "news-1", T0, fetches())

    class Flaky(FileStore):
        failing = True

        def get_bytes(self, key: str) -> bytes:
            if self.failing and "/log/" in key:
                raise StoreError("503 Slow Down")
            return super().get_bytes(key)

    store = Flaky(tmp_path / "store")
    with Catalog(tmp_path / "catalog.sqlite", store) as cat:
        cat.update()
        assert cat.crawls()[0].state == "incomplete" and cat.crawls()[0].captures == 0
        store.failing = False
        assert cat.update().crawls_indexed == ["news-1"]
        assert cat.crawls()[0].state == "complete" and cat.crawls()[0].captures == 3


def test_vacuum_keeps_every_crawl_s_run(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for n in range(3):
        write_crawl(store, f"news-{n}", T0 + n * DAY, fetches(5))
    with catalog(tmp_path) as cat:
        cat.update()
    shutil.rmtree(store / "crawls" / "news-0")  # forgotten: a hole before the other crawls' runs
    with catalog(tmp_path) as cat:
        assert cat.update().crawls_removed == ["news-0"]
        before = [(u, len(rows)) for u, rows in cat.article_history("news")]
        cat.db.execute("VACUUM")
        assert [(u, len(rows)) for u, rows in cat.article_history("news")] == before
        assert len(before) == 5 and all(n == 2 for _, n in before)


def test_gunzip_reads_every_member_and_keeps_what_came_before_a_cut() -> None:
    from archive.catalogparts import gunzip  # noqa: PLC0415

    members = b"".join(gzip.compress(b"line %d\n" % i) for i in range(3000))  # another tool's part, member by line
    text, fault = gunzip(members)
    assert fault is None and len(text.splitlines()) == 3000
    text, fault = gunzip(members[:-5])
    assert fault is not None and text.startswith(b"line 0\n") and len(text.splitlines()) == 3000
    assert gunzip(gzip.compress(b"a\n") + b"\0" * 512) == (b"a\n", None)  # padding after the last member
