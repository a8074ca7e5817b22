"""The page workers: results come back from real worker processes; a dead or hung worker costs one page;
no worker outlives a crawler killed with SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
import pytest_twisted

from crawler.analysis import PageRequest, analyze
from crawler.siteconfig import SiteConfig
from crawler.workers import PageTimeoutError, PriorityGate, WorkerPool
from tests.asyncio_helpers import on_asyncio
from tests.fixtureweb.content import build_articles
from tests.fixtureweb.pages import article_page


def _page() -> tuple[PageRequest, str]:
    art = next(a for a in build_articles(1) if a.template == "normal")
    site = SiteConfig.model_validate({"name": "web", "base_url": "http://web.test/"})
    html = article_page(art, "http://web.test", []).encode()
    return PageRequest("http://web.test/a", html, "utf-8", extract=True,
                       site_json=site.model_dump_json()), art.text


def _text(analysis: object) -> str | None:
    extracted = getattr(analysis, "extracted", None)
    return getattr(extracted, "text", None)


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_workers_read_a_page_as_inline_reading_does() -> None:
    page, text = _page()

    async def both() -> tuple[object, object]:
        pool, inline = WorkerPool(1, ["crawler.analysis"]), WorkerPool(0, [])
        try:
            return await pool.run(analyze, page), await inline.run(analyze, page)
        finally:
            pool.close()

    in_worker, in_line = await on_asyncio(both())
    assert _text(in_worker) == text == _text(in_line)
    assert getattr(in_worker, "verdict", None) == getattr(in_line, "verdict", None)


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_pages_sent_while_the_workers_start_wait_for_them_and_are_read() -> None:
    page, text = _page()

    async def warm_then_read() -> list[object]:
        pool = WorkerPool(1, ["crawler.analysis"])
        pool.warm_up()
        pool.warm_up()  # a second call starts nothing more
        try:
            return list(await asyncio.gather(*(pool.run(analyze, page) for _ in range(3))))
        finally:
            pool.close()

    assert [_text(a) for a in await on_asyncio(warm_then_read())] == [text] * 3


def test_the_worker_detects_the_language_only_when_asked_and_the_page_declares_none() -> None:
    page, _ = _page()
    html = page.body.replace(b'lang="', b'data-lang="').replace(b'"inLanguage"', b'"notLanguage"')
    undeclared = PageRequest(page.url, html, "utf-8", extract=True, site_json=page.site_json, detect_language=True)
    found = analyze(undeclared).extracted
    assert found is not None and not found.language and found.detected_language == "en"
    not_asked = analyze(PageRequest(page.url, html, "utf-8", extract=True, site_json=page.site_json)).extracted
    assert not_asked is not None and not_asked.detected_language is None


def _die(page: PageRequest) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _hang(page: PageRequest) -> None:
    time.sleep(3600)  # a hostile page that never finishes parsing


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_a_killed_worker_fails_one_page_and_the_pool_recovers() -> None:
    page, text = _page()
    pool = WorkerPool(1, ["crawler.analysis"])

    async def run() -> object:
        with pytest.raises(BrokenProcessPool):
            await pool.run(_die, page)
        return await pool.run(analyze, page)

    try:
        assert _text(await on_asyncio(run())) == text
    finally:
        pool.close()


def _slow(page: PageRequest) -> str:
    time.sleep(0.5)
    return "slow but within the bound"


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_a_page_that_never_finishes_costs_that_page_only() -> None:
    """The bound is the page's own time in the worker: pages queued behind a hung one are not cut short."""
    page, text = _page()
    pool = WorkerPool(1, ["crawler.analysis"], timeout=2.0)

    async def run() -> list[object]:
        await pool.run(analyze, page)  # the worker is up
        return await asyncio.gather(pool.run(_hang, page), *(pool.run(_slow, page) for _ in range(4)),
                                    pool.run(analyze, page), return_exceptions=True)

    try:
        hung, *slow, last = await on_asyncio(run())
    finally:
        pool.close()
    assert isinstance(hung, PageTimeoutError)
    assert slow == ["slow but within the bound"] * 4  # 2 s of queue wait behind the hung page: not theirs
    assert _text(last) == text


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_the_gate_lets_the_highest_priority_in_first_and_passes_on_cancelled_places() -> None:
    """A listing page queued behind articles goes into the pool before them; a page cancelled while it
    waits, or just as it was let in, does not keep a place."""

    async def scenario() -> tuple[list[str], int]:
        gate, order = PriorityGate(1), []
        await gate.enter()  # the pool is full

        async def page(name: str, priority: int) -> None:
            await gate.enter(priority)
            order.append(name)
            await asyncio.sleep(0)
            gate.leave()

        tasks = [asyncio.create_task(page(name, prio)) for name, prio in
                 (("article-1", 0), ("article-2", 0), ("listing", 1), ("gone", 5))]
        await asyncio.sleep(0)
        tasks[3].cancel()  # cancelled while it waits
        gate.leave()
        await asyncio.gather(*tasks, return_exceptions=True)
        return order, gate.inside

    order, inside = await on_asyncio(scenario())
    assert order == ["listing", "article-1", "article-2"]
    assert inside == 0


# A crawler in miniature: one pool, one extraction, then it waits to be killed.
_CRAWLER = """
import asyncio, sys
from crawler.workers import WorkerPool
from crawler.analysis import PageRequest, analyze

pool = WorkerPool(1, ["crawler.analysis"])
page = PageRequest("http://web.test/a", b"<html><title>t</title><body><p>story</p></body></html>", "utf-8")
assert asyncio.run(pool.run(analyze, page)).parsed
print("extracted", flush=True)
sys.stdin.read()
"""

# The watcher wakes on EOF rather than polling, so the bound only has to cover three interpreters noticing
# and exiting on a loaded machine (worker, then forkserver and resource tracker); it is not a sleep.
_GONE_WITHIN = 15.0
_POLL = 0.05


def _stat(pid: int) -> tuple[str, int, str] | None:
    """(state, parent pid, start time) of a live process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[1]), fields[19]


def _descendants(root: int) -> dict[int, str]:
    """Every process below `root`, with its start time (so a reused PID is not mistaken for it)."""
    table = {int(p): s for p in os.listdir("/proc") if p.isdigit() and (s := _stat(int(p))) is not None}
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, (_, ppid, started) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = started
                frontier.append(pid)
    return found


def _alive(pid: int, started: str) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X") and stat[2] == started  # a zombie has exited


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads /proc")
def test_a_crawler_killed_with_sigkill_leaves_no_extraction_process_behind() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    children: dict[int, str] = {}
    with subprocess.Popen([sys.executable, "-c", _CRAWLER], cwd=root, env=env, text=True,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE) as crawler:
        try:
            assert crawler.stdout is not None
            assert crawler.stdout.readline().strip() == "extracted"
            children = _descendants(crawler.pid)
            # the forkserver and its worker at least (and multiprocessing's resource tracker)
            assert len(children) >= 2, children
        finally:
            crawler.kill()
    deadline = time.monotonic() + _GONE_WITHIN
    while (alive := [pid for pid, started in children.items() if _alive(pid, started)]) and time.monotonic() < deadline:
        time.sleep(_POLL)
    for pid in alive:  # do not leave them behind when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"still running {_GONE_WITHIN}s after the crawler was killed: {alive}"
