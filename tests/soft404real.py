"""A soft-404 corpus that was not written beside the rules: real pages, real error wording, split by host.

Live pages are the 181 real news pages of ../shared/data/article-extraction-benchmark (126 domains, many
languages). Error wording is real: 950 strings and template blocks of real platforms (WordPress themes and
language packs, DSpace, Omeka, Invenio, Hyrax, EPrints, Ghost, Vanilla, Newspack, video sites...), copied
with their sources into tests/soft404data/errorpages.json. Each real page stands for its host: its dead pages
are that page with its story taken out (found with the benchmark's ground truth) and, in its place, what a
CMS shows for a missing, removed or withdrawn item, in the host's own chrome; its host probe (a URL that
cannot exist) answers with the host's not-found template. Hard live pages come from the same real pages: a
headline or a title with "not found" in it (over the story, or over a breaking story's first 25 words), an
error block in the template beside the story (or beside a brief), a video or gallery page with little text,
a brief, a stub (its headline over 15 words: a poll, a death notice, a cartoon's line), a section front; the
video, gallery, brief and stub pages also without their article markup and dates.
Login walls show their platform's wording, half of them with a sign-in form. As on a real host, what the
template shows changes from one request to the next: three hosts in four show a most-read list (teasers
beside their links, in cards, or inside their links) with other stories on every page, the probe answer
included, and about a third echo the requested path under their not-found message; a search template shows
the words of the slug asked for as its query.

Hosts (domains) and platforms are split into a development half and a held-out half by a hash of their
names: the held-out hosts get their dead pages from held-out platforms only. Rules and the model are built
on the development split; benchmarks/soft404.py reports the held-out one.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
from collections import defaultdict
from copy import deepcopy
from dataclasses import dataclass
from functools import cache
from html import escape
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lxml import html as lxml_html
from lxml.html import HtmlElement

from crawler.extract import parse_html
from crawler.soft404.blocks import units_of

ROOT = Path(__file__).resolve().parents[1]
BENCHMARK = ROOT.parent / "shared" / "data" / "article-extraction-benchmark"
ERROR_PAGES = Path(__file__).resolve().parent / "soft404data" / "errorpages.json"
HELD_OUT_SHARE = 4  # in 10: hosts and platforms whose hash says so are held out
_WORD = re.compile(r"\w+", re.UNICODE)

# Real-looking headlines that carry error wording: a live story about something missing, removed, an error.
# Development hosts get the even ones, held-out hosts the odd ones.
CUE_HEADLINES = [
    "Missing climber still not found after five days of searching the ridge",
    "Oops: city council admits a typo cost the budget two million",
    "Error 404: why so much of the early web can no longer be found",
    "Stolen painting no longer available to visitors, museum says",
    "Page not found: the archivists rescuing the first websites",
    "The video that was removed from every platform, and why",
    "Sorry, we couldn't find it: inside the lost-luggage warehouse",
    "This page intentionally left blank: the story of a printing quirk",
    "404 days in orbit: what a year in space does to the body",
    "Nothing here but sand: the village the river left behind",
    "Access denied: the families still waiting for their files",
    "Content unavailable in your region, and other streaming headaches",
]


LOGIN_FORM = ("<form method='post' action='/login'><input type='email' name='email'>"
              "<input type='password' name='password'><button type='submit'>OK</button></form>")


@dataclass
class RealCase:
    host: str
    url: str
    html: str
    label: str  # live | dead | blocked
    style: str
    lang: str
    split: str  # dev | heldout
    probe_url: str
    probe_html: str


def _split(name: str, salt: str) -> str:
    digest = int.from_bytes(hashlib.sha256(f"{salt}:{name}".encode()).digest()[:4], "big")
    return "heldout" if digest % 10 < HELD_OUT_SHARE else "dev"


def family(platform: str) -> str:
    """`WordPress – twentytwenty (default theme)` -> `WordPress`: one platform family, one split."""
    return re.split(r"\s[–(-]|\s/\s", platform, maxsplit=1)[0].split()[0]


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").removeprefix("www.")


@cache
def error_pages() -> list[dict[str, str]]:
    return list(json.loads(ERROR_PAGES.read_text(encoding="utf-8")))


def _lang(tree: HtmlElement) -> str:
    declared = (tree.get("lang") or tree.get("xml:lang") or "").strip()
    if not declared:
        locale = tree.xpath("//meta[@property='og:locale']/@content")
        declared = locale[0] if locale else "en"
    return declared.replace("_", "-").split("-")[0].lower() or "en"


def _site_name(tree: HtmlElement, url: str) -> str:
    names = tree.xpath("//meta[@property='og:site_name']/@content")
    if names and names[0].strip():
        return str(names[0]).strip()
    return host_of(url).split(".")[0].capitalize()


def _tokens(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if len(w) > 2}


def story_container(tree: HtmlElement, truth: str) -> HtmlElement | None:
    """The smallest element holding at least 80 % of the ground-truth story's words."""
    wanted = _tokens(truth)
    if not wanted:
        return None
    best: HtmlElement | None = None
    best_size = 10**12
    for element in tree.iter("div", "article", "section", "main", "td", "body"):
        text = element.text_content()
        if len(text) < 0.5 * len(truth) or len(text) >= best_size:
            continue
        if len(_tokens(text) & wanted) >= 0.8 * len(wanted):
            best, best_size = element, len(text)
    return best


