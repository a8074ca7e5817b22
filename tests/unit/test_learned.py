"""Probe answers of earlier crawls read back through the catalog (crawler/soft404/learned.py): what cannot
be read is skipped, never raised; only answers younger than the TTL count; one per URL shape, the newest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from archive.catalog import Catalog
from archive.store import FileStore
from crawler.soft404.learned import learned_templates
from crawler.soft404.probes import shape_of
from tests.auditstore import SITE, Fetch, url, write_crawl


def _catalog(root: Path, tmp_path: Path) -> Path:
    path = tmp_path / "catalog.sqlite"
    with Catalog(path, FileStore(root)) as catalog:
        assert catalog.update().problems == []
    return path


def test_answers_younger_than_the_ttl_one_per_shape_and_unreadable_records_skipped(tmp_path: Path) -> None:
    root, now = tmp_path / "store", datetime.now(UTC).replace(microsecond=0)
    write_crawl(root, "old", now - timedelta(hours=10), [
        Fetch("/sport/2026/01/aaaaaaaa.html", 404, None, kind="probe"),
        Fetch("/world/2026/01/bbbbbbbb.html", 200, "ok", kind="probe", title="Not found"),
    ])
    write_crawl(root, "new", now - timedelta(hours=1), [
        Fetch("/world/2026/11/cccccccc.html", 404, None, kind="probe"),
        Fetch("/world/2026/12/dddddddd.html", 404, None, kind="probe"),  # same shape, newer: this one
        Fetch("/tech/xyzxyzxyz", 200, "ok", kind="probe", final_path="/"),  # redirected: no record needed
        Fetch("/opinion/2026/11/eeeeeeee.html", 200, "ok", kind="probe"),  # its record is placeholder bytes
        Fetch("/world/2026/11/a-story.html", 200, "ok", text="A story."),
    ])
    catalog = _catalog(root, tmp_path)
    learned = learned_templates(catalog, FileStore(root), SITE, ttl=6 * 3600)
    by_shape = {shape_of(item.url): item for item in learned}
    assert set(by_shape) == {shape_of(url("/world/2026/11/x.html")), shape_of(url("/tech/x"))}
    assert by_shape[shape_of(url("/world/1/1/x.html"))].url == url("/world/2026/12/dddddddd.html")
    redirected = by_shape[shape_of(url("/tech/x"))].fingerprint
    assert redirected.soft and redirected.redirected and redirected.final_url == url("/")
    assert all(item.crawl_id == "new" for item in learned)
    # With a TTL of 11 hours, the older crawl's sport answer counts too; its 200 answer is placeholder bytes.
    learned = learned_templates(catalog, FileStore(root), SITE, ttl=11 * 3600)
    assert {shape_of(item.url) for item in learned} == {*by_shape, shape_of(url("/sport/2026/01/x.html"))}


def test_no_catalog_or_another_site_learns_nothing(tmp_path: Path) -> None:
    root = tmp_path / "store"
    probe = Fetch("/a/xxxxxxxx.html", 404, None, kind="probe")
    write_crawl(root, "one", datetime.now(UTC) - timedelta(minutes=5), [probe])
    assert learned_templates(tmp_path / "none.sqlite", FileStore(root), SITE, ttl=3600) == []
    catalog = _catalog(root, tmp_path)
    assert learned_templates(catalog, FileStore(root), "elsewhere", ttl=3600) == []
    assert len(learned_templates(catalog, FileStore(root), SITE, ttl=3600)) == 1
    before = catalog.read_bytes()
    assert learned_templates(catalog, FileStore(tmp_path / "another"), SITE, ttl=3600) == []  # another store's
    assert catalog.read_bytes() == before  # read only: a crawl never rebuilds or updates the catalog
    catalog.write_bytes(b"not a catalog")
    assert learned_templates(catalog, FileStore(root), SITE, ttl=3600) == []  # logged; the crawl probes
