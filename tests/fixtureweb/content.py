"""The sample news web's content model: sections, articles, dead pages, in state 1.

Everything is derived from one integer seed, so the web is the same on every machine and every run. State 2
(the web a few days later) is derived from state 1 in `changes.py`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone

from tests.fixtureweb import text

CST = timezone(timedelta(hours=8))
STATE1_NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PER_PAGE = 10
LIVE_STATIC = 6  # the JS section shows this many articles without JavaScript


@dataclass(frozen=True)
class Section:
    """A section front and how its pagination looks."""

    key: str
    name: str
    lang: str
    size: int
    pagination: str  # numbered | query | next-only | zh-index | js | none

    @property
    def path(self) -> str:
        return f"/{self.key}/"

    def page_path(self, page: int) -> str:
        """URL path of listing page `page` (1-based)."""
        if page == 1:
            return self.path
        if self.pagination == "query":
            return f"{self.path}?page={page}"
        if self.pagination == "zh-index":
            return f"{self.path}page_{page}.html"
        return f"{self.path}page/{page}/"


SECTIONS = [
    Section("world", "World", "en", 70, "numbered"),
    Section("business", "Business", "en", 60, "query"),
    Section("tech", "Technology", "en", 50, "next-only"),
    Section("china", "中国", "zh", 60, "zh-index"),
    Section("live", "Live", "en", 30, "js"),
    Section("opinion", "Opinion", "en", 10, "none"),  # not linked from any front: sitemap only
]
SECTION_BY_KEY = {s.key: s for s in SECTIONS}


@dataclass
class Article:
    """One article as the web serves it at `path`."""

    id: int
    section: str
    lang: str
    path: str
    title: str
    authors: list[str]
    published: datetime
    paragraphs: list[str]
    tags: list[str]
    jsonld: bool
    modified: datetime | None = None
    template: str = "normal"  # normal | mixed-visible | mixed-hidden | broken | brief | app
    routes: set[str] = field(default_factory=set)  # section | feed | sitemap | js

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    def moved_to(self, path: str) -> Article:
        return replace(self, path=path, routes=set(self.routes))


@dataclass(frozen=True)
class DeadPage:
    """A URL the web links to whose content is gone, and the verdict a classifier should reach."""

    path: str
    how: str  # status-404 | status-410 | error-template | redirect-home | redirect-section | empty-shell
    #           | app-missing (an app shell whose script finds no story and shows the error page)
    expect: str  # not-found | soft-404
    lang: str = "en"


def article_path(section: str, rng: random.Random, art_id: int, title: str, when: datetime) -> str:
    """Each section uses a different real-world URL shape, so discovery sees variety."""
    if section == "business":
        return f"/business/{when:%Y-%m}/{when:%d}/content_{art_id}.htm"
    if section == "tech":
        return f"/tech/article/{art_id}"
    if section == "china":
        return f"/china/a/{when:%Y%m}/{when:%d}/WS{rng.getrandbits(48):012x}.html"
    return f"/{section}/{when:%Y/%m/%d}/{text.slugify(title)}-{art_id % 1000}.html"


def make_article(rng: random.Random, art_id: int, section: Section, when: datetime) -> Article:
    """A fresh article of `section` published at `when`."""
    lang = section.lang
    title = text.headline(rng, lang)
    tz = CST if lang == "zh" else UTC
    published = when.astimezone(tz)
    return Article(
        id=art_id,
        section=section.key,
        lang=lang,
        path=article_path(section.key, rng, art_id, title, published),
        title=title,
        authors=text.author_names(rng, lang),
        published=published,
        paragraphs=text.paragraphs(rng, lang, rng.randint(4, 8)),
        tags=rng.sample(["economy", "transport", "energy", "health", "education", "climate", "trade"], 2),
        jsonld=rng.random() < 0.85,
    )


def build_articles(seed: int) -> list[Article]:
    """All state-1 articles, newest first within each section."""
    rng = random.Random(seed)
    articles: list[Article] = []
    art_id = 10000
    for section in SECTIONS:
        for i in range(section.size):
            art_id += 1
            when = STATE1_NOW - timedelta(hours=6 * i + rng.randint(0, 5), minutes=rng.randint(0, 59))
            articles.append(make_article(rng, art_id, section, when))
    _mark_specials(articles)
    return articles


# (section, position in the section) -> the page style that trips up classifiers and extractors. "app" is an
# empty app shell: the story arrives as JSON and is built by a script; "brief" has one paragraph.
SPECIAL_TEMPLATES = {
    ("business", 12): "mixed-visible",
    ("china", 7): "mixed-hidden",
    ("world", 15): "mixed-hidden",
    ("world", 21): "broken",
    ("tech", 4): "app",
    ("world", 30): "app",
    ("tech", 9): "brief",
}


def apply_template(art: Article, template: str) -> None:
    art.template = template
    if template == "brief":
        art.paragraphs = art.paragraphs[:1]


def _mark_specials(articles: list[Article]) -> None:
    """Give a few articles the page styles of SPECIAL_TEMPLATES."""
    by_section: dict[str, list[Article]] = {}
    for art in articles:
        by_section.setdefault(art.section, []).append(art)
    for (section, position), template in SPECIAL_TEMPLATES.items():
        apply_template(by_section[section][position], template)


def dead_pages() -> list[DeadPage]:
    """State-1 dead links: what a real news site's listings and sitemaps still point to."""
    return [
        DeadPage("/world/2026/10/01/minister-resigns-over-expenses-row-404.html", "status-404", "not-found"),
        DeadPage("/business/2026-09/15/content_500001.htm", "status-410", "not-found"),
        DeadPage("/world/2026/10/02/storm-closes-schools-across-region-7.html", "error-template", "soft-404"),
        DeadPage("/china/a/202610/03/WS0000dead0001.html", "error-template", "soft-404", "zh"),
        DeadPage("/tech/article/999999", "redirect-home", "soft-404"),
        DeadPage("/business/2026-10/07/content_500002.htm", "redirect-section", "soft-404"),
        DeadPage("/world/2026/10/05/election-night-results-map-5.html", "empty-shell", "soft-404"),
        DeadPage("/tech/article/888888", "app-missing", "soft-404"),
    ]
