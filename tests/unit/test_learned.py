"""Probe answers of earlier crawls taken from their `probes` parts, found through the catalog
(crawler/soft404/learned.py): the newest answer per URL shape younger than the TTL, exactly as the live
probe gave it; failed answers never; what cannot be read skipped, never raised; the catalog left as it was."""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archive.catalog import Catalog
from archive.store import FileStore
from crawler.soft404.features import ProbeView
from crawler.soft404.learned import as_judged, learned_templates, probe_record
from crawler.soft404.probes import Fingerprint, shape_of
from tests.auditstore import SITE, Fetch, url, write_crawl

TEMPLATE = ProbeView(True, frozenset({11, 22, 33}), "Page not found | News", "Not found", False,
                     media=frozenset({7, 8}), paywalled=True)


def _answer(status: int | None, age: float, view: ProbeView | None = None, title: str = "t") -> Fingerprint:
    return Fingerprint(status, None, False, title, "00ff", time.monotonic() - age, view)


def _crawl(root: Path, crawl_id: str, hours_ago: float, records: list[dict[str, Any]] | bytes,
           site: str = SITE) -> None:
    write_crawl(root, crawl_id, datetime.now(UTC) - timedelta(hours=hours_ago), [Fetch("/a/story.html")])
    part = root / "crawls" / crawl_id / "probes" / "part-00000.jsonl.gz"
    part.parent.mkdir(parents=True)
    part.write_bytes(records if isinstance(records, bytes) else
                     gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records) + b"not json\n"))
    if site != SITE:
        manifest = root / "crawls" / crawl_id / "crawl.json"
        manifest.write_text(manifest.read_text().replace(f'"site": "{SITE}"', f'"site": "{site}"'))


def _catalog(root: Path, tmp_path: Path) -> Path:
    path = tmp_path / "catalog.sqlite"
    with Catalog(path, FileStore(root)) as catalog:
        assert catalog.update().problems == []
    return path


def test_the_newest_answer_per_shape_younger_than_the_ttl_as_the_live_probe_gave_it(tmp_path: Path) -> None:
    root, hour = tmp_path / "store", 3600.0
    _crawl(root, "old", 5, [
        probe_record(url("/world/2026/01/aaaaaaaa.html"), _answer(200, 5 * hour, TEMPLATE, "older"), "old"),
        probe_record(url("/sport/2026/01/bbbbbbbb.html"), _answer(200, 5 * hour, TEMPLATE), "old"),
        probe_record(url("/tech/cccccccc"), _answer(404, 9 * hour), "old"),  # older than the TTL
    ])
    _crawl(root, "new", 1, [
        probe_record(url("/world/2026/12/dddddddd.html"), _answer(200, hour, TEMPLATE, "newest"), "new"),
        probe_record(url("/sport/2026/12/eeeeeeee.html"), _answer(None, hour), "new"),  # failed: the older one
        probe_record(url("/opinion/ffffffff.html"), _answer(404, 2 * hour), "earlier", reused=True),
        probe_record(url("/world/2026/12/hhhhhhhh.html"), _answer(503, 0.5 * hour), "new"),  # an outage
        probe_record(url("/world/2026/12/iiiiiiii.html"), _answer(429, 0.2 * hour), "new"),  # rate limited
        probe_record(url("/world/2026/12/jjjjjjjj.html"), _answer(200, -2 * hour), "new"),  # a clock ahead
    ])
    _crawl(root, "elsewhere", 1, [probe_record(url("/x/gggggggg.html"), _answer(200, hour), "elsewhere")],
           site="other")
    catalog = _catalog(root, tmp_path)
    learned = {shape_of(item.url): item for item in learned_templates(catalog, FileStore(root), SITE, 6 * hour)}
    assert set(learned) == {shape_of(url(p)) for p in ("/world/1/1/x.html", "/sport/1/1/x.html", "/opinion/x.html")}
    world = learned[shape_of(url("/world/1/1/x.html"))]
    assert (world.url, world.crawl_id) == (url("/world/2026/12/dddddddd.html"), "new")
    assert world.fingerprint.title == "newest"
    assert world.fingerprint.view == TEMPLATE and world.fingerprint.soft and world.fingerprint.simhash == "00ff"
    assert abs(time.monotonic() - world.fingerprint.fetched - hour) < 60  # aged from when it was fetched
    assert learned[shape_of(url("/sport/1/1/x.html"))].crawl_id == "old"
    assert learned[shape_of(url("/opinion/x.html"))].crawl_id == "earlier"  # reused by "new", fetched by "earlier"
    # Judged again later (`scrapy reprocess`), whatever their age: fresh, the newest per shape.
    again = {shape_of(i.url): i for i in as_judged([
        probe_record(url("/tech/kkkkkkkk"), _answer(200, 10 * hour, TEMPLATE), "older"),  # listed first, older
        probe_record(url("/tech/cccccccc"), _answer(404, 9 * hour), "o")])}
    assert again[shape_of(url("/tech/x"))].crawl_id == "o"
    assert time.monotonic() - again[shape_of(url("/tech/x"))].fingerprint.fetched < 60


def test_no_catalog_another_store_s_or_an_unreadable_part_costs_only_probes(tmp_path: Path) -> None:
    root = tmp_path / "store"
    _crawl(root, "broken", 0.5, b"not gzip at all")
    _crawl(root, "good", 1, [probe_record(url("/a/xxxxxxxx.html"), _answer(404, 3600), "good")])
    assert learned_templates(tmp_path / "none.sqlite", FileStore(root), SITE, ttl=7200) == []
    catalog = _catalog(root, tmp_path)
    assert [i.crawl_id for i in learned_templates(catalog, FileStore(root), SITE, ttl=7200)] == ["good"]
    assert learned_templates(catalog, FileStore(root), "elsewhere", ttl=7200) == []
    before = catalog.read_bytes()
    assert learned_templates(catalog, FileStore(tmp_path / "another"), SITE, ttl=7200) == []  # another store's
    assert catalog.read_bytes() == before  # read only: a crawl never rebuilds or updates the catalog
    catalog.write_bytes(b"not a catalog")
    assert learned_templates(catalog, FileStore(root), SITE, ttl=7200) == []  # logged; the crawl probes


def test_a_re_run_judges_with_reused_answers_only_where_no_source_crawl_probed() -> None:
    from crawler.reprocessing import SourceCrawl, reused_templates  # noqa: PLC0415

    taken = probe_record(url("/world/2026/01/aaaaaaaa.html"), _answer(200, 9000, TEMPLATE), "old", reused=True)
    shadowed = probe_record(url("/sport/2026/01/bbbbbbbb.html"), _answer(200, 9000, TEMPLATE), "old", reused=True)
    own = probe_record(url("/sport/2026/02/cccccccc.html"), _answer(404, 10), "b")
    logged = probe_record(url("/tech/dddddddd"), _answer(200, 9000), "old", reused=True)
    a = SourceCrawl("a", {}, [url("/tech/eeeeeeee")], {}, [taken, logged])
    b = SourceCrawl("b", {}, [url("/sport/2026/02/cccccccc.html")], {}, [shadowed, own])
    assert reused_templates([a, b]) == [taken]  # sport and tech were probed by a source crawl: the archive answers
