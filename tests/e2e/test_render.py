"""Rendering through real Chromium (scrapy-playwright) on the sample web, and what it leaves in the archive.

The demo crawl (tests/conftest.py) runs with render = "auto": the live section's "Load more" listing and the
app-shell pages go through the browser, nothing else does.
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.render import DOM_URI
from tests.crawling import CrawlResult, path_of, run_crawl, scrapy, write_site
from tests.e2e.test_warc import assert_warcio_check_passes, warcs
from tests.fixtureweb.process import FixtureWeb

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def rendered(result: CrawlResult) -> dict[str, dict[str, Any]]:
    return {path_of(e["url"]): e for e in result.log if (e["render"] or {}).get("rendered")}


def read_records(result: CrawlResult) -> list[tuple[Any, bytes]]:
    """(record, payload as stored, before any decoding) for every record of the crawl's WARCs."""
    out = []
    for path in warcs(result):
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                raw = record.raw_stream.read()
                out.append((record, raw))
    return out


def assert_valid_png(data: bytes) -> tuple[int, int]:
    """Signature, IHDR and every chunk's CRC, up to IEND: a PNG any viewer opens."""
    assert data[:8] == PNG_SIGNATURE
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append(kind)
        pos += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND" and b"IDAT" in chunks
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_every_article_behind_load_more_is_found_and_stored(demo_crawl: CrawlResult) -> None:
    js_only = {a["path"] for a in demo_crawl.web["articles"] if a["routes"] == ["js"]}
    assert len(js_only) == 24
    log = {path_of(e["url"]): e for e in demo_crawl.log}
    assert all(log[p]["verdict"] == "ok" for p in js_only)
    stored = {path_of(i["url"]) for i in demo_crawl.items}
    assert js_only <= stored
    live = log["/live/"]
    assert live["render"]["reason"] == "load-more" and live["render"]["clicks"] == 4


def test_only_pages_that_need_a_browser_are_rendered(demo_crawl: CrawlResult) -> None:
    apps = {a["path"] for a in demo_crawl.web["articles"] if a["template"] == "app"}
    app_dead = {d["path"] for d in demo_crawl.web["dead"] if d["how"] == "app-missing"}
    pages = rendered(demo_crawl)
    assert set(pages) == {"/live/"} | apps | app_dead
    assert {p: e["render"]["reason"] for p, e in pages.items() if p != "/live/"} == dict.fromkeys(
        apps | app_dead, "shell")
    assert all(e["render"]["mode"] == "auto" for e in pages.values())
    static_sections = [e for e in demo_crawl.log if e["kind"] == "section" and path_of(e["url"]) != "/live/"]
    assert len(static_sections) > 20 and all(e["render"] is None for e in static_sections)


def test_app_shells_are_classified_on_their_rendered_dom(demo_crawl: CrawlResult) -> None:
    pages = rendered(demo_crawl)
    web = {a["path"]: a for a in demo_crawl.web["articles"]}
    items = {path_of(i["url"]): i for i in demo_crawl.items}
    for dead in (d for d in demo_crawl.web["dead"] if d["how"] == "app-missing"):
        entry = pages[dead["path"]]
        assert (entry["verdict"], entry["reasons"]) == ("soft-404", ["error-title"])
        assert dead["path"] not in items
    for path in (p for p, a in web.items() if a["template"] == "app"):
        entry, item = pages[path], items[path]
        assert entry["verdict"] == "ok" and "article-evidence" in entry["reasons"]
        assert item["text"] == web[path]["text"] and item["title"] == web[path]["title"]
        assert item["warc"] == entry["render"]["conversion"]  # the text came from the rendered DOM


def test_what_the_browser_saw_is_in_the_warc(demo_crawl: CrawlResult) -> None:
    live = rendered(demo_crawl)["/live/"]
    by_id = {r.rec_headers.get_header("WARC-Record-ID"): (r, raw) for r, raw in read_records(demo_crawl)}
    page, _ = by_id[live["warc"]["record_id"]]
    assert page.rec_type == "response" and path_of(page.rec_headers.get_header("WARC-Target-URI")) == "/live/"

    conversion, dom = by_id[live["render"]["conversion"]["record_id"]]
    assert conversion.rec_type == "conversion"
    assert conversion.rec_headers.get_header("WARC-Refers-To") == live["warc"]["record_id"]
    js_only = [a["path"] for a in demo_crawl.web["articles"] if a["routes"] == ["js"]]
    assert all(f'href="{p}"'.encode() in dom for p in js_only)

    shot, png = by_id[live["render"]["screenshot"]["record_id"]]
    assert shot.rec_type == "resource" and shot.rec_headers.get_header("Content-Type") == "image/png"
    assert shot.rec_headers.get_header("WARC-Target-URI") == "urn:screenshot:" + live["url"]
    width, height = assert_valid_png(png)
    assert width > 0 and height > 600  # full page, not the viewport: the list is long after four clicks

    xhr = {path_of(r.rec_headers.get_header("WARC-Target-URI")): body for r, body in read_records(demo_crawl)
           if r.rec_type == "response" and "/api/live.json" in r.rec_headers.get_header("WARC-Target-URI")}
    # Chromium connects through the guard proxy (crawler/browserguard.py); the record names the server.
    assert page.rec_headers.get_header("WARC-IP-Address") == "127.0.0.1"
    assert set(xhr) == {f"/api/live.json?offset={n}" for n in (6, 12, 18, 24)}
    for body in xhr.values():
        assert len(json.loads(body)["stories"]) == 6


