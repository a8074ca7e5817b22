"""End-to-end: crawl the sample web with the real settings, then read what the store holds."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import unicodedata
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from crawler.items import ITEM_FIELDS
from crawler.kinds import ARTICLE_KINDS
from crawler.soft404.model import model
from crawler.soft404.probes import shape_of
from tests.crawling import CrawlResult, path_of, run_crawl, write_site
from tests.fixtureweb.process import FixtureWeb

LOG_FIELDS = {"url", "final_url", "redirects", "status", "mime", "fetched_at", "verdict", "reasons", "score", "kind",
              "title", "content_digest", "simhash", "warc", "crawl_id", "site"}
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _reachable(result: CrawlResult) -> set[str]:
    """Articles a crawler without JavaScript can reach through sections, feeds or sitemaps."""
    return {a["path"] for a in result.web["articles"] if set(a["routes"]) & {"section", "feed", "sitemap"}}


def test_every_article_is_found_and_stored_once(demo_crawl: CrawlResult) -> None:
    stored = Counter(path_of(i["url"]) for i in demo_crawl.items)
    assert len(_reachable(demo_crawl)) == 256  # the web's own count: 280 articles minus 24 behind "Load more"
    every = {a["path"] for a in demo_crawl.web["articles"]}
    assert len(every) == 280  # the 24 behind "Load more" are found through Chromium (tests/e2e/test_render.py)
    assert every - set(stored) == set()
    assert [p for p, n in stored.items() if n > 1] == []


def test_no_url_is_fetched_twice(demo_crawl: CrawlResult) -> None:
    """Only a page `auto` sent to the browser is fetched again (once over HTTP, once by Chromium); the
    subresources Chromium loads for rendered pages are not crawl requests and are not counted here."""
    served = Counter(demo_crawl.served)
    requested = {path_of(e["url"]): e for e in demo_crawl.log}
    twice = {p for p, n in served.items() if n > 1 and p in requested}
    assert twice == {p for p, e in requested.items() if (e["render"] or {}).get("mode") == "auto"}
    assert all(served[p] == 2 for p in twice)


def test_every_requested_url_has_exactly_one_log_entry(demo_crawl: CrawlResult) -> None:
    logged = Counter(path_of(e["url"]) for e in demo_crawl.log)
    assert [p for p, n in logged.items() if n > 1] == []
    hops = {path_of(h["url"]) for e in demo_crawl.log for h in e["redirects"]}
    finals = {path_of(e["final_url"]) for e in demo_crawl.log if e["final_url"]}
    loaded = {path_of(u) for e in demo_crawl.log for u in (e["render"] or {}).get("subresources", [])}
    # Everything the server answered is accounted for: as a logged URL, a redirect hop or a redirect target,
    # or as what a rendered page loaded in the browser (scripts, styles, images, XHR).
    assert set(demo_crawl.served) - (set(logged) | hops | finals | loaded) == set()
    assert set(logged) - set(demo_crawl.served) == set()
    assert demo_crawl.manifest["counts"]["log_entries"] == len(demo_crawl.log)


def test_log_entries_follow_the_contract(demo_crawl: CrawlResult) -> None:
    for entry in demo_crawl.log:
        assert set(entry) >= LOG_FIELDS, entry
        assert entry["crawl_id"] == "test-crawl" and entry["site"] == "demo"
        assert ISO_UTC.match(entry["fetched_at"])
        assert entry["kind"] in ("section", "article", "feed", "sitemap", "probe", "other")
    kinds = Counter(e["kind"] for e in demo_crawl.log)
    assert kinds["feed"] == 2 and kinds["sitemap"] == 4 and kinds["other"] == 1  # robots.txt


def test_calendar_trap_is_never_entered(demo_crawl: CrawlResult) -> None:
    assert [p for p in demo_crawl.served if p.startswith("/calendar/")] == []


def test_pagination_is_followed_to_the_end_of_each_section(demo_crawl: CrawlResult) -> None:
    listings = {path_of(e["url"]) for e in demo_crawl.log if e["kind"] == "section"}
    assert {"/world/page/8/", "/business/?page=7", "/tech/page/6/", "/china/page_7.html", "/live/"} <= listings
    assert len(listings) == 29


def test_max_pages_bounds_pagination(web: FixtureWeb, tmp_path: Path) -> None:
    settings = write_site(tmp_path, "short",
        'base_url = "http://127.0.0.1:1/"\nmax_pages_per_section = 2\nsitemap_from_robots = false\n'
        '[[sections]]\nname = "world"\nurl = "/world/"\n[[sections]]\nname = "tech"\nurl = "/tech/"\nmax_pages = 3\n'
    )
    result = run_crawl(web, tmp_path / "store", site="short", settings=settings)
    assert result.returncode == 0, result.stderr[-2000:]
    listings = sorted(path_of(e["url"]) for e in result.log if e["kind"] == "section")
    assert listings == ["/tech/", "/tech/page/2/", "/tech/page/3/", "/world/", "/world/page/2/"]


def test_dead_pages_are_logged_with_their_fate(demo_crawl: CrawlResult) -> None:
    by_path = {path_of(e["url"]): e for e in demo_crawl.log}
    reasons = {"status-404": "status-404", "status-410": "status-410", "error-template": "error-title",
               "redirect-home": "redirect-to-home", "redirect-section": "redirect-to-section",
               "empty-shell": "empty-content", "app-missing": "error-title"}
    assert len(demo_crawl.web["dead"]) == 8
    for dead in demo_crawl.web["dead"]:
        entry = by_path[dead["path"]]
        assert entry["verdict"] == dead["expect"], (dead, entry)
        assert entry["reasons"][0] == reasons[dead["how"]]
        assert entry["score"] >= 0.8
        if dead["how"].startswith("redirect"):
            assert entry["redirects"][0]["status"] in (301, 302)
    home = by_path["/tech/article/999999"]
    assert path_of(home["final_url"]) == "/" and home["redirects"] == [
        {"url": home["url"], "status": 302}]
    section = by_path["/business/2026-10/07/content_500002.htm"]
    assert section["reasons"] == ["redirect-to-section", "redirect-to-seen-url"]
    assert path_of(section["final_url"]) == "/business/"


def test_live_pages_are_ok_and_only_dead_ones_are_not(demo_crawl: CrawlResult) -> None:
    articles = {a["path"] for a in demo_crawl.web["articles"]}
    dead = {d["path"] for d in demo_crawl.web["dead"]}
    for entry in demo_crawl.log:
        path = path_of(entry["url"])
        if entry["kind"] == "probe":
            continue
        if path in articles:
            assert entry["verdict"] == "ok" and "article-evidence" in entry["reasons"], entry
        elif entry["kind"] in ("section", "feed", "sitemap"):
            assert entry["verdict"] == "ok", entry
        else:
            assert path in dead or path == "/robots.txt", entry
    mixed = [e for e in demo_crawl.log if "error-text-in-template" in e["reasons"]]
    assert [path_of(e["url"]) for e in mixed] == [
        a["path"] for a in demo_crawl.web["articles"] if a["template"] == "mixed-visible"]
    stored = {path_of(i["url"]) for i in demo_crawl.items}
    assert stored & dead == set()


def test_host_probes_are_few_logged_archived_and_decisive(demo_crawl: CrawlResult) -> None:
    probes = [e for e in demo_crawl.log if e["kind"] == "probe"]
    judged = {shape_of(e["url"]) for e in demo_crawl.log if e["kind"] in ARTICLE_KINDS and e["status"] == 200}
    assert 1 <= len(probes) <= len(judged) < 10  # one per host and URL shape of the article pages judged
    assert all(e["warc"] for e in probes)
    china = [e for e in probes if path_of(e["url"]).startswith("/china/a/")]
    assert [e["status"] for e in china] == [200]  # this part of the site answers unknown URLs 200, one shape
    zh_dead = next(e for e in demo_crawl.log if path_of(e["url"]) == "/china/a/202610/03/WS0000dead0001.html")
    assert zh_dead["reasons"] == ["error-title", "probe-match"] and zh_dead["score"] >= model(probed=True).dead_at
    # Each page judged beside a probe names it: the host's answer that judged it is in the crawl's WARCs.
    assert zh_dead["probe"] == china[0]["url"]
    named = [e for e in demo_crawl.log if e["probe"]]
    assert named and {e["probe"] for e in named} <= {e["url"] for e in probes}
    assert all(e["probe"] is None for e in probes)
    assert demo_crawl.manifest["stats"]["soft404/probes/status/200"] == 1


def test_items_follow_the_contract(demo_crawl: CrawlResult) -> None:
    assert demo_crawl.items
    for item in demo_crawl.items:
        assert tuple(item) == ITEM_FIELDS
        assert item["crawl_id"] == "test-crawl" and item["site"] == "demo"
        assert isinstance(item["authors"], list) and isinstance(item["tags"], list)
        assert item["text"] == unicodedata.normalize("NFC", item["text"])
        assert "\n\n\n" not in item["text"] and item["text"] == item["text"].strip()
        assert ISO_UTC.match(item["fetched_at"])
        assert item["content_digest"].startswith("sha1:")
        for key in ("published", "modified"):
            if item[key]:
                datetime.fromisoformat(item[key].replace("Z", "+00:00"))


def test_items_carry_the_page_s_structured_data(demo_crawl: CrawlResult) -> None:
    web = {a["path"]: a for a in demo_crawl.web["articles"]}
    checked = 0
    for item in demo_crawl.items:
        art = web.get(path_of(item["url"]))
        if not art or not art["jsonld"] or art["template"] == "broken":
            continue
        checked += 1
        assert item["title"] == art["title"]
        assert item["authors"] == art["authors"]
        published = datetime.fromisoformat(art["published"]).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert item["published"] == published
        assert item["language"] == art["lang"]
        assert item["section"] == art["section"]
    assert checked > 150


def test_article_text_is_the_story(demo_crawl: CrawlResult) -> None:
    web = {a["path"]: a for a in demo_crawl.web["articles"]}
    for item in demo_crawl.items:
        art = web.get(path_of(item["url"]))
        if not art or art["template"] == "broken":
            continue
        if art["template"] == "brief":
            # One-paragraph briefs: trafilatura keeps the section label beside the story (known, small).
            assert item["text"].startswith(art["text"]) and len(item["text"]) - len(art["text"]) < 20
            continue
        assert item["text"] == art["text"], item["url"]


def test_mixed_template_pages_keep_the_story_not_the_error_text(demo_crawl: CrawlResult) -> None:
    mixed = {a["path"]: a for a in demo_crawl.web["articles"] if a["template"].startswith("mixed")}
    items = {path_of(i["url"]): i for i in demo_crawl.items}
    assert len(mixed) == 3
    for path, art in mixed.items():
        assert items[path]["text"] == art["text"]
        assert "not found" not in items[path]["text"] and "不存在" not in items[path]["text"]


def test_a_redirect_away_from_the_article_makes_no_item(demo_crawl: CrawlResult) -> None:
    stored = {path_of(i["url"]) for i in demo_crawl.items}
    assert "/" not in stored and "/business/" not in stored


def test_broken_page_is_logged_and_does_not_stop_the_crawl(demo_crawl: CrawlResult) -> None:
    broken = next(a for a in demo_crawl.web["articles"] if a["template"] == "broken")
    entry = next(e for e in demo_crawl.log if path_of(e["url"]) == broken["path"])
    assert entry["status"] == 200
    assert demo_crawl.manifest["finish_reason"] == "finished"
    assert "Traceback" not in demo_crawl.stderr


def test_store_layout_and_manifest(demo_crawl: CrawlResult) -> None:
    root = demo_crawl.crawl_dir
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    warc = [f for f in files if f.startswith("warc/")]
    assert len(warc) == 1 and warc[0].endswith(".warc.gz")
    cdxj = "cdxj/" + warc[0].removeprefix("warc/").removesuffix(".warc.gz") + ".cdxj"
    assert files == sorted(["crawl.json", "items/part-00000.jsonl.gz", "log/part-00000.jsonl.gz",
                            "probes/part-00000.jsonl.gz", cdxj, *warc])
    manifest = demo_crawl.manifest
    assert manifest["site"] == "demo" and manifest["crawl_id"] == "test-crawl"
    assert manifest["versions"]["scrapy"] and manifest["site_config"]["name"] == "demo"
    assert manifest["stats"]["crawllog/entries"] == len(demo_crawl.log)
    for obj in manifest["objects"]:
        data = (demo_crawl.store.root / obj["key"]).read_bytes()
        assert len(data) == obj["size"] and hashlib.sha256(data).hexdigest() == obj["sha256"]
        if obj["key"].endswith(".gz"):
            gzip.decompress(data)  # complete gzip members, not a file cut short
    assert json.loads((root / "crawl.json").read_text())["counts"]["items"] == len(demo_crawl.items)
    assert not list((demo_crawl.store.root.parent / "spool").rglob("*.open"))


def test_failures_each_get_one_log_entry(web: FixtureWeb, tmp_path: Path) -> None:
    """Robots denials, a refused connection (with its robots.txt) and a 404 feed: logged once each."""
    settings = write_site(tmp_path, "failing",
        'base_url = "http://127.0.0.1:1/"\nsitemap_from_robots = false\nfeeds = ["/feeds/missing.xml"]\n'
        '[[sections]]\nname = "search"\nurl = "/search?q=bridge"\n'
        '[[sections]]\nname = "gone"\nurl = "http://127.0.0.1:9/section/"\n'
    )
    result = run_crawl(web, tmp_path / "store", site="failing", settings={**settings, "RETRY_TIMES": "0"})
    assert result.returncode == 0, result.stderr[-2000:]
    by_path = {(e["url"].split("/")[2], path_of(e["url"])): e for e in result.log}
    assert len(by_path) == len(result.log) == 5
    own = result.log[0]["url"].split("/")[2]
    assert by_path[own, "/search?q=bridge"]["reasons"] == ["robots-denied"]
    assert by_path[own, "/feeds/missing.xml"]["verdict"] == "not-found"
    assert by_path[own, "/robots.txt"]["status"] == 200
    for path in ("/section/", "/robots.txt"):
        entry = by_path["127.0.0.1:9", path]
        assert entry["verdict"] == "error" and entry["reasons"] == ["connection-refused"], entry["error"]
        assert "Connection refused" in entry["error"]
