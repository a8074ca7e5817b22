"""HTML pages of the sample news web, built the way real news CMSs build them.

Every page carries the site chrome (navigation, sidebar with a calendar widget, footer with off-site links)
so discovery and extraction must find the story among boilerplate, as on a real site.
"""

from __future__ import annotations

import json
from calendar import monthrange
from collections.abc import Sequence
from datetime import date, timedelta
from html import escape

from tests.fixtureweb.content import LIVE_STATIC, PER_PAGE, SECTIONS, Article, DeadPage, Section

SITE_NAME = {"en": "The Sample Times", "zh": "样本日报"}
PAGER_SHOWS_ALL = 12  # listings up to this many pages link every page (the default web's have at most 8)
NOT_FOUND = {
    "en": ("Page not found", "Sorry, the page you requested was not found.",
           "Please check the URL for proper spelling and capitalization. If you're having trouble locating "
           "a destination, try visiting the home page."),
    "zh": ("页面不存在", "对不起，您访问的页面不存在。", "请检查网址是否正确，或返回首页继续浏览。"),
}


def layout(title: str, main: str, lang: str = "en", head: str = "", today: date | None = None) -> str:
    """Site chrome around `main`."""
    nav = "".join(f'<li><a href="{s.path}">{escape(s.name)}</a></li>' for s in SECTIONS if s.key != "opinion")
    cal = f'<a href="/calendar/{today:%Y/%m}/">Archive calendar</a>' if today else ""
    return (
        f'<!DOCTYPE html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>{head}</head><body>"
        f'<header><a class="logo" href="/">{SITE_NAME[lang]}</a><nav><ul>{nav}</ul></nav>'
        '<form action="/search"><input name="q"><button>Search</button></form></header>'
        f"{main}"
        f'<aside class="sidebar"><h3>Archive</h3>{cal} <a href="/feeds/latest.xml">RSS</a></aside>'
        '<footer><a href="/about.html">About us</a> <a href="/contact.html">Contact</a> '
        '<a href="https://twitter.example.net/sampletimes">Follow us</a> '
        '<a href="http://partner.example.org/news/2026/11/01/partner-story-1.html">Partner story</a>'
        "<p>Copyright 2026 The Sample Times. All rights reserved.</p></footer></body></html>"
    )


def _byline(art: Article) -> str:
    stamp = (art.modified or art.published).strftime("%Y-%m-%d %H:%M")
    label = "更新时间" if art.lang == "zh" else "Updated"
    stamp_html = f'<time datetime="{art.published.isoformat()}">{stamp}</time>'
    return f'<p class="byline">{escape(", ".join(art.authors))} | {label}: {stamp_html}</p>'


def _structured_data(art: Article, base: str) -> str:
    """JSON-LD on most articles; OpenGraph alone on some; nothing on a few (by id parity)."""
    url = base + art.path
    og = (
        f'<meta property="og:type" content="article"><meta property="og:title" content="{escape(art.title)}">'
        f'<meta property="og:url" content="{url}">'
        f'<meta property="article:published_time" content="{art.published.isoformat()}">'
        + (f'<meta property="article:modified_time" content="{art.modified.isoformat()}">' if art.modified else "")
        + "".join(f'<meta property="article:tag" content="{t}">' for t in art.tags)
    )
    canonical = f'<link rel="canonical" href="{url}">'
    if not art.jsonld:
        return canonical + (og if art.id % 2 else "")
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": art.title,
        "datePublished": art.published.isoformat(),
        "dateModified": (art.modified or art.published).isoformat(),
        "author": [{"@type": "Person", "name": n} for n in art.authors],
        "articleSection": art.section,
        "keywords": ",".join(art.tags),
        "inLanguage": art.lang,
        "image": [f"{base}/img/{art.id}.jpg"],
        "mainEntityOfPage": url,
        "publisher": {"@type": "Organization", "name": SITE_NAME[art.lang]},
    }
    body = json.dumps(data, ensure_ascii=False)
    if art.template == "broken":
        body = body[:-20]  # truncated JSON, as CMS bugs produce
    return canonical + og + f'<script type="application/ld+json">{body}</script>'


def _error_block(lang: str, hidden: bool) -> str:
    _, heading, advice = NOT_FOUND[lang]
    style = ' style="display:none"' if hidden else ""
    return f'<div class="error-404"{style}><h2>{heading}</h2><p>{advice}</p><a href="/">BACK TO THE TOP</a></div>'


def article_page(art: Article, base: str, related: list[Article]) -> str:
    """An article; `template` decides whether the site's error block or broken markup is around it."""
    body = "".join(f"<p>{escape(p)}</p>" for p in art.paragraphs)
    rel = "".join(f'<li><a href="{r.path}">{escape(r.title)}</a></li>' for r in related)
    story = (
        f'<main><article><p class="section-label">{escape(art.section.title())}</p><h1>{escape(art.title)}</h1>'
        f'{_byline(art)}<figure><img src="/img/{art.id}.jpg" alt=""></figure>'
        f'<div class="article-body">{body}</div></article>'
        f'<aside class="related"><h3>Related</h3><ul>{rel}</ul></aside></main>'
    )
    if art.template in ("mixed-visible", "mixed-hidden"):
        block = _error_block(art.lang, art.template == "mixed-hidden")
        story = block + story + block
    if art.template == "broken":
        story = story.replace("</p>", "", 3).replace("</div>", "<div><span>", 1)
    title = f"{art.title} - {SITE_NAME[art.lang]}"
    return layout(title, story, art.lang, _structured_data(art, base), art.published.date())