def test_no_record_claims_an_encoding_its_body_does_not_have(demo_crawl: CrawlResult) -> None:
    """The browser hands bodies over decoded: their Content-Encoding is kept only under X-Archive-Orig-."""
    renamed = 0
    for record, raw in read_records(demo_crawl):
        if record.rec_type != "response" or record.http_headers is None:
            continue
        encoding = (record.http_headers.get_header("Content-Encoding") or "").lower()
        if encoding == "gzip":
            assert raw[:2] == b"\x1f\x8b", record.rec_headers.get_header("WARC-Target-URI")
            gzip.decompress(raw)
        renamed += bool(record.http_headers.get_header("X-Archive-Orig-Content-Encoding"))
    assert renamed >= 4  # the sample web gzips HTML for the browser too: each rendered page's own response


def test_rendered_records_are_indexed_and_deduplicated(demo_crawl: CrawlResult) -> None:
    lines = [json.loads(line.split(" ", 2)[2]) for path in (demo_crawl.crawl_dir / "cdxj").glob("*.cdxj")
             for line in path.read_text().splitlines()]
    shots = [f for f in lines if f["url"].startswith("urn:screenshot:")]
    assert len(shots) == 4 and all(f["mime"] in ("image/png", "warc/revisit") for f in shots)
    live = rendered(demo_crawl)["/live/"]
    conversion = live["render"]["conversion"]
    assert any(f["offset"] == str(conversion["offset"]) and f["url"] == DOM_URI + live["url"] for f in lines)
    app_js = sorted(f["mime"] for f in lines if f["url"].endswith("/static/app.js"))
    assert app_js == ["application/javascript", "warc/revisit", "warc/revisit"]  # three app shells, one copy
    for path in warcs(demo_crawl):
        assert_warcio_check_passes(path)


def test_without_a_browser_the_pages_that_need_one_are_named(web: FixtureWeb, tmp_path: Path) -> None:
    result = run_crawl(web, tmp_path / "store", settings={"RENDER_ENABLED": "False"})
    assert result.returncode == 0, result.stderr[-2000:]
    js_only = {a["path"] for a in result.web["articles"] if a["routes"] == ["js"]}
    assert js_only & {path_of(e["url"]) for e in result.log} == set()
    skipped = {path_of(e["url"]): e for e in result.log if e["render"]}
    assert skipped["/live/"]["render"] == {"mode": "auto", "reason": "load-more", "rendered": False}
    assert all("render-unavailable" in e["reasons"] for e in skipped.values())
    assert len(skipped) == 4
    assert {path_of(i["url"]) for i in result.items} & set(skipped) == set()  # no item from a bare shell
    assert result.manifest["stats"]["extract/unrendered_shell"] == 3  # two app articles, one dead app
    assert "playwright/browser_count" not in result.manifest["stats"]


def test_render_modes_and_page_actions_from_the_site_config(web: FixtureWeb, tmp_path: Path) -> None:
    """`never` keeps the live section static; a rule with `always` renders its pages with the rule's actions;
    contexts are retired after RENDER_CONTEXT_PAGES pages."""
    settings = write_site(tmp_path, "modes", (
        'base_url = "http://127.0.0.1:1/"\nmax_pages_per_section = 1\nsitemap_from_robots = false\n'
        'render = "never"\n'
        '[[sections]]\nname = "tech"\nurl = "/tech/"\n[[sections]]\nname = "live"\nurl = "/live/"\n'
        '[[render_rules]]\npattern = "/tech/article/\\\\d+$"\nmode = "always"\nscroll = 2\n'
        'wait_for = "#app .article-body, main article"\n'))
    settings.update(RENDER_CONTEXT_PAGES="3", RENDER_SCREENSHOT="False", RENDER_TIMEOUT="5")
    result = run_crawl(web, tmp_path / "store", site="modes", settings=settings)
    assert result.returncode == 0, result.stderr[-2000:]
    by_path = {path_of(e["url"]): e for e in result.log}
    assert by_path["/live/"]["render"] is None  # never: not even the "load more" control sends it
    articles = [e for p, e in by_path.items() if p.startswith("/tech/article/") and e["kind"] != "probe"]
    assert len(articles) >= 9
    assert all(e["render"]["mode"] == "always" and e["render"]["reason"] == "rule" for e in articles)
    assert all("screenshot" not in e["render"] for e in articles)
    assert by_path["/tech/"]["render"] is None
    assert result.manifest["stats"]["render/contexts_closed"] >= 2
    assert result.manifest["stats"]["playwright/page_count/closed"] == len(articles)


