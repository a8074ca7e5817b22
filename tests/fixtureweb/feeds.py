"""Machine-readable entry points of the sample web: robots.txt, RSS, Atom, sitemaps."""

from __future__ import annotations

from collections.abc import Iterable
from email.utils import format_datetime
from html import escape

from tests.fixtureweb.content import Article, DeadPage
from tests.fixtureweb.state import ServedState


def robots_txt(base: str) -> str:
    return (
        "User-agent: *\n"
        "Disallow: /_fixture/\n"
        "Disallow: /search\n"
        "\n"
        f"Sitemap: {base}/sitemap_index.xml\n"
    )


def rss(state: ServedState, base: str) -> str:
    """RSS 2.0 of the latest stories."""
    items = "".join(
        f"<item><title>{escape(a.title)}</title><link>{base}{a.path}</link>"
        f'<guid isPermaLink="true">{base}{a.path}</guid>'
        f"<pubDate>{format_datetime(a.published)}</pubDate>"
        f"<description>{escape(a.paragraphs[0][:200])}</description></item>"
        for a in state.feed()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>The Sample Times</title><link>{base}/</link><description>Latest news</description>"
        f"{items}</channel></rss>"
    )


def atom(state: ServedState, base: str, section: str) -> str:
    """Atom feed of one section (the Chinese one), for feed-format variety."""
    entries = [a for a in state.feed() if a.section == section]
    body = "".join(
        f'<entry><title>{escape(a.title)}</title><link href="{base}{a.path}"/>'
        f"<id>{base}{a.path}</id><updated>{a.published.isoformat()}</updated></entry>"
        for a in entries
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>样本日报 {section}</title><id>{base}/feeds/{section}.atom</id>"
        f"<updated>{state.now.isoformat()}</updated>{body}</feed>"
    )


def sitemap_index(state: ServedState, base: str) -> str:
    children = state.sitemap_paths()
    body = "".join(
        f"<sitemap><loc>{base}{c}</loc><lastmod>{state.now:%Y-%m-%d}</lastmod></sitemap>" for c in children
    )
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{body}</sitemapindex>')


def news_sitemap(state: ServedState, base: str) -> str:
    """A Google News sitemap (news: namespace) of the last two days."""
    body = "".join(
        f"<url><loc>{base}{a.path}</loc><news:news><news:publication><news:name>The Sample Times</news:name>"
        f"<news:language>{a.lang}</news:language></news:publication>"
        f"<news:publication_date>{a.published.isoformat()}</news:publication_date>"
        f"<news:title>{escape(a.title)}</news:title></news:news></url>"
        for a in state.news_sitemap()
    )
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
            f'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">{body}</urlset>')


def urlset(entries: Iterable[Article | DeadPage], base: str) -> str:
    """A plain sitemap; dead links carry no lastmod."""
    parts = []
    for entry in entries:
        lastmod = f"<lastmod>{entry.published:%Y-%m-%d}</lastmod>" if isinstance(entry, Article) else ""
        parts.append(f"<url><loc>{base}{entry.path}</loc>{lastmod}</url>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{"".join(parts)}</urlset>')
