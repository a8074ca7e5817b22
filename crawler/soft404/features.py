"""The signals the page classifier weighs (crawler/soft404/model.py), from one page and, when the host was
probed, its answer for a URL that cannot exist.

Each signal is a number in [0, 1]. The strongest are the host's own evidence: what the page shows once the
blocks it shares with the probe's answer (the host's chrome and error message) are taken away, with the
teasers of the host's story lists, which change per request (`widget_units`), and whether
its title or heading is the probe's. Then the page on its own: its story (the longest run of its own
paragraphs), whether what it says in its title, headings and opening lines is what error pages say (a
lexicon of real platforms' wording in some 80 languages, crawler/soft404/lexicon.py, beside the
hand-written cues), and the markup of an article, a video or a gallery.

A page is read once, in the page worker, into `Evidence` (no text but its title and first heading, which
the probe comparison needs); the verdict is computed from it there, and again with the probe in the
reactor, which costs a pass over a few hundred integers.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from anyascii import anyascii

from crawler.soft404.blocks import Block, prose_units, text_units, words_of
from crawler.soft404.cues import BLOCKED, EACH, error_cue
from crawler.soft404.lexicon import CJK as _CJK
from crawler.soft404.lexicon import REASONS, lexicon, lexicon_cue
from crawler.soft404.page import PageFacts

PARAGRAPH_UNITS = 10  # a block this long counts in a run of the page's own prose; shorter ones (captions,
STORY_UNITS = 100  # bylines) neither count nor break it; a run this long is a story
PARAGRAPHS_UNITS = 40  # a run this long is more than an error message (a brief, a caption, a teaser)
NOTHING_UNITS = 10  # less than this: not even a caption or a line of a message
LITTLE_UNITS = 25  # less of its own text than this, and a page shows nothing of its own
WIDGET_TEASERS = 3  # a list of stories has this many teasers or more
SENTENCE_UNITS = 3  # a block this long says something ("Subscribe to read"); shorter: "Share", "Advertisement"
NAMES = ("story", "paragraphs", "headline_story", "own_prose", "prose", "few_words", "link_share", "probed",
         "same_title", "same_heading", "same_both", "shared_share", "cue_title", "cue_heading", "cue_text",
         "cue_search", "cue_blocked", "article_markup", "dated", "media", "cue_little", "probe_little",
         "markup_little", "same_little", "same_short", "cue_short")


@dataclass(frozen=True)
class Evidence:
    """What the classifier needs of one page, small enough to cross from the page worker to the verdict."""

    blocks: tuple[Block, ...]
    title: str
    heading: str  # the first h1/h2
    cues: tuple[str | None, str | None, str | None]  # what the title, the headings, the opening say
    article_markup: bool
    dated: bool
    headline: bool
    media: frozenset[int]  # its players, gallery pictures, media types declared, as keys (crawler/soft404/page.py)
    shell: bool  # an app root or scripts: a page whose text may come from JavaScript
    front: bool = False  # the host's home page, which is never its error page
    login: bool = False  # a visible password field
    paywalled: bool = False  # it declares itself not free to read (crawler/structured.py)
    walls: frozenset[int] = frozenset()  # keys of short blocks under its headline that say it is a wall
    searched: bool = False  # a search box holds the words of the URL asked for (searched_for)
    named: frozenset[str] = frozenset()  # the words of its URL's slug its title holds (named_by)
    echoes: bool = False  # its title holds the name its URL asked for, as it was asked (echoes_name)


@dataclass(frozen=True)
class ProbeView:
    """The host's answer for a URL that cannot exist, as pages are compared with it."""

    soft: bool  # it answered 2xx: the host's error pages look alive
    blocks: frozenset[int]
    title: str
    heading: str
    login: bool = False  # its template has a visible password field (a sign-in box on every page)
    media: frozenset[int] = frozenset()  # its template's media, as keys (a video in the sidebar of every page)
    paywalled: bool = False  # its template declares every page not free to read
    # Its template declares an article (a site-wide og:type, say). Unknown reads as yes: a page's article
    # markup then proves nothing the host's error page does not carry too.
    article: bool = True
    lists: tuple[tuple[int, int], ...] = ()  # its story lists: (key of the heading, how many teasers), story_lists()
    searches: bool = False  # its search box held the probe URL's slug: the host searches for what it lacks
    # Its title held the probe URL's random name or unknown number: the host names the URL asked for on its
    # error page, so a page naming its own URL is no sign of being that URL's page. Unknown (an older record)
    # reads as no.
    echoes: bool = False

    @classmethod
    def of(cls, evidence: Evidence) -> ProbeView:
        return cls(True, frozenset(b.key for b in evidence.blocks), evidence.title, evidence.heading, evidence.login,
                   evidence.media, evidence.paywalled, evidence.article_markup, story_lists(evidence.blocks),
                   evidence.searched, evidence.echoes)


