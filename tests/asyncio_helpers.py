"""Running asyncio coroutines from tests under pytest-twisted's asyncio reactor."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from twisted.internet.defer import Deferred


def on_asyncio(coro: Coroutine[Any, Any, Any]) -> Deferred[Any]:
    """Run a coroutine on the asyncio loop under the Twisted reactor, as Scrapy runs async callbacks."""
    return Deferred.fromFuture(asyncio.ensure_future(coro))
