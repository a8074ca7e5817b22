"""Every connection Chromium opens, checked against the network policy: a SOCKS5 proxy of our own.

Playwright's request routing (crawler/guard.py `browser_may_fetch`) sees a request's first URL only: the
hops of a redirect and WebSocket connections never reach it, so a rendered page could send the browser to
a refused address through a 302 or a `new WebSocket(...)`. Chromium is therefore started with this proxy
as `--proxy-server=socks5://127.0.0.1:PORT` (loopback included, `<-loopback>`): it hands us the host name
and port of every TCP connection it wants (pages, subresources, redirect hops, WebSockets, workers), we
resolve the name ourselves, check each address, and connect to the address we checked, so a name whose
DNS answer changes cannot slip between a check and the connection. Bytes are relayed untouched (TLS goes
end to end), so what the recorder archives is what the server sent. A refusal is a SOCKS "not allowed by
ruleset" reply: no connection is opened.

Chromium then reports the proxy as every response's remote address; the address each (host, port) was
last connected to is kept here for the recorder's `WARC-IP-Address`.

Runs in a thread with its own event loop: relaying a rendered page's bytes never holds the reactor. When
the user configured an HTTP proxy for the crawl (http_proxy / https_proxy), the browser goes through it
instead, as requests do: the proxy resolves, as with curl and browsers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable

from crawler.netguard import BlockedAddressError, NetworkPolicy, parse_address

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 30.0
_RELAY_CHUNK = 64 * 1024
_ADDRESSES_KEPT = 4096
# SOCKS5 replies (RFC 1928, 6)
_OK, _FAILURE, _NOT_ALLOWED, _HOST_UNREACHABLE, _REFUSED, _COMMAND = 0, 1, 2, 4, 5, 7


class GuardProxy:
    """A SOCKS5 server (CONNECT only, no authentication) on 127.0.0.1 that applies `policy()`."""

    def __init__(self, policy: Callable[[], NetworkPolicy], refused: Callable[[str], None]) -> None:
        self.policy, self.refused = policy, refused
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="browser-guard", daemon=True)
        self._addresses: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._lock = threading.Lock()

    def start(self) -> int:
        """Listen on a free loopback port (returned) and serve in the proxy's thread."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(timeout=10)
        return self.port

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        async def close() -> None:
            if self._server is not None:
                self._server.close()
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    def address_of(self, host: str, port: int) -> str | None:
        """The address the last connection to `host:port` went to (for WARC-IP-Address)."""
        with self._lock:
            return self._addresses.get((host.lower(), port))

    def _remember(self, host: str, port: int, address: str) -> None:
        with self._lock:
            self._addresses[(host.lower(), port)] = address
            self._addresses.move_to_end((host.lower(), port))
            while len(self._addresses) > _ADDRESSES_KEPT:
                self._addresses.popitem(last=False)

    # --- one client connection ---------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target = await self._handshake(reader, writer)
            if target is not None:
                await self._connect(target[0], target[1], reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError):
            pass  # the browser went away or spoke something else: nothing was opened on its behalf
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _handshake(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> tuple[str, int] | None:
        version, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if version != 5 or 0 not in methods:
            writer.write(b"\x05\xff")
            return None
        writer.write(b"\x05\x00")
        version, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = socket.inet_ntop(socket.AF_INET, await reader.readexactly(4))
        elif kind == 4:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        elif kind == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode("idna")
        else:
            raise ValueError(f"SOCKS address type {kind}")
        port = struct.unpack("!H", await reader.readexactly(2))[0]
        if version != 5 or command != 1:  # BIND and UDP ASSOCIATE: nothing a page needs
            self._reply(writer, _COMMAND)
            return None
        return host, port

    async def _connect(self, host: str, port: int, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter) -> None:
        address = await self._checked_address(host, port, writer)
        if address is None:
            return
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(
                asyncio.open_connection(address, port), CONNECT_TIMEOUT)
        except (TimeoutError, OSError):
            self._reply(writer, _REFUSED)
            return
        self._remember(host, port, address)
        bound = upstream_writer.get_extra_info("sockname") or ("0.0.0.0", 0)
        self._reply(writer, _OK, bound[0], bound[1])
        await asyncio.gather(_relay(reader, upstream_writer), _relay(upstream_reader, writer))

    async def _checked_address(self, host: str, port: int, writer: asyncio.StreamWriter) -> str | None:
        """The address to connect to; None (and the reply sent) when refused or unresolvable. Every address
        the name has must be allowed, as for the browser's request routing: a name that is public for one
        lookup and loopback for the next is refused."""
        literal = parse_address(host)
        try:
            if literal is not None:
                addresses = [str(literal)]
            else:
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
                addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        except OSError:
            self._reply(writer, _HOST_UNREACHABLE)
            return None
        policy = self.policy()
        try:
            for address in addresses:
                policy.check(host, address)
        except BlockedAddressError as exc:
            self.refused("browser-connection")
            logger.info("browser connection refused: %s", exc)
            self._reply(writer, _NOT_ALLOWED)
            return None
        return addresses[0] if addresses else None

    @staticmethod
    def _reply(writer: asyncio.StreamWriter, code: int, host: str = "0.0.0.0", port: int = 0) -> None:
        address = ipaddress.ip_address(host.split("%", 1)[0])
        kind = b"\x01" if address.version == 4 else b"\x04"
        writer.write(b"\x05" + bytes([code]) + b"\x00" + kind + address.packed + struct.pack("!H", port))


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_RELAY_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()


class _Current:
    proxy: GuardProxy | None = None


_current = _Current()


def guard_proxy(policy: Callable[[], NetworkPolicy], refused: Callable[[str], None]) -> GuardProxy:
    """The process's guard proxy, started on first use (one crawl per process, as the policy)."""
    if _current.proxy is None:
        proxy = GuardProxy(policy, refused)
        proxy.start()
        _current.proxy = proxy
    return _current.proxy


def current_guard_proxy() -> GuardProxy | None:
    return _current.proxy


def chromium_args(port: int) -> list[str]:
    """Chromium's flags for sending every connection through the guard (loopback too: Chromium leaves
    loopback out of proxying unless told `<-loopback>`)."""
    return [f"--proxy-server=socks5://127.0.0.1:{port}", "--proxy-bypass-list=<-loopback>"]
