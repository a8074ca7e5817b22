"""A small web that breaks HTTP on purpose, for the tests of limits and honest verdicts (tests/e2e/test_limits.py).

A raw socket server (so it can send what no HTTP library would: bombs, broken chunking, lying lengths, header
floods) in its own process on a free loopback port, stopped by its PID:

    python -m tests.brokenweb      # prints "READY http://127.0.0.1:PORT" on stdout

Each path is one misbehaviour (`PAGES`); the control page `/ok` is a plain live article. Bombs are built once,
on first use, and kept: they are a few kilobytes that inflate to BOMB_SIZE.
"""

from __future__ import annotations

import functools
import gzip
import os
import socket
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import brotli

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

ROOT = Path(__file__).resolve().parents[1]
BOMB_SIZE = 64 * 1024 * 1024  # what a bomb inflates to: far past the tests' DOWNLOAD_MAXSIZE
STORY = " ".join(f"Sentence {i} of a long and entirely ordinary news story about the harbour." for i in range(60))
ARTICLE = (f"<html><head><title>Harbour reopens after storm</title></head><body><article>"
           f"<h1>Harbour reopens after storm</h1><time datetime='2026-11-02'>2 Nov</time><p>{STORY}</p>"
           f"</article></body></html>").encode()


def variant(name: str) -> bytes:
    """The article with a line of its own: a payload no other page has (so the archive does not deduplicate it)."""
    return ARTICLE.replace(b"</article>", f"<p>Served as {name}.</p></article>".encode())


def response(status: str, headers: list[tuple[str, str]], body: bytes, length: bool = True) -> bytes:
    """A raw HTTP/1.1 response; `length` adds a true Content-Length."""
    lines = [f"HTTP/1.1 {status}", *(f"{name}: {value}" for name, value in headers)]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def html(body: bytes, status: str = "200 OK", extra: list[tuple[str, str]] | None = None) -> bytes:
    return response(status, [("Content-Type", "text/html; charset=utf-8"), *(extra or [])], body)


@functools.cache
def zeros_html() -> bytes:
    """An HTML page of BOMB_SIZE bytes, almost all of it one run of spaces: what every bomb inflates to."""
    head = b"<html><head><title>bomb</title></head><body><p>"
    return head + b" " * (BOMB_SIZE - len(head))


@functools.cache
def bomb(encoding: str) -> bytes:
    data = zeros_html()
    if encoding == "gzip":
        return gzip.compress(data, compresslevel=9, mtime=0)
    if encoding == "deflate":
        return zlib.compress(data, 9)
    if encoding == "br":
        compressed: bytes = brotli.compress(data, quality=5)
        return compressed
    if encoding == "zstd":
        return zstd.compress(data)
    if encoding == "gzip, gzip":  # a bomb wrapped twice: the outer layer is small, the inner one inflates
        return gzip.compress(gzip.compress(data, compresslevel=9, mtime=0), compresslevel=9, mtime=0)
    raise ValueError(encoding)


def encoded(encoding: str) -> Callable[[], bytes]:
    return lambda: html(bomb(encoding), extra=[("Content-Encoding", encoding)])


def big_plain() -> bytes:
    """Plain text over the limit: nothing to decompress, the raw body itself is too large."""
    return html(ARTICLE.replace(b"</body>", b"<p>filler</p>" * 600_000 + b"</body>"))


def big_gzip() -> bytes:
    """Well compressed but not a bomb: varied text (ratio ~3) that decodes past the limit."""
    words = " ".join(f"{(i * 2654435761) % 1000003:x}" for i in range(900_000)).encode()
    page = ARTICLE.replace(b"</body>", b"<p>" + words + b"</p></body>")
    return html(gzip.compress(page), extra=[("Content-Encoding", "gzip")])


def double_gzip() -> bytes:
    """A live article encoded twice, and labelled so: decoded twice, it is the article."""
    return html(gzip.compress(gzip.compress(ARTICLE)), extra=[("Content-Encoding", "gzip, gzip")])


def bad_gzip() -> bytes:
    """Labelled gzip, but the body is not: nothing readable can come of it."""
    return html(b"\x1f\x8b\x08\x00garbage that is not deflate data at all" * 20, extra=[("Content-Encoding", "gzip")])


def binary() -> bytes:
    """A PNG (binary) behind a text/html label."""
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    return html(png)


def redirect(target: str, status: str = "302 Found") -> bytes:
    body = f"<a href='{target}'>moved</a>".encode()
    return response(status, [("Location", target), ("Content-Type", "text/html")], body)


