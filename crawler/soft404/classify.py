"""The verdict for a 2xx page: live article, soft-404, blocked, or a shell that needs rendering.

Signals, each with its reason code, combined in this order (the first that applies decides; `score` is
the confidence that the requested URL is dead):

1. redirect-to-home / redirect-to-section: the redirects ended on the home page, or on a front page above
   the requested URL -> soft-404, 0.9; redirect-sink: three or more different URLs of the crawl were
   redirected to the same page (judged in crawler/crawllog.py, which sees them all) -> soft-404, 0.85.
2. article-evidence: the requested content is there: 120+ words (CJK characters count one each) with
   article markup, a headline that matches the title, or a date; or article markup with 40+ words, or
   20+ words and a matching headline or a date -> ok, 0.05; "+ error-text-in-template" when the
   template also carries error wording.
3. error-title / error-text / search-page: error wording in the title, a visible heading or the opening
   of the main text -> soft-404, 0.9; blocked-text (login, paywall, CAPTCHA wording) -> blocked, 0.2.
4. needs-render: almost no main text, no article markup, but an app root or scripts -> no verdict.
5. empty-content: almost no main text -> soft-404, 0.8.
6. content: anything else with content of its own -> ok, 0.2.

Article evidence outranks error wording on purpose: a live article whose template carries a "page not
found" block (the seed page of this project) is alive.
"""

from __future__ import annotations

from collections import OrderedDict
from urllib.parse import urlsplit

from crawler.soft404.cues import error_cue
from crawler.soft404.page import PageFacts
from crawler.soft404.status import Verdict

SUBSTANTIAL_UNITS = 120  # words (CJK characters count one each) of main text that make a story
MARKED_UNITS = 40  # with article markup (JSON-LD / og:type) a brief this short is still a story
BRIEF_UNITS = 20  # ... and this short, when a matching headline or a date confirms the markup
EMPTY_UNITS = 25  # below this the page shows nothing of its own


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


def article_evidence(facts: PageFacts) -> bool:
    units = facts.units
    headline = _headline_matches(facts)
    if facts.structured.is_article and (units >= MARKED_UNITS or (units >= BRIEF_UNITS and (headline or facts.dated))):
        return True
    return units >= SUBSTANTIAL_UNITS and (headline or facts.dated or facts.structured.is_article)


def _headline_matches(facts: PageFacts) -> bool:
    title = facts.title.lower()
    return any(len(h) >= 10 and (h.lower() in title or title in h.lower()) for h in facts.headings)


def classify_page(facts: PageFacts) -> Verdict:
    """Verdict for an HTML page that answered 2xx (after the redirect check)."""
    prominent = [facts.title, *facts.headings, facts.main_text[:300]]
    cues = [cue for text in prominent if (cue := error_cue(text))]
    if article_evidence(facts):
        return Verdict("ok", ["article-evidence", *(f"{cues[0]}-in-template" for _ in cues[:1])], 0.05)
    if cues:
        cue = cues[0]
        if cue == "blocked-text":
            return Verdict("blocked", [cue], 0.2)
        reason = "error-title" if error_cue(facts.title) == cue else cue
        return Verdict("soft-404", [reason], 0.9)
    if facts.units < EMPTY_UNITS and not facts.structured.is_article:
        if facts.app_root or facts.scripts:
            return Verdict(None, ["needs-render"], None)
        return Verdict("soft-404", ["empty-content"], 0.8)
    return Verdict("ok", ["content"], 0.2)
