"""Redirects and meta refreshes that end honestly: a loop or a chain past REDIRECT_MAX_TIMES is an answer.

Scrapy's RedirectMiddleware (600) and MetaRefreshMiddleware (580) raise IgnoreRequest when a chain is too
long, from `process_response`: the exception passes every middleware on the engine side, so the URL got no
crawl-log entry and no verdict. And a loop (A -> B -> A) was followed until the scheduler dropped the repeat
as a duplicate. These subclasses stop instead, and hand on the response that would have redirected once more,
with `redirect-loop` or `too-many-redirects` noted: the verdict middleware makes it an `error`, the crawl log
keeps the chain, and every hop, this last one included, was archived by the capture middleware.
"""

from __future__ import annotations

import logging

from scrapy import Request, Spider
from scrapy.downloadermiddlewares.redirect import MetaRefreshMiddleware, RedirectMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response

from crawler.limits import REDIRECT_LOOP, TOO_MANY_REDIRECTS, note

logger = logging.getLogger(__name__)


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0]


def stop_or_follow(request: Request, response: Response, result: Request | Response) -> Request | Response:
    """`result` (what Scrapy's middleware decided), unless it redirects back into its own chain."""
    if not isinstance(result, Request):
        return result
    chain = [*request.meta.get("redirect_urls", []), request.url]
    if _without_fragment(result.url) in {_without_fragment(url) for url in chain}:
        note(request.meta, REDIRECT_LOOP, f"{response.url} redirects back to {result.url} after {len(chain)} hop(s)")
        return response
    return result


def _too_many(request: Request, response: Response, max_times: int) -> Response:
    note(request.meta, TOO_MANY_REDIRECTS, f"{response.url} redirects once more after {max_times} redirects")
    return response


class BoundedRedirectMiddleware(RedirectMiddleware):
    """RedirectMiddleware that ends loops and over-long chains with the last response instead of an exception."""

    def process_response(self, request: Request, response: Response,
                         spider: Spider | None = None) -> Request | Response:
        try:
            result = super().process_response(request, response)
        except IgnoreRequest:  # "max redirections reached", the only IgnoreRequest it raises
            return _too_many(request, response, self.max_redirect_times)
        return stop_or_follow(request, response, result)


class BoundedMetaRefreshMiddleware(MetaRefreshMiddleware):
    """MetaRefreshMiddleware that ends refresh loops and over-long chains with the page itself."""

    def process_response(self, request: Request, response: Response,
                         spider: Spider | None = None) -> Request | Response:
        try:
            result = super().process_response(request, response)
        except IgnoreRequest:
            return _too_many(request, response, self.max_redirect_times)
        return stop_or_follow(request, response, result)
