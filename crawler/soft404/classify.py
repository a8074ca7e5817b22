"""The verdict for a 2xx page: live article, soft-404, blocked, or a shell that needs rendering.

Signals, each with its reason code, combined in this order (the first that applies decides; `score` is
the confidence that the requested URL is dead):

1. redirect-to-home / redirect-to-section: the redirects ended on the home page, or on a front page above
   the requested URL -> soft-404, 0.9; redirect-sink: three or more different URLs of the crawl were
   redirected to the same page (judged in crawler/crawllog.py, which sees them all) -> soft-404, 0.85.
2. article-evidence: the page has a story of its own (a run of 100+ words of its own paragraphs, CJK
   characters counting one each, not links and not the host's error template) under a title that states
   no error -> ok, 0.05; "+ error-text-in-template" when the template also carries error wording.
3. home-page: the host's home page (its root) is never its error page -> ok. search-page + probe-match: the
   host answered its probe with a search for the probe's slug, and the page's search box holds its own
   URL's words -> soft-404, 0.9 (whatever the search found). blocked-text (login, paywall,
   CAPTCHA wording in the title, headings or opening, or, beside the host's probe answer, in a short block
   under the headline that is not the host's template, on a page without a player of its own),
   paywall-markup (the page declares itself not free to read, schema.org
   `isAccessibleForFree: false`, and shows less than a paragraph of its own) or login-form (a visible
   password field, in any language) -> blocked, 0.2.
4. needs-render: almost no text of its own, no article or media markup, no error wording, but an app root
   or scripts -> no verdict (a browser may build the page; if it builds nothing, soft-404, unless the title
   names the URL). empty-content: not a line of its own (under 10 words beyond the host's template), no
   player, gallery or article markup, no error wording, and a title that does not name the URL -> soft-404,
   0.9.
5. The model (crawler/soft404/model.py): the probability that the URL is dead, from the signals of
   crawler/soft404/features.py. At the model's `dead_at` or above, and with evidence of an error page (error
   wording, almost nothing of its own, or the host's error page itself), -> soft-404 with the evidence as
   reasons: error-title, error-text, search-page, probe-match, empty-content. But withheld: when the only
   evidence is the host's error template, and the page still declares an article where its host's error
   page declares none, under a title that is not that page's, over a sentence of its own or a message set
   as a heading (not the headline its title holds) -> blocked, 0.2 (a wall, or a removal notice, in wording
   no lexicon holds: the host still knows the article). And names-url: when the only evidence is the host's
   template or an empty page, and the page's title names its URL's slug (two of its words that are not
   words of the host's error-page title, on a host whose error page does not echo the URL asked for) -> ok,
   0.3: a poll, a death notice, a cartoon, a first alert, whose slug is its headline.
6. anything else -> ok, with the model's probability as score: article-evidence (an article's markup or
   date over a paragraph of its own: a brief), media-page (a player, a gallery), or content.

Article evidence outranks error wording on purpose: a live article whose template carries a "page not
found" block (the seed page of this project) is alive. And absence of evidence is not evidence: a short
page with no error wording, no markup and no probe to compare with is kept alive, however unlike an
article it looks, because calling a live story deleted is the worst mistake an audit can make.
"""

from __future__ import annotations

from collections import OrderedDict
from urllib.parse import urlsplit

from crawler.soft404.features import (
    LITTLE_UNITS,
    NAMED_WORDS,
    NOTHING_UNITS,
    PARAGRAPHS_UNITS,
    Evidence,
    ProbeView,
    evidence_of,
    features,
    headed,
    headline_story,
    is_story,
    own_media,
    own_units,
    plain_words,
    says_something,
    story_units,
    wall_beyond,
)
from crawler.soft404.model import model
from crawler.soft404.page import PageFacts
from crawler.soft404.status import Verdict


def redirect_verdict(requested: str, final: str, redirected: bool) -> Verdict | None:
    """A redirect from an article to the home page or to a front page above it means the article is gone."""
    if not redirected:
        return None
    asked, landed = urlsplit(requested), urlsplit(final)
    if asked.netloc.removeprefix("www.") != landed.netloc.removeprefix("www."):
        return None
    asked_path, landed_path = asked.path.rstrip("/"), landed.path.rstrip("/")
    if asked_path == landed_path:
        return None
    if landed_path == "" and not landed.query:
        return Verdict("soft-404", ["redirect-to-home"], 0.9)
    if asked_path.startswith(landed_path + "/") and landed_path.count("/") < asked_path.count("/"):
        return Verdict("soft-404", ["redirect-to-section"], 0.9)
    return None


