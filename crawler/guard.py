"""The network policy (crawler/netguard.py) applied to every connection a crawl opens.

- Host names: `GuardedResolver` (TWISTED_DNS_RESOLVER) checks the address Twisted is about to connect
  to, so DNS tricks (a name resolving to 127.0.0.1, a rebinding answer) meet the same rule as addresses.
- IP literals in URLs never reach a resolver: `NetworkGuardMiddleware` checks them, and refuses schemes
  other than http(s), before the download handler opens anything. It runs after HttpProxyMiddleware, so a
  request sent through a configured proxy is left for the proxy to resolve.
- The browser: every connection it opens goes through the guard proxy (crawler/browserguard.py), which
  resolves, checks and connects itself; `browser_may_fetch` (from PLAYWRIGHT_ABORT_REQUEST) refuses what
  request routing sees (a request's first URL) before Chromium tries.

One crawl per process (`scrapy crawl`), so the policy is the process's: set by the middleware when the
crawl starts, read by the resolver and the browser hook, which Scrapy builds before the crawl or from a
setting path.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.resolver import CachingThreadedResolver
from scrapy.utils.misc import load_object
from twisted.internet.defer import Deferred
from twisted.internet.error import DNSLookupError

from crawler.errors import ConfigError
from crawler.netguard import DEFAULT, BlockedAddressError, NetworkPolicy, parse_address

logger = logging.getLogger(__name__)

SCHEMES = ("http", "https")
BROWSER_SCHEMES = ("http", "https", "data", "blob", "about")  # data/blob/about: never a connection


class _Guard:
    policy: NetworkPolicy = DEFAULT
    count: Any = None  # the crawl's stats inc_value


_guard = _Guard()


def install_policy(policy: NetworkPolicy, count: Any = None) -> None:
    _guard.policy, _guard.count = policy, count


def current_policy() -> NetworkPolicy:
    return _guard.policy


def refused(where: str, kind: str) -> None:
    if _guard.count is not None:
        _guard.count(f"netguard/refused/{where}")
        _guard.count(f"netguard/refused/{where}/{kind}")


class GuardedResolver(CachingThreadedResolver):
    """Scrapy's caching resolver; a name that resolves to a refused address fails with BlockedAddressError
    and nothing connects. The check runs on cached answers too, so a policy is never bypassed by a cache."""

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> Deferred[str]:  # noqa: N802 (Twisted)
        resolved: Deferred[str] = super().getHostByName(name, timeout)
        resolved.addCallback(self._checked, name)
        return resolved

    @staticmethod
    def _checked(address: str, name: str) -> str:
        try:
            current_policy().check_resolved(name, address)
        except BlockedAddressError as exc:
            refused("resolved", "name")
            _remember_refusal(name, exc)
            # Twisted turns any resolver failure into "no results for hostname lookup" (and logs a traceback
            # for other types): a DNSLookupError fails quietly, and the middleware puts the reason back.
            raise DNSLookupError(str(exc)) from exc
        return address


_REFUSED_NAMES: OrderedDict[str, BlockedAddressError] = OrderedDict()
_REFUSED_NAMES_KEPT = 1024  # refusals waiting for their request's failure to reach the middleware


def _keep(cache: OrderedDict[str, Any], key: str, value: Any, kept: int) -> None:
    """`cache[key] = value`, the oldest entries dropped past `kept`: bounded whatever a crawl meets."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > kept:
        cache.popitem(last=False)


def _remember_refusal(name: str, exc: BlockedAddressError) -> None:
    _keep(_REFUSED_NAMES, name.lower(), exc, _REFUSED_NAMES_KEPT)


def _proxy_hosts(enabled: bool) -> list[str]:
    """Hosts of the HTTP proxies the environment configures (http_proxy, https_proxy), as Scrapy's
    HttpProxyMiddleware uses them; none when it is off (HTTPPROXY_ENABLED)."""
    if not enabled:
        return []
    proxies = urllib.request.getproxies()
    return [host for key in ("http", "https") if (host := urlsplit(proxies.get(key, "")).hostname)]


