"""WACZ 1.1.1 packaging of a stored crawl: one ZIP that ReplayWeb.page, pywb and `wacz validate` open as is.

```
archive/NAME.warc.gz        the crawl's WARCs, stored (never deflated: readers range-read records in them)
indexes/index.cdxj          the crawl's CDXJ files merged, sorted; `filename` is the WARC's name in archive/
  or indexes/index.cdx.gz   for big crawls: the same lines in gzip blocks (stored), with
     indexes/index.idx      one line per block, so a reader unpacks one block per lookup
pages/pages.jsonl           the articles the crawl judged live (verdict ok), for a replay's page list
datapackage.json            every file above with its sha256 and size
datapackage-digest.json     the sha256 of datapackage.json
```

Streamed from the store (see archive/waczindex.py): WARCs in ranged chunks hashed on the way, the index merged
from the per-WARC CDXJ and written as it comes. Only a complete crawl is packed unless `partial=True`: a WACZ
of a crawl still running or stopped short would pass for the whole crawl once copied elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import crawler
from archive.store import Store
from archive.waczindex import (
    BLOCK_LINES,
    COPY_CHUNK,
    CompressedIndex,
    HashingWriter,
    chunks,
    gunzip,
    lines,
    merged_cdxj,
)
from crawler.errors import PalimpsestError
from crawler.secrets import redact_url

logger = logging.getLogger(__name__)

WACZ_VERSION = "1.1.1"
# Up to this many index lines, indexes/index.cdxj (a reader loads it whole); above, index.cdx.gz + index.idx.
# 10,000 lines are ~4 MB of CDXJ: what a browser can load at once without making the first page wait.
COMPRESSED_INDEX_LINES = 10_000
PAGE_KINDS = ("article", "recheck")


class WaczError(PalimpsestError):
    """A crawl that cannot be packaged: not in the store, not finished, nothing archived."""


@dataclass
class WaczSummary:
    """What went into one WACZ."""

    path: Path
    crawl_id: str
    warcs: int = 0
    warc_bytes: int = 0
    index_lines: int = 0
    compressed_index: bool = False
    pages: int = 0
    files: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        index = "index.cdx.gz" if self.compressed_index else "index.cdxj"
        return (f"{self.files} files: {self.warcs} WARCs ({self.warc_bytes:,} bytes), {self.index_lines} index lines "
                f"({index}), {self.pages} pages; {self.bytes:,} bytes")


def wacz_key(crawl_id: str) -> str:
    """Where a crawl's own WACZ lives in the store (ARCHIVE_WACZ), beside its warc/ and cdxj/."""
    return f"crawls/{crawl_id}/wacz/{crawl_id}.wacz"


@dataclass
class _Crawl:
    """A crawl's objects in the store, as listed once at the start."""

    crawl_id: str
    manifest: dict[str, Any]
    warcs: list[tuple[str, int]]
    cdxj: list[tuple[str, int]]
    logs: list[tuple[str, int]]


