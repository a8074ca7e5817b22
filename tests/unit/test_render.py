"""Finding Chromium, the `auto` decision's parts, and records of decoded browser bodies."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import html

from archive.warc import Exchange, response_head
from crawler import browser
from crawler.analysis import load_more_control
from crawler.browser import Browser, BrowserNotFoundError, find_browser, launch_options
from crawler.config import RenderConfig
from crawler.render import ContextPool
from crawler.siteconfig import SiteConfig


def config(path: str = "") -> RenderConfig:
    return RenderConfig.model_validate({
        "RENDER_ENABLED": True, "RENDER_BROWSER_PATH": path, "RENDER_MAX_PAGES": 2, "RENDER_CONTEXT_PAGES": 5,
        "RENDER_TIMEOUT": 5, "RENDER_SUBRESOURCE_MAX_BYTES": 1000, "RENDER_SCREENSHOT": True})


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No system Chromium on PATH or at the usual paths, an empty Playwright cache."""
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "ms-playwright"))
    monkeypatch.setattr(browser, "SYSTEM_PATHS", (str(tmp_path / "usr-bin-chromium"),))
    return tmp_path


def playwright_revision() -> str:
    import playwright  # noqa: PLC0415

    manifest = Path(playwright.__file__).parent / "driver" / "package" / "browsers.json"
    return str(next(b["revision"] for b in json.loads(manifest.read_text())["browsers"] if b["name"] == "chromium"))


def test_a_configured_browser_comes_first_and_must_exist(nowhere: Path) -> None:
    chrome = executable(nowhere / "opt" / "chrome")
    assert find_browser(config(str(chrome))) == Browser(chrome, "configured")
    assert find_browser(config(), {"executable_path": str(chrome)}) == Browser(chrome, "configured")
    with pytest.raises(BrowserNotFoundError, match=r"RENDER_BROWSER_PATH: .*missing is not an executable"):
        find_browser(config(str(nowhere / "missing")))


def test_playwright_s_own_browser_before_the_system_s(nowhere: Path) -> None:
    system = executable(nowhere / "bin" / "chromium")
    assert find_browser(config()) == Browser(system, "system")
    own = executable(nowhere / "ms-playwright" / f"chromium-{playwright_revision()}" / "chrome-linux64" / "chrome")
    assert find_browser(config()) == Browser(own, "playwright")


def test_no_browser_names_all_three_places(nowhere: Path) -> None:
    with pytest.raises(BrowserNotFoundError) as caught:
        find_browser(config())
    message = str(caught.value)
    assert "RENDER_BROWSER_PATH is not set" in message
    assert "playwright install chromium" in message and str(nowhere / "ms-playwright") in message
    assert "apt-get install chromium" in message


def test_launch_options_sandbox_only_off_for_root() -> None:
    system = launch_options(Browser(Path("/usr/bin/chromium"), "system"), {"args": ["--lang=en"]})
    assert system["executable_path"] == "/usr/bin/chromium" and system["headless"] is True
    assert system["chromium_sandbox"] is (os.geteuid() != 0)
    assert "--disable-background-networking" in system["args"] and "--lang=en" in system["args"]
    own = launch_options(Browser(Path("/cache/chrome"), "playwright"), {"headless": False})
    assert "executable_path" not in own and own["headless"] is False  # the user's options win


@pytest.mark.parametrize(("markup", "expected"), [
    ('<button id="more">Load more</button>', '[id="more"]'),
    ("<main><a>Show more stories</a></main>", "xpath=/html/body/main/a"),
    ('<div role="button">加载更多</div>', "xpath=/html/body/div"),
    ('<a href="/world/page/2/">More stories</a>', None),  # a real link: pagination, not a script control
    ("<button>Subscribe</button>", None),
])
def test_load_more_controls_are_found_by_their_words(markup: str, expected: str | None) -> None:
    assert load_more_control(html.fromstring(f"<html><body>{markup}</body></html>")) == expected


def test_render_rules_match_in_order_and_inherit_the_site_mode() -> None:
    site = SiteConfig(name="s", base_url="http://example.com/", render="auto", render_rules=[
        {"pattern": "/live/$", "click": "#more"}, {"pattern": "/video/", "mode": "never"},
        {"pattern": "/app/", "mode": "always"}])
    mode, rule = site.render_plan("http://example.com/live/")
    assert mode == "auto" and rule is not None and rule.click == "#more"
    assert site.render_plan("http://example.com/video/1")[0] == "never"
    assert site.render_plan("http://example.com/world/")[0] == "auto"
    assert site.must_render and site.may_render
    assert not SiteConfig(name="t", base_url="http://example.com/", render="never").may_render


def test_contexts_retire_after_their_pages_and_close_when_idle() -> None:
    pool = ContextPool(pages_per_context=2)
    first = [pool.take(), pool.take()]
    assert first == ["render-0", "render-0"]
    assert pool.take() == "render-1"
    assert pool.give_back("render-0") is False  # one page of the retired context still open
    assert pool.give_back("render-0") is True
    assert pool.give_back("render-1") is False  # the current context stays open


def test_a_decoded_body_does_not_claim_its_encoding() -> None:
    exchange = Exchange("http://example.com/", "GET", "/", [], b"", "HTTP/1.1", 200,
                        [("Content-Type", "text/html"), ("Content-Encoding", "gzip"), ("Content-Length", "31"),
                         ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")],
                        b"<html>decoded</html>", datetime.now(UTC), decoded=True)
    head = response_head(exchange).decode()
    assert "\r\nX-Archive-Orig-Content-Encoding: gzip\r\n" in head
    assert "\r\nX-Archive-Orig-Content-Length: 31\r\n" in head
    assert "\r\nContent-Encoding" not in head and head.count("Set-Cookie") == 2
    exchange.response_headers[2] = ("Content-Length", str(len(exchange.body)))
    assert "\r\nContent-Length: 20\r\n" in response_head(exchange).decode()  # still true: kept as is


def test_a_page_queued_for_the_browser_carries_its_static_body_on_disk_not_in_memory(tmp_path: Path) -> None:
    """The request waiting for Chromium holds a small description (picklable, as a Redis frontier needs);
    the body is read back only if the browser fails, and its file goes with it."""
    import pickle  # noqa: PLC0415

    from scrapy import Request  # noqa: PLC0415
    from scrapy.http import HtmlResponse  # noqa: PLC0415

    from crawler.render import STATIC  # noqa: PLC0415
    from crawler.staticpage import StaticPage  # noqa: PLC0415

    body = b"<html><body>" + b"<p>static</p>" * 10_000 + b"</body></html>"
    response = HtmlResponse("http://example.test/a", status=200, body=body,
                            headers={"Content-Type": "text/html", "Set-Cookie": ["a=1", "b=2"]}, flags=["cached"])
    static = StaticPage.spill(response, tmp_path / "spool")
    request = Request("http://example.test/a", meta={STATIC: static})
    assert len(pickle.dumps(request.meta)) < 2000  # the 130 kB body is not in the request
    again = pickle.loads(pickle.dumps(static)).restore(request)
    assert again is not None and isinstance(again, HtmlResponse)
    assert again.body == body and again.status == 200 and again.flags == ["cached"]
    assert again.headers.getlist("Set-Cookie") == [b"a=1", b"b=2"]
    assert not Path(static.path).exists() and static.restore(request) is None  # read once, then gone