def refresh_loop() -> bytes:
    """A page whose meta refresh sends the browser back to itself, at once."""
    return html(b"<html><head><meta http-equiv='refresh' content='0; url=/refresh-loop'><title>wait</title></head>"
                b"<body>Redirecting</body></html>")


def short_body() -> bytes:
    """Content-Length promises more than arrives before the connection closes."""
    body = variant("short")
    return response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body) + 5000))], body,
                    length=False)


def broken_chunks() -> bytes:
    """Chunked transfer coding that breaks off in the middle of a chunk."""
    head = response("200 OK", [("Content-Type", "text/html"), ("Transfer-Encoding", "chunked")], b"", length=False)
    body = variant("broken-chunks")
    return head + f"{len(body):x}\r\n".encode() + body[: len(body) // 2]


def header_flood() -> bytes:
    return html(variant("header-flood"), extra=[(f"X-Flood-{i}", "x" * 40) for i in range(3000)])


def many_links() -> bytes:
    links = "".join(f"<li><a href='/story/{i}-a-link-among-many-on-one-page'>Story {i}</a></li>" for i in range(20_000))
    return html(ARTICLE.replace(b"</article>", f"</article><ul>{links}</ul>".encode()))


def deep() -> bytes:
    """Nesting far past what the parser follows: everything below the cut is lost to it."""
    return html(b"<html><head><title>deep</title></head><body>" + b"<div>" * 100_000 + b"text" + b"</div>" * 100_000 +
                ARTICLE[ARTICLE.index(b"<article>"):])


def huge_title() -> bytes:
    return html(ARTICLE.replace(b"<title>", b"<title>" + b"Title " * 500_000))


def chain(path: str) -> bytes:
    number = int(path.rsplit("/", 1)[1])
    return redirect(f"/chain/{number + 1}", "301 Moved Permanently")


PAGES: dict[str, Callable[[], bytes]] = {
    "/ok": lambda: html(ARTICLE),
    "/robots.txt": lambda: response("200 OK", [("Content-Type", "text/plain")], b"User-agent: *\nAllow: /\n"),
    "/gzip-bomb": encoded("gzip"),
    "/deflate-bomb": encoded("deflate"),
    "/br-bomb": encoded("br"),
    "/zstd-bomb": encoded("zstd"),
    "/double-bomb": encoded("gzip, gzip"),
    "/big-plain": big_plain,
    "/big-gzip": big_gzip,
    "/double-gzip": double_gzip,
    "/bad-gzip": bad_gzip,
    "/binary": binary,
    "/loop-a": lambda: redirect("/loop-b"),
    "/loop-b": lambda: redirect("/loop-a"),
    "/self": lambda: redirect("/self", "301 Moved Permanently"),
    "/refresh-loop": refresh_loop,
    "/short": short_body,
    "/broken-chunks": broken_chunks,
    "/header-flood": header_flood,
    "/huge-header": lambda: html(variant("huge-header"), extra=[("X-Huge", "h" * 100_000)]),
    "/many-links": many_links,
    "/deep": deep,
    "/huge-title": huge_title,
}


def _read_request(conn: socket.socket) -> str:
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    line = data.split(b"\r\n", 1)[0].decode("latin-1").split()
    return line[1] if len(line) >= 2 else "/"


def _serve(conn: socket.socket) -> None:
    with conn:
        try:
            path = _read_request(conn).split("?", 1)[0]
            page = (lambda: chain(path)) if path.startswith("/chain/") else PAGES.get(path)
            conn.sendall(page() if page else html(b"<title>Not found</title>", "404 Not Found"))
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            return  # the client gave up (a limit was reached): nothing more to send


def serve() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        print(f"READY http://127.0.0.1:{server.getsockname()[1]}", flush=True)
        while True:
            conn, _ = server.accept()
            threading.Thread(target=_serve, args=(conn,), daemon=True).start()


class BrokenWeb:
    """The server process; a context manager that stops it by its PID."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def __enter__(self) -> BrokenWeb:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.brokenweb"], cwd=ROOT, stdout=subprocess.PIPE,
                                     text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the server binds port 0 and says which port it got: no race
        if not line.startswith("READY "):
            self.__exit__(None, None, None)
            raise RuntimeError(f"broken web exited before listening: {line!r}")
        self.base_url = line.removeprefix("READY ").strip()
        return self

    def url(self, path: str) -> str:
        return self.base_url + path

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=30)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None


if __name__ == "__main__":
    serve()
