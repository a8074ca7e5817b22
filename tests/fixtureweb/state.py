"""What the sample web serves in a given state, and the manifest tests count against.

State 1 is the web as first crawled. State 2 is the same web three days later: some articles deleted
(404 / 410), moved (301, and one with no redirect), edited, replaced by a soft-404, and new ones published.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from tests.fixtureweb import content
from tests.fixtureweb.content import SECTIONS, Article, DeadPage

NEWS_SITEMAP_WINDOW = timedelta(days=2)
ARCHIVE_SITEMAP_AGE = timedelta(days=7)
FEED_SIZE = 30

# Where state-1 dead links appear in section listings: section -> [(position, path)].
DEAD_IN_LISTINGS = {
    "world": [(12, 0), (25, 6)],
    "business": [(15, 1)],
    "china": [(5, 3)],
    "tech": [(3, 4), (8, 7)],
}


class ServedState(Protocol):
    """What the server asks of a state: `WebState` (the default web, built whole) or `sized.SizedState` (a web
    of any size whose pages are generated on request), so one server answers both."""

    number: int
    now: datetime

    def article(self, path: str) -> Article | None: ...

    def dead_page(self, path: str) -> DeadPage | None: ...

    def listing(self, section: str) -> Sequence[Article | DeadPage]: ...

    def siblings(self, art: Article) -> list[Article]: ...

    def app_article(self, ident: str) -> Article | None: ...

    def app_ids(self) -> list[int]: ...

    def articles_on(self, day: date) -> list[Article]: ...

    def feed(self) -> list[Article]: ...

    def news_sitemap(self) -> list[Article]: ...

    def sitemap_paths(self) -> list[str]: ...

    def urlset(self, path: str) -> Sequence[Article | DeadPage] | None: ...

    def manifest(self) -> dict[str, Any]: ...


@dataclass
class WebState:
    """Everything the server needs to answer a request in one state."""

    number: int
    now: datetime
    articles: dict[str, Article]  # live article pages by path
    listings: dict[str, list[Article | DeadPage]]  # newest first
    dead: dict[str, DeadPage]  # every dead path: status, template, redirect or shell
    changes: dict[str, list[Any]] = field(default_factory=dict)

    def article(self, path: str) -> Article | None:
        return self.articles.get(path)

    def dead_page(self, path: str) -> DeadPage | None:
        return self.dead.get(path)

    def listing(self, section: str) -> list[Article | DeadPage]:
        return self.listings[section]

    def siblings(self, art: Article) -> list[Article]:
        """The 'Related' box: the section's first three other stories."""
        return [a for a in self.listings[art.section] if isinstance(a, Article) and a is not art][:3]

    def app_article(self, ident: str) -> Article | None:
        """The app-shell article whose story JSON is /api/story/IDENT.json."""
        return next((a for a in self.articles.values() if str(a.id) == ident and a.template == "app"), None)

    def app_ids(self) -> list[int]:
        return [a.id for a in self.articles.values() if a.template == "app"]

    def articles_on(self, day: date) -> list[Article]:
        """Articles published on `day` (in their own time zone), for the calendar."""
        return [a for a in self.articles.values() if a.published.date() == day]

    def sitemap_paths(self) -> list[str]:
        """Children of the sitemap index."""
        return ["/sitemaps/news.xml", "/sitemaps/archive.xml.gz", "/sitemaps/opinion.xml"]

    def urlset(self, path: str) -> list[Article | DeadPage] | None:
        """Entries of the plain sitemap at `path` (the news sitemap has its own format)."""
        if path == "/sitemaps/archive.xml.gz":
            return self.archive_sitemap()
        if path == "/sitemaps/opinion.xml":
            return list(self.section_sitemap("opinion"))
        return None

    def feed(self) -> list[Article]:
        """The RSS feed: latest articles of every section reachable without JavaScript."""
        pool = [a for a in self.articles.values() if a.section not in ("live", "opinion")]
        return sorted(pool, key=lambda a: a.published, reverse=True)[:FEED_SIZE]

    def news_sitemap(self) -> list[Article]:
        """Google-News-style sitemap: the last two days only."""
        return [a for a in self._sitemap_pool() if self.now - a.published <= NEWS_SITEMAP_WINDOW]

    def archive_sitemap(self) -> list[Article | DeadPage]:
        """Everything older than a week, dead links included (sitemaps go stale)."""
        old: list[Article | DeadPage] = [
            a for a in self._sitemap_pool() if self.now - a.published > ARCHIVE_SITEMAP_AGE
        ]
        return old + list(self.dead.values())

    def section_sitemap(self, section: str) -> list[Article]:
        return [a for a in self.articles.values() if a.section == section]

    def _sitemap_pool(self) -> list[Article]:
        return [a for a in self.articles.values() if "js" not in a.routes]

    def manifest(self) -> dict[str, Any]:
        """The web's own account of itself, for tests and benchmarks."""
        return {
            "state": self.number,
            "now": self.now.isoformat(),
            "articles": [article_record(a) for a in self.articles.values()],
            "dead": [{"path": d.path, "how": d.how, "expect": d.expect, "lang": d.lang} for d in self.dead.values()],
            "sections": [{"key": s.key, "path": s.path, "pagination": s.pagination} for s in SECTIONS],
            "changes": self.changes,
            "calendar_prefix": "/calendar/",
        }


