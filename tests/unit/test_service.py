"""The archive service: one writer thread, the spool lock, numbering of a reused crawl id, the manifest's
objects, the persistent digest index and revisits that name their original."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import time
import zlib
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.digests import DigestIndex
from archive.service import ArchiveService, Outcome, ServiceOptions, WarcOptions, next_serials
from archive.spoollock import SpoolLock, SpoolLockedError
from archive.store import FileStore, StoredObject
from archive.warc import Exchange
from crawler.errors import StoreError

T0 = datetime(2026, 12, 1, 10, 0, 0, 123000, tzinfo=UTC)


def _exchange(url: str, body: bytes, when: datetime = T0) -> Exchange:
    return Exchange(url=url, method="GET", request_line_target="/" + url.rsplit("/", 1)[-1],
                    request_headers=[("Host", "example.test")], request_body=b"", protocol="HTTP/1.1", status=200,
                    response_headers=[("Content-Type", "text/html")], body=body, date=when)


def _service(tmp_path: Path, crawl_id: str = "c1", index: bool = True, queue_limit: int = 4) -> ArchiveService:
    warc = WarcOptions("TEST", 10_000_000, "sha1", True, {"software": "test"},
                       tmp_path / "index" / "digests.sqlite" if index else None)
    options = ServiceOptions(crawl_id, tmp_path / "spool", 1000, 1 << 20, warc, {"give_up": 5.0},
                             queue_limit=queue_limit, fsync=False)
    return ArchiveService(FileStore(tmp_path / "store"), options)


def _run(coro: Coroutine[Any, Any, Any]) -> None:
    """On an event loop of its own, in a thread: the test session's reactor already runs one here."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:
            errors.append(exc)
    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _crawl(service: ArchiveService, pages: list[tuple[str, bytes]]) -> Outcome:
    async def run() -> None:
        for url, body in pages:
            written = await service.archive(_exchange(url, body))
            service.write("log", {"url": url, "warc": written.location()})
    service.open()
    assert service.caught_up.wait(30)  # the digest index knows the earlier crawls before the first page
    _run(run())
    outcome = service.close()
    service.release()
    return outcome


def _records(store: Path, crawl_id: str) -> list[tuple[str, dict[str, str]]]:
    found = []
    for warc in sorted((store / "crawls" / crawl_id / "warc").glob("*.warc.gz")):
        with warc.open("rb") as fh:
            for record in ArchiveIterator(fh):
                found.append((record.rec_type, dict(record.rec_headers.headers)))
    return found


def test_after_written_runs_once_every_record_handed_over_before_it_is_in_the_spool(tmp_path: Path) -> None:
    """A distributed worker acknowledges a request to Redis through `after_written`: by then its items are
    in the spool file (a kill after the acknowledgement loses none of them); once the writer stopped, at once."""
    service = _service(tmp_path)
    service.open()
    gate, seen, done = threading.Event(), [], threading.Event()
    service.after_written(lambda: gate.wait(30))  # the writer is busy
    for n in range(50):
        service.write("items", {"url": f"http://example.test/{n}"})

    def then() -> None:
        raw = (tmp_path / "spool" / "c1" / "items" / "part-00000.jsonl.gz.open").read_bytes()
        seen.append(zlib.decompressobj(31).decompress(raw).count(b"\n"))  # flushed, not yet closed
        done.set()
    service.after_written(then)
    assert not done.is_set()
    gate.set()
    assert done.wait(30) and seen == [50]
    service.close()
    service.release()
    late: list[bool] = []
    service.after_written(lambda: late.append(True))
    assert late == [True]


def test_after_written_before_the_writer_started_and_from_a_garbage_collection_inside_it(tmp_path: Path) -> None:
    """Before the writer started, nothing was handed over: a callback runs at once. A garbage collection
    while `after_written` holds its lock may finalize a request whose acknowledgement calls it again, on
    the same thread: that must not deadlock."""
    service = _service(tmp_path)
    ran: list[str] = []
    service.after_written(lambda: ran.append("unopened"))
    assert ran == ["unopened"]
    service.open()
    original = service._submit

    def submit_with_a_collection(*args: Any) -> Any:  # a collection inside the lock, finalizing a request
        service._submit = original  # type: ignore[method-assign]
        service.after_written(lambda: ran.append("nested"))
        return original(*args)
    service._submit = submit_with_a_collection  # type: ignore[method-assign,assignment]
    returned = threading.Event()

    def outer() -> None:
        service.after_written(lambda: ran.append("outer"))
        returned.set()
    threading.Thread(target=outer, daemon=True).start()
    assert returned.wait(30), "after_written deadlocked on its own lock"
    finished = threading.Event()
    service.after_written(finished.set)
    assert finished.wait(30) and ran == ["unopened", "nested", "outer"]
    service.close()
    service.release()


