"""Link classification: configured patterns first, then URL shape, position and link text."""

from __future__ import annotations

import pytest
from lxml.html import document_fromstring

from crawler.discovery import Discovery, LinkKind
from crawler.siteconfig import Section, SiteConfig

BASE = "https://news.example/"


def _site(**extra: object) -> SiteConfig:
    sections = [Section(name="world", url=f"{BASE}world/"), Section(name="business", url=f"{BASE}business")]
    return SiteConfig(name="t", base_url=BASE, sections=sections, **extra)


@pytest.mark.parametrize(("url", "kind", "reason"), [
    (f"{BASE}world/2026/11/27/bridge-plan-approved-after-talks.html", LinkKind.ARTICLE, "url-date"),
    (f"{BASE}business/2017-11/28/content_35072830.htm", LinkKind.ARTICLE, "url-date"),
    (f"{BASE}a/201711/28/WS5a1cd7a6a31010.html", LinkKind.ARTICLE, "url-date"),
    (f"{BASE}tech/article/123456", LinkKind.ARTICLE, "url-id"),
    (f"{BASE}story/WS5a1cd7a6a31010.html", LinkKind.ARTICLE, "url-id"),
    (f"{BASE}politics/minister-resigns-over-expenses-row", LinkKind.ARTICLE, "url-slug"),
    (f"{BASE}calendar/2026/11/", LinkKind.ELSEWHERE, "date-archive"),
    (f"{BASE}calendar/2026/11/28/", LinkKind.ELSEWHERE, "date-archive"),
    (f"{BASE}archive/20261128", LinkKind.ELSEWHERE, "date-archive"),
    (f"{BASE}img/photo-of-the-bridge-at-night.jpg", LinkKind.ELSEWHERE, "asset"),
    ("https://elsewhere.example/world/2026/11/27/some-story-here.html", LinkKind.ELSEWHERE, "offsite"),
    (f"{BASE}world/", LinkKind.SECTION, "configured-section"),
    (f"{BASE}about.html", LinkKind.ELSEWHERE, "no-evidence"),
    ("mailto:desk@news.example", LinkKind.ELSEWHERE, "not-http"),
])
def test_url_evidence(url: str, kind: LinkKind, reason: str) -> None:
    assert Discovery(_site()).classify_url(url) == (kind, reason)


def test_subdomains_of_allowed_domains_are_on_site() -> None:
    site = _site(allowed_domains=["news.example"])
    assert Discovery(site).on_site("https://m.news.example/x")
    assert not Discovery(site).on_site("https://badnews.example/x")


def test_configured_patterns_decide_before_evidence() -> None:
    site = _site(article_patterns=[r"/story/\d+$"], deny_patterns=[r"/video/"], section_patterns=[r"/topics/\w+$"])
    disc = Discovery(site)
    assert disc.classify_url(f"{BASE}story/42") == (LinkKind.ARTICLE, "article-pattern")
    assert disc.classify_url(f"{BASE}video/2026/11/27/clip-of-the-day-here.html")[1] == "denied"
    assert disc.classify_url(f"{BASE}topics/energy") == (LinkKind.SECTION, "section-pattern")
    # With article patterns configured, URL-shape evidence no longer makes articles.
    assert disc.classify_url(f"{BASE}world/2026/11/27/long-slug-for-story.html")[1] == "no-pattern-match"


def test_navigation_links_are_not_articles_even_with_article_shaped_urls() -> None:
    html = """<html><body><nav><a href="/world/2026/11/27/pinned-story-in-the-menu.html">Pinned</a></nav>
    <main><ul><li><a href="/opinion/why">Why the council finally voted for the new bridge</a></li>
    <li><a href="/opinion/x">Short</a></li></ul></main>
    <aside class="sidebar"><a href="/calendar/2026/11/">Archive</a></aside>
    <footer><a href="https://social.example/n">Follow</a></footer></body></html>"""
    links = {link.url: link for link in Discovery(_site()).listing_links(document_fromstring(html), BASE, 1)}
    assert links[f"{BASE}world/2026/11/27/pinned-story-in-the-menu.html"].reason == "navigation"
    assert links[f"{BASE}opinion/why"].kind is LinkKind.ARTICLE
    assert links[f"{BASE}opinion/why"].reason == "link-text"
    assert links[f"{BASE}opinion/x"].kind is LinkKind.ELSEWHERE
    assert links[f"{BASE}calendar/2026/11/"].kind is LinkKind.ELSEWHERE


@pytest.mark.parametrize(("listing", "anchor", "page"), [
    (f"{BASE}world/", '<a href="/world/page/2/" rel="next">Older</a>', 2),
    (f"{BASE}world/", '<a href="/world/page/2/">Next »</a>', 2),
    (f"{BASE}business", '<a href="/business/page_2.html">下一页</a>', 2),
    (f"{BASE}business", '<a href="/business/page_5.html">5</a>', 5),
    (f"{BASE}business/?page=3", '<a href="/business/?page=4">Next ›</a>', 4),
    (f"{BASE}world/page/2/", '<a href="/world/page/3/">3</a>', 3),
])
def test_pagination_styles(listing: str, anchor: str, page: int) -> None:
    tree = document_fromstring(f"<html><body><nav class='pagination'>{anchor}</nav></body></html>")
    current = page - 1 if "5" not in anchor else 1
    links = Discovery(_site()).listing_links(tree, listing, current)
    assert [(link.kind, link.page) for link in links] == [(LinkKind.PAGINATION, page)]


def test_pagination_never_leaves_the_section() -> None:
    tree = document_fromstring('<html><body><a href="/calendar/2026/12/">Next »</a>'
                               '<a href="/sport/page/2/" rel="next">2</a></body></html>')
    kinds = [link.kind for link in Discovery(_site()).listing_links(tree, f"{BASE}world/", 1)]
    assert LinkKind.PAGINATION not in kinds


def test_head_link_rel_next_counts_once() -> None:
    tree = document_fromstring('<html><head><link rel="next" href="/world/page/2/"></head>'
                               '<body><a href="/world/page/2/">2</a></body></html>')
    links = Discovery(_site()).listing_links(tree, f"{BASE}world/", 1)
    assert [(link.reason, link.page) for link in links] == [("rel-next", 2)]