class RedirectSinks:
    """Redirect targets that many different URLs land on: where a host sends what it has lost.

    Bounded, for crawls of any length: only a count of distinct sources up to `threshold` matters, so at
    most `threshold` sources are kept per target (a sink is never un-learnt by more redirects), and at most
    `max_targets` targets, least recently landed on forgotten first. A forgotten sink is learnt again
    after `threshold` more redirects; a sink in use is landed on often and so stays. At the defaults that
    is at most 10,000 targets x 4 URLs, a few MB.
    """

    def __init__(self, threshold: int = 3, max_targets: int = 10_000) -> None:
        self.threshold, self.max_targets = threshold, max_targets
        self._sources: OrderedDict[str, set[str]] = OrderedDict()

    def landed(self, requested: str, final: str) -> bool:
        """Record a redirect; True once `threshold` different URLs have landed on `final`."""
        sources = self._sources.get(final)
        if sources is None:
            sources = self._sources[final] = set()
            if len(self._sources) > self.max_targets:
                self._sources.popitem(last=False)
        else:
            self._sources.move_to_end(final)
        if len(sources) < self.threshold:
            sources.add(requested)
        return len(sources) >= self.threshold


def classify_page(facts: PageFacts, url: str = "") -> Verdict:
    """Verdict for an HTML page that answered 2xx (after the redirect check), on its own; `url` is where it
    was found (after redirects)."""
    return judge(evidence_of(facts, url))


def judge(evidence: Evidence, probe: ProbeView | None = None) -> Verdict:
    """Verdict for a page, compared with its host's answer for a URL that cannot exist when there is one."""
    ruled = by_rule(evidence, probe)
    if ruled is not None:
        return ruled
    found = features(evidence, probe)
    scored = model(probed=bool(found["probed"]))
    dead = scored.probability(found)
    reasons = dead_reasons(found)
    if reasons and dead >= scored.dead_at:
        if reasons == ["probe-match"] and withheld(evidence, probe):
            return Verdict("blocked", ["withheld"], 0.2)
        if not set(reasons) - {"probe-match", "empty-content"} and names_url(evidence, probe):
            return Verdict("ok", ["names-url"], 0.3)
        return Verdict("soft-404", reasons, round(dead, 3))
    return Verdict("ok", live_reasons(evidence, found), round(dead, 3))


def by_rule(evidence: Evidence, probe: ProbeView | None = None) -> Verdict | None:
    """The verdicts no model is asked for: a story, the home page, a login wall, a shell, a page with nothing
    of its own."""
    cues = [cue for cue in evidence.cues if cue]
    if is_story(evidence, probe):
        return Verdict("ok", ["article-evidence", *(f"{cue}-in-template" for cue in cues[:1])], 0.05)
    if evidence.front:  # the host is up, and its home page is not a lost URL
        return Verdict(None, ["needs-render"], None) if shell(evidence) else Verdict("ok", ["home-page"], 0.05)
    if search_answer(evidence, probe):
        return Verdict("soft-404", ["search-page", "probe-match"], 0.9)
    # Wall wording in the title, headings or opening; or under the headline beyond the host's template, on a
    # page without a player or a gallery of its own (that is its story, shown).
    says_wall = "blocked-text" in cues or (wall_beyond(evidence, probe) and not own_media(evidence, probe))
    if says_wall and story_units(evidence, probe) < PARAGRAPHS_UNITS:
        return Verdict("blocked", ["blocked-text"], 0.2)
    if paywall(evidence, probe):
        return Verdict("blocked", ["paywall-markup"], 0.2)
    if signin_wall(evidence, probe):
        return Verdict("blocked", ["login-form"], 0.2)
    if shell(evidence):
        return Verdict(None, ["needs-render"], None)  # what the page shows is not in its HTML yet
    if own_units(evidence, probe) < NOTHING_UNITS and not (own_media(evidence, probe) or evidence.article_markup):
        # Not a line of its own (beyond the host's template): no caption, no brief, no player, no gallery.
        said = _wording(evidence)
        if said or not names_url(evidence, probe):
            reasons = [*said, "probe-match"] if probe is not None and probe.soft else (said or ["empty-content"])
            return Verdict("soft-404", reasons, 0.9)
    return None


def names_url(evidence: Evidence, probe: ProbeView | None) -> bool:
    """The page's title names its URL: it holds NAMED_WORDS words of the URL's slug that are not words of its
    host's error page's title (a site's name in the slug names nothing; that title itself names nothing).
    It is that URL's page, however little it shows (a poll, a death notice, a cartoon, a first alert). Not
    on a host whose error page echoes the URL asked for in its title. Outweighs the host's template and an
    empty page, never error wording."""
    words = evidence.named
    if probe is not None and probe.soft:
        if probe.echoes:
            return False
        words = words - plain_words(probe.title)
    return len(words) >= NAMED_WORDS


def search_answer(evidence: Evidence, probe: ProbeView | None) -> bool:
    """The host answered a URL that cannot exist with a search for its words, and this page is a search for
    this URL's words, with what it found or nothing: no article's markup, no player or picture of its own,
    not a paragraph of its own (a host that fills its search box with every page's slug fills the probe's
    too; its briefs, videos and cartoons stay alive)."""
    return evidence.searched and probe is not None and probe.soft and probe.searches \
        and not (evidence.article_markup or own_media(evidence, probe)) \
        and story_units(evidence, probe) < PARAGRAPHS_UNITS