def _log_scale(units: int, top: int = 1000) -> float:
    return min(1.0, math.log1p(units) / math.log1p(top))


def cue_of(text: str) -> str | None:
    return error_cue(text) or lexicon_cue(text)


# Where a title's or a heading's parts meet (its own, the site's name, a section's; CJK sites' "_" and "｜"),
# and where its sentences end: a chatty error heading says it in its first sentence.
_TITLE_PARTS = re.compile(r"\s[|–—•·»/-]\s|[|｜丨_]|[。！？]|(?<=\w{3})[.!?](?=\s)")
_TOKEN = re.compile(f"{_CJK.pattern}|(?:(?!{_CJK.pattern})\\w)+")  # a word, or one CJK character
_DIGIT = re.compile(r"\d")
_ECHO = re.compile(r"(?:https?://|www\.)\S+|(?<![\w/])/\S+")  # a URL or a path (the one asked for, echoed)
_TRAILING = ".,;:!?'\")”’»]"  # punctuation after an echoed URL, not part of it
TITLE_WORDING = 0.5  # error wording is at least this share of a title's part, or the part is a headline


def title_cue(text: str, url: str = "") -> str | None:
    """What a title or a heading says: error or wall wording that is most of one of its parts ("Page not found
    – Herald", "Oops! That page can't be found", "页面不存在_新浪网"), not a phrase inside a headline
    ("Missing climber still not found after five days", "Access denied: the families still waiting"). A
    search page's title is its wording and the query, which may be long: its wording counts anywhere. `url`:
    the URL asked for, which an error title may echo ("Page not found: /news/2026/harbour-ferry-fire")."""
    if not cue_of(text):  # most titles: one pass
        return None
    for part in _TITLE_PARTS.split(text):
        cue = cue_of(part)
        if cue == "search-page" or (cue and _wording_share(part, url) >= TITLE_WORDING):
            return cue
    return None


def _wording_share(text: str, url: str = "") -> float:
    """The share of `text`'s words (CJK characters one each) that cue wording covers, every pattern's match and
    every lexicon phrase together, each word once. Numbers and IDs, and the URL asked for (`url`, or its
    path) when the text echoes it, count only when wording covers them: an error title that echoes the
    requested ID, date or URL is still all error ("Israel/Gaza" or "AC/DC" in a headline are words)."""
    norm = unicodedata.normalize("NFKC", text).casefold()
    found = list(_TOKEN.finditer(norm))
    tokens = [m.group() for m in found]
    covered = [False] * len(tokens)
    for pattern in EACH:
        for match in pattern.finditer(norm):
            for at, token in enumerate(found):
                if match.start() <= token.start() and token.end() <= match.end():
                    covered[at] = True
    for reason in REASONS:
        lexicon()[reason].mark(tokens, covered)
    asked = unicodedata.normalize("NFKC", unquote(url)).casefold()
    echoed = [span.span() for span in _ECHO.finditer(norm) if asked and span.group().rstrip(_TRAILING) in asked]
    counted = sum(1 for token, hit in zip(found, covered, strict=True) if hit or not (
        _DIGIT.search(token.group()) or any(start <= token.start() < end for start, end in echoed)))
    return sum(covered) / counted if counted else 0.0


_HOME = re.compile(r"/*(?:(?:index|default|home)\.[a-z]{2,5})?", re.IGNORECASE)


def is_home(url: str) -> bool:
    """The URL of a host's home page: its root, or the root's index document, with no query."""
    parts = urlsplit(url)
    return not parts.query and _HOME.fullmatch(parts.path) is not None


def searched_for(queries: tuple[str, ...], url: str) -> bool:
    """A search box on the page holds the words of the URL's slug (all of them, or two or more that are at
    least half): the host searched for what it did not have. Alone it proves nothing (a topic page may
    hold its topic in its box); beside a host whose probe answer held the probe's slug so, it does."""
    if not queries or not url:
        return False
    asked = set(words_of(_asked_name(url)).split())
    return any(_echoes(set(words_of(query).split()), asked) for query in queries)


_EXTENSION = re.compile(r"[A-Za-z][A-Za-z0-9]{0,4}")  # `.html`, `.php`: not the dot of `u.s.-election-results`


