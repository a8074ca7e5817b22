"""The audit report opened in real Chromium: it renders, and it asks for nothing but its own file.

The page is loaded with its Content-Security-Policy bypassed, so that a stray external reference in the
template would really be requested (and recorded by the route) instead of being silently refused by the CSP.
The screenshot goes to tmp_path and /tmp/audit-report.png, for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from scrapy.settings import Settings

from archive.auditmodel import STATES, AuditReport, AuditRow, CaptureRef, CrawlPoint, TextPair
from archive.report import write_report
from crawler.browser import BrowserNotFoundError, find_browser, launch_options
from crawler.config import render_config
from tests.asyncio_helpers import on_asyncio

SCREENSHOT_COPY = Path("/tmp/audit-report.png")
HOSTILE_TITLE = "<script>window.__pwned = 1</script>Storm <b>warning</b> & \"quotes\""
BEFORE = ("The council voted on Tuesday to close the old harbour bridge for repairs, which are expected to take "
          "six months.\n\nTraffic will be diverted through the ring road. Local shops fear a drop in trade during "
          "the works, and the chamber of commerce asked for compensation.\n\nThe mayor said the decision was "
          "not taken lightly.")
AFTER = ("The council voted on Tuesday to close the old harbour bridge for urgent repairs, which are now expected "
         "to take nine months.\n\nTraffic will be diverted through the ring road. Local shops fear a drop in trade "
         "during the works, and the chamber of commerce asked for compensation.\n\nThe mayor apologised for the "
         "delay.")


def cap(crawl: str, at: str, status: int | None, verdict: str | None, *reasons: str, final: str | None = None,
        offset: int = 0) -> CaptureRef:
    return CaptureRef(crawl_id=crawl, fetched_at=at, status=status, verdict=verdict, reasons=reasons,
                      final_url=final, kind="article",
                      warc={"filename": f"PAL-20261101000000000-{offset % 7:05d}-host.warc.gz", "offset": offset,
                            "length": 1200, "record_id": f"<urn:uuid:00000000-0000-4000-8000-{offset:012d}>"})


def row(url: str, site: str, section: str | None, state: str, **kw: Any) -> AuditRow:
    first = cap(f"{site}-20261101T060000Z", "2026-11-01T06:02:11Z", 200, "ok", "article-evidence", offset=len(url))
    last = kw.pop("last", cap(f"{site}-20261115T060000Z", "2026-11-15T06:03:40Z", 200, "ok", offset=len(url) * 3))
    timeline = kw.pop("timeline", [first, last])
    return AuditRow(url=url, site=site, state=state, first_capture=first, last_capture=last, section=section,
                    timeline=timeline, **kw)


def sample_report() -> AuditReport:
    """Two sites, several sections, every state, a hostile title, a changed story with both texts, a moved
    pair, four crawls of which one is a recheck, one unreadable crawl."""
    a, b = "https://news.example/", "https://daily.example/"
    gone = cap("news-20261115T060000Z", "2026-11-15T06:03:40Z", 404, "not-found", "status-404", offset=9)
    again = cap("news-20261116T060000Z", "2026-11-16T06:00:30Z", 404, "not-found", "status-404", offset=3)
    rows = [
        row(a + "world/2026/11/01/bridge", "news", "world", "changed", title="Harbour bridge to close",
            similarity=0.91, changed_fields=["title", "text"]),
        row(a + "world/2026/11/02/ferry", "news", "world", "changed", title="Ferry strike", similarity=0.82,
            changed_fields=["text"], diff=["@@ -1 +1 @@", "-The strike ends Friday.", "+The strike ends Monday."]),
        row(a + "world/2026/11/02/gone", "news", "world", "deleted", title="Minister resigns", confirmed=True,
            last=again, evidence=["status-404", "confirmed-by-recheck"],
            timeline=[cap("news-20261101T060000Z", "2026-11-01T06:02:11Z", 200, "ok", offset=1),
                      cap("news-20261108T060000Z", "2026-11-08T06:01:00Z", 200, "ok", offset=2), gone, again]),
        row(a + "politics/old-path/budget", "news", "politics", "moved", title="Budget talks stall",
            new_url=a + "politics/2026/11/budget-talks", similarity=0.97,
            evidence=["redirect-301", "same-simhash"]),
        row(a + "politics/shell", "news", "politics", "soft-deleted", title="Election night live",
            last=cap("news-20261115T060000Z", "2026-11-15T06:04:00Z", 200, "soft-404", "redirect-to-home",
                     final=a, offset=11), evidence=["redirect-to-home"]),
        row(a + "sport/paywalled", "news", "sport", "blocked", title="Cup final ratings",
            last=cap("news-20261115T060000Z", "2026-11-15T06:05:00Z", 403, "blocked", "status-403", offset=12)),
        row(a + "sport/timeout", "news", "sport", "unreachable", title="Match report",
            last=cap("news-20261115T060000Z", "2026-11-15T06:06:00Z", None, "error", "timeout", offset=13)),
        row(a + "sport/new-story", "news", "sport", "new", title="Transfer window opens"),
        row(a + "culture/<img src=x onerror=alert(1)>", "news", "culture", "changed", title=HOSTILE_TITLE,
            similarity=0.5, changed_fields=["title"]),
        row("javascript:alert(1)", "news", None, "new", title="A URL that must not become a link"),
        row(b + "local/fair", "daily", "local", "deleted", title="County fair cancelled",
            last=cap("daily-20261115T060000Z", "2026-11-15T07:00:00Z", 410, "not-found", "status-410", offset=14)),
        row(b + "local/weather", "daily", "local", "new", title="Cold snap"),
    ]
    rows += [row(f"{a}world/2026/10/{i:02d}/story", "news", "world", "unchanged", title=f"Story {i}")
             for i in range(1, 30)]
    rows += [row(f"{b}local/2026/10/{i:02d}/story", "daily", "local", "unchanged", title=f"Item {i}")
             for i in range(1, 12)]
    series = [
        CrawlPoint("news-20261101T060000Z", "2026-11-01T06:00:00+00:00", "news", True,
                   {"unchanged": 42, "new": 11}),
        CrawlPoint("news-20261108T060000Z", "2026-11-08T06:00:00+00:00", "news", True,
                   {"unchanged": 40, "changed": 2, "new": 1, "moved": 1}),
        CrawlPoint("news-20261115T060000Z", "2026-11-15T06:00:00+00:00", "news", True,
                   {"unchanged": 40, "changed": 3, "deleted": 2, "soft-deleted": 1, "blocked": 1, "unreachable": 1,
                    "moved": 1, "new": 3}),
        CrawlPoint("news-20261116T060000Z", "2026-11-16T06:00:00+00:00", "recheck", True,
                   {"unchanged": 40, "changed": 3, "deleted": 2, "soft-deleted": 1, "blocked": 1, "moved": 1,
                    "new": 3}),
    ]
    texts = {
        a + "world/2026/11/01/bridge": TextPair("Harbour bridge to close", BEFORE,
                                                "Harbour bridge to close for nine months", AFTER),
        a + "politics/old-path/budget": TextPair(
            "Budget talks stall", "Negotiators failed to agree on the budget late on Monday. " * 20,
            "Budget talks stall as deadline nears", "Negotiators failed to agree on the budget late on Monday. " * 20),
    }
    return AuditReport(sites=["news", "daily"], window_from="2026-11-01T00:00:00Z", window_to="2026-11-16T23:59:59Z",
                       generated_at="2026-11-17T08:00:00Z", store_uri="file:///srv/palimpsest/store", rows=rows,
                       series=series, texts=texts,
                       unreadable=["news-20261110T060000Z: crawl.json missing (crawl interrupted?)"])


def launch() -> dict[str, Any]:
    """Chromium as the crawler finds it (RENDER_BROWSER_PATH, Playwright's cache, the system's): the report
    test needs a real browser, so a missing one fails with where we looked."""
    settings = Settings()
    settings.setmodule("settings.base", priority="project")
    if os.environ.get("RENDER_BROWSER_PATH"):
        settings.set("RENDER_BROWSER_PATH", os.environ["RENDER_BROWSER_PATH"], priority="cmdline")
    try:
        found = find_browser(render_config(settings))
    except BrowserNotFoundError as exc:
        pytest.fail(f"the report test needs a real Chromium: {exc}")
    return launch_options(found, {})


async def look(path: Path, screenshot: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Open the report as a reader would, record every request, and read back what the page shows."""
    from playwright.async_api import Route, async_playwright  # noqa: PLC0415  (the browser only here)

    requests: list[str] = []
    own = path.as_uri()

    async def route(r: Route) -> None:
        if r.request.url == own:
            await r.continue_()
        else:
            requests.append(r.request.url)
            await r.abort()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(**options)
        try:
            context = await browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900},
                                                java_script_enabled=True)
            page = await context.new_page()
            page.on("request", lambda req: None if req.url == own else requests.append(req.url))
            await page.route("**/*", route)
            await page.goto(own, wait_until="load")
            await page.click("#urls tbody:has(.confirmed) tr.tl summary")  # one timeline open in the screenshot
            seen: dict[str, Any] = await page.evaluate("""() => {
                const q = (s) => Array.from(document.querySelectorAll(s));
                const text = (s) => q(s).map((e) => e.textContent.trim());
                const confirmed = "#urls tbody:has(.confirmed)";
                return {
                  pwned: window.__pwned === 1,
                  states_head: text("#counts table.counts:not(.sections) thead th"),
                  sites: text("#counts table.counts:not(.sections) tbody td.site"),
                  section_rows: q("#counts table.sections tbody tr").length,
                  chart_states: q("#chart svg g[data-state]").map((g) => g.dataset.state),
                  polylines: q("#chart svg polyline").length,
                  recheck_marks: q("#chart svg polygon.mark.recheck").length,
                  marks: q("#chart svg .mark").length,
                  recheck_labels: text("#chart svg text.recheck"),
                  url_rows: q("#urls table.urls > tbody").map((b) => b.dataset.state),
                  dels: text("#changes del"),
                  inss: text("#changes ins"),
                  unified: q("#changes pre.unified span").length,
                  unreadable: text("#unreadable li"),
                  hostile_titles: text("#urls td.story .title").filter((t) => t.includes("<script>")),
                  js_links: q("a[href^='javascript:']").length,
                  moved_new: text("#moved .pair .new .url"),
                  timeline_rows: q(`${confirmed} table.captures tbody tr`).length,
                  timeline_visible: document.querySelector(`${confirmed} table.captures`).offsetHeight > 0,
                  badge_colour: getComputedStyle(document.querySelector("#urls .badge.s-deleted")).color,
                  line_colour: getComputedStyle(document.querySelector("#chart g.s-deleted polyline")).stroke,
                  width: document.documentElement.scrollWidth,
                };
            }""")
            await page.screenshot(path=str(screenshot), full_page=True)
            # And as a reader opens it, with its CSP on: the policy must not break the page's own styles.
            strict = await browser.new_page()
            errors: list[str] = []
            strict.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            strict.on("request", lambda req: None if req.url == own else requests.append(req.url))
            await strict.goto(own, wait_until="load")
            seen["csp_errors"] = errors
            seen["csp_badge_colour"] = await strict.evaluate(
                "() => getComputedStyle(document.querySelector('#urls .badge.s-deleted')).color")
        finally:
            await browser.close()
    seen["requests"] = requests
    return seen


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_the_report_renders_in_chromium_and_loads_nothing(tmp_path: Path) -> None:
    report = sample_report()
    path = tmp_path / "report.html"
    write_report(report, path)
    screenshot = tmp_path / "report.png"

    seen = await on_asyncio(look(path, screenshot, launch()))

    assert seen["requests"] == []
    assert seen["states_head"] == ["Site", *STATES, "total"]
    assert seen["sites"] == ["news", "daily"]
    assert seen["section_rows"] == len(report.counts_by_section()) == 6
    present = [s for s in STATES if any(p.states.get(s) for p in report.series)]
    assert seen["chart_states"] == present and seen["polylines"] == len(present)
    assert seen["recheck_marks"] == len(present) and seen["marks"] == 4 * len(present)
    assert seen["recheck_labels"] == ["recheck"]
    notable = sorted((r.state for r in report.rows if r.state != "unchanged"), key=STATES.index)
    assert seen["url_rows"] == notable
    assert {"urgent", "now", "nine"} <= set(seen["inss"]) and "six" in seen["dels"]
    assert seen["unified"] == 3  # the changed row without texts falls back to its unified diff
    assert seen["unreadable"] == report.unreadable
    assert not seen["pwned"] and seen["hostile_titles"] == [HOSTILE_TITLE]
    assert seen["js_links"] == 0
    assert seen["moved_new"] == ["https://news.example/politics/2026/11/budget-talks"]
    assert seen["timeline_rows"] == 4 and seen["timeline_visible"]
    assert seen["badge_colour"] == seen["line_colour"] == "rgb(180, 35, 24)"  # one colour per state
    assert seen["width"] <= 1280  # nothing overflows the page sideways
    assert seen["csp_errors"] == [] and seen["csp_badge_colour"] == seen["badge_colour"]

    assert screenshot.stat().st_size > 10_000
    shutil.copyfile(screenshot, SCREENSHOT_COPY)
