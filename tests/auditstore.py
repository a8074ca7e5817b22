"""Small stores written by hand, file for file as a crawl writes them, for catalog and audit tests.

A crawl here is a list of `Fetch`es; each becomes a crawl-log entry with a WARC pointer, a CDXJ line that
points at the same record, and (when it has text) an article item. The WARC holds placeholder bytes of the
right size: the catalog never reads WARCs, only checks that the CDXJ fits inside them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

T0 = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
SITE = "news"
BASE = "https://news.example/"
RECORD = 1000  # bytes per placeholder record


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def story(n: int, words: int = 120) -> str:
    """A deterministic story of `words` words, distinct for every n, in paragraphs."""
    vocab = ["council", "river", "budget", "harbour", "school", "vote", "mayor", "bridge", "rail", "market",
             "court", "storm", "union", "clinic", "museum", "tender", "report", "energy", "housing", "police"]
    out = []
    for i in range(words):
        out.append(vocab[(n * 7 + i * (n % 5 + 3)) % len(vocab)] + ("." if i % 12 == 11 else ""))
        if i % 40 == 39:
            out.append("\n\n")
    return f"Story {n}: " + " ".join(out).replace(" \n\n ", "\n\n").strip()


@dataclass
class Fetch:
    """One requested URL in one crawl, and what it gave."""

    path: str
    status: int | None = 200
    verdict: str | None = "ok"
    reasons: list[str] = field(default_factory=list)
    text: str | None = None  # the article's text: an item is written when set (and the fetch is good)
    title: str | None = None
    final_path: str | None = None  # after redirects
    kind: str = "article"
    modified: str | None = None
    authors: list[str] = field(default_factory=lambda: ["A. Writer"])
    section: str = "world"
    error: str | None = None


def url(path: str) -> str:
    return BASE + path.lstrip("/")


def _gz_jsonl(records: list[dict[str, Any]]) -> bytes:
    return gzip.compress(b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records))


def write_crawl(root: Path, crawl_id: str, started: datetime, fetches: list[Fetch], spider: str = "news",
                manifest: bool = True, complete: bool = True) -> Path:
    """Write one crawl under `root/crawls/crawl_id/`; its fetches one second apart from `started`."""
    base = root / "crawls" / crawl_id
    for sub in ("log", "items", "cdxj", "warc"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    warc_name = f"PALIMPSEST-{started:%Y%m%d%H%M%S}000-00000-test.warc.gz"
    log, items, cdxj = [], [], []
    for n, f in enumerate(fetches):
        when = iso(started + timedelta(seconds=n))
        offset = n * RECORD
        final = url(f.final_path or f.path) if f.status is not None else None
        redirects = [{"url": url(f.path), "status": 301}] if f.final_path else []
        warc = {"filename": warc_name, "offset": offset, "length": RECORD, "record_id": f"<urn:uuid:{crawl_id}-{n}>"}
        digest = "sha1:" + hashlib.sha1((f.text or f.path).encode()).hexdigest()
        log.append({"url": url(f.path), "final_url": final, "redirects": redirects, "status": f.status,
                    "mime": "text/html", "fetched_at": when, "verdict": f.verdict, "reasons": f.reasons,
                    "score": 0.1, "kind": f.kind, "title": f.title, "content_digest": digest, "simhash": None,
                    "warc": warc if f.status is not None else None, "crawl_id": crawl_id, "site": SITE,
                    "error": f.error, "render": None, "probe": None})
        if f.status is not None:
            ts = when.replace("-", "").replace(":", "").replace("T", "")[:14]
            cdxj.append(f'com,example,news)/{f.path.lstrip("/")} {ts} ' + json.dumps(
                {"url": url(f.path), "mime": "text/html", "status": str(f.status), "digest": digest,
                 "length": str(RECORD), "offset": str(offset), "filename": warc_name}))
        if f.text is not None and f.verdict in ("ok", None):
            text_digest = "sha1:" + hashlib.sha1(f.text.encode()).hexdigest()
            items.append({"url": final, "canonical_url": final, "site": SITE, "section": f.section,
                          "title": f.title, "authors": f.authors, "published": "2026-10-30T08:00:00Z",
                          "modified": f.modified, "language": "en", "text": f.text, "summary": "", "tags": [],
                          "images": [], "fetched_at": when, "crawl_id": crawl_id, "content_digest": text_digest,
                          "simhash": None, "warc": warc})
    files = {
        "log/part-00000.jsonl.gz": _gz_jsonl(log),
        "items/part-00000.jsonl.gz": _gz_jsonl(items),
        f"cdxj/{warc_name.removesuffix('.warc.gz')}.cdxj": "".join(line + "\n" for line in sorted(cdxj)).encode(),
        f"warc/{warc_name}": b"\0" * (RECORD * max(1, len(fetches))),
    }
    objects: list[dict[str, Any]] = []
    for rel, data in files.items():
        (base / rel).write_bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        objects.append({"key": f"crawls/{crawl_id}/{rel}", "size": len(data), "sha256": sha})
    if manifest:
        body = {"crawl_id": crawl_id, "site": SITE, "spider": spider, "started_at": iso(started),
                "finished_at": iso(started + timedelta(seconds=len(fetches))), "finish_reason": "finished",
                "complete": complete, "waiting": [] if complete else [objects[0]["key"]],
                "objects": sorted(objects, key=lambda o: o["key"])}
        (base / "crawl.json").write_text(json.dumps(body, indent=2))
    return base


def snapshot(root: Path) -> dict[str, tuple[int, float, str]]:
    """Every file of a store: size, mtime and sha256, to show nothing was written."""
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime,
                                              hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()}