def _echoes(said: set[str], asked: set[str]) -> bool:
    """The query is the words asked for, or two or more of them that are at least half."""
    return bool(said) and said <= asked and (said == asked or (len(said) >= 2 and 2 * len(said) >= len(asked)))


_NAME_WORD = re.compile(r"[^\W\d_]{4,}")  # a word that names something: four letters or more, not an ID
NAMED_WORDS = 2  # a title that holds this many words of its URL's slug (not its template's) names its URL


_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})


def plain_words(text: str) -> set[str]:
    """Its words of four letters or more, in Latin letters, case folded, as a slug spells them: "gelöscht" as
    "geloscht" and "geloescht", "скорость" as "skorost" (a Russian site's slug is its headline
    transliterated)."""
    words = set(_NAME_WORD.findall(anyascii(text).casefold()))
    expanded = text.translate(_UMLAUTS)
    return words | set(_NAME_WORD.findall(anyascii(expanded).casefold())) if expanded != text else words


def _name_of(segment: str) -> str:
    """A path segment without its extension (`.html`, `.php`)."""
    name = unquote(segment)
    stem, dot, extension = name.rpartition(".")
    return stem if dot and _EXTENSION.fullmatch(extension) else name


def _asked_name(url: str) -> str:
    """What the URL asks for: the last segment of its path, without its extension."""
    return _name_of(urlsplit(url).path.rstrip("/").rpartition("/")[2])


def slug_words(url: str) -> set[str]:
    """The words of the URL's slug: of its path's segments, the one with the most words (the last of equals;
    `/story/harbour-ferry-fire/123456` is named by its middle one, `/local-news/poll` by its directory)."""
    slug: set[str] = set()
    for segment in urlsplit(url).path.split("/"):
        words = plain_words(_name_of(segment))
        if len(words) >= len(slug):
            slug = words
    return slug


# A quoted span: what a search or an error page echoes of the URL asked for ("Results for “harbour fire”").
# Double quotes only: a single curly one is as often an apostrophe ("Apple’s").
_QUOTED = re.compile(r"[\"“”„«»「『]([^\"“”„«»「」『』]*)[\"“”„«»」』]")


def named_by(url: str, title: str) -> frozenset[str]:
    """The words of the URL's slug that the page's title holds, what it quotes aside (a search's query), a
    plural or an inflection counting as its word ("hostage" in the slug, "hostages" in the title). A CMS
    makes a story's slug from its headline and titles the page with it, so a live page, however short,
    names its URL (`names_url` in crawler/soft404/classify.py); an error page is titled with its message."""
    slug = slug_words(url) if url else set()
    if not slug:
        return frozenset()
    said = plain_words(_QUOTED.sub(" ", title))
    return frozenset(word for word in slug if any(word.startswith(other) or other.startswith(word) for other in said))


_TOKEN_CHARS = re.compile(r"[^\W_]+")
ASKED_CHARS = 6  # a probe's random name, or the unknown number it asks for, is at least this long


def echoes_name(url: str, title: str) -> bool:
    """The title holds what the URL's last segment asks for, as asked: its one token (a probe's random name,
    `k3jx9qpzm0`), or a token of it with a digit (the unknown number of an ID-routed probe). A host whose
    error page does so names any URL asked for in its title (`ProbeView.echoes`)."""
    name = _asked_name(url) if url and title else ""
    if not name:
        return False
    tokens = _TOKEN_CHARS.findall(name.casefold())
    asked = [t for t in tokens if len(t) >= ASKED_CHARS and (len(tokens) == 1 or any(c.isdigit() for c in t))]
    said = title.casefold()
    return any(token in said for token in asked)


def evidence_of(facts: PageFacts, url: str = "") -> Evidence:
    heading_cue = next((c for h in facts.headings if (c := title_cue(h, url))), None)
    return Evidence(tuple(facts.blocks), facts.title, facts.headings[0] if facts.headings else "",
                    (title_cue(facts.title, url), heading_cue, cue_of(facts.opening)), facts.structured.is_article,
                    facts.dated, facts.headline, facts.media, facts.app_root or facts.scripts > 0,
                    bool(url) and is_home(url), facts.login, facts.structured.paywalled,
                    frozenset(key for key, text in facts.messages if _says_wall(text)),
                    searched_for(facts.queries, url), named_by(url, facts.title),
                    echoes_name(url, facts.title))


def _says_wall(text: str) -> bool:
    return bool(BLOCKED.search(text)) or lexicon_cue(text) == "blocked-text"