def article_record(art: Article) -> dict[str, Any]:
    return {
        "path": art.path,
        "id": art.id,
        "section": art.section,
        "lang": art.lang,
        "title": art.title,
        "authors": art.authors,
        "published": art.published.isoformat(),
        "modified": art.modified.isoformat() if art.modified else None,
        "routes": sorted(art.routes),
        "template": art.template,
        "jsonld": art.jsonld,
        "text": art.text,
    }


def build_states(seed: int = 1) -> tuple[WebState, WebState]:
    """Both states of the web; state 2 is derived from state 1."""
    first = _state_one(seed)
    second = _state_two(first, seed)
    for state in (first, second):
        _assign_routes(state)
    return first, second


def _state_one(seed: int) -> WebState:
    articles = content.build_articles(seed)
    dead = content.dead_pages()
    listings: dict[str, list[Article | DeadPage]] = {s.key: [] for s in SECTIONS}
    for art in articles:
        listings[art.section].append(art)
    for section, spots in DEAD_IN_LISTINGS.items():
        for position, index in spots:
            listings[section].insert(position, dead[index])
    return WebState(1, content.STATE1_NOW, {a.path: a for a in articles}, listings, {d.path: d for d in dead})


def _state_two(first: WebState, seed: int) -> WebState:
    rng = random.Random(seed + 2)
    now = first.now + timedelta(days=3)
    articles: dict[str, Article] = {}
    listings: dict[str, list[Article | DeadPage]] = {}
    for key, entries in first.listings.items():
        listings[key] = []
        for entry in entries:
            copy = replace(entry, routes=set()) if isinstance(entry, Article) else entry
            if isinstance(copy, Article):
                articles[copy.path] = copy
            listings[key].append(copy)
    dead = dict(first.dead)
    changes: dict[str, list[Any]] = {"deleted": [], "moved": [], "edited": [], "soft_deleted": [], "new": []}
    by_section = {s.key: [a for a in listings[s.key] if isinstance(a, Article)] for s in SECTIONS}

    def retire(art: Article, page: DeadPage) -> None:
        del articles[art.path]
        dead[page.path] = page
        listings[art.section].remove(art)

    for key, index, how in [("world", 3, "status-404"), ("tech", 4, "status-404"),
                            ("business", 5, "status-410"), ("china", 3, "status-410")]:
        art = by_section[key][index]
        retire(art, DeadPage(art.path, how, "not-found", art.lang))
        changes["deleted"].append({"path": art.path, "status": int(how[-3:])})
    for key, index, how in [("world", 10, "error-template"), ("business", 10, "redirect-home"),
                            ("china", 10, "error-template")]:
        art = by_section[key][index]
        retire(art, DeadPage(art.path, how, "soft-404", art.lang))
        changes["soft_deleted"].append({"path": art.path, "how": how})
    _move_articles(by_section, articles, listings, dead, changes)
    _edit_articles(by_section, articles, now, changes)
    _publish_new(rng, now, articles, listings, changes)
    return WebState(2, now, articles, listings, dead, changes)


