"""Host probes (Bar-Yossef et al., 2004): ask a host for a URL that cannot exist, and remember its answer.

Per host and URL shape (the directory with its numbers generalised, and the extension), one probe URL in
the same directory with a random slug of similar length is fetched through the normal downloader
(politeness, proxies, archiving and the crawl log all apply; it is logged as `kind: probe`). Its
fingerprint (status, where redirects led, title, simhash, and the answer's text blocks, title and heading)
is cached for a TTL, so one probe serves a whole section. A host that answers the probe 404/410 is honest
for that shape; on a host that answers it 2xx, the answer is the host's error template: what a page shares
with it is taken away before the page is judged (crawler/soft404/classify.py).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from crawler.soft404.features import Evidence, ProbeView
from crawler.textutil import hamming

MATCH_BITS = 6  # simhash distance within which two pages are the same template
_DIGITS = re.compile(r"\d+")
_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class Fingerprint:
    """What the host answered for a URL that does not exist."""

    status: int | None
    final_url: str | None
    redirected: bool
    title: str | None
    simhash: str | None
    fetched: float
    view: ProbeView | None = None  # the answer's text blocks, title and heading, when it was an HTML page

    @property
    def soft(self) -> bool:
        """The host answers unknown URLs with 2xx (after redirects): its error pages look alive."""
        return self.status is not None and 200 <= self.status < 300

    @classmethod
    def from_entry(cls, entry: dict[str, Any], evidence: Evidence | None = None) -> Fingerprint:
        """From the probe's crawl-log entry and, when its answer was read as a page, that page's evidence."""
        view = ProbeView.of(evidence) if evidence is not None else None
        return cls(entry.get("status"), entry.get("final_url"), bool(entry.get("redirects")), entry.get("title"),
                   entry.get("simhash"), time.monotonic(), view)


def shape_of(url: str) -> tuple[str, str, str]:
    """(host, directory with digit runs as '#', extension): URLs of one shape share one probe."""
    parts = urlsplit(url)
    directory, _, name = parts.path.rpartition("/")
    extension = name.rsplit(".", 1)[1] if "." in name else ""
    return parts.netloc.lower(), _DIGITS.sub("#", directory), extension


def probe_url(url: str) -> str:
    """A URL in the same directory that cannot exist: a random slug of similar length, same extension."""
    parts = urlsplit(url)
    directory, _, name = parts.path.rpartition("/")
    stem, dot, extension = name.rpartition(".") if "." in name else (name, "", "")
    slug = "".join(secrets.choice(_ALPHABET) for _ in range(max(8, min(len(stem), 40))))
    return urlunsplit((parts.scheme, parts.netloc, f"{directory}/{slug}{dot}{extension}", "", ""))


def same_landing(entry: dict[str, Any], probe: Fingerprint) -> bool:
    """The page's redirects ended where the host sends URLs that cannot exist."""
    landed = bool(entry.get("redirects")) and entry.get("final_url") == probe.final_url
    return probe.soft and probe.redirected and landed


def matches(entry: dict[str, Any], probe: Fingerprint) -> bool:
    """Bar-Yossef et al.'s test, the baseline benchmarks/soft404.py compares with: the page is the host's
    answer for unknown URLs when it landed where the probe did, or has its title and near its simhash."""
    if not probe.soft:
        return False
    if same_landing(entry, probe):
        return True
    same_title = bool(probe.title) and entry.get("title") == probe.title
    near = bool(probe.simhash and entry.get("simhash")) and hamming(probe.simhash or "", entry["simhash"]) <= MATCH_BITS
    return same_title and near


class HostProbes:
    """Probe fingerprints by URL shape, fetched once per TTL; concurrent pages of one shape share a fetch."""

    def __init__(self, fetch: Callable[[str], Awaitable[Fingerprint]], ttl: float,
                 make_url: Callable[[str], str] = probe_url) -> None:
        """`fetch(url)` returns the probe's fingerprint; a failed fetch returns one with status None.
        `make_url(page_url)` gives the probe's URL (`scrapy reprocess` asks for the one the archive holds)."""
        self.fetch, self.ttl, self.make_url = fetch, ttl, make_url
        self._cache: dict[tuple[str, str, str], Fingerprint] = {}
        self._pending: dict[tuple[str, str, str], asyncio.Future[Fingerprint]] = {}
        self.fetched = 0

    async def fingerprint(self, url: str) -> Fingerprint:
        key = shape_of(url)
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached.fetched < self.ttl:
            return cached
        if key in self._pending:
            return await asyncio.shield(self._pending[key])
        future: asyncio.Future[Fingerprint] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            self.fetched += 1
            result = await self.fetch(self.make_url(url))
            self._cache[key] = result
            future.set_result(result)
            return result
        finally:
            del self._pending[key]