APP_JS = """
const tag = document.currentScript;
fetch(tag.dataset.story).then(async (r) => {
  const d = await r.json();  // a missing story answers 404 with the error page's JSON
  document.title = d.title;
  if (d.head) { document.head.insertAdjacentHTML('beforeend', d.head); }
  document.getElementById('app').innerHTML = d.main;
});
"""
APP_CSS = "#app .loading { color: #888; } .article-body p { line-height: 1.5; }"


def app_shell_page(story_api: str) -> str:
    """What a single-page-app news site sends: chrome, an empty root and a script that fetches the story."""
    main = (f'<div id="app"><p class="loading">Loading…</p></div>'
            f'<script src="/static/app.js" data-story="{story_api}"></script>')
    return layout(SITE_NAME["en"], main, "en", '<link rel="stylesheet" href="/static/app.css">')


def app_story(art: Article | None, base: str, related: list[Article]) -> dict[str, str]:
    """The JSON an app shell builds its page from: the same story markup a static page carries."""
    if art is None:
        title, heading, advice = NOT_FOUND["en"]
        return {"title": f"{title} - {SITE_NAME['en']}", "head": "",
                "main": f"<main><h1>{heading}</h1><p>{advice}</p></main>"}
    page = article_page(art, base, related)
    head = page[page.index("<link rel=\"canonical\""):page.index("</head>")]
    main = page[page.index("<main>"):page.index("</main>") + len("</main>")]
    return {"title": f"{art.title} - {SITE_NAME[art.lang]}", "head": head, "main": main}


def spinning_app_page() -> str:
    """A hostile app shell: its script never yields, so a browser's navigation never finishes."""
    return layout(SITE_NAME["en"], '<div id="app"></div><script>for (;;) {}</script>', "en")


def lab_page(app_ids: list[int]) -> str:
    """Pages linked from nowhere else, for tests: a hostile page, and a single-page app that answers every
    URL under /lab/app/ with the same shell (200), the way SPA hosts do, so a host probe gets the shell too."""
    apps = "".join(f'<li><a href="/lab/app/story/{i}">App story {i}</a></li>' for i in app_ids)
    main = ('<main><h1>Lab</h1><ul class="story-list"><li><a href="/lab/2026/11/20/spinning-app-1.html">'
            f"A page whose script never ends</a></li>{apps}</ul></main>")
    return layout(f"Lab - {SITE_NAME['en']}", main, "en")


def not_found_page(lang: str) -> str:
    """The site's error template (served with 404, or with 200 where the CMS gets it wrong)."""
    title, heading, advice = NOT_FOUND[lang]
    return layout(f"{title} - {SITE_NAME[lang]}", f"<main><h1>{heading}</h1><p>{advice}</p></main>", lang)


def empty_shell_page() -> str:
    """A 200 page whose story container is empty: the CMS lost the content, the template survived."""
    main = '<main><article><h1></h1><div class="article-body"></div></article></main>'
    return layout(SITE_NAME["en"], main, "en")


def _story_list(entries: Sequence[Article | DeadPage], with_summary: bool = True) -> str:
    items = []
    for entry in entries:
        if isinstance(entry, Article):
            summary = f"<p>{escape(entry.paragraphs[0][:140])}</p>" if with_summary else ""
            items.append(f'<li><a href="{entry.path}">{escape(entry.title)}</a>'
                         f'<time>{entry.published:%Y-%m-%d}</time>{summary}</li>')
        else:
            label = entry.path.rstrip("/").rsplit("/", 1)[-1].replace("-", " ").split(".")[0]
            items.append(f'<li><a href="{entry.path}">{escape(label.title())}</a></li>')
    return f'<ul class="story-list">{"".join(items)}</ul>'


def _page_numbers(page: int, pages: int) -> list[int | None]:
    """Page numbers a pager shows, None for a gap: all of them on a short listing; on a long one (a sized web)
    the first two, the last two and three either side of `page`, as real sites do, so a listing page does not
    carry a link to each of a thousand pages."""
    if pages <= PAGER_SHOWS_ALL:
        return list(range(1, pages + 1))
    keep = sorted({1, 2, pages - 1, pages, *range(max(1, page - 3), min(pages, page + 3) + 1)})
    shown: list[int | None] = []
    for n in keep:
        if shown and shown[-1] is not None and n > shown[-1] + 1:
            shown.append(None)
        shown.append(n)
    return shown