def _move_articles(by_section: dict[str, list[Article]], articles: dict[str, Article],
                   listings: dict[str, list[Article | DeadPage]], dead: dict[str, DeadPage],
                   changes: dict[str, list[Any]]) -> None:
    """301 moves (one to another section) and one move that leaves only a 404 behind."""
    moves = [
        (by_section["world"][6], "world", True),
        (by_section["business"][7], "business", True),
        (by_section["world"][8], "opinion", True),
        (by_section["tech"][6], "tech", False),
    ]
    for art, new_section, redirect in moves:
        new_path = content.article_path(new_section, random.Random(art.id), art.id + 50000,
                                        "revised " + art.title, art.published)
        moved = replace(articles.pop(art.path).moved_to(new_path), section=new_section)
        articles[new_path] = moved
        old_listing = listings[art.section]
        slot = old_listing.index(art)
        old_listing.remove(art)
        listings[new_section].insert(min(slot, len(listings[new_section])), moved)
        if redirect:
            dead[art.path] = DeadPage(art.path, f"moved:{new_path}", "moved", art.lang)
        else:
            dead[art.path] = DeadPage(art.path, "status-404", "not-found", art.lang)
        changes["moved"].append({"old": art.path, "new": new_path, "redirect": redirect})


def _edit_articles(by_section: dict[str, list[Article]], articles: dict[str, Article], now: datetime,
                   changes: dict[str, list[Any]]) -> None:
    for key in ("world", "business", "tech", "china"):
        art = articles[by_section[key][2].path]
        addition = "更正：本文已根据最新信息更新。" if art.lang == "zh" else (
            "Correction: an earlier version of this article misstated the date of the vote.")
        art.paragraphs = [*art.paragraphs, addition]
        art.modified = (now - timedelta(hours=1)).astimezone(art.published.tzinfo)
        if key == "world":
            art.title = art.title + " (updated)"
        changes["edited"].append({"path": art.path})


def _publish_new(rng: random.Random, now: datetime, articles: dict[str, Article],
                 listings: dict[str, list[Article | DeadPage]], changes: dict[str, list[Any]]) -> None:
    plan = [("world", 3), ("business", 3), ("tech", 2), ("china", 3), ("live", 1)]
    art_id = 20000
    for key, count in plan:
        for i in range(count):
            art_id += 1
            when = now - timedelta(hours=4 * i + 1)
            art = content.make_article(rng, art_id, content.SECTION_BY_KEY[key], when)
            articles[art.path] = art
            listings[key].insert(i, art)
            changes["new"].append({"path": art.path})


def _assign_routes(state: WebState) -> None:
    """Record how a crawler without JavaScript (or with it, for `js`) can reach each article."""
    for key, entries in state.listings.items():
        if key == "opinion":
            continue
        for position, entry in enumerate(entries):
            if isinstance(entry, Article):
                visible = key != "live" or position < content.LIVE_STATIC
                entry.routes.add("section" if visible else "js")
    for art in state.feed():
        art.routes.add("feed")
    for art in state.news_sitemap() + state.section_sitemap("opinion"):
        art.routes.add("sitemap")
    for entry in state.archive_sitemap():
        if isinstance(entry, Article):
            entry.routes.add("sitemap")
