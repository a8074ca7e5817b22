"""Every misbehaviour of the hostile web: its path, what it does, and what a correct crawler reports for it.

The expected outcome is the crawl-log `verdict` and one entry of `reasons` that it must carry. The rule
behind them (issue 11): a page that could not be read whole (cut, undecodable, binary behind `text/html`,
over a limit on its size, its headers or its depth) is `error` with the reason, never `soft-404` or
`not-found`; a page read whole whose links were bounded keeps the verdict of its content; odd but readable
pages (bare LF, no reason phrase, NULs, bad bytes, a wrong charset) are read as browsers read them.
"""

from __future__ import annotations

import random
import re
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.hostileweb import compressed, pages
from tests.hostileweb.wire import Conn, HttpRequest

Handler = Callable[[Conn, HttpRequest], None]

OVERSIZE = 512 * 1024 * 1024  # "far over DOWNLOAD_MAXSIZE": sixteen times the default 32 MiB
DRIP_BYTES = 240  # one every DRIP_INTERVAL: two minutes, far past any crawl's DOWNLOAD_TIMEOUT
DRIP_INTERVAL = 0.5
CHAIN_HOPS = 30  # redirects in the long chain: more than Scrapy's REDIRECT_MAX_TIMES (20)
HEADER_FLOOD = 10_000  # over LIMIT_HEADER_COUNT (500), under the parser's hard stops: archived and flagged
ENDLESS_HEADER_LINE = 8 * 1024
HUGE_HEADER = 1024 * 1024
CUT_PAUSE = 0.5  # seconds between the bytes that arrive and the cut, so they do arrive before it


@dataclass(frozen=True)
class Case:
    name: str
    path: str
    does: str
    verdict: str | None
    reason: str
    handler: Handler = field(repr=False)
    kind: str = "article"  # how the news spider reaches it from `/`: as an article, or as a (sub-)section
    archived: tuple[str, ...] = ()  # paths whose responses must be in the WARCs (every hop of a redirect)

    def public(self) -> dict[str, Any]:
        does = self.does.replace("{bomb}", f"{compressed.bomb_size() // compressed.MIB:,} MiB")
        return {"name": self.name, "path": self.path, "does": does, "verdict": self.verdict,
                "reason": self.reason, "kind": self.kind, "archived": list(self.archived)}


def _html(request: HttpRequest) -> bytes:
    return pages.article(request.path).encode()


# --- encodings ---------------------------------------------------------------------------------------------

def _bomb(encoding: str) -> Handler:
    def handle(conn: Conn, request: HttpRequest) -> None:
        conn.respond(compressed.bomb(encoding), headers=[("Content-Encoding", encoding)])
    return handle


def double_gzip(conn: Conn, request: HttpRequest) -> None:
    conn.respond(compressed.double_gzip(_html(request)), headers=[("Content-Encoding", "gzip")])


def fake_gzip(conn: Conn, request: HttpRequest) -> None:
    conn.respond(_html(request), headers=[("Content-Encoding", "gzip")])


def truncated_gzip(conn: Conn, request: HttpRequest) -> None:
    conn.respond(compressed.truncated_gzip(_html(request)), headers=[("Content-Encoding", "gzip")])


# --- size and time -----------------------------------------------------------------------------------------

def oversize(conn: Conn, request: HttpRequest) -> None:
    conn.head("HTTP/1.1 200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(OVERSIZE)),
                                  ("Connection", "close")])
    for piece in pages.filler(OVERSIZE):
        conn.send(piece)


def slow_drip(conn: Conn, request: HttpRequest) -> None:
    conn.head("HTTP/1.1 200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Length", str(DRIP_BYTES)), ("Connection", "close")])
    body = (b"<html><body><p>" + b"." * DRIP_BYTES)[:DRIP_BYTES]
    for byte in body:
        conn.send(bytes([byte]))
        if conn.closed_within(DRIP_INTERVAL):
            return


def stalled(conn: Conn, request: HttpRequest) -> None:
    conn.head("HTTP/1.1 200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "5000"),
                                  ("Connection", "close")])
    conn.wait_for_close()


# --- connections and framing ---------------------------------------------------------------------------------

def _pause_then(conn: Conn) -> None:
    """Let what was sent reach the client before the cut (a reset can discard unread bytes)."""
    conn.closed_within(CUT_PAUSE)