def template_of(probe: ProbeView | None) -> frozenset[int]:
    return probe.blocks if probe is not None and probe.soft else frozenset()


def story_units(evidence: Evidence, probe: ProbeView | None = None) -> int:
    """Words of the longest run of the page's own consecutive paragraphs: prose blocks not mostly links and
    not the host's template (a link list, a template block or a heading ends a run). A story is such a run,
    however short its paragraphs; a list of teasers (a related-stories block padding an error page, a
    section front) is one teaser per run."""
    template = template_of(probe)
    best = run = 0
    for block in evidence.blocks:
        if block.linked or block.key in template or block.heading:
            best, run = max(best, run), 0
        elif block.units >= PARAGRAPH_UNITS:
            run += block.units
    return max(best, run)


def headline_story(evidence: Evidence, probe: ProbeView | None = None) -> int:
    """Words of the run of the page's own paragraphs that follows its headline (a heading that is its title):
    an article's story starts there; an error page has a line or two of message, then its chrome."""
    template = template_of(probe)
    after, run = False, 0
    for block in evidence.blocks:
        if block.headline:
            after, run = True, 0
        elif not after:
            continue
        elif block.linked or block.key in template or block.heading:
            if run:
                break
        elif block.units >= PARAGRAPH_UNITS:
            run += block.units
    return run


def is_story(evidence: Evidence, probe: ProbeView | None = None) -> bool:
    """The requested content is there, whatever else the page carries (the seed page: a story between two
    "page not found" blocks of its template; a headline that says "404" or "not found"): a story of its
    own, and no model is asked. Beside the host's probe answer, the template's own prose (an about-us
    blurb, comments) is taken away first; on its own, a dead page whose template carries 100 words of prose
    passes for a story: a missed dead page, never a live one called dead."""
    return story_units(evidence, probe) >= STORY_UNITS


def wall_beyond(evidence: Evidence, probe: ProbeView | None) -> bool:
    """A short block under the page's headline that is not its host's template says the page is a sign-in
    or paywall (past the opening too: a lede or a byline of the template may come first). Never without a
    probe to tell the template apart: on its own, a live page's "log in to comment" line says the same."""
    template = template_of(probe)
    return bool(template) and any(key not in template for key in evidence.walls)


def own_media(evidence: Evidence, probe: ProbeView | None = None) -> bool:
    """The page shows a player, a gallery or declares media that its host's error page does not."""
    return bool(evidence.media - (probe.media if probe is not None and probe.soft else frozenset()))


def says_something(evidence: Evidence, probe: ProbeView | None = None) -> bool:
    """The page shows a sentence of its own (a block of SENTENCE_UNITS or more that is not a heading, not links
    and not the host's template): a message where the story should be, not a kept headline or a "Share"."""
    template = template_of(probe)
    return any(b.units >= SENTENCE_UNITS and not (b.heading or b.linked or b.key in template) for b in evidence.blocks)


def headed(evidence: Evidence, probe: ProbeView | None = None) -> bool:
    """The page shows a message set as a heading (SENTENCE_UNITS or more): its own, so not its error page's
    heading, on a page none of whose own headings its title holds (an empty shell keeps the article's
    headline, however short; a heading with the site's name is the template's); a wall or a notice says
    "Please sign in" or "Subscribers only", in a language no lexicon may hold."""
    template = template_of(probe)
    if any(b.titled and b.key not in template for b in evidence.blocks):
        return False
    return any(b.units >= SENTENCE_UNITS and b.heading and not (b.headline or b.linked or b.key in template)
               for b in evidence.blocks)


def _sections(blocks: tuple[Block, ...]) -> list[tuple[int, list[Block]]]:
    """(index of a heading, the blocks under it up to the next heading that is not a link): a teaser's linked
    title is no heading of the page's own."""
    found: list[tuple[int, list[Block]]] = []
    for at, block in enumerate(blocks):
        if block.heading and not block.linked:
            found.append((at, []))
        elif found:
            found[-1][1].append(block)
    return found


def _beside_link(section: list[Block], at: int) -> bool:
    """The block is next to a link in its section (its story's title; the reader closes a `<p>` before the
    `<li>` around it, so the link may come after it)."""
    return any(0 <= near < len(section) and section[near].linked for near in (at - 1, at + 1))