def test_a_callback_handed_over_while_the_writer_stops_still_runs(tmp_path: Path) -> None:
    """Handed over after the writer's last task was queued (a worker closing), a callback is run by `close`
    once the writer is joined, never left in the queue (an acknowledgement lost: a request fetched again)."""
    service = _service(tmp_path)
    service.open()
    busy, gate, ran = threading.Event(), threading.Event(), threading.Event()
    def hold_up() -> None:
        busy.set()
        gate.wait(30)
    service.after_written(hold_up)
    assert busy.wait(30)  # the writer is in it, the queue empty
    closing = threading.Thread(target=service.close)
    closing.start()
    while service._queue.qsize() < 2:  # close has queued its last task and the writer's stop
        time.sleep(0.01)
    service.after_written(ran.set)
    assert not ran.is_set()
    gate.set()
    closing.join(60)
    assert not closing.is_alive() and ran.is_set()
    service.release()


def test_next_serials_go_on_after_every_stored_file() -> None:
    keys = ["crawls/c1/log/part-00000.jsonl.gz", "crawls/c1/log/part-00003.jsonl.gz",
            "crawls/c1/items/part-00001.jsonl.gz", "crawls/c1/warc/TEST-20261201100000123-00002-host.warc.gz",
            "crawls/c1/cdxj/TEST-20261201100000123-00002-host.cdxj", "crawls/c1/crawl.json",
            "crawls/c1/probes/part-00004.jsonl.gz"]
    assert next_serials(keys, "crawls/c1") == {"warc": 3, "log": 4, "items": 2, "dropped": 0, "probes": 5}


def test_a_crawl_lands_its_files_and_lists_only_its_own(tmp_path: Path) -> None:
    other = tmp_path / "spool" / "killed-crawl" / "log"
    other.mkdir(parents=True)
    with gzip.open(other / "part-00000.jsonl.gz", "wb") as fh:
        fh.write(b'{"url": "http://example.test/left"}\n')
    outcome = _crawl(_service(tmp_path), [("http://example.test/a", b"<p>a</p>")])
    assert outcome.complete
    keys = sorted(o.key for o in outcome.objects)
    assert all(key.startswith("crawls/c1/") for key in keys), keys  # the other crawl's part is not ours
    assert (tmp_path / "store" / "crawls" / "killed-crawl" / "log" / "part-00000.jsonl.gz").exists()
    assert [k.split("/")[2] for k in keys] == ["cdxj", "log", "warc"]
    assert not (tmp_path / "spool" / "c1").exists()


def test_a_recovered_crawl_s_spool_is_released_once_its_files_are_stored_not_at_our_end(tmp_path: Path) -> None:
    """A scheduler restarting the killed crawl under its own id must not wait for the whole recovering crawl."""
    dead = tmp_path / "spool" / "dead"
    (dead / "log").mkdir(parents=True)
    with gzip.open(dead / "log" / "part-00000.jsonl.gz", "wb") as fh:
        fh.write(b'{"url": "http://example.test/left"}\n')
    (dead / "crawl.json").write_text(json.dumps({"crawl_id": "dead", "complete": False,
                                                 "waiting": ["crawls/dead/log/part-00000.jsonl.gz"]}))
    stored = tmp_path / "store" / "crawls" / "dead"
    service = _service(tmp_path)
    service.open()
    try:
        deadline = time.monotonic() + 30
        while not (stored / "crawl.json").exists():  # the part first, then its manifest
            assert time.monotonic() < deadline, "the leftover was never stored"
            time.sleep(0.01)
        assert (stored / "log" / "part-00000.jsonl.gz").exists()
        manifest = json.loads((stored / "crawl.json").read_text())
        assert manifest["complete"] is True and manifest["waiting"] == []
        while SpoolLock(dead).busy():
            assert time.monotonic() < deadline, "the recovered crawl's spool stayed locked"
            time.sleep(0.01)
        restarted = SpoolLock(dead)
        assert restarted.acquire()  # while the recovering crawl still runs
        restarted.release()
    finally:
        service.close()
        service.release()


