"""Memento (RFC 7089): URIs of the replay server, Link headers, TimeMaps, Accept-Datetime.

Pure functions of the captures of one URL, so the server only routes. Memento URIs are raw replay URIs
(`/web/TIMESTAMPid_/URL`): a Memento client asks for the archived response as it was served, and a person
browsing gets the rendered replay from the browse origin instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from archive.captureindex import CaptureRow, pad_ts, ts_datetime

LINK_FORMAT = "application/link-format"
_TIMESTAMP = re.compile(r"^\d{4,14}$")


class BadRequestError(ValueError):
    """A replay request the server cannot answer as asked: a 400 with this message."""


def http_date(moment: datetime) -> str:
    """RFC 1123 in GMT, as Memento-Datetime and Accept-Datetime use it."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def parse_accept_datetime(value: str) -> datetime:
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError) as exc:
        raise BadRequestError(f"Accept-Datetime {value!r} is not an RFC 1123 date "
                         "(e.g. Thu, 01 Jan 2026 00:00:00 GMT)") from exc
    if moment is None:
        raise BadRequestError(f"Accept-Datetime {value!r} is not an RFC 1123 date")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_timestamp(value: str) -> str:
    """A wayback timestamp of 4 to 14 digits -> 14 digits (the earliest second it names); else BadRequestError."""
    if not _TIMESTAMP.match(value):
        raise BadRequestError(f"timestamp {value!r} must be 4 to 14 digits (YYYY[MM[DD[hh[mm[ss]]]]])")
    padded = pad_ts(value)
    try:
        ts_datetime(padded)
    except ValueError as exc:
        raise BadRequestError(f"timestamp {value!r} is not a date") from exc
    return padded


def check_url(url: str) -> str:
    """The archived URL of a replay request: http(s), with a host; a bare host gets http:// as pywb does."""
    if "://" not in url:
        url = "http://" + url
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].split("?", 1)[0]
    if scheme.lower() not in ("http", "https") or not host or any(c in url for c in " \r\n\t\0<>\"{}|\\^`"):
        raise BadRequestError(f"{url[:200]!r} is not an http(s) URL")
    try:
        _ = urlsplit(url).port  # a bracket left open, a port that is no number
    except ValueError as exc:
        raise BadRequestError(f"{url[:200]!r} is not a URL ({exc})") from exc
    return url


@dataclass(frozen=True)
class Uris:
    """The server's URIs for one original URL."""

    base: str  # http://host:port of the replay server

    def memento(self, row: CaptureRow) -> str:
        return f"{self.base}/web/{row.ts}id_/{row.url}"

    def timegate(self, url: str) -> str:
        return f"{self.base}/timegate/{url}"

    def timemap(self, url: str, kind: str = "link") -> str:
        return f"{self.base}/timemap/{kind}/{url}"


def _memento_link(uris: Uris, row: CaptureRow, rel: str) -> str:
    return f'<{uris.memento(row)}>; rel="{rel}"; datetime="{http_date(row.moment)}"'


def distinct(rows: list[CaptureRow]) -> list[CaptureRow]:
    """One memento per second: two records at one timestamp (a page and its revisit) share a Memento URI."""
    out: list[CaptureRow] = []
    for row in rows:
        if not out or out[-1].ts != row.ts:
            out.append(row)
    return out


def memento_links(uris: Uris, url: str, rows: list[CaptureRow], current: CaptureRow, timegate: bool = True) -> str:
    """The Link header of a memento (or, without `timegate`, of the TimeGate's redirect to it): original,
    timegate, timemap, and the first / prev / this / next / last mementos."""
    rows = distinct(rows)
    position = next((i for i, r in enumerate(rows) if r.ts == current.ts), 0)
    links = [f'<{url}>; rel="original"', *([f'<{uris.timegate(url)}>; rel="timegate"'] if timegate else []),
             f'<{uris.timemap(url)}>; rel="timemap"; type="{LINK_FORMAT}"']
    last = len(rows) - 1
    for index in sorted({0, position - 1, position, position + 1, last} & set(range(len(rows)))):
        rels = [rel for rel, on in (("first", index == 0), ("prev", index == position - 1),
                                    ("next", index == position + 1), ("last", index == last)) if on]
        links.append(_memento_link(uris, rows[index], " ".join([*rels, "memento"])))
    return ", ".join(links)


def timemap_link(uris: Uris, url: str, rows: list[CaptureRow]) -> str:
    """An RFC 7089 TimeMap in application/link-format, one link per line."""
    rows = distinct(rows)
    lines = [f'<{url}>; rel="original"',
             f'<{uris.timemap(url)}>; rel="self"; type="{LINK_FORMAT}"; '
             f'from="{http_date(rows[0].moment)}"; until="{http_date(rows[-1].moment)}"',
             f'<{uris.timegate(url)}>; rel="timegate"']
    last = len(rows) - 1
    for index, row in enumerate(rows):
        rel = " ".join(r for r, on in (("first", index == 0), ("last", index == last)) if on)
        lines.append(_memento_link(uris, row, f"{rel} memento".strip()))
    return ",\n".join(lines) + "\n"


def timemap_json(uris: Uris, url: str, rows: list[CaptureRow]) -> dict[str, Any]:
    """The TimeMap as JSON, in the layout of the Memento aggregator's JSON TimeMaps."""
    rows = distinct(rows)

    def entry(row: CaptureRow) -> dict[str, Any]:
        return {"datetime": row.moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "uri": uris.memento(row),
                "status": row.status, "verdict": row.verdict}

    return {"original_uri": url, "timegate_uri": uris.timegate(url),
            "timemap_uri": {"link_format": uris.timemap(url), "json_format": uris.timemap(url, "json")},
            "mementos": {"first": entry(rows[0]), "last": entry(rows[-1]), "list": [entry(r) for r in rows]}}
