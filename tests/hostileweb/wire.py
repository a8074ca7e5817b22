"""Bytes on the socket, written by hand so they can be wrong: status lines, header blocks, chunked framing,
a drip, a stall, a reset. Nothing here checks that what it sends is valid HTTP."""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024  # bytes of request line and headers we read; a client sending more is not ours
LONGEST_WAIT = 120.0  # seconds a stalled or dripping response keeps its connection at most


class ClientGoneError(Exception):
    """The client closed or reset the connection while we were answering."""


@dataclass
class HttpRequest:
    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


def read_request(sock: socket.socket) -> HttpRequest | None:
    """The request on `sock`; None when the client sent nothing we can use."""
    data = b""
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        chunk = sock.recv(8192)
        if not chunk or len(data) > MAX_HEAD:
            return None
        data += chunk
    head, _, rest = data.replace(b"\r\n", b"\n").partition(b"\n\n")
    lines = head.decode("latin-1").split("\n")
    parts = lines[0].split()
    if len(parts) < 2:
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(rest) < min(length, MAX_HEAD):
        chunk = sock.recv(8192)
        if not chunk:
            break
        rest += chunk
    return HttpRequest(parts[0], parts[1], headers, rest)


class Conn:
    """One accepted connection, as the cases write to it."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:  # EPIPE, ECONNRESET: the client has stopped reading
            raise ClientGoneError(str(exc)) from exc

    def head(self, status: str, headers: Iterable[tuple[str, str]], eol: bytes = b"\r\n") -> None:
        """A status line and header block exactly as given (`eol` may be a bare LF)."""
        lines = [status.encode("latin-1"), *(f"{k}: {v}".encode("latin-1") for k, v in headers), b""]
        self.send(eol.join(lines) + eol)

    def respond(self, body: bytes, content_type: str = "text/html; charset=utf-8", status: str = "HTTP/1.1 200 OK",
                headers: Iterable[tuple[str, str]] = ()) -> None:
        """A well-formed response with a Content-Length."""
        self.head(status, [("Content-Type", content_type), ("Content-Length", str(len(body))),
                           ("Connection", "close"), *headers])
        self.send(body)

    def stream(self, pieces: Iterable[bytes], content_type: str = "text/html; charset=utf-8",
               headers: Iterable[tuple[str, str]] = ()) -> None:
        """A well-formed chunked response of generated pieces: the body is never held whole."""
        self.head("HTTP/1.1 200 OK", [("Content-Type", content_type), ("Transfer-Encoding", "chunked"),
                                      ("Connection", "close"), *headers])
        for piece in pieces:
            if piece:
                self.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.send(b"0\r\n\r\n")

    def closed_within(self, seconds: float) -> bool:
        """Wait up to `seconds` for the client to close (or send anything): the pause between two drips."""
        readable, _, _ = select.select([self.sock], [], [], seconds)
        if not readable:
            return False
        try:
            return not self.sock.recv(4096)
        except OSError:
            return True

    def wait_for_close(self, longest: float = LONGEST_WAIT) -> None:
        """Say nothing more until the client gives up (bounded, so a client that never does costs a thread
        for two minutes, not for good)."""
        deadline = time.monotonic() + longest
        while (left := deadline - time.monotonic()) > 0:
            if self.closed_within(min(left, 5.0)):
                return

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN: SO_LINGER on, timeout 0."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):  # already reset, or the client is gone: closing is all that is left
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
