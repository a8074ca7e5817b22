"""The static page of a request queued for the browser, kept on disk instead of in the request.

A page sent back through Chromium (crawler/render.py) may wait in the scheduler behind others, and if the
browser fails on it, its static fetch is logged instead. Holding that response in `request.meta` kept every
queued page's body in memory (an app-shell site queues thousands), and a Response does not belong in a
request that a shared frontier (Redis) has to serialise. So the body goes to a dot file in the crawl's
spool (recovery and uploads pass over dot files) and the request carries only this small, picklable
description; the file is removed when the page is rendered or its fallback read. A fallback whose file is
gone (the request was fetched by another worker of a distributed crawl) is simply not available.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from pathlib import Path

from scrapy import Request
from scrapy.http import Headers, Response
from scrapy.utils.misc import load_object

DIRECTORY = ".render-waiting"


@dataclass(frozen=True)
class StaticPage:
    url: str
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    flags: tuple[str, ...]
    response_class: str
    protocol: str | None
    path: str

    @classmethod
    def spill(cls, response: Response, spool: Path) -> StaticPage:
        """Write the body under `spool` (blocking: call it in a thread)."""
        directory = spool / DIRECTORY
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f".{uuid.uuid4().hex}.body"
        path.write_bytes(response.body)
        headers = tuple((name, value) for name, values in response.headers.items() for value in values)
        kind = type(response)
        return cls(response.url, response.status, headers, tuple(response.flags), f"{kind.__module__}.{kind.__name__}",
                   response.protocol, str(path))

    def restore(self, request: Request) -> Response | None:
        """The static response again, its file removed; None when the file is gone (blocking)."""
        try:
            body = Path(self.path).read_bytes()
        except OSError:
            return None
        self.discard()
        headers = Headers()
        for name, value in self.headers:
            headers.appendlist(name, value)
        kind = load_object(self.response_class)
        response: Response = kind(url=self.url, status=self.status, headers=headers, body=body,
                                  flags=list(self.flags), request=request, protocol=self.protocol)
        return response

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            Path(self.path).unlink()
