"""The extraction pool: results come back from real worker processes; a dead worker costs one page."""

from __future__ import annotations

import os
import signal
from concurrent.futures.process import BrokenProcessPool

import pytest
import pytest_twisted

from crawler import extractpool
from crawler.extractpool import ExtractionPool
from tests.asyncio_helpers import on_asyncio
from tests.fixtureweb.content import build_articles
from tests.fixtureweb.pages import article_page


def _page() -> tuple[str, str]:
    art = next(a for a in build_articles(1) if a.template == "normal")
    return article_page(art, "http://web.test", []), art.text


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_workers_extract_what_inline_extraction_does() -> None:
    html, text = _page()

    async def both() -> tuple[object, object]:
        pool, inline = ExtractionPool(1), ExtractionPool(0)
        try:
            return await pool.extract(html, "http://web.test/a", "UTC"), await inline.extract(html, "http://x", "UTC")
        finally:
            pool.close()

    in_worker, in_line = await on_asyncio(both())
    assert getattr(in_worker, "text", None) == text == getattr(in_line, "text", None)


def _die(html: str, url: str, timezone: str) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_a_killed_worker_fails_one_page_and_the_pool_recovers(monkeypatch: pytest.MonkeyPatch) -> None:
    html, text = _page()
    pool = ExtractionPool(1)

    async def run() -> object:
        monkeypatch.setattr(extractpool, "_extract", _die)
        with pytest.raises(BrokenProcessPool):
            await pool.extract(html, "http://web.test/a", "UTC")
        monkeypatch.undo()
        return await pool.extract(html, "http://web.test/a", "UTC")

    try:
        assert getattr(await on_asyncio(run()), "text", None) == text
    finally:
        pool.close()