def _whole(container: HtmlElement, truth: str) -> bool:
    """Whether the story is in `container` only: no long paragraph of it left elsewhere on the page (a page
    that carries its story twice, in a hidden or AMP copy, cannot be made into the host's error page)."""
    tree = deepcopy(container.getroottree().getroot())
    copy = tree.getroottree().xpath(container.getroottree().getpath(container))[0]
    copy.getparent().replace(copy, lxml_html.Element("div")) if copy.getparent() is not None else None
    for unseen in tree.xpath("//script | //style | //noscript | //template | //title"):
        unseen.drop_tree()
    rest = " ".join(tree.text_content().split())
    paragraphs = [" ".join(p.split()) for p in truth.split("\n") if len(p.split()) >= 12]
    return not any(p[:120] in rest for p in paragraphs)


def _replace_children(element: HtmlElement, markup: str) -> None:
    for child in list(element):
        element.remove(child)
    element.text = None
    for node in lxml_html.fragments_fromstring(markup):
        if isinstance(node, str):
            element.text = (element.text or "") + node
        else:
            element.append(node)


def _entry_markup(entry: dict[str, str]) -> str:
    if entry.get("html"):
        return entry["html"]
    heading, body = escape(entry.get("heading") or ""), escape(entry.get("body") or "")
    return (f"<h1>{heading}</h1>" if heading else "") + (f"<p>{body}</p>" if body else "")


def _asked(url: str) -> str:
    """What a host that searches for what it lost searches for: the words of the URL's slug."""
    stem = unquote(urlsplit(url).path.rstrip("/").rpartition("/")[2]).rpartition(".")
    return " ".join(re.findall(r"[^\W\d_]+", stem[0] or stem[2]))


def _with_query(entry: dict[str, str], url: str) -> dict[str, str]:
    """The entry as the host shows it for `url`: a search template's query placeholder filled in."""
    return {key: value.replace("{query}", _asked(url)) for key, value in entry.items()}


def _title(entry: dict[str, str], site: str) -> str:
    """The title a host's template gives an error page: one form per host and entry, as templates do."""
    rng = random.Random(f"{site}:{entry.get('heading')}:{entry.get('title')}")
    title = (entry.get("title") or "").replace("{site}", site).strip()
    if title:
        return title if site in title or rng.random() < 0.5 else f"{title} – {site}"
    heading = entry.get("heading") or ""
    return rng.choice([f"{heading} – {site}", site, f"{site} | {heading}"]) if heading else site


def _unarticle(tree: HtmlElement, keep_markup: bool) -> None:
    """What a CMS error page no longer declares: the article's structured data and dates (unless the
    template forgets, `keep_markup`)."""
    if keep_markup:
        return
    for script in tree.xpath("//script[@type='application/ld+json']"):
        script.getparent().remove(script)
    for meta in tree.xpath("//meta[@property='og:type' or starts-with(@property, 'article:')]"):
        meta.getparent().remove(meta)
    for time_ in tree.xpath("//time"):
        time_.drop_tree()


def _set_title(tree: HtmlElement, title: str) -> None:
    titles = tree.xpath("//title")
    if titles:
        titles[0].text = title


