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
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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
    return Verdict("error", ["fetch-failed"], 0.0)
