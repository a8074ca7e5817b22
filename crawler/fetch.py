"""What became of a request: the URL first asked for, the redirects it went through, what came back."""

from __future__ import annotations

from typing import Any

from scrapy import Request


def requested_url(request: Request) -> str:
    """The URL first asked for, before any redirect."""
    chain = request.meta.get("redirect_urls")
    return str(chain[0]) if chain else request.url


def redirect_chain(request: Request) -> list[dict[str, Any]]:
    """[{url, status}] for every hop that redirected; status is None for a meta refresh."""
    urls = request.meta.get("redirect_urls") or []
    reasons = request.meta.get("redirect_reasons") or []
    return [{"url": url, "status": reason if isinstance(reason, int) else None}
            for url, reason in zip(urls, reasons, strict=False)]
