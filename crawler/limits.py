"""What went past a limit, or could not be read, on one fetch: reason codes, their details, and what they do to
a verdict.

A page whose body was cut, could not be decoded, is binary behind an HTML label, or went past one of our
limits says nothing about whether the requested URL is alive: judging what is left of it would call live
URLs dead (a cut gzip bomb is an "empty page"). So such a fetch is an `error` (transient, never evidence of
deletion) with its reasons; a limit that only trims what we keep of a page (links, a huge title) is noted
without changing its verdict, except that it is never `soft-404` or `not-found`.

Free of Scrapy: the page workers import it. The middlewares that detect a problem note it in
`request.meta["limits"]` ({reason: detail}); the crawl log logs one line per fetch with them and counts each
reason in `limits/<reason>`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from crawler.soft404.status import Verdict

LIMITS = "limits"  # request.meta: {reason: detail} for this download

TOO_LARGE = "too-large"  # the raw body (DOWNLOAD_MAXSIZE) or the decoded body went past the size limit
DECOMPRESSION_BOMB = "decompression-bomb"  # ... decoded from LIMIT_BOMB_RATIO times fewer raw bytes
DECODE_FAILED = "decode-failed"  # not in the Content-Encoding it is labelled with, or one we cannot undo
DATA_LOSS = "data-loss"  # fewer bytes than the framing (Content-Length, chunks, the encoding) promised
BINARY_BODY = "binary-body"  # binary data behind a text/html label
TOO_DEEP = "too-deep"  # nested deeper than the HTML parser follows (libxml2 without huge_tree: 256)
PARSE_LIMIT = "parse-limit"  # another of the parser's resource limits (a text node over 10 MB)
TOO_MANY_HEADERS = "too-many-headers"  # LIMIT_HEADER_COUNT
HEADERS_TOO_LARGE = "headers-too-large"  # LIMIT_HEADER_BYTES
REDIRECT_LOOP = "redirect-loop"  # a redirect (or meta refresh) back to a URL of its own chain
TOO_MANY_REDIRECTS = "too-many-redirects"  # a chain longer than REDIRECT_MAX_TIMES
TOO_SLOW = "too-slow"  # reading the page took longer than CRAWL_PAGE_TIMEOUT (crawler/workers.py)
TOO_MANY_LINKS = "too-many-links"  # LIMIT_PAGE_LINKS: the first links kept, the rest counted
LONG_TITLE = "long-title"  # LIMIT_TITLE_CHARS: the title cut
# A page that reads as dead but whose HTML stops before its </body> and </html>: cut by a lying
# Content-Length or a server that gave up, so what is missing may be the story itself.
INCOMPLETE_HTML = "incomplete-html"
PARTLY_READ = "partly-read"  # LIMIT_PARSE_BYTES: only the page's first bytes were parsed (all are archived)

# The content we have is not what the server meant to send: no verdict can be read from it.
UNREADABLE = frozenset({TOO_LARGE, DECOMPRESSION_BOMB, DECODE_FAILED, DATA_LOSS, BINARY_BODY, TOO_DEEP, PARSE_LIMIT,
                        TOO_MANY_HEADERS, HEADERS_TOO_LARGE, REDIRECT_LOOP, TOO_MANY_REDIRECTS})
# Only what we keep of the page was trimmed: its verdict stands (but is never a dead page).
TRIMMED = frozenset({TOO_MANY_LINKS, LONG_TITLE, INCOMPLETE_HTML, PARTLY_READ})
REASONS = UNREADABLE | TRIMMED | {TOO_SLOW}
DEAD = ("soft-404", "not-found")


@dataclass(frozen=True)
class PageLimits:
    """The limits that apply inside a page worker (picklable, sent with each page)."""

    links: int = 5000
    title_chars: int = 1000
    parse_bytes: int = 8 * 1024 * 1024


def note(meta: dict[str, Any], reason: str, detail: str) -> None:
    """Record in a request's meta that its download met `reason`."""
    meta.setdefault(LIMITS, {})[reason] = detail


def noted(meta: dict[str, Any]) -> dict[str, str]:
    found = meta.get(LIMITS)
    return dict(found) if isinstance(found, dict) else {}


def limited(verdict: Verdict, reasons: Iterable[str]) -> Verdict:
    """`verdict` as the problems in `reasons` leave it: `error` when the content was unreadable, the same
    verdict with the reasons added when it was only trimmed, and never a dead page either way."""
    found = [r for r in dict.fromkeys(reasons) if r in REASONS and r not in verdict.reasons]
    if any(r in UNREADABLE for r in found):
        found = [r for r in found if r != INCOMPLETE_HTML]  # the cut is already said, with its cause
    if not found:
        return verdict
    if any(r in UNREADABLE for r in found):
        return Verdict("error", [*(r for r in verdict.reasons if r.startswith("status-")), *found], 0.0)
    if verdict.verdict in DEAD:
        return Verdict("error", [*verdict.reasons, *found], 0.0)
    return Verdict(verdict.verdict, [*verdict.reasons, *found], verdict.score)