def test_a_reused_crawl_id_goes_on_numbering_and_overwrites_nothing(tmp_path: Path) -> None:
    _crawl(_service(tmp_path), [("http://example.test/a", b"first run")])
    _crawl(_service(tmp_path), [("http://example.test/b", b"second run")])
    log = tmp_path / "store" / "crawls" / "c1" / "log"
    parts = sorted(p.name for p in log.iterdir())
    assert parts == ["part-00000.jsonl.gz", "part-00001.jsonl.gz"]
    urls = [json.loads(gzip.decompress((log / p).read_bytes()))["url"] for p in parts]
    assert urls == ["http://example.test/a", "http://example.test/b"]
    assert len(list((tmp_path / "store" / "crawls" / "c1" / "warc").iterdir())) == 2


def test_a_crawl_id_in_use_is_refused(tmp_path: Path) -> None:
    first = _service(tmp_path)
    first.open()
    try:
        with pytest.raises(SpoolLockedError, match="c1"):
            _service(tmp_path).open()
    finally:
        first.close()
        first.release()


@pytest.mark.parametrize("index_kept", [True, False], ids=["index-kept", "index-rebuilt-from-the-store"])
def test_revisits_name_the_original_record_and_its_exact_date_across_crawls(tmp_path: Path, index_kept: bool) -> None:
    """Also on a new machine, whose digest index is rebuilt from the store's CDXJ files."""
    _crawl(_service(tmp_path, "c1"), [("http://example.test/a", b"same payload")])
    original = next(h for t, h in _records(tmp_path / "store", "c1") if t == "response")
    if not index_kept:
        for path in (tmp_path / "index").iterdir():
            path.unlink()
    _crawl(_service(tmp_path, "c2"), [("http://example.test/a", b"same payload")])
    revisit = next(h for t, h in _records(tmp_path / "store", "c2") if t == "revisit")
    assert revisit["WARC-Refers-To"] == original["WARC-Record-ID"]
    assert revisit["WARC-Refers-To-Date"] == original["WARC-Date"] == "2026-12-01T10:00:00.123Z"
    assert revisit["WARC-Refers-To-Target-URI"] == "http://example.test/a"


def test_the_digest_index_forgets_what_the_store_lost_and_learns_what_it_gained(tmp_path: Path) -> None:
    index = DigestIndex(tmp_path / "digests.sqlite")
    index.add("sha1:AAAA", "http://example.test/a", T0, "<urn:uuid:1>", "crawls/old/cdxj/x.cdxj")
    index.landed("crawls/old/cdxj/x.cdxj")
    index.add("sha1:BBBB", "http://example.test/b", T0, "<urn:uuid:2>", "crawls/dead/cdxj/y.cdxj")  # never landed
    index.flush()
    line = 'com,example)/c 20261201100000 {"url": "http://example.test/c", "digest": "sha1:CCCC"}'
    store = {"crawls/new/cdxj/z.cdxj": line.encode()}
    def mine(key: str) -> bool:
        return key.startswith("crawls/me/")

    loaded = index.sync(store, store.__getitem__, mine)
    assert loaded == 1
    assert index.get("sha1:AAAA") is None  # its CDXJ is gone from the store
    assert index.get("sha1:BBBB") is None  # a crawl that died before its CDXJ landed
    found = index.get("sha1:CCCC")
    assert found is not None and found.uri == "http://example.test/c" and found.record_id is None
    assert index.sync(store, store.__getitem__, mine) == 0  # incremental: nothing new, nothing read
    index.close()


