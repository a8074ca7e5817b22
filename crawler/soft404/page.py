"""The facts a classifier needs from one fetched HTML page, read from its parsed tree once.

The page is read as text blocks (crawler/soft404/blocks.py), all of them: what is the story and what is the
host's chrome is decided later, by how the blocks run (a story is a run of paragraphs, chrome is links and
short lines) and by what the host's error page shares with them, not by what containers are called.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lxml.html import HtmlElement

from crawler.soft404.blocks import Block, read_blocks, text_units
from crawler.structured import Structured, read_structured

PROMINENT_CHARS = 1000
# A page whose story is a player: a <video> or an <audio>, an embedded player, or what OpenGraph says it is.
# Frames are among them when `_EMBEDDED` says so (one pass over the document for all of them).
_MEDIA = "//video | //audio | //iframe | //meta[@property='og:type' and starts-with(@content, 'video')]"
# An embedded frame that is a page's story, by where it comes from, its host and path (not its query: a share
# button's `?href=` may name anything; lazy frames keep it in data-src): a video or audio player (podcast
# hosts), or a chart or map of a data desk; not an ad's, a form's or comments', nor a sidebar's.
_EMBEDDED = re.compile(
    r"youtube|vimeo|dailymotion|player|brightcove|jwplatform|kaltura|wistia|streamable|twitch\.tv|rumble\.com|"
    r"rutube|ok\.ru/videoembed|vk\.com/video_ext|facebook\.com/plugins/video|tiktok\.com/embed|embed\.ted\.com|"
    r"soundcloud|spotify\.com/embed|anchor\.fm|acast|megaphone|simplecast|omny\.fm|podbean|libsyn|buzzsprout|"
    r"spreaker|audioboom|art19|podigee|ivoox|mixcloud|podcasts\.apple|music\.apple|"
    r"datawrapper|dwcdn\.net|flo\.uri\.sh|flourish|infogram|public\.tableau|arcgis|plotly|observablehq|"
    r"knightlab|google\.[a-z.]+/maps",
    re.IGNORECASE)
_CHROME = frozenset({"aside", "nav", "footer", "header"})  # a frame there is the site's (an article's header: its own)
# Captioned pictures: a gallery's, or one that is a photo page's story (a cartoon, a photo of the day); not a
# linked card's nor a sidebar's, header's or footer's (a most-read list's pictures, a 404 page's editor's pick).
_CAPTIONED = ("//figure[.//img][.//figcaption][not(.//a//img)]"
              "[not(ancestor::a or ancestor::aside or ancestor::nav or ancestor::header or ancestor::footer)]")
MEDIA_TYPES = frozenset({"VideoObject", "ImageGallery", "MediaGallery", "ImageObject", "AudioObject", "Clip",
                         "PodcastEpisode", "Movie", "Episode"})  # schema.org: the page's story is its media
_APP_ROOT = re.compile(r"^(?:app|root|__next|__nuxt|main-app|react-root|svelte)$", re.IGNORECASE)


@dataclass
class PageFacts:
    """What a page shows: its title, headings, text blocks and the structured data it declares."""

    title: str = ""
    headings: list[str] = field(default_factory=list)
    opening: str = ""  # the first lines under the headline (or first heading): where errors are stated
    structured: Structured = field(default_factory=Structured)
    dated: bool = False
    app_root: bool = False
    scripts: int = 0
    blocks: list[Block] = field(default_factory=list)
    media: frozenset[int] = frozenset()  # its players, gallery pictures and media types declared, as keys
    login: bool = False  # a visible password field: a sign-in wall, in any language
    messages: list[tuple[int, str]] = field(default_factory=list)  # short blocks under the headline: (key, text)
    queries: tuple[str, ...] = ()  # what its search boxes hold (a search page: its query)

    @property
    def headline(self) -> bool:
        """A heading of the page is its title (or in it): an article's headline, or an error page's."""
        return any(b.headline for b in self.blocks)

    @property
    def units(self) -> int:
        """Words (CJK characters counting one each) of the page's visible text that is not links."""
        return text_units(self.blocks)


def _hidden(element: HtmlElement) -> bool:
    """Hidden with inline CSS or the hidden attribute, by the element or an ancestor."""
    for node in (element, *element.iterancestors()):
        style = (node.get("style") or "").replace(" ", "").lower()
        if "display:none" in style or "visibility:hidden" in style or node.get("hidden") is not None:
            return True
    return False


