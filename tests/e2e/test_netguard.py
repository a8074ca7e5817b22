"""No SSRF: with only 127.0.0.1 allowed, a listener of the test's own on 127.0.0.2 is never connected to,
whether it is named by address, by a host name that resolves to it, by a redirect, by `scrapy soft404` (and
its host probe) or by a subresource of a page Chromium renders. Only loopback is used: the refusal of
private and link-local addresses is tested on the classification function (tests/unit/test_netguard.py)."""

from __future__ import annotations

import base64
import gzip
import socket
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

import pytest

from archive.store import FileStore
from crawler.summary import read_jsonl_parts
from tests.crawling import scrapy, write_site

TRAP_HOST = "127.0.0.2"
PROXY_SECRET = "pr0xy-s3cret-Zq81"


@pytest.fixture
def trap() -> Iterator[socket.socket]:
    """A listening socket that must never see a connection (checked with a non-blocking accept)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((TRAP_HOST, 0))
    sock.listen(16)
    sock.setblocking(False)
    yield sock
    sock.close()


def connections(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


class _Pages(BaseHTTPRequestHandler):
    """The allowed site: pages that point at the trap in every way a page can."""

    trap_port: ClassVar[int] = 0

    def do_GET(self) -> None:
        port = self.trap_port
        as_number = int.from_bytes(socket.inet_aton(TRAP_HOST), "big")  # "2130706434": a name for 127.0.0.2
        redirects = {"/2026/12/01/redirect.html": "/2026/12/01/redirected.html", "/pixel-moved.png": "/pixel.png",
                     "/2026/12/01/rendered-redirect.html": "/2026/12/01/landed.html"}
        if self.path in redirects:  # the last two only for the browser: a subresource, a navigation
            self.send_response(302)
            self.send_header("Location", f"http://{TRAP_HOST}:{port}{redirects[self.path]}")
            self.end_headers()
            return
        if self.path == "/news/":
            links = [f"http://{TRAP_HOST}:{port}/2026/12/01/direct.html",
                     f"http://{as_number}:{port}/2026/12/01/by-name.html",
                     f"http://[::ffff:{TRAP_HOST}]:{port}/2026/12/01/mapped.html",
                     "/2026/12/01/redirect.html", "/2026/12/01/rendered.html", "/2026/12/01/rendered-redirect.html"]
            body = "<html><body><h1>News</h1>" + "".join(
                f'<article><h2><a href="{u}">A story about the harbour number {n}</a></h2></article>'
                for n, u in enumerate(links)) + "</body></html>"
        elif self.path == "/2026/12/01/rendered.html":
            body = (f'<html><head><title>Rendered</title></head><body><main><h1>Rendered</h1>'
                    f'<p>{"A story told at length. " * 40}</p><img src="http://{TRAP_HOST}:{port}/pixel.png">'
                    '<img src="/pixel-moved.png">'  # on the allowed host, redirected to the trap
                    f'<script>fetch("http://{as_number}:{port}/api.json").catch(() => null);'
                    f'try {{ new WebSocket("ws://{TRAP_HOST}:{port}/live") }} catch (e) {{}}</script>'
                    "</main></body></html>")
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site(trap: socket.socket) -> Iterator[str]:
    _Pages.trap_port = trap.getsockname()[1]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_nothing_reaches_a_refused_address(site: str, trap: socket.socket, tmp_path: Path) -> None:
    settings = write_site(tmp_path, "guarded", (
        f'base_url = "{site}/"\nsitemap_from_robots = false\nrender = "never"\n'
        # robots.txt obeyed: the trap's robots.txt is asked for, and refused, before each of its pages.
        # The trap's names are the site's own, so offsite filtering does not stop them first.
        f'allowed_domains = ["127.0.0.1", "{TRAP_HOST}", "2130706434", "::ffff:{TRAP_HOST}"]\n'
        '[[sections]]\nname = "news"\nurl = "/news/"\n'
        '[[render_rules]]\npattern = "/rendered(-redirect)?\\\\.html$"\nmode = "always"\n'))
    store = tmp_path / "store"
    args = ["crawl", "news", "-a", "site=guarded", "-s", f"CRAWL_SITES_DIR={settings['CRAWL_SITES_DIR']}",
            "-s", "NETWORK_ALLOW=127.0.0.1/32", "-s", f"STORE_URI=file://{store}",
            "-s", f"STORE_SPOOL_DIR={tmp_path / 'spool'}", "-s", "CRAWL_ID=guarded", "-s", "LOG_LEVEL=INFO"]
    proc = scrapy(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = read_jsonl_parts(FileStore(store), "crawls/guarded/log")
    by_url = {entry["url"]: entry for entry in log}
    refused = [entry for entry in log if "blocked-address" in entry["reasons"]]
    assert {entry["url"].rsplit("/", 1)[-1] for entry in refused} >= {"direct.html", "by-name.html",
                                                                      "mapped.html", "redirect.html"}, log
    assert all(entry["verdict"] is None for entry in refused)  # refused by us: says nothing of the page
    rendered = by_url[f"{site}/2026/12/01/rendered.html"]
    assert rendered["render"]["rendered"] is True, rendered
    assert "netguard/refused/browser" in proc.stderr  # the image and the fetch, aborted in Chromium
    # What request routing never sees (a redirect hop, a WebSocket): refused by the guard proxy.
    assert "netguard/refused/browser/browser-connection" in proc.stderr, proc.stderr[-3000:]
    robots = [e for e in log if e["url"].endswith("/robots.txt") and TRAP_HOST in e["url"]]
    assert robots and all("blocked-address" in e["reasons"] for e in robots)
    page = by_url[f"{site}/2026/12/01/rendered.html"]
    assert page["warc"] is not None

    check = scrapy(["soft404", f"http://{TRAP_HOST}:{trap.getsockname()[1]}/2026/12/01/checked.html",
                    "-s", "NETWORK_ALLOW=127.0.0.1/32", "-s", f"STORE_URI=file://{tmp_path / 'check'}",
                    "-s", f"STORE_SPOOL_DIR={tmp_path / 'check-spool'}"])
    assert check.returncode == 0, check.stderr[-2000:]
    assert "blocked-address" in check.stdout
    assert connections(trap) == 0


def test_loopback_is_refused_unless_allowed(site: str, trap: socket.socket, tmp_path: Path) -> None:
    """No allowance at all: the crawl's own site on 127.0.0.1 is refused too, with one reason, no crash."""
    settings = write_site(tmp_path, "plain", (
        f'base_url = "{site}/"\nsitemap_from_robots = false\nobey_robots = false\nrender = "never"\n'
        '[[sections]]\nname = "news"\nurl = "/news/"\n'))
    store = tmp_path / "store"
    proc = scrapy(["crawl", "news", "-a", "site=plain", "-s", f"CRAWL_SITES_DIR={settings['CRAWL_SITES_DIR']}",
                   "-s", f"STORE_URI=file://{store}", "-s", f"STORE_SPOOL_DIR={tmp_path / 'spool'}",
                   "-s", "CRAWL_ID=plain"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = read_jsonl_parts(FileStore(store), "crawls/plain/log")
    assert [entry["reasons"] for entry in log] == [["blocked-address"]]
    assert connections(trap) == 0


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy of the test's own, on the trap's address: it answers every absolute-form request
    for news.invalid (a name nothing resolves) from the allowed site, and counts what it served."""

    site_port: ClassVar[int] = 0
    served: ClassVar[list[str]] = []
    authorization: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.hostname != "news.invalid":
            self.send_response(502)
            self.end_headers()
            return
        with urllib.request.urlopen(f"http://127.0.0.1:{self.site_port}{parts.path}") as upstream:
            body = upstream.read()
        self.served.append(parts.path)
        self.authorization.append(self.headers.get("Proxy-Authorization", ""))
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _ProxiedPages(BaseHTTPRequestHandler):
    trap_port: ClassVar[int] = 0

    def do_GET(self) -> None:
        if self.path != "/news/":
            self.send_response(404)
            self.end_headers()
            return
        port = self.trap_port
        links = [f"https://{TRAP_HOST}:{port}/2026/12/01/tls.html",  # no https_proxy: a direct request
                 f"http://{TRAP_HOST}:{port}/2026/12/01/no-proxy.html"]  # in no_proxy: a direct request
        body = "<html><body><h1>News</h1>" + "".join(
            f'<article><h2><a href="{u}">A story about the harbour number {n}</a></h2></article>'
            for n, u in enumerate(links)) + "</body></html>"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler], host: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_configured_proxy_is_reached_and_its_host_is_not_opened_to_direct_requests(
        trap: socket.socket, tmp_path: Path) -> None:
    """http_proxy on a loopback address: the crawl goes through it (to a name that does not resolve here),
    and direct requests to the proxy's address on another port (an https URL without https_proxy, a host
    in no_proxy) are refused like any other."""
    _ProxiedPages.trap_port = trap.getsockname()[1]
    site = _serve(_ProxiedPages, "127.0.0.1")
    _Proxy.site_port, _Proxy.served, _Proxy.authorization = site.server_address[1], [], []
    proxy = _serve(_Proxy, TRAP_HOST)
    try:
        settings = write_site(tmp_path, "proxied", (
            'base_url = "http://news.invalid/"\nsitemap_from_robots = false\nobey_robots = false\n'
            f'render = "never"\nallowed_domains = ["news.invalid", "{TRAP_HOST}"]\n'
            '[[sections]]\nname = "news"\nurl = "/news/"\n'))
        store = tmp_path / "store"
        env = {"http_proxy": f"http://crawler:{PROXY_SECRET}@{TRAP_HOST}:{proxy.server_address[1]}",
               "no_proxy": TRAP_HOST,
               "https_proxy": "", "HTTPS_PROXY": "", "HTTP_PROXY": "", "NO_PROXY": ""}
        proc = scrapy(["crawl", "news", "-a", "site=proxied", "-s", f"CRAWL_SITES_DIR={settings['CRAWL_SITES_DIR']}",
                       "-s", "NETWORK_ALLOW=127.0.0.1/32", "-s", f"STORE_URI=file://{store}",
                       "-s", f"STORE_SPOOL_DIR={tmp_path / 'spool'}", "-s", "CRAWL_ID=proxied"], env=env)
    finally:
        proxy.shutdown()
        proxy.server_close()
        site.shutdown()
        site.server_close()
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = {e["url"]: e for e in read_jsonl_parts(FileStore(store), "crawls/proxied/log")}
    assert log["http://news.invalid/news/"]["status"] == 200 and _Proxy.served == ["/news/"]
    for name in ("tls.html", "no-proxy.html"):
        entry = next(e for url, e in log.items() if url.endswith(name))
        assert entry["reasons"] == ["blocked-address"], entry
    assert connections(trap) == 0
    # The proxy's credentials went to the proxy (Proxy-Authorization), and nowhere the crawl wrote.
    assert _Proxy.authorization == [f"Basic {base64.b64encode(f'crawler:{PROXY_SECRET}'.encode()).decode()}"]
    secrets = (PROXY_SECRET.encode(), base64.b64encode(f"crawler:{PROXY_SECRET}".encode()))
    for path in [p for p in tmp_path.rglob("*") if p.is_file() and "sites" not in p.parts]:
        data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        assert not any(secret in data for secret in secrets), path
    assert PROXY_SECRET not in proc.stderr
