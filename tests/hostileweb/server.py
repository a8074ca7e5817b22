"""The hostile web's server: a listening socket on 127.0.0.1, one thread per connection, one answer per
connection. Not http.server: its cases must be free to send what no HTTP library would.

Besides the cases (tests/hostileweb/cases.py) it answers `/` (the index, crawled as a section),
`/_cases.json`, `/robots.txt`, and the sample web's control endpoints that tests/crawling.py and the
benchmarks call (`/_fixture/manifest.json`, `/_fixture/requests`, `/_fixture/count`).
"""

from __future__ import annotations

import errno
import json
import logging
import socket
import sys
import threading
import time
from collections import deque

from tests.hostileweb import pages
from tests.hostileweb.cases import CASES, route
from tests.hostileweb.wire import ClientGoneError, Conn, HttpRequest, read_request

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT = 30.0  # seconds a client has to send its request
MAX_SERVED = 100_000  # request targets remembered for /_fixture/requests (the newest)
CONTROL = "/_fixture/"


class HostileServer:
    """Serves the cases until `close()`."""

    def __init__(self, port: int = 0, only: list[str] | None = None) -> None:
        self.cases = [c for c in CASES if not only or c.name in only]  # what `/` and /_cases.json list
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.port: int = self.sock.getsockname()[1]
        self._served: deque[str] = deque(maxlen=MAX_SERVED)
        self._count = 0
        self._lock = threading.Lock()
        self._closed = False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve_forever(self) -> None:
        while not self._closed:
            try:
                client, _ = self.sock.accept()
            except OSError as exc:
                if self._closed:
                    return
                # A connection aborted in the backlog (ECONNABORTED), out of descriptors (EMFILE): the one
                # connection is lost, not the server, whose other cases the crawl is still fetching.
                print(f"hostile web: accept failed: {exc!r}", file=sys.stderr, flush=True)
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    time.sleep(0.1)  # until a connection closes and frees one
                continue
            threading.Thread(target=self._answer, args=(client,), daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self.sock.close()

    def _answer(self, client: socket.socket) -> None:
        conn = Conn(client)
        try:
            client.settimeout(REQUEST_TIMEOUT)
            request = read_request(client)
            client.settimeout(None)
            if request is not None:
                self._dispatch(conn, request)
        except (ClientGoneError, OSError) as exc:  # the client gave up first: what many cases are for
            logger.debug("connection ended early: %s", exc)
        finally:
            try:
                conn.close()
            except OSError as exc:
                logger.debug("close: %s", exc)

    def _dispatch(self, conn: Conn, request: HttpRequest) -> None:
        if request.path.startswith(CONTROL):
            self._control(conn, request)
            return
        with self._lock:
            self._served.append(request.target)
            self._count += 1
        if request.path == "/":
            listed = [(c.name, c.path, c.public()["does"]) for c in self.cases]
            conn.respond(pages.index(listed).encode())
        elif request.path == "/_cases.json":
            self._json(conn, [c.public() for c in self.cases])
        elif request.path == "/robots.txt":
            conn.respond(b"User-agent: *\nAllow: /\n", content_type="text/plain")
        elif (handler := route(request.path)) is not None:
            handler(conn, request)
        else:
            conn.respond(pages.not_found(request.path), status="HTTP/1.1 404 Not Found")

    def _control(self, conn: Conn, request: HttpRequest) -> None:
        """The sample web's endpoints, so code written for it (run_crawl, the benchmarks) works here too."""
        name = request.path.removeprefix(CONTROL)
        if name == "manifest.json":
            self._json(conn, {"cases": [c.public() for c in self.cases]})
        elif name == "requests":
            with self._lock:
                served = list(self._served)
                if request.method == "POST":
                    self._served.clear()
            self._json(conn, served)
        elif name == "count":
            with self._lock:
                count = self._count
            self._json(conn, {"requests": count})
        else:
            conn.respond(pages.not_found(request.path), status="HTTP/1.1 404 Not Found")

    @staticmethod
    def _json(conn: Conn, data: object) -> None:
        conn.respond(json.dumps(data, ensure_ascii=False).encode(), content_type="application/json")
