"""The replay server's own HTML pages (jinja2 templates in archive/templates/replay/), each with its CSP.

Pages of the main origin carry no script at all (`script-src 'none'`); the browse page loads ReplayWeb.page
from its own origin only. Archived content never passes through these templates.
"""

from __future__ import annotations

import calendar as cal
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from archive.captureindex import CaptureRow, SourceRow
from archive.memento import Uris

UI_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
          "base-uri 'none'; frame-ancestors 'none'")
BROWSE_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline';"
              " img-src 'self' data: blob:; font-src 'self' data:; media-src 'self' blob:; connect-src 'self';"
              " frame-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'")
SEARCH_LIMIT = 1000

_env = Environment(loader=PackageLoader("archive", "templates/replay"), autoescape=select_autoescape(["j2"]),
                   trim_blocks=True, lstrip_blocks=True)


def _page(template: str, status: int = 200, csp: str = UI_CSP, **context: Any) -> web.Response:
    text = _env.get_template(template).render(**context)
    return web.Response(status=status, text=text, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "no-referrer"})


def error(status: int, title: str, message: str, links: list[tuple[str, str]] | None = None) -> web.Response:
    return _page("message.html.j2", status, title=title, message=message, links=links or [])


def not_archived(url: str, uris: Uris) -> web.Response:
    return error(404, "Not in the archive", f"{url} was never archived in this store.",
                 [("search for URLs under it", f"/search?match=prefix&url={url}")])


def home(sources: list[SourceRow], browse_url: str) -> web.Response:
    return _page("home.html.j2", sources=sources, browse_url=browse_url)


def search(query: str, match: str, rows: list[CaptureRow], browse_url: str) -> web.Response:
    heading = f"Captures of {query}" if match == "exact" else f"Captures {match} {query}" if query else "Search"
    return _page("captures.html.j2", heading=heading, rows=rows, query=query, match=match, browse_url=browse_url,
                 limit=SEARCH_LIMIT, intro="")


def crawl(source: SourceRow, rows: list[CaptureRow], browse_url: str) -> web.Response:
    intro = (f"{source.site or ''} · {source.started_at or '?'} to {source.finished_at or '?'} · "
             f"{source.captures} captures; the HTML pages answered 200 below")
    return _page("captures.html.j2", heading=f"Crawl {source.source}", rows=rows, browse_url=browse_url,
                 limit=5000, intro=intro)


@dataclass(frozen=True)
class Day:
    day: int  # 0: a blank cell before the 1st or after the last
    count: int = 0
    ts: str = ""


@dataclass(frozen=True)
class Month:
    name: str
    weeks: list[list[Day]]


def months(rows: list[CaptureRow]) -> list[tuple[int, list[Month]]]:
    """Year -> months with captures, each a Monday-first grid of days; a day links its first capture."""
    counts = Counter(r.ts[:8] for r in rows)
    first: dict[str, str] = {}
    for row in rows:
        first.setdefault(row.ts[:8], row.ts)
    out: dict[int, list[Month]] = {}
    for year, month in sorted({(int(d[:4]), int(d[4:6])) for d in counts}):
        weeks = [[Day(day, counts.get(f"{year:04d}{month:02d}{day:02d}", 0),
                      first.get(f"{year:04d}{month:02d}{day:02d}", "")) for day in week]
                 for week in cal.Calendar().monthdayscalendar(year, month)]
        out.setdefault(year, []).append(Month(cal.month_name[month], weeks))
    return sorted(out.items())


def calendar(url: str, rows: list[CaptureRow], browse_url: str) -> web.Response:
    return _page("calendar.html.j2", url=url, query=url, rows=rows, calendar=months(rows), browse_url=browse_url)


REPLAY_APP = ('<!doctype html>\n<html><head><script src="./ui.js"></script></head>\n'
              "<body><replay-app-main></replay-app-main></body></html>\n")


def replay_app() -> web.Response:
    return web.Response(text=REPLAY_APP, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": BROWSE_CSP, "Cache-Control": "no-cache"})


def browse(url: str, row: CaptureRow, main_url: str) -> web.Response:
    return _page("browse.html.j2", csp=BROWSE_CSP, url=url, row=row, main_url=main_url)