def paywall(evidence: Evidence, probe: ProbeView | None = None) -> bool:
    """A paywall where the story should be: the page declares itself not free to read (schema.org
    `isAccessibleForFree: false`, Google's paywall markup) and shows not even a paragraph of its own. Not
    when the host's error page declares it too (then it is the template's, and says nothing of this page),
    nor when the page says it is an error page: a 404 template that kept the article's markup."""
    template_has_it = probe is not None and probe.soft and probe.paywalled
    return evidence.paywalled and not template_has_it and "error-text" not in evidence.cues \
        and story_units(evidence, probe) < PARAGRAPHS_UNITS


def signin_wall(evidence: Evidence, probe: ProbeView | None = None) -> bool:
    """A sign-in form where the story should be: a visible password field that is not the host's template
    (on some hosts every page has one), on a page with not even a paragraph of its own."""
    template_has_one = probe is not None and probe.soft and probe.login
    return evidence.login and not template_has_one and story_units(evidence, probe) < PARAGRAPHS_UNITS


def withheld(evidence: Evidence, probe: ProbeView | None) -> bool:
    """The host still knows this article, and nothing says it is gone: the page declares an article where its
    host's error page declares none, is titled, and not as that page is, and says a sentence of its own where
    the story should be, or sets a message as a heading (`headed`). A sign-in or subscriber wall in wording
    no lexicon holds looks so; so does a removal notice in such wording, which is then not called dead: its
    text is withheld, not proven deleted (a wall called dead is a live story called deleted, the worse
    mistake)."""
    return probe is not None and probe.soft and evidence.article_markup and not probe.article \
        and bool(evidence.title) and evidence.title != probe.title \
        and (says_something(evidence, probe) or headed(evidence, probe))


def built_nothing(evidence: Evidence | None) -> Verdict:
    """The verdict for a shell the browser ran and built nothing into: dead, unless its title names its URL
    (`names_url`: the page is that URL's, its story just not shown to this browser). Without a probe to
    compare with (a single-page-app host answers one with the same shell): a host whose server titles any
    route from its slug, the missing ones too, would keep its dead routes alive here."""
    if evidence is not None and names_url(evidence, None):
        return Verdict("ok", ["names-url", "rendered"], 0.3)
    return Verdict("soft-404", ["empty-content", "rendered"], 0.8)


def template_view(answer: Evidence) -> ProbeView | None:
    """A host's answer for a URL that cannot exist, as pages are compared with it; None when it is no
    template: an app shell, or a story (a host that routes by a number in the path answers with the article)."""
    return None if shell(answer) or an_article(answer) else ProbeView.of(answer)


def an_article(evidence: Evidence) -> bool:
    """A story under its headline, with an article's markup or date: what a host that routes by a number in
    the path answers for a probe beside an article (the article itself), never its error template."""
    return is_story(evidence) and headline_story(evidence) >= PARAGRAPHS_UNITS and (
        evidence.article_markup or evidence.dated)


def shell(evidence: Evidence) -> bool:
    """Almost no text of its own, no article or media markup, no error wording, and scripts that may build
    the page."""
    return evidence.shell and own_units(evidence) < LITTLE_UNITS and not (
        evidence.media or evidence.article_markup or any(evidence.cues))


def probed(verdict: Verdict) -> bool:
    """Whether an article page with this verdict (on its own) is worth comparing with its host's probe: any
    page but a home page, a shell (on a single-page-app host the probe gets the same shell) and a page that
    says it is a sign-in wall (blocked whatever the host's error page looks like). A page with a sign-in
    form or paywall markup is compared: on some hosts every page has them, the error page too. A story is
    too: the host's template may carry prose of its own, which the comparison takes away."""
    return not {"home-page", "needs-render", "blocked-text"} & set(verdict.reasons)


def live_reasons(evidence: Evidence, found: dict[str, float]) -> list[str]:
    """Why a page that is not a story is alive: an article's markup or date over a paragraph of its own (a
    brief), a player or a gallery, or only that nothing says it is an error page."""
    if (evidence.article_markup or evidence.dated) and found["paragraphs"]:
        return ["article-evidence"]
    return ["media-page"] if found["media"] else ["content"]


def _wording(evidence: Evidence) -> list[str]:
    """What the page's title, headings and opening say, as a reason code (at most one)."""
    title, heading, opening = evidence.cues
    if title == "error-text":
        return ["error-title"]
    if "error-text" in (heading, opening):
        return ["error-text"]
    return ["search-page"] if "search-page" in evidence.cues else []


def dead_reasons(found: dict[str, float]) -> list[str]:
    """The evidence that a page is an error page, as reason codes (what it says, then what it shares with
    its host's error page, or that it shows nothing); none: the page is not called dead."""
    reasons = []
    if found["cue_title"]:
        reasons.append("error-title")
    elif found["cue_heading"] or found["cue_text"]:
        reasons.append("error-text")
    elif found["cue_search"]:
        reasons.append("search-page")
    # The host's error page: its title and its heading, or its template with next to nothing else. A title
    # alone is not enough (some hosts give every page the same one), nor is little text on a player or a
    # gallery (their story is the video or the pictures).
    if found["same_both"] or (found["probe_little"] and not found["media"]):
        reasons.append("probe-match")
    if found["few_words"] and not found["media"] and not reasons:
        reasons.append("empty-content")
    return reasons