def reset_mid_body(conn: Conn, request: HttpRequest) -> None:
    body = _html(request)
    conn.head("HTTP/1.1 200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                                  ("Connection", "close")])
    conn.send(body[: len(body) // 2])
    _pause_then(conn)
    conn.reset()


def closed_before_headers(conn: Conn, request: HttpRequest) -> None:
    conn.close()


def bad_chunk_size(conn: Conn, request: HttpRequest) -> None:
    body = _html(request)
    conn.head("HTTP/1.1 200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Transfer-Encoding", "chunked"),
                                  ("Connection", "close")])
    half = body[: len(body) // 2]
    conn.send(b"%x\r\n%s\r\nZZ-not-hex\r\n%s\r\n0\r\n\r\n" % (len(half), half, body[len(half):]))
    _pause_then(conn)
    conn.close()


def lying_chunk(conn: Conn, request: HttpRequest) -> None:
    body = _html(request)
    conn.head("HTTP/1.1 200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Transfer-Encoding", "chunked"),
                                  ("Connection", "close")])
    conn.send(b"%x\r\n%s" % (len(body) * 4, body))  # announces four times what follows, then hangs up
    _pause_then(conn)
    conn.close()


def content_length_long(conn: Conn, request: HttpRequest) -> None:
    body = _html(request)
    conn.head("HTTP/1.1 200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Length", str(len(body) * 3)), ("Connection", "close")])
    conn.send(body)
    _pause_then(conn)
    conn.close()


def content_length_short(conn: Conn, request: HttpRequest) -> None:
    body = _html(request)
    conn.head("HTTP/1.1 200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "120"),
                                  ("Connection", "close")])
    conn.send(body)  # the first 120 bytes end inside <head>; the rest is surplus after the declared body
    _pause_then(conn)
    conn.close()


# --- redirects -----------------------------------------------------------------------------------------------

def _redirect(conn: Conn, location: str) -> None:
    conn.respond(b"", status="HTTP/1.1 302 Found", headers=[("Location", location)])


def redirect_loop(conn: Conn, request: HttpRequest) -> None:
    other = "/case/redirect-loop/b" if request.path == "/case/redirect-loop" else "/case/redirect-loop"
    _redirect(conn, other)


def self_redirect(conn: Conn, request: HttpRequest) -> None:
    _redirect(conn, request.path)


def redirect_chain(conn: Conn, request: HttpRequest) -> None:
    hop = int(request.path.rsplit("/", 1)[1]) if request.path.count("/") == 3 else 0
    if hop >= CHAIN_HOPS:
        conn.respond(_html(request))
        return
    _redirect(conn, f"/case/redirect-chain/{hop + 1}")


def meta_refresh_loop(conn: Conn, request: HttpRequest) -> None:
    other = "/case/meta-refresh-loop/b" if request.path == "/case/meta-refresh-loop" else "/case/meta-refresh-loop"
    conn.respond(pages.meta_refresh(other))


# --- headers and status lines --------------------------------------------------------------------------------

def header_flood(conn: Conn, request: HttpRequest) -> None:
    body = _html(request)
    flood = [(f"X-Flood-{n}", str(n)) for n in range(HEADER_FLOOD)]
    conn.respond(body, headers=flood)


def endless_headers(conn: Conn, request: HttpRequest) -> None:
    """8 KiB header lines for as long as the client reads them: no response ever completes."""
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n")
    line, deadline = b"X-Endless: " + b"e" * ENDLESS_HEADER_LINE + b"\r\n", time.monotonic() + 120
    while time.monotonic() < deadline:
        conn.send(line * 8)


def huge_header(conn: Conn, request: HttpRequest) -> None:
    conn.respond(_html(request), headers=[("X-Huge", "a" * HUGE_HEADER)])