def _headings_outside(tree: HtmlElement, container: HtmlElement) -> list[HtmlElement]:
    inside = set(container.iter())
    return [h for h in tree.xpath("//h1") if h not in inside]


class _Host:
    """One host of the corpus: its real page, its platform's error wording, its probe answer."""

    def __init__(self, url: str, raw: bytes, truth: str, entries: dict[str, list[dict[str, str]]]) -> None:
        self.url, self.truth = url, truth
        self.host = host_of(url)
        self.split = _split(self.host, "host")
        self.rng = random.Random(self.url)
        try:  # the benchmark's pages are mostly UTF-8, many without a charset lxml would see
            tree = parse_html(raw.decode("utf-8"))
        except UnicodeDecodeError:
            tree = parse_html(raw)
        assert tree is not None
        self.tree = tree
        self.lang = _lang(self.tree)
        self.site = _site_name(self.tree, url)
        self.entries = entries
        found = story_container(self.tree, truth)
        self.path = self.tree.getroottree().getpath(found) if found is not None and _whole(found, truth) else None
        # One not-found template per host: its probe answer and its missing pages show the same one.
        self.not_found = self.entry("not-found")
        # What changes from one request to the next on a real host, drawn apart so the other draws stay as
        # they were: a most-read list (its stories of the hour) on every page, the error page and the probe
        # answer too; and a not-found message that echoes the requested path.
        chrome = random.Random(f"{url}:chrome")
        self.most_read = chrome.choice((None, "list", "cards", "linked"))
        self.echo = chrome.random() < 0.3

    def _copy(self) -> tuple[HtmlElement, HtmlElement | None]:
        tree = deepcopy(self.tree)
        found = tree.getroottree().xpath(self.path) if self.path else []
        return tree, (found[0] if found else None)

    def entry(self, kind: str) -> dict[str, str] | None:
        """An entry of `kind`: in the host's language half of the time when its split has one, else in any
        language (the corpus's live pages are mostly English; its error pages should not be)."""
        pool = self.entries.get(kind) or []
        if not pool:
            return None
        own = [e for e in pool if e["lang"].split("-")[0].lower() == self.lang]
        return self.rng.choice(own if own and self.rng.random() < 0.5 else pool)

    def dead(self, entry: dict[str, str] | None, url: str, keep_markup: bool = False, pad: bool = False,
             empty: bool = False, seed: str = "") -> str | None:
        """The host's page for `entry` (its error message) where the story was, asked for as `url`."""
        tree, container = self._copy()
        if container is None:
            return None
        shown = None if entry is None else _with_query(entry, url)
        markup = "" if empty or shown is None else _entry_markup(shown)
        if markup and self.echo and entry is self.not_found:
            markup += f"<p>{escape(urlsplit(url).path)}</p>"
        if pad:
            markup += _related(self.rng)
        for heading in _headings_outside(tree, container):
            heading.text = (shown or {}).get("heading") or ""
            for child in list(heading):
                heading.remove(child)
        _replace_children(container, markup or "<p></p>")
        self._most_read(container, seed or url)
        _unarticle(tree, keep_markup)
        title = self.site if empty or entry is None else _title(entry, self.site).replace("{query}", _asked(url))
        _set_title(tree, title)
        return str(lxml_html.tostring(tree, encoding="unicode"))

    def _most_read(self, container: HtmlElement, seed: str) -> None:
        """The host's most-read list after the story's place, with the stories of this request's hour."""
        if self.most_read is None:
            return
        block = lxml_html.fragment_fromstring(_most_read(self.most_read, random.Random(seed)))
        parent = container.getparent()
        if parent is None or container.tag == "body":
            container.append(block)
        else:
            container.addnext(block)

    def live(self, style: str) -> str | None:
        tree, container = self._copy()
        if container is None:
            return None if style != "real" else str(lxml_html.tostring(tree, encoding="unicode"))
        self._most_read(container, f"{self.url}:{style}")
        if style == "real":
            return str(lxml_html.tostring(tree, encoding="unicode"))
        words = " ".join(p for p in re.split(r"\n+", self.truth) if p.strip()).split()
        if style in ("cue-headline", "cue-stub"):
            # The stub draws from a generator of its own: the host's other pages stay as they were drawn.
            self._cue_headline(tree, self.rng if style == "cue-headline" else random.Random(f"{self.url}:stub"))
            if style == "cue-stub":  # a breaking story's first lines, as a news site publishes them
                _replace_children(container, f"<p>{escape(' '.join(words[:25]))}</p><p>More to follow.</p>")
        elif style == "cue-title":  # an SEO title with error wording over the page's own headline
            _set_title(tree, f"{self.rng.choice(CUE_HEADLINES[self.split == 'heldout'::2])} | {self.site}")
        elif style in ("mixed", "mixed-brief"):
            if self.not_found is None:
                return None
            self._mixed(container, words if style == "mixed-brief" else None)
        elif style == "front":
            _replace_children(container, _front(self.rng))
            for heading in tree.xpath("//h1")[:1]:
                heading.text = self.site
            _set_title(tree, self.site)
        else:
            _replace_children(container, _short_story(style.removesuffix("-bare"), words))
        if style.endswith("-bare"):  # a live page that declares no article, no date
            _unarticle(tree, keep_markup=False)
        return str(lxml_html.tostring(tree, encoding="unicode"))

    def _cue_headline(self, tree: HtmlElement, rng: random.Random) -> None:
        """A real-looking headline with error wording in it, as the page's headline and title."""
        headline = rng.choice(CUE_HEADLINES[self.split == "heldout"::2])
        for heading in tree.xpath("//h1")[:1]:
            for child in list(heading):
                heading.remove(child)
            heading.text = headline
        _set_title(tree, f"{headline} | {self.site}")

    def _mixed(self, container: HtmlElement, brief: list[str] | None) -> None:
        """The host's not-found block in the template beside the story (or beside a brief of it)."""
        assert self.not_found is not None
        if brief is not None:
            _replace_children(container, f"<p>{escape(' '.join(brief[:60]))}</p>")
        block = lxml_html.fragment_fromstring(f"<aside class='widget'>{_entry_markup(self.not_found)}</aside>",
                                              create_parent="div")
        parent = container.getparent()
        (parent if parent is not None else container).append(block)


