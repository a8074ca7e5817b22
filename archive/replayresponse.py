"""An archived capture -> the HTTP response raw replay sends: its status, its headers, its body as received.

What cannot be passed on verbatim is renamed with pywb's `X-Archive-Orig-` prefix rather than dropped:
hop-by-hop headers (they describe the archived connection, not this one), the Memento headers the replay
sets itself (`Link`, `Memento-Datetime`, `Content-Location`), a `Content-Length` this body no
longer has, a `Transfer-Encoding: chunked` whose chunks are undone here (other tools' WARCs keep them), and
any value a response header cannot carry. Every raw response also gets a sandboxing CSP: an archived page
opened from here runs no script on the replay server's origin and loads nothing from the live web.
"""

from __future__ import annotations

import io

from aiohttp import web
from multidict import CIMultiDict
from warcio.bufferedreaders import ChunkedDataReader

from archive.records import ReadCapture

ORIGINAL = "X-Archive-Orig-"
# Headers the replay sets on a memento itself (RFC 7089): an archived page's own are passed on renamed, so
# they are neither replaced by ours nor taken for ours.
REPLAY_OWN = frozenset({"link", "memento-datetime", "content-location"})
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "proxy-connection"})
RAW_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def dechunk(body: bytes) -> bytes | None:
    """A chunked body's data, or None when it is not well-formed chunking (then it is sent as it is)."""
    try:
        reader = ChunkedDataReader(io.BytesIO(body), raise_exceptions=True)
        data = reader.read()
    except (ValueError, OSError, EOFError):
        return None
    return data if data or body.startswith(b"0") else None


def raw_response(read: ReadCapture) -> web.Response:
    capture = read.capture
    http = capture.http_headers
    body = capture.payload
    status, reason = 200, "OK"
    headers: CIMultiDict[str] = CIMultiDict()
    if http is None:  # a resource or conversion record: the payload with the record's own type
        headers.add("Content-Type", capture.warc_headers.get("Content-Type", "application/octet-stream"))
    else:
        code = http.get_statuscode()
        status = int(code) if code.isdigit() and 100 <= int(code) <= 999 else 502
        reason = http.statusline.partition(" ")[2].strip() if status != 502 else "Unusable archived status"
        chunked = any(n.lower() == "transfer-encoding" and "chunked" in v.lower() for n, v in http.headers)
        if chunked:
            body = dechunk(body) or body
        for name, value in http.headers:
            lowered = name.lower()
            renamed = lowered in HOP_BY_HOP or lowered in REPLAY_OWN or \
                (lowered == "content-length" and value.strip() != str(len(body)))
            if lowered == "content-length" and not renamed:
                continue  # aiohttp writes the same value from the body
            if any(c in value for c in "\r\n\0") or not name.isascii() or not name.strip():
                continue  # cannot be a header line at all: the record still has it
            headers.add(ORIGINAL + name if renamed else name, value)
    headers.add("Content-Security-Policy", RAW_CSP)
    headers.add("X-Archive-Src", f"{capture.filename}:{capture.offset}")
    if reason and any(c in reason for c in "\r\n"):
        reason = ""
    return web.Response(status=status, reason=reason or None, headers=headers, body=body)
