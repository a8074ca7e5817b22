"""What one `scrapy reprocess` run works from: its sources, their capture index, the spider to re-run.

Built by the command before the crawler starts (in the command's own thread, so no reactor waits on it):
the sources are read once here (manifests, the probe and recheck URLs of source crawls' logs, the index),
and the crawler's components get the resulting `ReprocessPlan` through the spider they run with.

Lookups go through one capture index (archive/captureindex.py) holding every crawl of the store, not only
the crawls given: a crawl deduplicated against an earlier one keeps revisit records whose originals are in
that earlier crawl, and the record reader resolves a revisit through the index. Which captures may answer
a request is then narrowed to the sources given (`ReprocessPlan.sources`).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from archive.captureindex import REVISIT, CaptureIndex, ts_of
from archive.indexing import IndexUpdate, index_files, update_from_store, warc_ts
from archive.store import Store
from crawler.analysis import HTML_TYPES
from crawler.errors import ConfigError, StoreError
from crawler.siteconfig import SiteConfig
from crawler.soft404.learned import crawl_templates
from crawler.soft404.probes import shape_of
from crawler.summary import read_jsonl_parts
from crawler.validation import validate

logger = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz", ".wacz")
RERUN_SPIDERS = ("news", "recheck")  # spiders of ours whose crawls are re-run as they were
ARCHIVE_SPIDER = "archive"  # no manifest to re-run: every archived URL requested once


class ReprocessError(Exception):
    """A SOURCE that names neither a crawl of the store nor an archive file, or sources that cannot go together."""


@dataclass(frozen=True)
class SourceCrawl:
    """A crawl of the store given as a source: what its manifest and log say."""

    crawl_id: str
    manifest: dict[str, Any]
    probes: list[str]  # URLs of its `kind: probe` log entries
    rechecked: dict[str, str | None]  # URL -> section, its `kind: recheck` entries (a recheck crawl)
    templates: list[dict[str, Any]] = field(default_factory=list)  # its `probes` part (crawler/soft404/learned.py)


@dataclass
class ReprocessPlan:
    """Everything the re-run needs: where the captures are, which may answer, which spider, which site."""

    index_path: Path
    index_label: str
    sources: list[str]  # crawl ids and absolute file paths, as the index names its sources
    at: str  # 14 digits: each URL is answered from its capture nearest to this moment
    spider: str  # news | recheck | archive
    site: SiteConfig
    probes: dict[tuple[str, str, str], str] = field(default_factory=dict)  # URL shape -> archived probe URL
    templates: list[dict[str, Any]] = field(default_factory=list)  # probe answers source crawls reused
    urls: list[str] = field(default_factory=list)  # recheck / archive spiders: what to request
    pages: set[str] = field(default_factory=set)  # archive spider: URLs archived as 2xx HTML pages
    sections: dict[str, str] = field(default_factory=dict)  # recheck: URL -> section
    problems: list[str] = field(default_factory=list)  # met while indexing the sources
    index_kept: bool = False  # REPROCESS_INDEX names the index (else a temporary file, gone after the run)

    def manifest_fields(self) -> dict[str, Any]:
        """What crawl.json says of the run beside what every crawl's manifest says."""
        return {"reprocess": {"sources": self.sources, "spider": self.spider, "at": self.at,
                              "index": str(self.index_path) if self.index_kept else None,
                              "problems": self.problems[:100]}}


def split_sources(given: list[str], store: Store) -> tuple[list[str], list[Path]]:
    """(crawl ids of the store, archive files); a directory stands for the archive files in it."""
    crawls: list[str] = []
    files: list[Path] = []
    known: set[str] | None = None
    for source in given:
        path = Path(source)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(ARCHIVE_SUFFIXES))
            if not found:
                raise ReprocessError(f"{source}: no WARC, ARC or WACZ files in this directory")
            files.extend(p.resolve() for p in found)
        elif path.is_file():
            files.append(path.resolve())
        elif re.fullmatch(r"[A-Za-z0-9._-]+", source) and source in (known := known or set(store.children("crawls"))):
            crawls.append(source)
        else:
            raise ReprocessError(f"{source}: neither a crawl of {store.uri} (no crawls/{source}/) "
                                 "nor a WARC, ARC or WACZ file")
    return crawls, files


