"""Verdicts that follow from the HTTP status or the failure alone (DESIGN.md section 4)."""

from __future__ import annotations

from dataclasses import dataclass, field

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from twisted.internet.error import ConnectionRefusedError as TxConnectionRefused
from twisted.internet.error import DNSLookupError, TCPTimedOutError
from twisted.internet.error import TimeoutError as TxTimeoutError

# Scrapy 2.13+ raises its own download exceptions; older handlers (and other plugins) raise Twisted's.
_FAILURES: list[tuple[tuple[type[BaseException], ...], str]] = [
    ((CannotResolveHostError, DNSLookupError), "dns-error"),
    ((DownloadTimeoutError, TxTimeoutError, TCPTimedOutError, TimeoutError), "timeout"),
    ((DownloadConnectionRefusedError, TxConnectionRefused, ConnectionRefusedError), "connection-refused"),
    ((ResponseDataLossError,), "data-loss"),
    ((DownloadCancelledError,), "cancelled"),
]


@dataclass(frozen=True)
class Verdict:
    """What a fetch means for the requested URL; `score` is the confidence that the URL is dead."""

    verdict: str | None
    reasons: list[str] = field(default_factory=list)
    score: float | None = None


def from_status(status: int) -> Verdict:
    """Verdict from a final HTTP status; 2xx stays unclassified until the content is judged."""
    if status in (404, 410):
        return Verdict("not-found", [f"status-{status}"], 1.0 if status == 410 else 0.95)
    if status in (401, 403, 451):
        return Verdict("blocked", [f"status-{status}"], 0.0)
    if status == 429 or status >= 500:
        return Verdict("error", [f"status-{status}"], 0.0)
    if 300 <= status < 400:
        return Verdict(None, ["redirect-not-followed"], None)
    if 400 <= status < 500:
        return Verdict("error", [f"status-{status}"], 0.0)
    return Verdict(None, [], None)


def from_exception(exc: BaseException) -> Verdict:
    """Verdict for a request that produced no response: never evidence of deletion."""
    if isinstance(exc, IgnoreRequest):
        message = str(exc).lower()
        if "robots.txt" in message:
            return Verdict(None, ["robots-denied"], None)
        if "redirect" in message:
            return Verdict("error", ["redirect-loop"], 0.0)
        if "offsite" in message:
            return Verdict(None, ["offsite"], None)
        return Verdict(None, ["ignored"], None)
    for kinds, reason in _FAILURES:
        if isinstance(exc, kinds):
            return Verdict("error", [reason], 0.0)
    return Verdict("error", ["fetch-failed"], 0.0)
