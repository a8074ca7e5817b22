"""Verdicts for requests that produced no response: from the download failure alone, never deletion."""

from __future__ import annotations

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
from twisted.web._newclient import BadResponseVersion, ParseError  # not re-exported by twisted.web.client
from twisted.web.client import ResponseFailed, ResponseNeverReceived

from crawler.headerlimits import HeaderLimitError
from crawler.netguard import BlockedAddressError
from crawler.soft404.status import Verdict

# Scrapy 2.13+ raises its own download exceptions; older handlers (and other plugins) raise Twisted's.
_FAILURES: list[tuple[tuple[type[BaseException], ...], str]] = [
    ((CannotResolveHostError, DNSLookupError), "dns-error"),
    ((DownloadTimeoutError, TxTimeoutError, TCPTimedOutError, TimeoutError), "timeout"),
    ((DownloadConnectionRefusedError, TxConnectionRefused, ConnectionRefusedError), "connection-refused"),
    ((ResponseDataLossError,), "data-loss"),
    ((DownloadCancelledError,), "cancelled"),
]


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """`exc` or what it was raised from (Scrapy wraps Twisted's connection errors in its own)."""
    return any(isinstance(seen, kind) for seen in _chain(exc))


_STATUS_LINE_PROBLEMS = ("wrong number of parts", "non-integer status code")  # Twisted's words for them


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(found) < 10:
        found.append(seen)
        seen = seen.__cause__ or seen.__context__
    return found


def _never_answered(exc: BaseException) -> str | None:
    """What Twisted's HTTP client met before any response existed (Scrapy wraps it in DownloadFailedError):
    a status line it could not parse, other unparseable framing, a connection closed before a reply or
    in the middle of its headers."""
    for seen in _chain(exc):
        if not isinstance(seen, ResponseFailed):
            continue
        for reason in seen.reasons:
            value = getattr(reason, "value", reason)
            if isinstance(value, HeaderLimitError):
                return value.reason
            if isinstance(value, BadResponseVersion) or (
                    isinstance(value, ParseError) and value.args and value.args[0] in _STATUS_LINE_PROBLEMS):
                return "bad-status-line"
            if isinstance(value, ParseError):
                return "bad-response"
        if isinstance(seen, ResponseNeverReceived):
            return "no-response"
        # The status line came, the headers never ended: the server closed, or Twisted did, at a header
        # line over its 16 KiB limit (it gives no other sign of that).
        return "headers-cut"
    return None


def from_exception(exc: BaseException) -> Verdict:
    """Verdict for a request that produced no response: never evidence of deletion."""
    if _caused_by(exc, BlockedAddressError):  # refused by our network policy: says nothing about the URL
        return Verdict(None, ["blocked-address"], None)
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
    return Verdict("error", [_never_answered(exc) or "fetch-failed"], 0.0)