def build_index(index: CaptureIndex, store: Store, crawls: list[str], files: list[Path]) -> IndexUpdate:
    """Index the store's crawls (when a crawl is a source) and the files given; incremental on a kept index."""
    update = IndexUpdate()
    if crawls:
        update = update_from_store(index, store)
    if files:
        loose = index_files(index, files)
        update.indexed += loose.indexed
        update.problems += loose.problems
    return update


def read_source_crawl(store: Store, crawl_id: str) -> SourceCrawl:
    try:
        manifest = orjson.loads(store.get_bytes(f"crawls/{crawl_id}/crawl.json"))
    except (StoreError, orjson.JSONDecodeError) as exc:
        raise ReprocessError(f"crawl {crawl_id}: its crawl.json cannot be read: {exc}") from exc
    probes: list[str] = []
    rechecked: dict[str, str | None] = {}
    for entry in read_jsonl_parts(store, f"crawls/{crawl_id}/log"):
        if entry.get("kind") == "probe" and entry.get("url"):
            probes.append(str(entry["url"]))
        elif entry.get("kind") == "recheck" and entry.get("url"):
            rechecked[str(entry["url"])] = None
    if rechecked:  # the sections a recheck's items kept
        for item in read_jsonl_parts(store, f"crawls/{crawl_id}/items"):
            if item.get("url") in rechecked:
                rechecked[item["url"]] = item.get("section")
    return SourceCrawl(crawl_id, manifest, probes, rechecked, crawl_templates(store, crawl_id))


def archived_site(crawl: SourceCrawl) -> SiteConfig:
    """The site config the crawl ran with, as its manifest keeps it (the TOML may have changed since, and the
    sample web listens on another port each run). Redacted header values stay redacted: nothing is sent."""
    data = crawl.manifest.get("site_config")
    if not isinstance(data, dict):
        raise ReprocessError(f"crawl {crawl.crawl_id}: its manifest has no site_config to re-run it with")
    try:
        return validate(SiteConfig, data, lambda key: f"crawls/{crawl.crawl_id}/crawl.json")
    except ConfigError as exc:
        raise ReprocessError(f"crawl {crawl.crawl_id}: its archived site config is not valid now: {exc}") from exc


def probe_urls(crawls: list[SourceCrawl]) -> dict[tuple[str, str, str], str]:
    """URL shape -> the probe the live crawl fetched for it (the first, as the live crawl's cache kept it)."""
    out: dict[tuple[str, str, str], str] = {}
    for crawl in crawls:
        for url in crawl.probes:
            out.setdefault(shape_of(url), url)
    return out


def reused_templates(crawls: list[SourceCrawl]) -> list[dict[str, Any]]:
    """The probe answers source crawls took from earlier crawls instead of probing (their `probes` parts):
    no probe of theirs is archived for those URL shapes, so the re-run judges with these. A shape that any
    source crawl probed itself is asked of the archive, as its log shows."""
    probed = {shape_of(url) for crawl in crawls for url in crawl.probes}
    probed |= {shape_of(str(t.get("url"))) for crawl in crawls for t in crawl.templates if not t.get("reused")}
    return [t for crawl in crawls for t in crawl.templates
            if t.get("reused") and shape_of(str(t.get("url"))) not in probed]


def archive_urls(index: CaptureIndex, files: list[Path]) -> tuple[list[str], set[str]]:
    """Every http(s) URL the files hold a capture of (not urn: records), each once, in SURT order; and those
    of them with an HTML page answered 2xx (or a revisit of one)."""
    sources = [str(p) for p in files]
    if not sources:
        return [], set()
    rows = sorted(((r.urlkey, r.ts, r.url, r.status, r.mime) for source in sources
                   for r in index.of_source(source)), key=lambda r: (r[0], r[1]))
    seen: dict[str, None] = {}
    pages: set[str] = set()
    for _, _, found, status, mime in rows:
        url = str(found)
        if not url.startswith(("http://", "https://")):
            continue
        seen.setdefault(url, None)
        if (mime in HTML_TYPES and (status is None or 200 <= status < 300)) or mime == REVISIT:
            pages.add(url)
    return list(seen), pages