def test_at_most_queue_limit_exchanges_wait_on_the_writer(tmp_path: Path) -> None:
    """Backpressure: the 21st caller waits for room instead of queueing its page in memory."""
    service = _service(tmp_path, queue_limit=3)
    service.open()
    futures: list[Future[Any]] = []
    most = 0
    submit = service._submit

    def counting(fn: Callable[..., Any], *args: Any) -> Future[Any]:
        nonlocal most
        future = submit(fn, *args)
        if fn == service._archive:
            futures.append(future)
            most = max(most, sum(not f.done() for f in futures))
        return future

    service._submit = counting  # type: ignore[method-assign]
    archive = service._archive

    def slow(exchange: Exchange) -> Any:
        time.sleep(0.02)  # a slow disk: without the bound, all 20 would be queued at once
        return archive(exchange)

    service._archive = slow  # type: ignore[method-assign]

    async def run() -> None:
        await asyncio.gather(*(service.archive(_exchange(f"http://example.test/{n}", f"body {n}".encode(),
                                                         T0 + timedelta(seconds=n))) for n in range(20)))
    _run(run())
    service.close()
    service.release()
    assert len(futures) == 20 and 1 <= most <= 3


class _FailingWarcs(FileStore):
    """A store that refuses every WARC (a quota, a permission): their CDXJ must not land without them."""

    def put_file(self, key: str, path: Path) -> StoredObject:
        if key.endswith(".warc.gz"):
            raise StoreError(f"refused: {key}")
        return super().put_file(key, path)


def test_a_cdxj_never_lands_without_its_warc_and_both_are_listed_as_waiting(tmp_path: Path) -> None:
    warc = WarcOptions("TEST", 10_000_000, "sha1", True, {}, tmp_path / "index" / "digests.sqlite")
    options = ServiceOptions("c1", tmp_path / "spool", 1000, 1 << 20, warc, {"give_up": 0.5, "backoff": 0.1,
                             "max_backoff": 0.1}, fsync=False)
    service = ArchiveService(_FailingWarcs(tmp_path / "store"), options)
    outcome = _crawl(service, [("http://example.test/a", b"payload")])
    assert not list((tmp_path / "store").rglob("*.cdxj"))
    assert [k.split("/")[2] for k in outcome.waiting] == ["cdxj", "warc"]
    assert not outcome.complete
    spooled = {p.name for p in (tmp_path / "spool" / "c1").rglob("*") if p.is_file()}
    assert {n.rsplit(".", 1)[-1] for n in spooled if not n.startswith(".")} == {"cdxj", "gz"}
    index = DigestIndex(tmp_path / "index" / "digests.sqlite")
    assert index.get(next(iter(index.db.execute("SELECT digest FROM first").fetchone()))) is not None
    assert index.db.execute("SELECT count(*) FROM sources WHERE landed = 1").fetchone()[0] == 0
    index.close()


def test_a_caller_that_gives_up_does_not_stop_the_writer(tmp_path: Path) -> None:
    """A browser task cancelled while its record waits: the record is still written, the writer goes on."""
    service = _service(tmp_path)
    service.open()

    async def run() -> None:
        slow = asyncio.ensure_future(service.archive(_exchange("http://example.test/a", b"first")))
        await asyncio.sleep(0)
        slow.cancel()
        # A writer that died would leave this waiting for ever: bounded here, with room for a loaded machine.
        written = await asyncio.wait_for(service.archive(_exchange("http://example.test/b", b"second")), 120)
        assert written.filename
    _run(run())
    outcome = service.close()
    service.release()
    assert outcome.complete
    urls = [h["WARC-Target-URI"] for t, h in _records(tmp_path / "store", "c1") if t == "response"]
    assert urls == ["http://example.test/a", "http://example.test/b"]


def test_a_store_that_cannot_be_listed_leaves_the_digest_index_as_it_was(tmp_path: Path) -> None:
    _crawl(_service(tmp_path, "c1"), [("http://example.test/a", b"same payload")])

    class Unlisted(FileStore):
        def keys(self, prefix: str = "") -> Iterator[str]:
            raise StoreError("the store does not answer")

    warc = WarcOptions("TEST", 10_000_000, "sha1", True, {}, tmp_path / "index" / "digests.sqlite")
    options = ServiceOptions("c2", tmp_path / "spool", 1000, 1 << 20, warc, {"give_up": 5.0}, fsync=False)
    _crawl(ArchiveService(Unlisted(tmp_path / "store"), options), [("http://example.test/a", b"same payload")])
    kinds = [t for t, _ in _records(tmp_path / "store", "c2")]
    assert "revisit" in kinds and "response" not in kinds  # the first crawl's payload is still known