def _short_story(style: str, words: list[str]) -> str:
    """A live page with little text: a video with its caption, a gallery of captioned photos, a brief, a stub."""
    if style == "video":
        return ("<figure class='video'><video controls src='/media/clip.mp4' poster='/media/clip.jpg'></video>"
                f"<figcaption>{escape(' '.join(words[:25]))}</figcaption></figure>")
    if style == "gallery":
        figures = "".join(f"<figure><img src='/photos/{n}.jpg' alt=''><figcaption>"
                          f"{escape(' '.join(words[n * 8:(n + 1) * 8]))}</figcaption></figure>" for n in range(6))
        return f"<div class='gallery'>{figures}</div>"
    if style == "stub":  # a line or two: a poll's question, a death notice, a cartoon's caption, a first alert
        return f"<p>{escape(' '.join(words[:15]))}</p>"
    return f"<p>{escape(' '.join(words[:50]))}</p>"  # a brief


@cache
def _headlines() -> list[tuple[str, str]]:
    """(title, opening words) of every benchmark page: teasers for related-story lists and fronts."""
    out = []
    truth = json.loads((BENCHMARK / "ground-truth.json").read_text(encoding="utf-8"))
    for value in truth.values():
        words = value["articleBody"].split()
        out.append((_cut(" ".join(words[:9]), 12), _cut(" ".join(words[9:30]), 25)))
    return out