def test_auto_clicks_a_load_more_control_it_found_itself(web: FixtureWeb, tmp_path: Path) -> None:
    """No rule for the live section: `auto` finds the "Load more" button by its words and clicks it."""
    settings = write_site(tmp_path, "bare", (
        'base_url = "http://127.0.0.1:1/"\nsitemap_from_robots = false\n'
        '[[sections]]\nname = "live"\nurl = "/live/"\n'))
    result = run_crawl(web, tmp_path / "store", site="bare", settings=settings)
    assert result.returncode == 0, result.stderr[-2000:]
    live = next(e for e in result.log if path_of(e["url"]) == "/live/")
    assert live["render"]["reason"] == "load-more" and live["render"]["clicks"] == 4
    live_articles = {a["path"] for a in result.web["articles"] if a["section"] == "live"}
    assert live_articles <= {path_of(i["url"]) for i in result.items}


@pytest.fixture(scope="module")
def lab_crawl(web: FixtureWeb, tmp_path_factory: pytest.TempPathFactory) -> CrawlResult:
    """The sample web's /lab/: a page whose script never ends, and a single-page app answering every URL
    under /lab/app/ with the same 200 shell."""
    tmp_path = tmp_path_factory.mktemp("lab")
    settings = write_site(tmp_path, "lab", (
        'base_url = "http://127.0.0.1:1/"\nsitemap_from_robots = false\n'
        '[[sections]]\nname = "lab"\nurl = "/lab/"\n'))
    settings.update(RENDER_TIMEOUT="3")
    result = run_crawl(web, tmp_path / "store", site="lab", settings=settings)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_a_page_that_hangs_the_browser_is_archived_and_counted(lab_crawl: CrawlResult) -> None:
    entry = next(e for e in lab_crawl.log if e["url"].endswith("spinning-app-1.html"))
    assert entry["render"]["rendered"] is False and "Timeout" in entry["render"]["error"]
    assert entry["status"] == 200 and entry["warc"] is not None  # the static page, as the server sent it
    assert lab_crawl.manifest["stats"]["render/failed/TimeoutError"] == 1
    assert lab_crawl.manifest["finish_reason"] == "finished"


def test_a_single_page_app_host_is_judged_on_rendered_pages_not_on_its_shell(lab_crawl: CrawlResult) -> None:
    """The host answers a probe with the same shell as a real story: that is no evidence either way, so
    the story is rendered and judged on what it shows."""
    apps = {a["id"]: a for a in lab_crawl.web["articles"] if a["template"] == "app"}
    stories = [e for e in lab_crawl.log if "/lab/app/story/" in e["url"] and e["kind"] == "article"]
    assert len(stories) == len(apps) == 2
    for entry in stories:
        assert entry["render"]["reason"] == "shell" and entry["render"]["rendered"] is True
        assert entry["verdict"] == "ok" and "probe-match" not in entry["reasons"], entry
    # The shell was not taken for evidence: no probe was spent on it (its answer is the same shell).
    assert [e for e in lab_crawl.log if e["kind"] == "probe" and "/lab/app/" in e["url"]] == []
    items = {path_of(i["url"]).rsplit("/", 1)[-1]: i for i in lab_crawl.items}
    assert {items[str(i)]["text"] for i in apps} == {a["text"] for a in apps.values()}


def test_a_site_that_must_render_fails_at_start_without_a_browser(web: FixtureWeb, tmp_path: Path) -> None:
    settings = write_site(tmp_path, "always", (
        'base_url = "http://127.0.0.1:1/"\nrender = "always"\n[[sections]]\nname = "live"\nurl = "/live/"\n'))
    args = ["crawl", "news", "-a", "site=always", "-a", f"base_url={web.base_url}/",
            "-s", f"CRAWL_SITES_DIR={settings['CRAWL_SITES_DIR']}", "-s", "RENDER_BROWSER_PATH=/nonexistent/chrome"]
    proc = scrapy(args)
    assert proc.returncode == 2
    assert "RENDER_BROWSER_PATH: /nonexistent/chrome is not an executable file" in proc.stderr


@pytest.mark.parametrize("field", ["render", "render_rules"])
def test_a_bad_render_setting_names_the_key_and_file(tmp_path: Path, field: str) -> None:
    value = 'render = "sometimes"' if field == "render" else '[[render_rules]]\npattern = "("'
    settings = write_site(tmp_path, "bad", f'base_url = "http://127.0.0.1:1/"\n{value}\n')
    proc = scrapy(["crawl", "news", "-a", "site=bad", "-s", f"CRAWL_SITES_DIR={settings['CRAWL_SITES_DIR']}"])
    assert proc.returncode == 2
    assert field in proc.stderr and "bad.toml" in proc.stderr
