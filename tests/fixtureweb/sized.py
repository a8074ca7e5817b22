"""A sample web of any size (`python -m tests.fixtureweb --size 50000`), for soak tests and benchmarks.

It is the default web's state 1 repeated in blocks: block b of a section holds as many articles as the default
section, with the same special pages at the same positions (mixed templates, broken bytes, app shells, a
brief) and the same dead links in its listings (404, 410, error templates, redirects, empty shells), so a
crawl of it meets the same kinds of pages in the same proportions. The JavaScript-only section stays at its
default size: what it adds is only reachable through a browser.

Nothing is built up front but a few hundred small objects: an article is generated on request from the seed,
its section and its position there (its own RNG), and a URL is mapped back to them (the article id is in every
article URL), so the server starts at once and holds no pages. The archive sitemap is split in sitemaps of
ARCHIVE_SITEMAP_URLS URLs listed by the sitemap index, as large sites do (the protocol allows 50,000).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, overload

from tests.fixtureweb import content, text
from tests.fixtureweb.content import (
    CST,
    LIVE_STATIC,
    SECTION_BY_KEY,
    SECTIONS,
    SPECIAL_TEMPLATES,
    STATE1_NOW,
    Article,
    DeadPage,
)
from tests.fixtureweb.state import (
    ARCHIVE_SITEMAP_AGE,
    DEAD_IN_LISTINGS,
    FEED_SIZE,
    NEWS_SITEMAP_WINDOW,
    article_record,
)

UNSCALED = frozenset({"live"})  # past its first LIVE_STATIC stories, only a browser reaches this section
ID_STRIDE = 1_000_000  # article id = (section index + 1) * ID_STRIDE + position: unique and reversible
ARCHIVE_SITEMAP_URLS = 10_000
SPACING = timedelta(hours=6)  # between consecutive stories of a section, as in the default web
_SECTION_INDEX = {s.key: n for n, s in enumerate(SECTIONS)}
_ARTICLE_ID = {
    "business": re.compile(r"^/business/\d{4}-\d{2}/\d{2}/content_(\d+)\.htm$"),
    "tech": re.compile(r"^/tech/article/(\d+)$"),
    "china": re.compile(r"^/china/a/\d{6}/\d{2}/WS([0-9a-f]{6})[0-9a-f]{6}\.html$"),
    "": re.compile(r"^/(?:world|live|opinion)/\d{4}/\d{2}/\d{2}/[a-z0-9-]+-(\d+)\.html$"),
}


def blocks_for(size: int) -> int:
    """Blocks of sections that make about `size` articles."""
    per_block = sum(s.size for s in SECTIONS if s.key not in UNSCALED)
    fixed = sum(s.size for s in SECTIONS if s.key in UNSCALED)
    return max(1, round((size - fixed) / per_block))


def dead_page(kind: int, block: int) -> DeadPage:
    """Dead link `kind` (an index into content.dead_pages()) of `block`: block 0's are the default web's own,
    the others keep each URL's shape (dated slug, content id, WS code, numeric id) with the block in it."""
    base = content.dead_pages()[kind]
    if block == 0:
        return base
    path = base.path
    if path.endswith(".html") and "/china/" not in path:
        path = f"{path[:-5]}-{block}.html"
    elif "/china/" in path:
        path = path.replace("WS0000dead", f"WS{block:04x}dead")
    else:
        match = re.fullmatch(r"(.*\D)(\d+)(?:\.htm)?", path)
        assert match, path
        stem, number = match[1], match[2]
        shift = 10 * block if "content_" in stem else -block
        path = path.replace(f"{stem}{number}", f"{stem}{int(number) + shift}", 1)
    return DeadPage(path, base.how, base.expect, base.lang)


def _block_layout(section: str) -> list[tuple[str, int]]:
    """One block of a section's listing: ("a", position of the article in the block) or ("d", dead kind),
    with the dead links where the default web puts them."""
    layout = [("a", k) for k in range(SECTION_BY_KEY[section].size)]
    for position, kind in DEAD_IN_LISTINGS.get(section, []):
        layout.insert(position, ("d", kind))
    return layout


class Listing(Sequence[Article | DeadPage]):
    """A section's listing, newest first, generated entry by entry: what `pages.listing_page` slices."""

    def __init__(self, web: SizedState, section: str) -> None:
        self.web, self.section = web, section
        self.layout = _block_layout(section)
        self.blocks = web.blocks_of(section)

    def __len__(self) -> int:
        return self.blocks * len(self.layout)

    @overload
    def __getitem__(self, index: int) -> Article | DeadPage: ...

    @overload
    def __getitem__(self, index: slice) -> list[Article | DeadPage]: ...

    def __getitem__(self, index: int | slice) -> Article | DeadPage | list[Article | DeadPage]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        block, offset = divmod(index, len(self.layout))
        kind, number = self.layout[offset]
        if kind == "d":
            return self.web.dead_blocks[block][number]
        return self.web.article_at(self.section, block * SECTION_BY_KEY[self.section].size + number)


