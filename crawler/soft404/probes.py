"""Host probes (Bar-Yossef et al., 2004): ask a host for a URL that cannot exist, and remember its answer.

Per host and URL shape (the directory with its numbers generalised, and the extension), one probe URL in
the same directory (a random slug of similar length, or, for a page named by a number, the same name with
a number the host does not have) is fetched through the normal downloader
(politeness, proxies, archiving and the crawl log all apply; it is logged as `kind: probe`). Its
fingerprint (status, where redirects led, title, simhash, and the answer as pages are compared with it: its
text blocks, title, heading, media, and whether it has a password field, paywall markup or
article markup) is cached for a TTL, so one probe serves a whole section. A host that answers the probe
404/410 is honest for that shape; on a host that answers it 2xx, the answer is the host's error template:
what a page shares with it is taken away before the page is judged (crawler/soft404/classify.py).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import string
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from crawler.soft404.features import ProbeView
from crawler.textutil import hamming

MATCH_BITS = 6  # simhash distance within which two pages are the same template
_DIGITS = re.compile(r"\d+")
ID_DIGITS = 5  # a run of this many digits names an item (shorter: a year, a day, a page, a count)
# An ID: not glued to other digits, nor begun inside a percent-escape (`%E2%80%93` then digits).
_ID = re.compile(rf"(?<![\d%])(?<!%[0-9A-Fa-f])\d{{{ID_DIGITS},}}(?!\d)")
_DATE = re.compile(r"(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])?")  # 202402, 20240203: a date
# A query parameter that names the item (`?id=`, `?p=`, `?articleId=`), not a tracking or cache one.
_QUERY_ID = re.compile(rf"((?:^|[&;])(?:id|p|aid|nid|sid|cid|pid|story|storyid|story_id|article|articleid|"
                       rf"article_id|newsid|news_id|item|itemid|item_id|postid|post_id|docid|doc_id)=)"
                       rf"(\d{{{ID_DIGITS},}})(?=$|[&;])", re.IGNORECASE)
_SLUG = re.compile(r"[^\W\d_]+[-_][^\W\d_]+")  # words joined as a slug: the name is the item's, not a script's
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
    url: str | None = None  # the probe URL asked (None: not kept, from a record written before it was)

    @property
    def soft(self) -> bool:
        """The host answers unknown URLs with 2xx (after redirects): its error pages look alive."""
        return self.status is not None and 200 <= self.status < 300

    def record(self) -> dict[str, Any]:
        """As JSON keeps it (a Redis entry, a crawl's `probes` part): `at` is when it was fetched, in epoch
        seconds, so another process ages it from there."""
        view = self.view
        return {"url": self.url, "status": self.status, "final_url": self.final_url, "redirected": self.redirected,
                "title": self.title, "simhash": self.simhash, "at": time.time() - (time.monotonic() - self.fetched),
                "view": None if view is None else {"blocks": sorted(view.blocks), "title": view.title,
                                                   "heading": view.heading, "login": view.login,
                                                   "media": sorted(view.media), "paywalled": view.paywalled,
                                                   "article": view.article,
                                                   "lists": [list(pair) for pair in view.lists],
                                                   "searches": view.searches, "echoes": view.echoes}}

    @classmethod
    def of_record(cls, data: dict[str, Any]) -> Fingerprint:
        """From `record()`'s dict; KeyError / TypeError / ValueError when it is not one."""
        age = max(0.0, time.time() - float(data["at"]))
        view = data.get("view")
        return cls(data["status"], data["final_url"], bool(data["redirected"]), data["title"], data["simhash"],
                   time.monotonic() - age,
                   None if view is None else ProbeView(True, frozenset(int(b) for b in view["blocks"]),
                                                      str(view["title"]), str(view["heading"]),
                                                      bool(view.get("login")), _keys(view.get("media")),
                                                      bool(view.get("paywalled")), bool(view.get("article", True)),
                                                      _lists(view.get("lists")), bool(view.get("searches")),
                                                      bool(view.get("echoes"))),
                   data.get("url") if isinstance(data.get("url"), str) else None)

    @classmethod
    def from_entry(cls, entry: dict[str, Any], view: ProbeView | None = None) -> Fingerprint:
        """From the probe's crawl-log entry and, when its answer was read as the host's error template, that."""
        return cls(entry.get("status"), entry.get("final_url"), bool(entry.get("redirects")), entry.get("title"),
                   entry.get("simhash"), time.monotonic(), view, entry.get("url"))


def _keys(value: Any) -> frozenset[int]:
    """Media keys as a record keeps them; none from a record written before they were kept."""
    return frozenset(int(key) for key in value) if isinstance(value, list) else frozenset()


def _lists(value: Any) -> tuple[tuple[int, int], ...]:
    """Story lists as a record keeps them; none from a record written before they were kept."""
    return tuple((int(key), int(size)) for key, size in value) if isinstance(value, list) else ()


def _split_path(path: str) -> tuple[str, str, str]:
    """(directory, last segment, "/" if the path ends in one): `/2024/05/my-post/` is the page `my-post` in
    `/2024/05`, as its sibling `/2024/05/other-post/` is (not a directory of its own, whose probe would sit
    under the article and may be answered with the article itself)."""
    slash = "/" if path.endswith("/") and path.strip("/") else ""
    directory, _, name = path.rstrip("/").rpartition("/") if slash else path.rpartition("/")
    return directory, name, slash


def shape_of(url: str) -> tuple[str, str, str]:
    """(host, directory with digit runs as '#', extension or '/'): URLs of one shape share one probe."""
    parts = urlsplit(url)
    directory, name, slash = _split_path(parts.path)
    extension = name.rsplit(".", 1)[1] if "." in name else slash
    return parts.netloc.lower(), _DIGITS.sub("#", directory), extension


def probe_url(url: str) -> str:
    """A URL of the same shape that cannot exist. A page named by a number (`article-123456.html`,
    `/a/123456-bridge-plan`, `story.php?id=123456`) is routed by it: its probe keeps the name and asks for a
    number the host does not have, so the host's article route answers it with its "article not found"
    page, as it answers a deleted article (a random name would miss the route and get a plain 404, and the
    host would look honest). Any other page: a random slug of similar length in the same directory, same
    extension (or trailing slash), no query (a tracking parameter changed would fetch the page itself)."""
    parts = urlsplit(url)
    directory, name, slash = _split_path(parts.path)
    stem, dot, extension = name.rpartition(".") if "." in name else (name, "", "")
    unknown = _ID.sub(_unknown_id, stem)
    if unknown != stem:
        return urlunsplit((parts.scheme, parts.netloc, f"{directory}/{unknown}{dot}{extension}{slash}", "", ""))
    if not _SLUG.search(stem):  # a script or a plain word (`story.php`, `/article`): the item is its query's
        query = _QUERY_ID.sub(lambda found: found.group(1) + _unknown_id(found), parts.query)
        if query != parts.query:
            return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    slug = "".join(secrets.choice(_ALPHABET) for _ in range(max(8, min(len(stem), 40))))
    return urlunsplit((parts.scheme, parts.netloc, f"{directory}/{slug}{dot}{extension}{slash}", "", ""))


def _unknown_id(found: re.Match[str]) -> str:
    """For an ID (a run of ID_DIGITS or more digits that is not a date): a number of the same length the host
    very likely does not have, past its newest: one more leading 9 than the ID has, then random digits."""
    digits = found.group(found.lastindex or 0)
    if _DATE.fullmatch(digits):
        return digits
    nines = min(len(digits), len(digits) - len(digits.lstrip("9")) + 1)
    if nines == len(digits):
        return digits  # 99999: no number of its length is past it
    return "9" * nines + "".join(secrets.choice(string.digits) for _ in range(len(digits) - nines))


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
    """Probe fingerprints by URL shape, fetched once per TTL; concurrent pages of one shape share a fetch.

    At most `max_shapes` are kept, least recently asked for forgotten first (a long crawl of many hosts
    keeps a bounded cache: each answer holds up to a few thousand block keys)."""

    def __init__(self, fetch: Callable[[str], Awaitable[Fingerprint]], ttl: float,
                 make_url: Callable[[str], str] = probe_url, max_shapes: int = 5000) -> None:
        """`fetch(url)` returns the probe's fingerprint; a failed fetch returns one with status None.
        `make_url(page_url)` gives the probe's URL (`scrapy reprocess` asks for the one the archive holds)."""
        self.fetch, self.ttl, self.make_url, self.max_shapes = fetch, ttl, make_url, max_shapes
        self._cache: OrderedDict[tuple[str, str, str], Fingerprint] = OrderedDict()
        self._pending: dict[tuple[str, str, str], asyncio.Future[Fingerprint]] = {}
        self.fetched = 0

    def learn(self, url: str, fingerprint: Fingerprint) -> bool:
        """Take an answer an earlier crawl got for a probe of `url`'s shape (crawler/soft404/learned.py),
        unless this crawl has a fresher one; False when not taken."""
        key = shape_of(url)
        known = self._cache.get(key)
        if key in self._pending or (known is not None and known.fetched >= fingerprint.fetched) \
                or time.monotonic() - fingerprint.fetched >= self.ttl:
            return False
        self._keep(key, fingerprint)
        return True

    def _keep(self, key: tuple[str, str, str], fingerprint: Fingerprint) -> None:
        """Cache it as the newest asked for, forgetting the least recent past `max_shapes`."""
        self._cache[key] = fingerprint
        self._cache.move_to_end(key)
        if len(self._cache) > self.max_shapes:
            self._cache.popitem(last=False)

    async def fingerprint(self, url: str) -> Fingerprint:
        key = shape_of(url)
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached.fetched < self.ttl:
            self._cache.move_to_end(key)
            return cached
        if key in self._pending:
            return await asyncio.shield(self._pending[key])
        future: asyncio.Future[Fingerprint] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            self.fetched += 1
            result = await self.fetch(self.make_url(url))
        except BaseException as exc:  # the pages waiting for this answer get the failure, not a hang
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            del self._pending[key]
        self._keep(key, result)
        future.set_result(result)
        return result
