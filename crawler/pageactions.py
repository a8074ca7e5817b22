"""What is done on a page in the browser before its DOM is taken: wait, click "load more", scroll, screenshot.

Run as one scrapy-playwright PageMethod, so it happens between the navigation and scrapy-playwright's own
`page.content()` and `page.close()`. Every step has a timeout; a step that times out is counted and the page
is archived as far as it got, never dropped. Waiting is for the page's network to go quiet (requests in
flight tracked by the recorder), not for fixed delays.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from crawler.config import RenderConfig
from crawler.recorder import PageRecorder
from crawler.siteconfig import RenderRule

logger = logging.getLogger(__name__)

QUIET_SECONDS = 0.15  # no request in flight for this long: what a click or scroll loaded has arrived
POLL_SECONDS = 0.025
MAX_SCREENSHOT_HEIGHT = 16384  # Chromium's texture limit; taller pages are cut there
NEXT_FRAME = "() => new Promise(done => requestAnimationFrame(() => setTimeout(done, 0)))"


@dataclass(frozen=True)
class PageActions:
    wait_for: str | None = None
    click: str | None = None
    max_clicks: int = 0
    scroll: int = 0
    timeout: float = 30.0
    screenshot: bool = True

    @classmethod
    def from_rule(cls, rule: RenderRule | None, detected_click: str | None, config: RenderConfig) -> PageActions:
        """The rule's actions; a 'load more' control found by `auto` is clicked when the rule names none."""
        click = (rule.click if rule else None) or detected_click
        return cls(
            wait_for=rule.wait_for if rule else None,
            click=click,
            max_clicks=(rule.max_clicks if rule else 20) if click else 0,
            scroll=rule.scroll if rule else 0,
            timeout=config.timeout,
            screenshot=config.screenshot,
        )


async def quiet(page: Page, recorder: PageRecorder, timeout: float, dwell: float = QUIET_SECONDS) -> bool:
    """Until no request has been in flight for `dwell` seconds; False if `timeout` ran out first."""
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        if recorder.in_flight:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= dwell:
            return True
        await asyncio.sleep(POLL_SECONDS)
    return False


async def run_actions(page: Page, actions: PageActions, recorder: PageRecorder) -> None:
    """The page actions, then the archive's needs: bodies settled, screenshot taken."""
    timeout_ms = actions.timeout * 1000
    try:
        if actions.wait_for:
            await page.wait_for_selector(actions.wait_for, timeout=timeout_ms)
        if actions.click:
            await _click_all(page, actions, recorder)
        for _ in range(actions.scroll):
            height = await page.evaluate("document.body.scrollHeight")
            await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            await quiet(page, recorder, actions.timeout)
            if await page.evaluate("document.body.scrollHeight") == height:
                break
    except PlaywrightError as exc:  # a selector never appeared, a click timed out: keep what we have
        recorder.count(f"render/actions/failed/{type(exc).__name__}")
        logger.info("page action on %s stopped: %s", page.url, str(exc).splitlines()[0])
    # After actions, what they triggered may start a moment later: dwell. A page loaded and left alone has
    # started everything its load handlers start by now: waiting for those to finish is enough.
    acted = bool(actions.wait_for or actions.click or actions.scroll)
    if not await quiet(page, recorder, actions.timeout, QUIET_SECONDS if acted else 0.0) or \
            not await _painted(page, recorder, actions.timeout):
        recorder.count("render/network_never_quiet")
    await recorder.settle()
    if actions.screenshot:
        await _screenshot(page, recorder, timeout_ms)


async def _painted(page: Page, recorder: PageRecorder, timeout: float) -> bool:
    """The network went quiet, but what it brought may not be in the page yet: a script that fetched JSON
    builds the DOM a task later, and the images that DOM names start loading then. Let the page run a
    frame, and wait again while that started anything, so the DOM and the screenshot show the built page."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            await page.evaluate(NEXT_FRAME)
        except PlaywrightError:
            return False
        if not recorder.in_flight:
            return True
        await quiet(page, recorder, deadline - time.monotonic(), 0.0)
    return False


async def _click_all(page: Page, actions: PageActions, recorder: PageRecorder) -> None:
    assert actions.click is not None
    for _ in range(actions.max_clicks):
        control = page.locator(actions.click).first
        if not await control.is_visible():  # False when nothing matches too: one round trip, not two
            return  # gone: everything is loaded
        await control.click(timeout=actions.timeout * 1000)
        recorder.clicks += 1
        await quiet(page, recorder, actions.timeout)


async def _screenshot(page: Page, recorder: PageRecorder, timeout_ms: float) -> None:
    """Full page, through CDP with Chromium's fast PNG encoder (half the time of Playwright's full-page
    screenshot, for files about a third larger). A page no taller than the window is captured as it is
    shown (another 40% faster); a taller one beyond the window, cut at MAX_SCREENSHOT_HEIGHT."""
    try:
        cdp = await page.context.new_cdp_session(page)
        try:
            metrics = await cdp.send("Page.getLayoutMetrics")
            size, window = metrics["cssContentSize"], metrics["cssLayoutViewport"]
            params: dict[str, Any] = {"format": "png", "optimizeForSpeed": True}
            if size["height"] > window["clientHeight"] or size["width"] > window["clientWidth"]:
                if size["height"] > MAX_SCREENSHOT_HEIGHT:
                    recorder.count("render/screenshot/cut")
                height = min(size["height"], MAX_SCREENSHOT_HEIGHT)
                params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": max(size["width"], 1),
                                                                "height": max(height, 1), "scale": 1})
            shot = await asyncio.wait_for(cdp.send("Page.captureScreenshot", params), timeout=timeout_ms / 1000)
        finally:
            await cdp.detach()
        recorder.screenshot = base64.b64decode(shot["data"])
    except (PlaywrightError, TimeoutError, KeyError) as exc:
        recorder.count("render/screenshot/failed")
        logger.info("no screenshot of %s: %s", page.url, str(exc).splitlines()[0] if str(exc) else type(exc))