def _prominent(text: str) -> str:
    """A title or heading, whitespace collapsed, at most PROMINENT_CHARS: error wording is short, and a
    multi-megabyte title must not cost the cue patterns a pass over all of it."""
    return " ".join(text[: PROMINENT_CHARS * 4].split())[:PROMINENT_CHARS]


def media_of(tree: HtmlElement, structured: Structured) -> frozenset[int]:
    """The page's media, each as a key of what it shows (a player by its source, a captioned picture by
    its own, a declared media type by its name); empty: none. Keys, not a count, so a page is compared with
    its host's template by which media it shows: a live-TV player in the sidebar of every page is on the
    host's error page too, and a video page's own player is not."""
    found = set()
    for node in tree.xpath(_MEDIA):
        if node.tag != "iframe":
            found.add(_media_key(f"{node.tag}:{_source(node)}"))
            continue
        # A lazy frame's source waits in an attribute of its own, its src a placeholder (blank, data:).
        source = node.get("data-src") or node.get("data-lazy-src") or node.get("src") or ""
        if _EMBEDDED.search(_host_and_path(source)) and not _in_chrome(node):
            found.add(_media_key(f"iframe:{source}"))
    found.update(_media_key(f"figure:{figure.xpath('string(.//img/@src)')}") for figure in tree.xpath(_CAPTIONED))
    found.update(_media_key(f"type:{kind}") for kind in structured.types & MEDIA_TYPES)
    return frozenset(found)


def _in_chrome(node: HtmlElement) -> bool:
    """In a sidebar, a menu, a footer or the page's header (not an article's own header)."""
    ancestors = list(node.iterancestors())
    return any(a.tag in _CHROME and not (a.tag == "header" and any(b.tag == "article" for b in ancestors[at:]))
               for at, a in enumerate(ancestors))


def _host_and_path(url: str) -> str:
    """Where a frame comes from, without its query (a share button's `?href=` may name anything); a source
    no URL parser reads (`https://[oops/embed`) cut at its query."""
    try:
        where = urlsplit(url.strip())
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    return f"{where.netloc}{where.path}"


def _media_key(what: str) -> int:
    """A key of a source as it is: unlike a text block's key, digits count (`/embed/123` and `/embed/456`
    are two players)."""
    return zlib.crc32(what.encode("utf-8", "replace"))


def _source(node: HtmlElement) -> str:
    return node.get("src") or node.get("content") or next(iter(node.xpath(".//source/@src")), "") \
        or node.get("poster") or ""


def read_page(tree: HtmlElement) -> PageFacts:
    """Facts of one page; visible text only (CSS-hidden template blocks are not what the reader sees)."""
    titles = tree.xpath("//title/text()")
    title = _prominent(titles[0]) if titles else ""
    headings = [_prominent(h.text_content()) for h in tree.xpath("//h1 | //h2")[:6] if not _hidden(h)]
    structured = read_structured(tree)
    roots = [n for n in tree.xpath("//body/div[@id] | //body/main[@id]") if _APP_ROOT.match(n.get("id", ""))]
    reading = read_blocks(tree, title)
    return PageFacts(
        title=title,
        headings=[h for h in headings if h],
        opening=reading.opening,
        structured=structured,
        dated=bool(structured.published or tree.xpath("//time[@datetime]")),
        app_root=bool(roots),
        scripts=len(tree.xpath("//script[@src] | //script[not(@type) or @type='module']")),
        blocks=reading.blocks,
        media=media_of(tree, structured),
        login=any(not _hidden(field) for field in tree.xpath("//input[@type='password']")[:5]),
        messages=reading.messages,
        queries=_queries(tree),
    )


_SEARCH_NAMES = frozenset({"q", "s", "query", "search", "keys", "keywords"})  # Google's, WordPress's, Drupal's...
MAX_QUERIES = 5


def _queries(tree: HtmlElement) -> tuple[str, ...]:
    """What the page's visible search boxes hold (a box by its type, its name or its form's role): on a search
    page, what was searched for. Not other text boxes: a share box holds the page's URL, a quote box a
    ticker, a lookup box a tag."""
    found = []
    for node in tree.xpath("//input[@value][not(@type) or @type='text' or @type='search']")[: MAX_QUERIES * 8]:
        value = _prominent(node.get("value") or "")
        search = node.get("type") == "search" or (node.get("name") or "").lower() in _SEARCH_NAMES \
            or bool(node.xpath("ancestor::form[@role='search']"))
        if value and search and not _hidden(node):
            found.append(value)
    return tuple(found[:MAX_QUERIES])