def _pager(section: Section, page: int, pages: int) -> tuple[str, str]:
    """(pagination links in the page, <head> additions) in the section's own style."""
    nxt = section.page_path(page + 1) if page < pages else None
    prev = section.page_path(page - 1) if page > 1 else None
    numbers = " ".join(
        "<span>…</span>" if n is None else f"<span>{n}</span>" if n == page
        else f'<a href="{section.page_path(n)}">{n}</a>' for n in _page_numbers(page, pages)
    )
    style = section.pagination
    if style == "numbered":
        links = (f'<a href="{prev}" rel="prev">« Previous</a> ' if prev else "") + numbers
        links += f' <a href="{nxt}" rel="next">Next »</a>' if nxt else ""
        return links, f'<link rel="next" href="{nxt}">' if nxt else ""
    if style == "query":
        return numbers + (f' <a href="{nxt}">Next ›</a>' if nxt else ""), ""
    if style == "next-only":
        return (f'<a rel="next" href="{nxt}">Older stories</a>' if nxt else ""), ""
    links = (f'<a href="{prev}">上一页</a> ' if prev else "") + numbers
    links += f' <a href="{nxt}">下一页</a>' if nxt else ""
    return links, ""


def listing_page(section: Section, entries: Sequence[Article | DeadPage], page: int, today: date) -> str | None:
    """Page `page` of a section front, or None past the last page."""
    if section.pagination == "js":
        return live_page(section, entries, today) if page == 1 else None
    pages = max(1, -(-len(entries) // PER_PAGE))
    if page > pages:
        return None
    chunk = entries[(page - 1) * PER_PAGE: page * PER_PAGE]
    links, head = _pager(section, page, pages)
    main = (f"<main><h1>{escape(section.name)}</h1>{_story_list(chunk)}"
            f'<nav class="pagination">{links}</nav></main>')
    return layout(f"{section.name} - {SITE_NAME[section.lang]}", main, section.lang, head, today)


def live_page(section: Section, entries: Sequence[Article | DeadPage], today: date) -> str:
    """A section whose later stories only arrive through a JavaScript 'Load more' button."""
    script = (
        "<script>document.getElementById('load-more').addEventListener('click', async (e) => {"
        "const btn = e.target; const r = await fetch(btn.dataset.next); const data = await r.json();"
        "const ul = document.querySelector('.story-list');"
        "for (const s of data.stories) { const li = document.createElement('li');"
        "const a = document.createElement('a');"
        "a.href = s.url; a.textContent = s.title; li.appendChild(a); ul.appendChild(li); }"
        "if (data.next) { btn.dataset.next = data.next; } else { btn.remove(); } });</script>"
    )
    main = (f"<main><h1>{escape(section.name)}</h1>{_story_list(entries[:LIVE_STATIC])}"
            f'<button id="load-more" data-next="/api/live.json?offset={LIVE_STATIC}">Load more</button>'
            f"{script}</main>")
    return layout(f"{section.name} - {SITE_NAME['en']}", main, "en", "", today)


def live_api(entries: Sequence[Article | DeadPage], offset: int) -> dict[str, object]:
    """JSON behind the 'Load more' button."""
    chunk = [e for e in entries if isinstance(e, Article)][offset: offset + LIVE_STATIC]
    more = offset + LIVE_STATIC < len(entries)
    return {"stories": [{"url": a.path, "title": a.title} for a in chunk],
            "next": f"/api/live.json?offset={offset + LIVE_STATIC}" if more else None}


def home_page(latest: list[Article], today: date) -> str:
    main = f"<main><h1>Top stories</h1>{_story_list(list(latest), with_summary=False)}</main>"
    return layout(SITE_NAME["en"], main, "en", "", today)


def calendar_page(day: date | None, month: date, articles: Sequence[Article]) -> str:
    """The trap: every month and day links to its neighbours, forever, in both directions."""
    if day is None:
        days = monthrange(month.year, month.month)[1]
        cells = " ".join(f'<a href="/calendar/{month:%Y/%m}/{d:02d}/">{d}</a>' for d in range(1, days + 1))
        prev_m = (month.replace(day=1) - timedelta(days=1)).replace(day=1)
        next_m = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        nav = (f'<a href="/calendar/{prev_m:%Y/%m}/">« {prev_m:%B %Y}</a> '
               f'<a href="/calendar/{next_m:%Y/%m}/">{next_m:%B %Y} »</a>')
        main = f"<main><h1>Archive: {month:%B %Y}</h1><div class=\"calendar\">{cells}</div>{nav}</main>"
    else:
        prev_d, next_d = day - timedelta(days=1), day + timedelta(days=1)
        nav = (f'<a href="/calendar/{prev_d:%Y/%m/%d}/">Previous day</a> '
               f'<a href="/calendar/{next_d:%Y/%m/%d}/">Next day</a>')
        main = f"<main><h1>Archive: {day:%d %B %Y}</h1>{_story_list(list(articles))}{nav}</main>"
    return layout(f"Archive - {SITE_NAME['en']}", main, "en")


def search_page(query: str) -> str:
    main = f"<main><h1>Search results for “{escape(query)}”</h1><p>No results.</p></main>"
    return layout(f"Search - {SITE_NAME['en']}", main, "en")


def about_page() -> str:
    return layout(f"About us - {SITE_NAME['en']}", "<main><h1>About us</h1><p>A sample newspaper.</p></main>")