def bare_lf_headers(conn: Conn, request: HttpRequest) -> None:
    body = _html(request)
    conn.head("HTTP/1.1 200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                                  ("Connection", "close")], eol=b"\n")
    conn.send(body)


def _status(line: str, body: Callable[[HttpRequest], bytes] = _html) -> Handler:
    def handle(conn: Conn, request: HttpRequest) -> None:
        conn.respond(body(request), status=line)
    return handle


def _weird_page(request: HttpRequest) -> bytes:
    return b"<!DOCTYPE html><html><head><title>Weird</title></head><body><p>Weird.</p></body></html>"


# --- bytes and text ------------------------------------------------------------------------------------------

def nul_bytes(conn: Conn, request: HttpRequest) -> None:
    conn.respond(pages.with_nuls(pages.article(request.path)))


def invalid_utf8(conn: Conn, request: HttpRequest) -> None:
    conn.respond(pages.with_invalid_utf8(pages.article(request.path)))


def wrong_charset(conn: Conn, request: HttpRequest) -> None:
    conn.respond(pages.chinese_article(request.path, charset="utf-8").encode("gbk"))


def no_charset(conn: Conn, request: HttpRequest) -> None:
    conn.respond(pages.chinese_article(request.path, charset=None).encode(), content_type="text/html")


def _png() -> bytes:
    """A real 128x128 RGB PNG of noise (so it does not compress away)."""
    noise = random.Random(7)
    rows = b"".join(b"\x00" + noise.randbytes(128 * 3) for _ in range(128))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 128, 128, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def binary_png(conn: Conn, request: HttpRequest) -> None:
    conn.respond(_png())


def binary_random(conn: Conn, request: HttpRequest) -> None:
    conn.respond(random.Random(11).randbytes(256 * 1024))


# --- parsing and traps ---------------------------------------------------------------------------------------

def deep_nesting(conn: Conn, request: HttpRequest) -> None:
    conn.stream(pages.deep_nesting())


def million_links(conn: Conn, request: HttpRequest) -> None:
    conn.stream(pages.million_links())


def huge_title(conn: Conn, request: HttpRequest) -> None:
    conn.stream(pages.huge_title(request.path))


_MONTH = re.compile(r"^/calendar/(\d{4})/(0[1-9]|1[0-2])$")


def calendar(conn: Conn, request: HttpRequest) -> None:
    match = _MONTH.match(request.path)
    if match is None:
        conn.respond(pages.not_found(request.path), status="HTTP/1.1 404 Not Found")
        return
    conn.respond(pages.calendar_month(int(match[1]), int(match[2])).encode())


def control(conn: Conn, request: HttpRequest) -> None:
    conn.respond(_html(request))


_DECODED_LIMIT = "inflates past DOWNLOAD_MAXSIZE"
_CONTROL_DATED = "/control/2026/11/30/harbour-ferry-returns-to-service.html"

CASES: list[Case] = [
    Case("gzip-bomb", "/case/gzip-bomb", f"gzip (~1 MB per GiB) that {_DECODED_LIMIT}: {{bomb}} of spaces",
         "error", "decompression-bomb", _bomb("gzip"), archived=("/case/gzip-bomb",)),
    Case("deflate-bomb", "/case/deflate-bomb", f"zlib 'deflate' that {_DECODED_LIMIT}: {{bomb}}",
         "error", "decompression-bomb", _bomb("deflate"), archived=("/case/deflate-bomb",)),
    Case("brotli-bomb", "/case/brotli-bomb", f"a few KB of brotli that {_DECODED_LIMIT}: {{bomb}}",
         "error", "decompression-bomb", _bomb("br"), archived=("/case/brotli-bomb",)),
    Case("zstd-bomb", "/case/zstd-bomb", f"zstd that {_DECODED_LIMIT}: {{bomb}}",
         "error", "decompression-bomb", _bomb("zstd"), archived=("/case/zstd-bomb",)),
    Case("double-gzip", "/case/double-gzip", "gzip of gzip, Content-Encoding says gzip once: decoded once it is "
         "still gzip bytes", "error", "binary-body", double_gzip),
    Case("fake-gzip", "/case/fake-gzip", "Content-Encoding: gzip on a plain HTML body",
         "error", "decode-failed", fake_gzip),
    Case("truncated-gzip", "/case/truncated-gzip", "a gzip member cut in half, its framing (Content-Length) "
         "intact: the encoding promised more", "error", "data-loss", truncated_gzip),
    Case("oversize", "/case/oversize", "a plain 512 MiB body with its Content-Length",
         "error", "too-large", oversize),
    Case("slow-drip", "/case/slow-drip", "one byte every 0.5 s for two minutes", "error", "timeout", slow_drip),
    Case("stalled", "/case/stalled", "headers, then silence", "error", "timeout", stalled),
    Case("reset-mid-body", "/case/reset-mid-body", "half the body, then a TCP RST (SO_LINGER 0)",
         "error", "data-loss", reset_mid_body),
    Case("closed-before-headers", "/case/closed-before-headers", "reads the request, closes without a byte",
         "error", "no-response", closed_before_headers),
    Case("bad-chunk-size", "/case/bad-chunk-size", "chunked, the second chunk size is not hex",
         "error", "data-loss", bad_chunk_size),
    Case("lying-chunk", "/case/lying-chunk", "a chunk four times longer than what is sent, then close",
         "error", "data-loss", lying_chunk),
    Case("content-length-long", "/case/content-length-long", "Content-Length three times the body, then close",
         "error", "data-loss", content_length_long),
    # Complete by its own framing: the only sign of the lie is HTML that stops before </body> and </html>.
    Case("content-length-short", "/case/content-length-short", "Content-Length 120, then the whole page: the "
         "declared body ends inside <head>, surplus bytes follow", "error", "incomplete-html", content_length_short),
    Case("redirect-loop", "/case/redirect-loop", "302 to /case/redirect-loop/b, which 302s back",
         "error", "redirect-loop", redirect_loop, archived=("/case/redirect-loop", "/case/redirect-loop/b")),
    Case("self-redirect", "/case/self-redirect", "302 to itself", "error", "redirect-loop", self_redirect,
         archived=("/case/self-redirect",)),
    Case("redirect-chain", "/case/redirect-chain", f"{CHAIN_HOPS} redirects in a row (more than "
         "REDIRECT_MAX_TIMES), then an article", "error", "too-many-redirects", redirect_chain,
         archived=("/case/redirect-chain", "/case/redirect-chain/1", "/case/redirect-chain/2")),
    Case("meta-refresh-loop", "/case/meta-refresh-loop", "a meta refresh to /case/meta-refresh-loop/b, which "
         "refreshes back", "error", "redirect-loop", meta_refresh_loop,
         archived=("/case/meta-refresh-loop", "/case/meta-refresh-loop/b")),
    Case("header-flood", "/case/header-flood", f"{HEADER_FLOOD:,} header lines before an article",
         "error", "too-many-headers", header_flood),
    # Dropped by the parser at 4x LIMIT_HEADER_BYTES (crawler/headerlimits.py): nothing whole to archive.
    Case("endless-headers", "/case/endless-headers", "8 KiB header lines sent for as long as they are read",
         "error", "headers-too-large", endless_headers),
    # Twisted closes the connection at a header line over 16 KiB, giving no other sign: the headers were cut.
    Case("huge-header", "/case/huge-header", "one 1 MiB header line before an article",
         "error", "headers-cut", huge_header),
    Case("bare-lf-headers", "/case/bare-lf-headers", "status line and headers ended by LF alone (RFC 9112 lets "
         "a client accept it, browsers do)", "ok", "article-evidence", bare_lf_headers),
    Case("status-no-reason", "/case/status-no-reason", "'HTTP/1.1 200' with no reason phrase, then an article",
         "ok", "article-evidence", _status("HTTP/1.1 200")),
    Case("status-999", "/case/status-999", "'HTTP/1.0 999 Weird'", "error", "status-999",
         _status("HTTP/1.0 999 Weird", _weird_page)),
    Case("status-not-numeric", "/case/status-not-numeric", "'HTTP/1.1 2OO OK' (letters O)",
         "error", "bad-status-line", _status("HTTP/1.1 2OO OK")),
    Case("nul-bytes", "/case/nul-bytes", "an article with NUL bytes in its paragraphs",
         "ok", "article-evidence", nul_bytes),
    Case("invalid-utf8", "/case/invalid-utf8", "an article declared UTF-8 with invalid byte sequences",
         "ok", "article-evidence", invalid_utf8),
    Case("wrong-charset", "/case/wrong-charset", "a Chinese article declared UTF-8 (header and meta), sent in GBK",
         "ok", "article-evidence", wrong_charset),
    Case("no-charset", "/case/no-charset", "a Chinese article in UTF-8 with no charset anywhere",
         "ok", "article-evidence", no_charset),
    Case("binary-png", "/case/binary-png", "a PNG image served as text/html", "error", "binary-body",
         binary_png),
    Case("binary-random", "/case/binary-random", "256 KiB of random bytes served as text/html",
         "error", "binary-body", binary_random),
    Case("deep-nesting", "/case/deep-nesting", "100,000 nested <div>s, the only text at the bottom",
         "error", "too-deep", deep_nesting),
    Case("million-links", "/listing/million-links", "a listing page with 1,000,000 links (~22 MB, chunked)",
         "ok", "too-many-links", million_links, kind="section"),
    Case("huge-title", "/case/huge-title", "an article whose <title> is 4 MiB: kept cut, the verdict stands", "ok",
         "long-title", huge_title),
    Case("calendar", "/calendar/2026/11", "an events diary whose 'Next month' link never ends",
         "ok", "article-evidence", calendar, kind="section"),
    Case("control", "/control/article.html", "a normal news article: JSON-LD NewsArticle, <time>, h1, paragraphs",
         "ok", "article-evidence", control),
    Case("control-dated", _CONTROL_DATED, "the same article at a dated URL", "ok", "article-evidence", control),
]

# Paths served beyond the cases' own: the other end of a loop, the hops of a chain, the months of the trap.
ROUTES: list[tuple[re.Pattern[str], Handler]] = [
    (re.compile(r"^/case/redirect-loop/b$"), redirect_loop),
    (re.compile(r"^/case/redirect-chain/\d+$"), redirect_chain),
    (re.compile(r"^/case/meta-refresh-loop/b$"), meta_refresh_loop),
    (re.compile(r"^/calendar/"), calendar),
]


def route(path: str) -> Handler | None:
    for case in CASES:
        if case.path == path:
            return case.handler
    for pattern, handler in ROUTES:
        if pattern.match(path):
            return handler
    return None
