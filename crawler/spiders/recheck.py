"""The `recheck` spider: fetch again the archived article URLs of a site, so the audit sees what became of them.

    scrapy crawl recheck -a site=NAME [-a due=all] [-a urls_file=FILE] [-a base_url=...]

Which URLs: those of the site's archived articles that are due on the decaying cadence of
AUDIT_RECHECK_CADENCE (archive/cadence.py), or all of them (`due=all`), or the URLs of `urls_file` (one per
line, `#` comments). The catalog is brought up to date first (off the reactor) so the choice sees every
finished crawl. Everything else is the news crawl's: downloader, capture, classifier, probes, crawl log
(`kind: recheck`), item pipelines, store. No link is followed. An article that answers `ok` with the payload
already archived costs a revisit record (the cross-crawl digest index), not a second body.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scrapy import Request
from scrapy.robotstxt import RobotParser
from scrapy.utils.defer import deferred_to_future
from twisted.internet.threads import deferToThread

from archive.cadence import is_due
from archive.catalog import Catalog
from archive.store import open_store
from crawler.config import audit_config, store_config
from crawler.siteconfig import SiteConfig
from crawler.spiders.news import NewsSpider

logger = logging.getLogger(__name__)

DUE_MODES = ("cadence", "all")


class RecheckSpider(NewsSpider):
    """Re-fetches archived articles of one site; their section is what the catalog last knew."""

    name = "recheck"
    crawl_id_tag = "recheck"

    def __init__(self, site: SiteConfig, due: str = "cadence", urls_file: str | None = None, **kwargs: Any) -> None:
        if due not in DUE_MODES:
            raise ValueError(f"-a due={due!r}: expected one of {', '.join(DUE_MODES)}")
        super().__init__(site, **kwargs)
        self.due, self.urls_file = due, urls_file
        self.chosen: list[str] = []
        self.sections: dict[str, str] = {}  # what the catalog knew, so recheck items keep their section

    async def start(self) -> AsyncIterator[Request]:
        self.chosen = await deferred_to_future(deferToThread(self.choose))
        self.crawler.stats.set_value("recheck/urls", len(self.chosen))
        logger.info("recheck of %s: %d URLs (%s)", self.site_name, len(self.chosen),
                    f"from {self.urls_file}" if self.urls_file else f"due={self.due}")
        for url in self.chosen:
            yield self.request(url, self.parse_article, {"kind": "recheck", "section": self.sections.get(url)})

    def choose(self) -> list[str]:
        """The URLs to fetch (in a thread: the catalog reads the store and writes SQLite)."""
        if self.urls_file:
            return read_urls_file(Path(self.urls_file))
        store_cfg, audit_cfg = store_config(self.settings), audit_config(self.settings)
        store = open_store(store_cfg.uri, store_cfg.s3_options(), fsync=False)
        with Catalog(audit_cfg.catalog_path(store.uri), store, audit_cfg.workers) as catalog:
            update = catalog.update()
            for problem in update.problems:
                logger.warning("catalog: %s", problem)
            known = catalog.article_urls(self.site_name)
        self.sections = {url: section for url, _, _, section in known if section}
        now = datetime.now(UTC).timestamp()
        if self.due == "all":
            return [url for url, _, _, _ in known]
        return [url for url, first, last, _ in known
                if is_due(_posix(first), _posix(last), now, audit_cfg.recheck_cadence)]

    def robots_parsed(self, robotparser: RobotParser, request: Request) -> None:
        """A recheck follows nothing: the sitemaps robots.txt names are the news crawl's business."""


def _posix(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def read_urls_file(path: Path) -> list[str]:
    """One URL per line; blank lines and `#` comments skipped; each URL once, in file order."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"-a urls_file={path}: cannot read it: {exc}") from exc
    urls = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    bad = [u for u in urls if not u.startswith(("http://", "https://"))]
    if bad:
        raise ValueError(f"-a urls_file={path}: not an http(s) URL: {bad[0]!r}")
    return list(dict.fromkeys(urls))