def _name(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def _load(store: Store, crawl_id: str, partial: bool) -> _Crawl:
    prefix = f"crawls/{crawl_id}/"
    sizes = dict(store.listing(prefix))
    if not sizes:
        raise WaczError(f"crawl {crawl_id!r}: not in the store {redact_url(store.uri)}")
    manifest: dict[str, Any] = {}
    if prefix + "crawl.json" in sizes:
        try:
            loaded = json.loads(store.get_bytes(prefix + "crawl.json"))
        except ValueError as exc:
            raise WaczError(f"crawl {crawl_id!r}: crawl.json cannot be read ({exc})") from exc
        manifest = loaded if isinstance(loaded, dict) else {}
        if manifest.get("complete") is not True and not partial:
            raise WaczError(f"crawl {crawl_id!r} is incomplete (crawl.json says complete: false; files wait in "
                            "the spool, see `scrapy store-sync`): pass partial=True (--partial) to package what "
                            "is stored")
    elif not partial:
        raise WaczError(f"crawl {crawl_id!r} has no crawl.json (still running, or stopped before the end): "
                        "pass partial=True (--partial) to package what is stored")

    def under(directory: str, suffix: str) -> list[tuple[str, int]]:
        return sorted((k, s) for k, s in sizes.items()
                      if k.startswith(f"{prefix}{directory}/") and k.count("/") == 3 and k.endswith(suffix))

    crawl = _Crawl(crawl_id, manifest, under("warc", ".warc.gz"), under("cdxj", ".cdxj"), under("log", ".jsonl.gz"))
    if not crawl.warcs:
        raise WaczError(f"crawl {crawl_id!r}: no WARC files under {prefix}warc/")
    return crawl


class _Package:
    """The ZIP being written and the datapackage resources of its members, in the order written."""

    def __init__(self, zf: zipfile.ZipFile, created: datetime) -> None:
        self.zf = zf
        self.date_time = created.timetuple()[:6]
        self.resources: list[dict[str, Any]] = []

    def member(self, path: str, stored: bool, size_hint: int, listed: bool = True) -> _Member:
        """A member to stream into; `size_hint` (an upper bound of its size) turns on ZIP64 when it may need it;
        `listed`: a datapackage resource (all but datapackage.json and its digest)."""
        info = zipfile.ZipInfo(path, self.date_time)
        info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        handle = self.zf.open(info, "w", force_zip64=size_hint * 1.05 >= zipfile.ZIP64_LIMIT)
        return _Member(self.resources if listed else None, path, handle)

    def write_bytes(self, path: str, data: bytes, listed: bool = True) -> None:
        with self.member(path, stored=False, size_hint=len(data), listed=listed) as out:
            out.write(data)


class _Member:
    """One member being written; on close it joins `resources` (when given) with its hash and size."""

    def __init__(self, resources: list[dict[str, Any]] | None, path: str, handle: IO[bytes]) -> None:
        self.resources, self.path, self.handle = resources, path, handle
        self.out = HashingWriter(handle)

    def __enter__(self) -> HashingWriter:
        return self.out

    def __exit__(self, *exc: object) -> None:
        self.handle.close()
        if self.resources is not None:
            self.resources.append({"name": _name(self.path).lower(), "path": self.path,
                                   "hash": self.out.hash, "bytes": self.out.bytes})


def write_wacz(store: Store, crawl_id: str, out_path: Path, partial: bool = False,
               compress_above: int = COMPRESSED_INDEX_LINES, block_lines: int = BLOCK_LINES) -> WaczSummary:
    """Package crawl `crawl_id` of `store` as a WACZ at `out_path` (written under a temporary name, renamed
    when complete). Raises WaczError for a crawl that is unknown, unfinished (unless `partial`) or empty."""
    crawl = _load(store, crawl_id, partial)
    summary = WaczSummary(out_path, crawl_id)
    created = datetime.now(UTC).replace(microsecond=0)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
            package = _Package(zf, created)
            _write_warcs(package, store, crawl, summary)
            _write_index(package, store, crawl, summary, compress_above, block_lines)
            main_page = _write_pages(package, store, crawl, summary)
            body = _datapackage(crawl, package.resources, created, main_page)
            package.write_bytes("datapackage.json", body, listed=False)
            digest = {"path": "datapackage.json", "hash": f"sha256:{hashlib.sha256(body).hexdigest()}"}
            package.write_bytes("datapackage-digest.json", json.dumps(digest, indent=2).encode(), listed=False)
            summary.files = len(zf.infolist())
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    summary.bytes = out_path.stat().st_size
    for problem in summary.problems:
        logger.warning("WACZ of %s: %s", crawl_id, problem)
    return summary


def _write_warcs(package: _Package, store: Store, crawl: _Crawl, summary: WaczSummary) -> None:
    for key, size in crawl.warcs:
        with package.member(f"archive/{_name(key)}", stored=True, size_hint=size) as out:
            for data in chunks(store, key, size, COPY_CHUNK):
                out.write(data)
        summary.warcs += 1
        summary.warc_bytes += size


def _write_index(package: _Package, store: Store, crawl: _Crawl, summary: WaczSummary, compress_above: int,
                 block_lines: int) -> None:
    """The merged CDXJ, as index.cdxj when it has at most `compress_above` lines, else compressed. The first
    `compress_above` + 1 lines wait in memory until the choice is known: one pass over the CDXJ, bounded."""
    warcs = {_name(k) for k, _ in crawl.warcs}
    parts = []
    for key, size in crawl.cdxj:
        if _name(key).removesuffix(".cdxj") + ".warc.gz" in warcs:
            parts.append((key, size))
        else:
            summary.problems.append(f"{_name(key)} indexes a WARC the store does not have: left out")
    indexed = {_name(k).removesuffix(".cdxj") + ".warc.gz" for k, _ in parts}
    summary.problems += [f"{name} has no CDXJ in the store: its records are not in the index"
                         for name in sorted(warcs - indexed)]
    merged = merged_cdxj(store, parts)
    head: list[str] = []
    for line in merged:
        head.append(line)
        if len(head) > compress_above:
            break
    hint = sum(size for _, size in parts)
    if len(head) <= compress_above:
        with package.member("indexes/index.cdxj", stored=False, size_hint=hint) as out:
            for line in head:
                out.write(f"{line}\n".encode())
        summary.index_lines = len(head)
        return
    with package.member("indexes/index.cdx.gz", stored=True, size_hint=hint) as out:
        index = CompressedIndex(out, block_lines)
        for line in _chain(head, merged):
            index.write(line)
        index.flush()
    package.write_bytes("indexes/index.idx", "".join(f"{line}\n" for line in index.idx_lines()).encode())
    summary.index_lines, summary.compressed_index = index.lines, True


def _chain(head: list[str], rest: Iterator[str]) -> Iterator[str]:
    yield from head
    head.clear()  # the buffered lines go as soon as they are written
    yield from rest


def _write_pages(package: _Package, store: Store, crawl: _Crawl, summary: WaczSummary) -> dict[str, str] | None:
    """pages/pages.jsonl from the crawl log; returns the main page: the crawl's first live section page (its
    entry point, usually the front page), else its first article."""
    header = {"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}
    main: dict[str, str] | None = None
    first: dict[str, str] | None = None
    seen: set[tuple[str, str]] = set()
    bad = 0
    hint = sum(size for _, size in crawl.logs) * 20  # gzip of JSON lines packs ~10x; pages are a part of it
    with package.member("pages/pages.jsonl", stored=False, size_hint=hint) as out:
        out.write((json.dumps(header) + "\n").encode())
        for key, size in crawl.logs:
            for line in lines(gunzip(chunks(store, key, size, COPY_CHUNK))):
                try:
                    entry = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                if not isinstance(entry, dict) or entry.get("verdict") != "ok":
                    continue
                url, ts = entry.get("final_url") or entry.get("url"), entry.get("fetched_at")
                if not isinstance(url, str) or not isinstance(ts, str):
                    continue
                if main is None and entry.get("kind") == "section":
                    main = {"url": url, "ts": ts}
                if entry.get("kind") not in PAGE_KINDS or (url, ts) in seen:
                    continue
                seen.add((url, ts))
                page = {"id": _page_id(entry, len(seen)), "url": url, "ts": ts}
                if entry.get("title"):
                    page["title"] = str(entry["title"])
                out.write((json.dumps(page, ensure_ascii=False) + "\n").encode())
                summary.pages += 1
                first = first or {"url": url, "ts": ts}
            if bad:
                summary.problems.append(f"{_name(key)}: {bad} lines are not JSON, left out of the pages")
                bad = 0
    return main or first


def _page_id(entry: dict[str, Any], serial: int) -> str:
    """The page's WARC record id (a UUID: unique, and the same in every package of the crawl), else a serial."""
    record_id = str((entry.get("warc") or {}).get("record_id") or "")
    uuid = record_id.strip("<>").removeprefix("urn:uuid:").replace("-", "")
    return uuid if uuid else f"page-{serial}"


def _datapackage(crawl: _Crawl, resources: list[dict[str, Any]], created: datetime,
                 main: dict[str, str] | None) -> bytes:
    site = crawl.manifest.get("site")
    package: dict[str, Any] = {
        "profile": "data-package",
        "wacz_version": WACZ_VERSION,
        "title": f"Palimpsest crawl {crawl.crawl_id}" + (f" of {site}" if site else ""),
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "software": f"Palimpsest {crawler.__version__}",
    }
    if main:
        package["mainPageUrl"], package["mainPageDate"] = main["url"], main["ts"]
    package["resources"] = resources
    return json.dumps(package, indent=2, ensure_ascii=False).encode()
