"""Browsing replay in real Chromium: an archived article opened through `scrapy replay` (ReplayWeb.page over
the crawl's WACZ) with the sample web stopped shows its story and its image, and the browser asks nothing of
the sample web's host: not the page, not its service worker, not its subresources.

The screenshot goes to tmp_path and /tmp/replay-browse.png, for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import pytest_twisted

from tests.asyncio_helpers import on_asyncio
from tests.crawling import CrawlResult, run_crawl
from tests.e2e.test_report import launch
from tests.fixtureweb.process import ROOT, FixtureWeb
from tests.replayserver import ReplayProcess, get

SCREENSHOT_COPY = Path("/tmp/replay-browse.png")


@pytest.fixture(scope="module")
def stopped_web_crawl(tmp_path_factory: pytest.TempPathFactory) -> tuple[CrawlResult, str]:
    """A crawl of a sample web that is stopped before replay starts; yields the crawl and the web's address."""
    with FixtureWeb() as web:
        crawl = run_crawl(web, tmp_path_factory.mktemp("browse") / "store", crawl_id="browse-crawl")
        address = web.base_url
    assert crawl.returncode == 0, crawl.stderr[-3000:]
    return crawl, address


def rendered_article(crawl: CrawlResult) -> dict[str, Any]:
    """An article Chromium rendered at crawl time: its story and image come from archived JSON and JPEG."""
    for entry in crawl.log:
        loaded = (entry.get("render") or {}).get("subresources", [])
        if entry["kind"] == "article" and entry["verdict"] == "ok" and any(u.endswith(".jpg") for u in loaded):
            return entry
    raise AssertionError("the crawl rendered no article with an image")


async def look(url: str, web_host: str, screenshot: Path, options: dict[str, Any]) -> dict[str, Any]:
    from playwright.async_api import async_playwright  # noqa: PLC0415  (the browser only here)

    requests: list[str] = []
    os.environ["PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS"] = "1"  # the service worker's fetches too
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**options)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 1000})
            context.on("request", lambda req: requests.append(req.url))
            page = await context.new_page()
            await page.goto(url, wait_until="load")
            found: dict[str, Any] = {}
            for _ in range(120):  # the service worker installs, loads the WACZ index, then the page renders
                for frame in page.frames:
                    if "/w/" not in frame.url:
                        continue
                    try:
                        found = await frame.evaluate("""() => ({
                            text: document.body ? document.body.innerText : '',
                            images: Array.from(document.images).map(i => [i.currentSrc, i.complete && i.naturalWidth]),
                            url: location.href })""")
                    except Exception:  # a frame navigating away while we read it: the next round
                        continue
                    if found.get("images") and all(w for _, w in found["images"]) and len(found["text"]) > 200:
                        break
                else:
                    await page.wait_for_timeout(500)
                    continue
                break
            await page.screenshot(path=str(screenshot), full_page=False)
            found["requests"] = requests
            found["frames"] = [f.url for f in page.frames]
            return found
        finally:
            await browser.close()


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_an_archived_article_renders_from_the_archive_alone(
        stopped_web_crawl: tuple[CrawlResult, str], tmp_path: Path) -> None:
    if not (ROOT / ".replayweb" / "ui.js").is_file():
        pytest.fail("ReplayWeb.page is not installed: `make replayweb` (make test does it)")
    crawl, web_address = stopped_web_crawl
    article = rendered_article(crawl)
    stamp = article["fetched_at"].replace("-", "").replace(":", "").replace("T", "").rstrip("Z")
    item = next(i for i in crawl.items if i["url"] == article["final_url"])
    with ReplayProcess(f"file://{crawl.store.root}", tmp_path) as server:
        shot = tmp_path / "replay-browse.png"
        page_url = f"{server.browse_url}/browse/{stamp}/{article['final_url']}"
        status, _, headers, _ = get(page_url)
        seen = await on_asyncio(look(page_url, urlsplit(web_address).netloc, shot, launch()))
    # The browse origin may run ReplayWeb.page and nothing from elsewhere (archive/replaypages.py).
    csp = dict(headers)["Content-Security-Policy"]
    assert status == 200 and csp.startswith("default-src 'self'") and "connect-src 'self'" in csp, csp
    shutil.copyfile(shot, SCREENSHOT_COPY)
    assert item["title"].split(" - ")[0] in seen.get("text", ""), seen.get("frames")
    assert item["text"].split("\n")[0][:80] in seen["text"]
    assert seen["images"] and all(width == 320 for _, width in seen["images"]), seen["images"]  # the archived PNG
    live = [u for u in seen["requests"] if urlsplit(u).netloc == urlsplit(web_address).netloc]
    assert not live, live
    assert all(urlsplit(u).netloc == urlsplit(server.browse_url).netloc or u.startswith(("blob:", "data:"))
               for u in seen["requests"]), seen["requests"]