def site_name_for(urls: list[str]) -> str:
    """A site name from the host most URLs are on (`www.example.org` -> `example-org`)."""
    hosts = Counter((urlsplit(u).hostname or "").removeprefix("www.") for u in urls)
    host = hosts.most_common(1)[0][0] if hosts else ""
    name = re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-")
    return name or "files"


def archive_site(name: str, urls: list[str]) -> SiteConfig:
    """A site config for archives with no manifest: every host of theirs, robots.txt not asked for (every URL
    is requested because it was archived), `auto` rendering (answered from archived DOMs, when there are)."""
    hosts = sorted({urlsplit(u).hostname or "" for u in urls} - {""})
    top = Counter(urlsplit(u).netloc for u in urls).most_common(1)
    base = f"http://{top[0][0]}/" if top else "http://archive.invalid/"
    return SiteConfig(name=name, base_url=base, allowed_domains=hosts or ["archive.invalid"], obey_robots=False,
                      sitemap_from_robots=True, render="auto", allow_private_networks=True)


def earliest(index: CaptureIndex, sources: list[str], crawls: list[SourceCrawl]) -> str:
    """The first moment of the sources: a crawl's start, a file's first capture."""
    moments = [warc_ts(str(c.manifest.get("started_at") or "")) for c in crawls]
    moments += [s.started_at for s in index.sources() if s.source in sources and s.kind != "crawl"]
    found = sorted(m for m in moments if m)
    return found[0] if found else ts_of(datetime.now(UTC))


def make_plan(index: CaptureIndex, store: Store, crawl_ids: list[str], files: list[Path], at: str,
              site_name: str | None, problems: list[str]) -> ReprocessPlan:
    """The plan for these sources: re-run the first source crawl's spider with its archived site config, or,
    with archive files only, request every URL they hold."""
    crawls = [read_source_crawl(store, crawl_id) for crawl_id in crawl_ids]
    sources = crawl_ids + [str(p) for p in files]
    moment = (at.ljust(14, "0") if len(at) >= 4 and at.isdigit() else "") or earliest(index, sources, crawls)
    plan_args: dict[str, Any] = {"index_path": index.path, "index_label": index.label, "sources": sources,
                                 "at": moment, "problems": problems, "probes": probe_urls(crawls),
                                 "templates": reused_templates(crawls)}
    if crawls:
        first = crawls[0]
        spider = str(first.manifest.get("spider") or "news")
        if spider == "reprocess":
            given = ", ".join((first.manifest.get("reprocess") or {}).get("sources") or [])
            raise ReprocessError(f"crawl {first.crawl_id} is itself re-processed and holds no captures: "
                                 f"re-process its sources ({given})")
        sites = {str(c.manifest.get("site")) for c in crawls}
        if len(sites) > 1:
            raise ReprocessError(f"the crawls given are of several sites ({', '.join(sorted(sites))}): "
                                 "re-process one site at a time")
        if spider not in RERUN_SPIDERS:
            raise ReprocessError(f"crawl {first.crawl_id} was made by spider {spider!r}; only "
                                 f"{', '.join(RERUN_SPIDERS)} crawls can be re-run")
        rechecked = {url: s for c in crawls for url, s in c.rechecked.items()}
        return ReprocessPlan(spider=spider, site=archived_site(first), urls=list(rechecked),
                             sections={u: s for u, s in rechecked.items() if s}, **plan_args)
    urls, pages = archive_urls(index, files)
    name = site_name or site_name_for(urls)
    return ReprocessPlan(spider=ARCHIVE_SPIDER, site=archive_site(name, urls), urls=urls, pages=pages, **plan_args)
