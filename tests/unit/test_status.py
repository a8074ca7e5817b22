"""What a status or a failure says on its own."""

from __future__ import annotations

import pytest
from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadTimeoutError,
    IgnoreRequest,
    ResponseDataLossError,
)
from twisted.internet.error import DNSLookupError
from twisted.internet.error import TimeoutError as TxTimeoutError

from crawler.soft404.failures import from_exception
from crawler.soft404.status import from_status


@pytest.mark.parametrize(("status", "verdict", "reason"), [
    (404, "not-found", "status-404"), (410, "not-found", "status-410"), (403, "blocked", "status-403"),
    (451, "blocked", "status-451"), (429, "error", "status-429"), (503, "error", "status-503"),
])
def test_status_verdicts(status: int, verdict: str, reason: str) -> None:
    result = from_status(status)
    assert (result.verdict, result.reasons) == (verdict, [reason])


def test_a_2xx_page_is_not_judged_by_its_status() -> None:
    assert from_status(200).verdict is None


@pytest.mark.parametrize(("exc", "verdict", "reason"), [
    (IgnoreRequest("Forbidden by robots.txt"), None, "robots-denied"),
    (IgnoreRequest("max redirections reached"), "error", "redirect-loop"),
    (DNSLookupError("x"), "error", "dns-error"),
    (TxTimeoutError(), "error", "timeout"),  # type: ignore[no-untyped-call]
    (CannotResolveHostError("x"), "error", "dns-error"),
    (DownloadTimeoutError("x"), "error", "timeout"),
    (DownloadConnectionRefusedError("x"), "error", "connection-refused"),
    (ResponseDataLossError("x"), "error", "data-loss"),
    (ValueError("x"), "error", "fetch-failed"),
])
def test_failures_are_never_deletions(exc: Exception, verdict: str | None, reason: str) -> None:
    result = from_exception(exc)
    assert (result.verdict, result.reasons) == (verdict, [reason])
    assert result.verdict != "not-found"