class SizedState:
    """State 1 of a web of about `size` articles; implements `state.ServedState`."""

    number = 1
    now = STATE1_NOW

    def __init__(self, seed: int, size: int) -> None:
        self.seed, self.size = seed, size
        self.blocks = blocks_for(size)
        self.counts = {s.key: s.size * self.blocks_of(s.key) for s in SECTIONS}
        if max(self.counts.values()) >= ID_STRIDE:
            raise ValueError(f"size {size} is too large: a section's positions must stay below {ID_STRIDE}")
        kinds = range(len(content.dead_pages()))
        self.dead_blocks = [[dead_page(kind, block) for kind in kinds] for block in range(self.blocks)]
        self.dead = {d.path: d for block in self.dead_blocks for d in block}
        self.listings = {s.key: Listing(self, s.key) for s in SECTIONS}
        # Stories of a section get older with their position, so each sitemap's share is a range of positions.
        self._news_until = {s.key: self._first(s.key, lambda age: age > NEWS_SITEMAP_WINDOW) for s in SECTIONS}
        self._archive_from = {s.key: self._first(s.key, lambda age: age > ARCHIVE_SITEMAP_AGE) for s in SECTIONS}
        self._feed_ids: set[int] = set()
        self._feed_ids = {a.id for a in self._latest(head=True)}
        self._feed = self._latest(head=False)
        self._siblings = {key: [a for a in self.listings[key][:8] if isinstance(a, Article)][:4] for key in self.counts}

    def blocks_of(self, section: str) -> int:
        return 1 if section in UNSCALED else self.blocks

    # --- articles ----------------------------------------------------------------------------------------------

    def article_at(self, section: str, position: int, head: bool = False) -> Article:
        """Article `position` (0 = newest) of `section`; `head` stops at what a sitemap needs (no text)."""
        rng = random.Random(f"{self.seed}:{section}:{position}")
        when = STATE1_NOW - SPACING * position - timedelta(hours=rng.randint(0, 5), minutes=rng.randint(0, 59))
        lang = SECTION_BY_KEY[section].lang
        title = text.headline(rng, lang)
        published = when.astimezone(CST if lang == "zh" else UTC)
        art_id = (_SECTION_INDEX[section] + 1) * ID_STRIDE + position
        path = _article_path(section, rng, art_id, title, published)
        art = Article(id=art_id, section=section, lang=lang, path=path, title=title, authors=[], published=published,
                      paragraphs=[], tags=[], jsonld=False)
        if head:
            return art
        art.authors = text.author_names(rng, lang)
        art.paragraphs = text.paragraphs(rng, lang, rng.randint(4, 8))
        art.tags = rng.sample(["economy", "transport", "energy", "health", "education", "climate", "trade"], 2)
        art.jsonld = rng.random() < 0.85
        template = SPECIAL_TEMPLATES.get((section, position % SECTION_BY_KEY[section].size))
        if template:
            content.apply_template(art, template)
        art.routes = self._routes(art, position)
        return art

    def _routes(self, art: Article, position: int) -> set[str]:
        """How a crawler reaches the article: the rules of `state._assign_routes`, from its position."""
        key = art.section
        routes = set()
        if key != "opinion":
            routes.add("section" if key != "live" or position < LIVE_STATIC else "js")
        if art.id in self._feed_ids:
            routes.add("feed")
        if "js" not in routes and (key == "opinion" or position < self._news_until[key]
                                   or position >= self._archive_from[key]):
            routes.add("sitemap")
        return routes

    def _first(self, section: str, older: Any) -> int:
        """The first position of `section` whose age passes `older` (ages grow with position)."""
        low, high = 0, self.counts[section]
        while low < high:
            mid = (low + high) // 2
            if older(STATE1_NOW - self.article_at(section, mid, head=True).published):
                high = mid
            else:
                low = mid + 1
        return low

    def _latest(self, head: bool) -> list[Article]:
        pool = [self.article_at(key, n, head) for key in self.counts if key not in ("live", "opinion")
                for n in range(min(FEED_SIZE, self.counts[key]))]
        return sorted(pool, key=lambda a: a.published, reverse=True)[:FEED_SIZE]

    def _locate(self, art_id: int) -> tuple[str, int] | None:
        number, position = divmod(art_id, ID_STRIDE)
        if not 1 <= number <= len(SECTIONS):
            return None
        section = SECTIONS[number - 1].key
        return (section, position) if position < self.counts[section] else None

    def article(self, path: str) -> Article | None:
        for section, pattern in _ARTICLE_ID.items():
            match = pattern.match(path)
            if match:
                found = self._locate(int(match[1], 16 if section == "china" else 10))
                if found is None or (section and found[0] != section):
                    return None
                art = self.article_at(*found)
                return art if art.path == path else None
        return None

    def dead_page(self, path: str) -> DeadPage | None:
        return self.dead.get(path)

    def listing(self, section: str) -> Listing:
        return self.listings[section]

    def siblings(self, art: Article) -> list[Article]:
        return [a for a in self._siblings[art.section] if a.id != art.id][:3]

    def app_article(self, ident: str) -> Article | None:
        found = self._locate(int(ident)) if ident.isdigit() else None
        art = self.article_at(*found) if found else None
        return art if art and art.template == "app" else None

    def app_ids(self) -> list[int]:
        return [(_SECTION_INDEX[s] + 1) * ID_STRIDE + block * SECTION_BY_KEY[s].size + position
                for s in self.counts for block in range(self.blocks_of(s))
                for (section, position), template in SPECIAL_TEMPLATES.items() if section == s and template == "app"]

    def articles_on(self, day: date) -> list[Article]:
        """The calendar's day page: only the few positions whose age can fall on `day` are generated."""
        start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
        youngest, oldest = STATE1_NOW - (start + timedelta(days=3)), STATE1_NOW - start
        found = []
        for key, count in self.counts.items():
            first = max(0, int((youngest - SPACING) / SPACING))
            last = min(count, int(oldest / SPACING) + 1)
            found += [a for n in range(first, last) if (a := self.article_at(key, n)).published.date() == day]
        return found

    def all_articles(self) -> Iterator[Article]:
        for key, count in self.counts.items():
            for position in range(count):
                yield self.article_at(key, position)

    # --- feeds and sitemaps ------------------------------------------------------------------------------------

    def feed(self) -> list[Article]:
        return self._feed

    def news_sitemap(self) -> list[Article]:
        return [a for key in self.counts for n in range(self._news_until[key])
                if "js" not in (a := self.article_at(key, n)).routes]

    def _archive_ranges(self) -> list[tuple[str, int, int]]:
        """The archive sitemaps' articles as (section, first, stop) position ranges, before the dead links."""
        ranges = []
        for key, count in self.counts.items():
            first = max(self._archive_from[key], LIVE_STATIC if key == "live" else 0)
            if first < count:
                ranges.append((key, first, count))
        return ranges

    def _archive_length(self) -> int:
        return sum(stop - first for _, first, stop in self._archive_ranges()) + len(self.dead)

    def sitemap_paths(self) -> list[str]:
        chunks = max(1, -(-self._archive_length() // ARCHIVE_SITEMAP_URLS))
        return ["/sitemaps/news.xml", *(f"/sitemaps/archive-{n}.xml.gz" for n in range(1, chunks + 1)),
                "/sitemaps/opinion.xml"]

    def urlset(self, path: str) -> list[Article | DeadPage] | None:
        if path == "/sitemaps/opinion.xml":
            return [self.article_at("opinion", n, head=True) for n in range(self.counts["opinion"])]
        match = re.fullmatch(r"/sitemaps/archive-(\d+)\.xml\.gz", path)
        if not match or path not in self.sitemap_paths():
            return None
        start = (int(match[1]) - 1) * ARCHIVE_SITEMAP_URLS
        return self._archive_slice(start, start + ARCHIVE_SITEMAP_URLS)

    def _archive_slice(self, start: int, stop: int) -> list[Article | DeadPage]:
        entries: list[Article | DeadPage] = []
        offset = 0
        for key, first, end in self._archive_ranges():
            low, high = max(start, offset), min(stop, offset + end - first)
            entries += [self.article_at(key, first + n - offset, head=True) for n in range(low, high)]
            offset += end - first
        dead = list(self.dead.values())
        entries += dead[max(0, start - offset):max(0, stop - offset)]
        return entries

    # --- the web's own account ---------------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        """The default manifest's keys, without each article's text (a 50,000-article web's would be 100 MB),
        plus its size: a few seconds to generate, as every article is."""
        articles = []
        routes: dict[str, int] = {}
        for art in self.all_articles():
            record = article_record(art)
            del record["text"]
            articles.append(record)
            for route in art.routes:
                routes[route] = routes.get(route, 0) + 1
        listing_pages = sum(1 if s.pagination == "js" else -(-len(self.listings[s.key]) // content.PER_PAGE)
                            for s in SECTIONS if s.pagination != "none")
        return {
            "state": 1,
            "now": self.now.isoformat(),
            "size": self.size,
            "blocks": self.blocks,
            "counts": {"articles": len(articles), "dead": len(self.dead), "listing_pages": listing_pages,
                       "sitemaps": len(self.sitemap_paths()), "routes": routes,
                       "without_js": sum(1 for a in articles if a["routes"] != ["js"])},
            "articles": articles,
            "dead": [{"path": d.path, "how": d.how, "expect": d.expect, "lang": d.lang} for d in self.dead.values()],
            "sections": [{"key": s.key, "path": s.path, "pagination": s.pagination} for s in SECTIONS],
            "changes": {},
            "calendar_prefix": "/calendar/",
        }


def _article_path(section: str, rng: random.Random, art_id: int, title: str, when: datetime) -> str:
    """The default web's URL shapes (content.article_path), with the whole id in each so it maps back."""
    if section == "business":
        return f"/business/{when:%Y-%m}/{when:%d}/content_{art_id}.htm"
    if section == "tech":
        return f"/tech/article/{art_id}"
    if section == "china":
        return f"/china/a/{when:%Y%m}/{when:%d}/WS{art_id:06x}{rng.getrandbits(24):06x}.html"
    return f"/{section}/{when:%Y/%m/%d}/{text.slugify(title)}-{art_id}.html"
