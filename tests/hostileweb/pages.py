"""The HTML of the hostile web: a normal news article (the control, and the payload most cases mangle), a
Chinese one, calendar months, the index; and generators for the pages too big to hold (streamed in pieces).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html import escape

SITE = "The Hostile Times"
PIECE = 64 * 1024  # bytes per write of a generated body

PARAGRAPHS = [
    "The harbour ferry returned to service on Monday after three weeks in dry dock, its owners said, ending a "
    "stretch of long detours for the two thousand commuters who cross the estuary every morning.",
    "Engineers replaced the port engine and both propeller shafts, work that had been planned for the spring "
    "but was brought forward when an inspection in October found cracks in the older of the two shafts.",
    "Passengers at the north pier welcomed the boat with coffee and a brass band. \"It has been forty minutes "
    "each way by bus,\" said one nurse who works night shifts at the city hospital across the water.",
    "The operator said timetables would return to the winter pattern at once, with a boat every twenty "
    "minutes at peak hours and every half hour in the evening, and that season tickets would be extended.",
    "Council members asked for a second vessel to be kept in reserve so that a single breakdown no longer "
    "cuts the crossing, and the transport committee will discuss the cost at its meeting next month.",
]
HEADLINE = "Harbour ferry returns to service after three weeks in dry dock"

ZH_HEADLINE = "港口渡轮维修三周后恢复运营"
ZH_PARAGRAPHS = [
    "港口渡轮在船坞维修三周后于周一恢复运营，运营方表示，每天清晨横渡河口的两千名通勤者终于不必再绕远路。",
    "工程师更换了左舷发动机和两根螺旋桨轴。这项工程原计划在春季进行，但十月份的检查发现较旧的一根轴出现裂纹，"
    "因此提前开工。",
    "北码头的乘客用咖啡和铜管乐队迎接渡轮。一位在对岸市立医院上夜班的护士说，这几周坐公交车单程就要四十分钟。",
    "运营方表示，时刻表将立即恢复冬季安排，高峰时段每二十分钟一班，晚间每半小时一班，季票有效期也将相应延长。",
    "市议员要求保留第二艘备用船只，以免一次故障就让航线中断，交通委员会将在下月会议上讨论所需费用。",
]


def json_ld(headline: str, url: str, language: str = "en") -> str:
    data = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": headline,
            "datePublished": "2026-11-30T08:15:00Z", "dateModified": "2026-11-30T09:40:00Z",
            "author": [{"@type": "Person", "name": "Mara Quinlan"}], "articleSection": "city",
            "inLanguage": language, "mainEntityOfPage": url, "publisher": {"@type": "Organization", "name": SITE}}
    return f'<script type="application/ld+json">{json.dumps(data, ensure_ascii=False)}</script>'


def article(path: str, *, headline: str = HEADLINE, paragraphs: list[str] | None = None, language: str = "en",
            charset: str | None = "utf-8", title: str | None = None, head_extra: str = "") -> str:
    """A news article as news sites write them: JSON-LD NewsArticle, <time>, one h1, several paragraphs."""
    meta = f'<meta charset="{charset}">' if charset else ""
    body = "".join(f"<p>{escape(p)}</p>" for p in (paragraphs or PARAGRAPHS))
    return (
        f'<!DOCTYPE html><html lang="{language}"><head>{meta}<title>{escape(title or headline)} | {SITE}</title>'
        f'{json_ld(headline, path, language)}{head_extra}</head><body>'
        f'<header class="masthead"><a href="/">{SITE}</a></header>'
        f'<main><article><h1>{escape(headline)}</h1>'
        '<p class="byline">By Mara Quinlan, <time datetime="2026-11-30T08:15:00Z">30 November 2026</time></p>'
        f'<div class="article-body">{body}</div></article></main>'
        f'<footer class="site-footer"><p>&copy; 2026 {SITE}</p></footer></body></html>'
    )


def chinese_article(path: str, charset: str | None) -> str:
    return article(path, headline=ZH_HEADLINE, paragraphs=ZH_PARAGRAPHS, language="zh-CN", charset=charset)


def not_found(path: str) -> bytes:
    return (f"<!DOCTYPE html><html><head><title>Not found | {SITE}</title></head><body><h1>Not found</h1>"
            f"<p>Nothing lives at {escape(path)} on this server.</p></body></html>").encode()


def index(cases: list[tuple[str, str, str]]) -> str:
    """The listing page crawled as a section: one story link per case (name, path, what it does)."""
    items = "".join(f'<article class="story"><h2><a href="{escape(path)}">Case {escape(name)}: {escape(does)}</a>'
                    f"</h2></article>" for name, path, does in cases)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{SITE}</title></head><body>'
            f"<h1>{SITE}</h1><main>{items}</main></body></html>")


def calendar_month(year: int, month: int) -> str:
    """One month of an events calendar whose "next month" link never ends (a crawler trap)."""
    following = (year + month // 12, month % 12 + 1)
    days = "".join(f"<li>{day} {MONTHS[month - 1]} {year}: harbour board sitting, ferry timetable notice, "
                   "tide tables posted at the north pier</li>" for day in range(1, 29))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{SITE} events diary</title>'
            f'</head><body><main><h1>Events in {MONTHS[month - 1]} {year}</h1><ul>{days}</ul>'
            f'<p><a rel="next" href="/calendar/{following[0]:04d}/{following[1]:02d}">Next month</a></p></main>'
            "</body></html>")


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def meta_refresh(target: str) -> bytes:
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0; url={target}">'
            f"<title>Moved | {SITE}</title></head><body><p>This page has moved.</p></body></html>").encode()


def with_nuls(html: str) -> bytes:
    """The article with a NUL byte after every sentence of its paragraphs (a CMS that pads fields)."""
    return html.replace(". ", ".\x00 ").replace("<p>", "<p>\x00").encode()


def with_invalid_utf8(html: str) -> bytes:
    """Declared UTF-8, with stray continuation bytes, a lone lead byte and a cut three-byte sequence."""
    return html.encode().replace(b". ", b".\xff\xfe ").replace(b", ", b",\xe2\x82 ").replace(b"<p>", b"<p>\xc3")


# --- generated pages, never held whole ------------------------------------------------------------------------

def _pieces(parts: Iterator[str]) -> Iterator[bytes]:
    """Text parts gathered into writes of about PIECE bytes."""
    buffer: list[str] = []
    size = 0
    for part in parts:
        buffer.append(part)
        size += len(part)
        if size >= PIECE:
            yield "".join(buffer).encode()
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode()


def million_links(count: int = 1_000_000) -> Iterator[bytes]:
    """A listing page with an introduction and `count` links (~23 bytes each: the page stays under the default
    DOWNLOAD_MAXSIZE), generated as it is sent."""
    def parts() -> Iterator[str]:
        yield (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Every link | {SITE}</title>'
               "</head><body><h1>Every link we ever printed</h1><main>"
               + "".join(f"<p>{escape(p)}</p>" for p in PARAGRAPHS))  # text of its own: a live page, not a shell
        for n in range(count):
            yield f"<a href=/l/{n}></a>\n"
        yield "</main></body></html>"
    return _pieces(parts())


def deep_nesting(depth: int = 100_000) -> Iterator[bytes]:
    """`depth` nested <div>s with the only text at the bottom: nothing to read without going all the way."""
    def parts() -> Iterator[str]:
        yield f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Deep | {SITE}</title></head><body>'
        for _ in range(depth // 1000):
            yield "<div>" * 1000
        yield f"<p>{escape(' '.join(PARAGRAPHS))}</p>"
        for _ in range(depth // 1000):
            yield "</div>" * 1000
        yield "</body></html>"
    return _pieces(parts())


def huge_title(path: str, size: int = 4 * 1024 * 1024) -> Iterator[bytes]:
    """A normal article whose <title> alone is `size` bytes."""
    page = article(path, title="TITLE")
    head, tail = page.split("TITLE", 1)
    words = "Harbour ferry news update "

    def parts() -> Iterator[str]:
        yield head
        for _ in range(size // len(words)):
            yield words
        yield tail
    return _pieces(parts())


def filler(size: int) -> Iterator[bytes]:
    """`size` bytes of HTML text (an endless page), in pieces."""
    start = f"<!DOCTYPE html><html><head><title>Everything | {SITE}</title></head><body>".encode()
    line = (b"<p>" + PARAGRAPHS[0].encode() + b"</p>\n") * 64
    yield start
    left = size - len(start)
    while left > 0:
        piece = line[:left]
        left -= len(piece)
        yield piece
