"""The sample news web as a real HTTP/1.1 server: routing, gzip, chunked transfer, repeated headers,
and transient faults on demand (`/_fixture/faults`: 503, a held connection, a reset).

Run it with `python -m tests.fixtureweb`; tests and `scrapy demo` start it through `process.FixtureWeb`.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import socket
import struct
import threading
import zlib
from dataclasses import asdict, dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tests.fixtureweb import feeds, pages
from tests.fixtureweb.content import PER_PAGE, SECTION_BY_KEY, SECTIONS, Article, DeadPage
from tests.fixtureweb.sized import SizedState
from tests.fixtureweb.state import ServedState, WebState, build_states


def _png(width: int, height: int) -> bytes:
    """A small opaque PNG (a colour band and a stripe), served for every article image: big enough to be seen
    in a replay screenshot, the same bytes every run."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    rows = b"".join(b"\0" + b"".join(bytes((40, 90, 160) if y % 40 < 30 else (230, 170, 40)) for _ in range(width))
                    for y in range(height))
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes((8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


ARTICLE_PNG = _png(320, 120)
# A 256 KiB download, for size limits: deterministic bytes that do not compress.
REPORT_PDF = b"%PDF-1.4\n" + random.Random(7).randbytes(256 * 1024)
_STORY = re.compile(r"^/api/story/(\d+)\.json$")
_CAL = re.compile(r"^/calendar/(\d{4})/(\d{2})/(?:(\d{2})/)?$")
FAULT_MODES = ("503", "timeout", "reset")
UNAVAILABLE_HTML = (b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head>"
                    b"<body><h1>Service Unavailable</h1><p>Please try again later.</p></body></html>")


@dataclass
class Reply:
    """One HTTP answer before transfer encoding."""

    status: int
    body: bytes
    ctype: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunked: bool = False
    compressible: bool = True
    drop: str | None = None  # "timeout" or "reset": no answer at all, the handler drops the connection
    hold: float = 0.0  # for "timeout": seconds to hold the connection before closing it


@dataclass
class Fault:
    """A path made to fail: `times` more requests (None: until cleared), whatever the state."""

    path: str
    mode: str
    times: int | None = None
    hold: float = 30.0

    @classmethod
    def parse(cls, payload: bytes) -> Fault:
        """From the JSON body of `POST /_fixture/faults`; ValueError says what is wrong."""
        try:
            data = json.loads(payload or b"{}")
        except ValueError as exc:
            raise ValueError(f"body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError("body must be a JSON object")
        path, mode, times, hold = data.get("path"), data.get("mode"), data.get("times"), data.get("hold", 30.0)
        if not isinstance(path, str) or not path.startswith("/") or path.startswith("/_fixture/"):
            raise ValueError("path must be a path on the web, starting with / and not under /_fixture/")
        if mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {', '.join(FAULT_MODES)}")
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            raise ValueError("times must be a positive integer or null")
        if not isinstance(hold, int | float) or isinstance(hold, bool) or hold < 0:
            raise ValueError("hold must be a number of seconds >= 0")
        return cls(path, mode, times, float(hold))

    def reply(self) -> Reply:
        """What a request of the path gets while the fault lasts."""
        if self.mode == "503":
            return Reply(503, UNAVAILABLE_HTML, headers=[("Retry-After", "120")], compressible=False)
        return Reply(0, b"", drop=self.mode, hold=self.hold)


class Web:
    """Answers requests from the current state; the state can be advanced while serving.

    `size` (articles, roughly) serves a larger web generated page by page on request instead (`sized.py`):
    one state only, for soak tests and benchmarks. None is the default web the tests count against.
    """

    def __init__(self, seed: int = 1, state: int = 1, size: int | None = None) -> None:
        self.states: tuple[ServedState, ...]
        if size is None:
            self.states = build_states(seed)
        else:
            if state != 1:
                raise ValueError("a sized web has only state 1")
            self.states = (SizedState(seed, size),)
        self.number = state
        self.lock = threading.Lock()
        self.requests: list[str] = []  # every request target served, for tests that count fetches
        self.faults: dict[str, Fault] = {}  # by path (or path?query), set through /_fixture/faults
        self.stopping = threading.Event()  # set when the server stops: ends held ("timeout") connections
        self._listing_index = [self._index_listings(s) for s in self.states]

    @property
    def served(self) -> ServedState:
        """The state being served, default or sized."""
        return self.states[self.number - 1]

    @property
    def state(self) -> WebState:
        """The default web's current state, whole (benchmarks read its articles and dead pages)."""
        state = self.served
        if not isinstance(state, WebState):
            raise TypeError("a sized web is generated on request and has no WebState; use Web.served")
        return state

    @staticmethod
    def _index_listings(state: ServedState) -> dict[str, tuple[str, int]]:
        index: dict[str, tuple[str, int]] = {}
        for section in SECTIONS:
            if section.pagination == "none":
                continue
            count = len(state.listing(section.key))
            pages_count = 1 if section.pagination == "js" else max(1, -(-count // PER_PAGE))
            for page in range(1, pages_count + 1):
                index[section.page_path(page)] = (section.key, page)
        return index

    def answer(self, method: str, target: str, base: str, payload: bytes = b"") -> Reply:
        parts = urlsplit(target)
        path, query = parts.path, parts.query
        if path.startswith("/_fixture/"):
            return self._control(method, path, payload)
        with self.lock:
            self.requests.append(target)
            fault = self._take_fault(target, path)
        if fault is not None:
            return fault.reply()
        state = self.served
        listing = self._listing_index[self.number - 1].get(path + (f"?{query}" if query else ""))
        if listing:
            section = SECTION_BY_KEY[listing[0]]
            html = pages.listing_page(section, state.listing(section.key), listing[1], state.now.date())
            return Reply(200, (html or "").encode(), chunked=True)
        art = state.article(path)
        if art is not None:
            return self._article(state, art, base)
        dead = state.dead_page(path)
        if dead is not None:
            return self._dead(dead)
        return self._other(state, path, query, base)

    def _take_fault(self, target: str, path: str) -> Fault | None:
        """The fault this request fails with, if any, counted down (call under the lock)."""
        fault = self.faults.get(target) or self.faults.get(path)
        if fault is None:
            return None
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                del self.faults[fault.path]
        return fault

    def _article(self, state: ServedState, art: Article, base: str) -> Reply:
        if art.template == "app":
            return Reply(200, pages.app_shell_page(f"/api/story/{art.id}.json").encode())
        body = pages.article_page(art, base, state.siblings(art)).encode()
        if art.template == "broken":
            cut = body.index(b"<div class=\"article-body\">")
            body = body[:cut] + b"\xff\xfe\xc3(" + body[cut:]  # invalid UTF-8, as broken CMSs emit
        modified = (art.modified or art.published).strftime("%a, %d %b %Y %H:%M:%S GMT")
        return Reply(200, body, headers=[("Last-Modified", modified)])

    def _dead(self, page: DeadPage) -> Reply:
        how = page.how
        if how.startswith("moved:"):
            return Reply(301, b"", headers=[("Location", how.split(":", 1)[1])])
        if how == "redirect-home":
            return Reply(302, b"", headers=[("Location", "/")])
        if how == "redirect-section":
            return Reply(301, b"", headers=[("Location", "/" + page.path.split("/")[1] + "/")])
        if how == "app-missing":
            return Reply(200, pages.app_shell_page("/api/story/888888.json").encode())
        if how == "empty-shell":
            return Reply(200, pages.empty_shell_page().encode())
        status = {"status-404": 404, "status-410": 410}.get(how, 200)
        return Reply(status, pages.not_found_page(page.lang).encode())

    def _other(self, state: ServedState, path: str, query: str, base: str) -> Reply:
        today = state.now.date()
        xml = "application/xml; charset=utf-8"
        simple = {
            "/": lambda: pages.home_page(state.feed()[:10], today),
            "/robots.txt": lambda: feeds.robots_txt(base),
            "/feeds/latest.xml": lambda: feeds.rss(state, base),
            "/feeds/china.atom": lambda: feeds.atom(state, base, "china"),
            "/sitemap_index.xml": lambda: feeds.sitemap_index(state, base),
            "/sitemaps/news.xml": lambda: feeds.news_sitemap(state, base),
            "/about.html": pages.about_page,
            "/contact.html": pages.about_page,
        }
        types = {"/robots.txt": "text/plain; charset=utf-8", "/feeds/latest.xml": "application/rss+xml; charset=utf-8",
                 "/feeds/china.atom": "application/atom+xml; charset=utf-8"}
        if path in simple:
            ctype = types.get(path, xml if path.endswith(".xml") else "text/html; charset=utf-8")
            return Reply(200, simple[path]().encode(), ctype, chunked=path.startswith("/feeds/"))
        entries = state.urlset(path) if path.startswith("/sitemaps/") else None
        if entries is not None and path.endswith(".gz"):
            body = gzip.compress(feeds.urlset(entries, base).encode(), mtime=0)
            return Reply(200, body, "application/x-gzip", compressible=False)
        if entries is not None:
            return Reply(200, feeds.urlset(entries, base).encode(), xml)
        if path == "/api/live.json":
            offset = int(parse_qs(query).get("offset", ["0"])[0] or 0)
            data = pages.live_api(state.listing("live"), offset)
            return Reply(200, json.dumps(data).encode(), "application/json")
        story = _STORY.match(path)
        if story:
            return self._story(state, story[1], base)
        if path.startswith("/lab/"):  # linked from nowhere: tests point a site config at /lab/
            return self._lab(state, path)
        if path in ("/static/app.js", "/static/app.css"):
            js = path.endswith(".js")
            return Reply(200, (pages.APP_JS if js else pages.APP_CSS).encode(),
                         "application/javascript; charset=utf-8" if js else "text/css; charset=utf-8")
        if path == "/media/annual-report.pdf":
            return Reply(200, REPORT_PDF, "application/pdf", compressible=False)
        if path.startswith("/img/"):
            return Reply(200, ARTICLE_PNG, "image/png", compressible=False)
        if path == "/search":
            return Reply(200, pages.search_page(parse_qs(query).get("q", [""])[0]).encode())
        cal = _CAL.match(path)
        if cal:
            return self._calendar(state, cal)
        if path.startswith("/china/"):
            # This part of the site answers unknown URLs with 200 and its error template, like the real one.
            return Reply(200, pages.not_found_page("zh").encode())
        return Reply(404, pages.not_found_page("en").encode())

    @staticmethod
    def _lab(state: ServedState, path: str) -> Reply:
        if path == "/lab/":
            return Reply(200, pages.lab_page(state.app_ids()).encode())
        if path == "/lab/2026/11/20/spinning-app-1.html":
            return Reply(200, pages.spinning_app_page().encode())
        if path.startswith("/lab/app/"):
            return Reply(200, pages.app_shell_page(f"/api/story/{path.rstrip('/').rsplit('/', 1)[-1]}.json").encode())
        return Reply(404, pages.not_found_page("en").encode())

    def _story(self, state: ServedState, ident: str, base: str) -> Reply:
        """The JSON behind an app shell; 404 (and the error page's JSON) for a story that does not exist."""
        art = state.app_article(ident)
        related = state.siblings(art) if art else []
        data = pages.app_story(art, base, related)
        return Reply(200 if art else 404, json.dumps(data, ensure_ascii=False).encode(),
                     "application/json")

    @staticmethod
    def _calendar(state: ServedState, match: re.Match[str]) -> Reply:
        year, month, day = int(match[1]), int(match[2]), match[3]
        if not 1 <= month <= 12 or year < 1:
            return Reply(404, pages.not_found_page("en").encode())
        first = date(year, month, 1)
        try:
            the_day = date(year, month, int(day)) if day else None
        except ValueError:
            return Reply(404, pages.not_found_page("en").encode())
        arts = state.articles_on(the_day) if the_day else []
        return Reply(200, pages.calendar_page(the_day, first, arts).encode())

    def _control(self, method: str, path: str, payload: bytes) -> Reply:
        if path == "/_fixture/faults":
            return self._faults(method, payload)
        if path == "/_fixture/state" and method == "POST":
            number = int(payload.strip() or b"1")
            if not 1 <= number <= len(self.states):
                message = "state must be 1 or 2" if len(self.states) == 2 else "a sized web has only state 1"
                return Reply(400, message.encode(), "text/plain")
            with self.lock:
                self.number = number
        if path == "/_fixture/count":  # cheap to poll every second, unlike the list of a 50,000-page crawl
            with self.lock:
                count = len(self.requests)
            return Reply(200, json.dumps({"requests": count}).encode(), "application/json")
        if path == "/_fixture/requests":
            with self.lock:
                served = list(self.requests)
                if method == "POST":
                    self.requests.clear()
            return Reply(200, json.dumps(served).encode(), "application/json")
        if path in ("/_fixture/state", "/_fixture/manifest.json"):
            body = self.served.manifest() if path.endswith(".json") else {"state": self.number}
            return Reply(200, json.dumps(body, ensure_ascii=False).encode(), "application/json")
        return Reply(404, b"", "text/plain")

    def _faults(self, method: str, payload: bytes) -> Reply:
        """GET lists the active faults; POST sets one (or clears all with {"clear": true}); DELETE clears all."""
        clear = method == "DELETE"
        if method == "POST":
            try:
                clear = json.loads(payload or b"{}").get("clear") is True
            except (ValueError, AttributeError):
                clear = False
            if not clear:
                try:
                    fault = Fault.parse(payload)
                except ValueError as exc:
                    return Reply(400, str(exc).encode(), "text/plain")
                with self.lock:
                    self.faults[fault.path] = fault
        elif method not in ("GET", "HEAD", "DELETE"):
            return Reply(405, b"", "text/plain", headers=[("Allow", "GET, POST, DELETE")])
        with self.lock:
            if clear:
                self.faults.clear()
            active = [asdict(f) for f in self.faults.values()]
        return Reply(200, json.dumps(active).encode(), "application/json")


class FixtureServer(ThreadingHTTPServer):
    """The threaded server, which tells connections held by a "timeout" fault to let go when it stops."""

    web: Web

    def shutdown(self) -> None:
        self.web.stopping.set()
        super().shutdown()

    def server_close(self) -> None:
        self.web.stopping.set()
        super().server_close()


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, gzip on request and chunked listing pages."""

    protocol_version = "HTTP/1.1"
    server_version = "SampleTimes/1.0"
    web: Web  # set on the subclass made by make_server

    def do_GET(self) -> None:
        self._serve("GET", b"")

    def do_HEAD(self) -> None:
        self._serve("HEAD", b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve("POST", self.rfile.read(length))

    def do_DELETE(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve("DELETE", self.rfile.read(length))

    def _serve(self, method: str, payload: bytes) -> None:
        host = self.headers.get("Host") or "127.0.0.1"
        reply = self.web.answer(method, self.path, f"http://{host}", payload)
        if reply.drop is not None:
            self._drop(reply)
            return
        body = reply.body
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.ctype)
        for name, value in reply.headers:
            self.send_header(name, value)
        if reply.ctype.startswith("text/html"):
            self.send_header("Set-Cookie", "sid=abc123; Path=/; HttpOnly")
            self.send_header("Set-Cookie", "consent=0; Path=/; Max-Age=31536000")
        if reply.compressible and len(body) > 200 and "gzip" in (self.headers.get("Accept-Encoding") or ""):
            body = gzip.compress(body, compresslevel=6, mtime=0)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        chunked = reply.chunked and self.request_version == "HTTP/1.1"
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method == "HEAD":
            return
        if chunked:
            for start in range(0, len(body), 4096):
                piece = body[start:start + 4096]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.wfile.write(body)

    def _drop(self, reply: Reply) -> None:
        """No answer: hold the connection, then close it ("timeout"), or reset it at once ("reset")."""
        self.close_connection = True
        if reply.drop == "timeout":
            self.web.stopping.wait(reply.hold)  # this connection's own thread: others are served meanwhile
            return  # the server then closes the connection (FIN) without having written a byte
        # SO_LINGER 0 makes close() send RST. Close here: socketserver's shutdown_request would first
        # shut the socket down for writing, a FIN the client could read as an orderly end of the stream.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the file holds a reference; the socket really closes only without it
        self.connection.close()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        """Quiet: the crawler's own log is what tests read."""


def make_server(port: int = 0, seed: int = 1, state: int = 1, size: int | None = None) -> FixtureServer:
    """A server bound to loopback; port 0 picks a free one."""
    web = Web(seed, state, size)
    handler = type("BoundHandler", (Handler,), {"web": web})
    server = FixtureServer(("127.0.0.1", port), handler)
    server.web = web
    server.daemon_threads = True
    return server