def _cut(text: str, units: int) -> str:
    """The longest start of `text` of at most `units` words, CJK characters counting one each as the reader
    counts them: a teaser is a line or two in any script (200 characters of Japanese are a story's worth)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if units_of(text[:middle]) <= units:
            low = middle
        else:
            high = middle - 1
    return text[:low].strip()


def _related(rng: random.Random) -> str:
    items = rng.sample(_headlines(), 8)
    return "<section class='related'><h2>More stories</h2><ul>" + "".join(
        f"<li><a href='/story/{n}'>{escape(title)}</a><p>{escape(teaser)}</p></li>"
        for n, (title, teaser) in enumerate(items)) + "</ul></section>"


def _most_read(form: str, rng: random.Random) -> str:
    """A most-read list: titles with teasers beside them ("list", "cards") or inside their links ("linked")."""
    items = rng.sample(_headlines(), 6)
    if form == "linked":
        entries = "".join(f"<li><a href='/top/{n}'><strong>{escape(title)}</strong> <span>{escape(teaser)}</span></a>"
                          "</li>" for n, (title, teaser) in enumerate(items))
        return f"<aside class='most-read'><h2>Most read</h2><ul>{entries}</ul></aside>"
    if form == "cards":
        entries = "".join(f"<article class='teaser'><h3><a href='/top/{n}'>{escape(title)}</a></h3><p>{escape(teaser)}"
                          "</p></article>" for n, (title, teaser) in enumerate(items))
        return f"<aside class='most-read'><h2>Most read</h2>{entries}</aside>"
    entries = "".join(f"<li><a href='/top/{n}'>{escape(title)}</a><p>{escape(teaser)}</p></li>"
                      for n, (title, teaser) in enumerate(items))
    return f"<aside class='most-read'><h2>Most read</h2><ul>{entries}</ul></aside>"


def _front(rng: random.Random) -> str:
    items = rng.sample(_headlines(), 15)
    return "<div class='front'>" + "".join(
        f"<article class='teaser'><h3><a href='/news/{n}'>{escape(title)}</a></h3><p>{escape(teaser)}</p></article>"
        for n, (title, teaser) in enumerate(items)) + "</div>"


DEAD_STYLES = ("not-found", "not-found-article-markup", "padded", "removed", "empty", "item-not-found",
               "video-unavailable", "search")
LIVE_STYLES = ("real", "cue-headline", "cue-stub", "cue-title", "mixed", "mixed-brief", "video", "gallery", "brief",
               "front", "video-bare", "gallery-bare", "brief-bare", "stub", "stub-bare")


def _entries_by_split() -> dict[str, dict[str, list[dict[str, str]]]]:
    found: dict[str, dict[str, list[dict[str, str]]]] = {"dev": defaultdict(list), "heldout": defaultdict(list)}
    for entry in error_pages():
        found[_split(family(entry["platform"]), "platform")][entry["kind"]].append(entry)
    return found


@cache
def cases() -> list[RealCase]:
    truth = json.loads((BENCHMARK / "ground-truth.json").read_text(encoding="utf-8"))
    by_split = _entries_by_split()
    out: list[RealCase] = []
    for digest, value in sorted(truth.items()):
        raw = gzip.decompress((BENCHMARK / "html" / f"{digest}.html.gz").read_bytes())
        host = _Host(value["url"], raw, value["articleBody"], by_split[_split(host_of(value["url"]), "host")])
        probe_url = f"{value['url'].split('?')[0].rstrip('/')}-{hashlib.sha1(digest.encode()).hexdigest()[:10]}"
        probe = host.dead(host.not_found, probe_url)
        if probe is None:
            continue
        for style in LIVE_STYLES:
            page = host.live(style)
            if page is not None:
                out.append(RealCase(host.host, value["url"], page, "live", style, host.lang, host.split, probe_url,
                                    probe))
        kinds = {"not-found": "not-found", "not-found-article-markup": "not-found", "padded": "not-found",
                 "removed": "removed", "empty": "not-found", "item-not-found": "item-not-found",
                 "video-unavailable": "video-unavailable", "search": "search"}
        for style in DEAD_STYLES:
            entry = host.not_found if kinds[style] == "not-found" else host.entry(kinds[style])
            if entry is None:
                continue
            page = host.dead(entry, value["url"], keep_markup=style == "not-found-article-markup",
                             pad=style == "padded", empty=style == "empty", seed=f"{value['url']}:{style}")
            if page is not None:
                out.append(RealCase(host.host, value["url"], page, "dead", style, entry["lang"], host.split,
                                    probe_url, probe))
        login = host.entry("login")
        if login is not None and host.rng.random() < 0.5:  # half the walls show a sign-in form, half a message
            login = {**login, "html": _entry_markup(login) + LOGIN_FORM}
        page = host.dead(login, value["url"], keep_markup=True, seed=f"{value['url']}:login") if login else None
        if page is not None:
            out.append(RealCase(host.host, value["url"], page, "blocked", "login", login["lang"] if login else "",
                                host.split, probe_url, probe))
    return out