class NetworkGuardMiddleware:
    """Refuses, before any connection, requests to IP literals the policy refuses and non-http(s) URLs."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        site = getattr(crawler.spider, "site", None)
        allowed = crawler.settings.getlist("NETWORK_ALLOW")
        try:
            policy = NetworkPolicy.build(bool(getattr(site, "allow_private_networks", False)), allowed,
                                         _proxy_hosts(crawler.settings.getbool("HTTPPROXY_ENABLED")))
        except ValueError as exc:
            raise ConfigError(f"NETWORK_ALLOW: {exc} (expected networks such as 127.0.0.1/32 or "
                              "10.0.0.0/8)") from None
        resolver = load_object(crawler.settings["TWISTED_DNS_RESOLVER"])
        if not (isinstance(resolver, type) and issubclass(resolver, GuardedResolver)):
            raise ConfigError(f"TWISTED_DNS_RESOLVER is {crawler.settings['TWISTED_DNS_RESOLVER']}: names would "
                              "not be checked against the network policy; use crawler.guard.GuardedResolver "
                              "or a subclass of it")
        install_policy(policy, crawler.stats.inc_value)
        if policy.allow_private or policy.allowed:
            logger.info("network policy: private addresses %s; also allowed: %s",
                        "allowed for this site" if policy.allow_private else "refused",
                        ", ".join(map(str, policy.allowed)) or "nothing")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> NetworkGuardMiddleware:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme not in SCHEMES:
            refused("scheme", parts.scheme or "none")
            raise BlockedAddressError(f"{parts.scheme or 'a missing'} scheme: only http and https are fetched")
        proxy = request.meta.get("proxy")
        if proxy:  # the proxy resolves and connects: only the proxy itself is ours to reach
            host = urlsplit(proxy if "://" in proxy else f"http://{proxy}").hostname
            if host:
                install_policy(current_policy().with_proxy(host), _guard.count)
            return
        host = parts.hostname or ""
        address = parse_address(host)
        policy = current_policy()
        if address is None:
            if host.lower() in policy.proxies:  # the resolver lets a proxy's name through: check it here
                await _check_name(policy, host, parts.port or (443 if parts.scheme == "https" else 80))
            return  # a name: GuardedResolver checks what it resolves to
        try:
            policy.check(host, str(address))
        except BlockedAddressError:
            refused("literal", "address")
            raise

    def process_exception(self, request: Request, exception: Exception) -> None:
        """A name the resolver refused fails as a DNS error: attach the refusal as its cause, so the crawl
        log (crawler/soft404/failures.py) says `blocked-address`, not `dns-error`."""
        refusal = _REFUSED_NAMES.pop((urlsplit(request.url).hostname or "").lower(), None)
        if refusal is None:
            return
        innermost: BaseException = exception  # Scrapy's CannotResolveHostError, from Twisted's DNSLookupError
        for _ in range(10):
            if isinstance(innermost, BlockedAddressError) or innermost.__cause__ is None:
                break
            innermost = innermost.__cause__
        if not isinstance(innermost, BlockedAddressError):
            innermost.__cause__ = refusal


async def _check_name(policy: NetworkPolicy, host: str, port: int) -> None:
    """A direct request to a host that is also a configured proxy's: its addresses checked like any."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, proto=6)
    except OSError:
        return  # the download fails on it the same way
    try:
        for info in infos:
            policy.check(host, str(info[4][0]))
    except BlockedAddressError:
        refused("resolved", "name")
        raise


_BROWSER_DNS: OrderedDict[str, tuple[float, list[str]]] = OrderedDict()
_BROWSER_DNS_SECONDS = 60.0  # a page's hundred subresources from three hosts: three lookups, not a hundred
_BROWSER_DNS_KEPT = 512


async def _browser_addresses(host: str) -> list[str]:
    loop = asyncio.get_running_loop()
    cached = _BROWSER_DNS.get(host)
    if cached is not None and loop.time() - cached[0] < _BROWSER_DNS_SECONDS:
        return cached[1]
    infos = await loop.getaddrinfo(host, 443, proto=6)
    addresses = sorted({str(info[4][0]) for info in infos})
    _keep(_BROWSER_DNS, host, (loop.time(), addresses), _BROWSER_DNS_KEPT)
    return addresses


async def browser_may_fetch(url: str) -> bool:
    """For the browser's requests: False when the URL's host is, or resolves to, a refused address."""
    parts = urlsplit(url)
    if parts.scheme not in BROWSER_SCHEMES:
        refused("browser", "scheme")
        return False
    if parts.scheme not in SCHEMES:
        return True
    host = parts.hostname or ""
    policy = current_policy()
    literal = parse_address(host)
    try:
        addresses = [str(literal)] if literal is not None else await _browser_addresses(host)
        for address in addresses:
            policy.check(host, address)
    except BlockedAddressError as exc:
        refused("browser", "address")
        logger.info("browser request refused: %s", exc)
        return False
    except OSError:
        return False  # does not resolve here: refused (Chromium would fail on it too, or resolve it otherwise)
    return True