def story_lists(blocks: tuple[Block, ...]) -> tuple[tuple[int, int], ...]:
    """The host's story lists on its error page ("Most read", "More stories"): (key of the heading, how many
    teasers) for each heading whose section starts with WIDGET_TEASERS or more teasers (unlinked blocks, each
    beside a link), up to its first unlinked block that is not one. A footer's column of links, a
    newsletter box or a masthead's date heads no list."""
    found: dict[int, int] = {}
    for at, section in _sections(blocks):
        teasers = 0
        for near, block in enumerate(section):
            if not block.linked:
                if not _beside_link(section, near):
                    break
                teasers += 1
        if teasers >= WIDGET_TEASERS:
            found.setdefault(blocks[at].key, teasers)
    return tuple(sorted(found.items()))


def widget_units(evidence: Evidence, probe: ProbeView | None = None) -> int:
    """Words of the page's own teasers in its host's story lists. Such a list changes from one request to the
    next (the stories of the hour), so the host's error page and its probe answer show different ones: they
    are the template's, not what the requested URL shows. Only under a heading that heads such a list on
    the host's error page, only as many teasers as that list has (a listicle or a live blog below it stays
    the page's own), and never at the page's headline."""
    lists = dict(probe.lists) if probe is not None and probe.soft else {}
    if not lists:
        return 0
    template, total = template_of(probe), 0
    for at, section in _sections(evidence.blocks):
        key = evidence.blocks[at].key
        size = lists.get(key, 0)
        if size < WIDGET_TEASERS or evidence.blocks[at].headline:
            continue
        own = [near for near, block in enumerate(section) if not block.linked and block.key not in template][:size]
        if len(own) >= WIDGET_TEASERS and all(_beside_link(section, near) for near in own):
            total += sum(section[near].units for near in own)
            lists[key] = 0  # one list per heading: a page that repeats the heading shows the list once
    return total


def own_units(evidence: Evidence, probe: ProbeView | None = None) -> int:
    """Words of the page's visible text that are neither links nor the host's template."""
    return text_units(list(evidence.blocks), template_of(probe))


def features(evidence: Evidence, probe: ProbeView | None = None) -> dict[str, float]:
    blocks = list(evidence.blocks)
    template = template_of(probe)
    soft = bool(template) or (probe is not None and probe.soft)
    total = sum(b.units for b in blocks) or 1
    visible = text_units(blocks) or 1
    little = float(own_units(evidence, probe) - widget_units(evidence, probe) < LITTLE_UNITS)
    title_cue, heading_cue, text_cue = evidence.cues
    probe_title, probe_heading = (probe.title, probe.heading) if probe is not None and soft else ("", "")
    same_title = float(bool(probe_title) and evidence.title == probe_title)
    same_heading = float(bool(probe_heading) and evidence.heading == probe_heading)
    media = own_media(evidence, probe)
    found = {
        "story": _log_scale(story_units(evidence, probe)),
        "paragraphs": float(story_units(evidence, probe) >= PARAGRAPHS_UNITS),
        "headline_story": _log_scale(headline_story(evidence, probe)),
        "own_prose": _log_scale(prose_units(blocks, template)),
        "prose": _log_scale(prose_units(blocks)),
        "few_words": little,
        "link_share": sum(b.units for b in blocks if b.linked) / total,
        "probed": float(soft),
        "same_title": same_title,
        "same_heading": same_heading,
        "same_both": same_title * same_heading,
        "shared_share": sum(b.units for b in blocks if not b.linked and b.key in template) / visible,
        "cue_title": float(title_cue == "error-text"),
        "cue_heading": float(heading_cue == "error-text"),
        # Error wording in the opening of a page with a player or a gallery of its own is a caption's or a
        # widget's: the page's story is its media (its title or heading saying so still counts).
        "cue_text": float(text_cue == "error-text" and not media),
        "cue_search": float("search-page" in (title_cue, heading_cue) or (text_cue == "search-page" and not media)),
        "cue_blocked": float("blocked-text" in evidence.cues),
        "article_markup": float(evidence.article_markup),
        "dated": float(evidence.dated),
        "media": float(media),
    }
    # What a signal means depends on what else the page shows: error wording, the probe's template or article
    # markup on a page with almost nothing of its own is an error page; beside text of its own, it is not.
    cue = max(found["cue_title"], found["cue_heading"], found["cue_text"], found["cue_search"])
    short = 1.0 - found["story"]
    found.update(cue_little=cue * little, probe_little=found["probed"] * little,
                 markup_little=found["article_markup"] * little, same_little=max(same_title, same_heading) * little,
                 same_short=max(same_title, same_heading) * short, cue_short=cue * short)
    return found


def vector(found: dict[str, float]) -> list[float]:
    return [found[name] for name in NAMES]
