"""The replay server: the archive read back as it was served (`scrapy replay`).

Two origins, on two ports of one process (aiohttp):
- the main origin serves our pages (crawls, search, a calendar per URL), raw replay in pywb's convention
  (`/web/TIMESTAMPid_/URL`: the archived status, headers and body), and Memento (RFC 7089) TimeGates,
  mementos and TimeMaps, for programs;
- the browse origin serves ReplayWeb.page (`ui.js`, `sw.js`, pinned by `make replayweb`) and each crawl as
  a WACZ it reads by range. ReplayWeb.page does the rewriting in the browser's service worker, so archived
  pages render with their archived subresources and nothing is fetched live; it runs on an origin of its
  own so archived scripts never share one with the replay UI.
Nothing here writes to the store. Index lookups and record reads run in threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson
from aiohttp import web

from archive import replaypages, replayresponse
from archive.captureindex import CaptureIndex, CaptureRow, nearest_of, ts_of
from archive.indexing import IndexUpdate, update_from_store
from archive.memento import (
    BadRequestError,
    Uris,
    check_url,
    http_date,
    memento_links,
    parse_accept_datetime,
    parse_timestamp,
    timemap_json,
    timemap_link,
)
from archive.records import ReadCapture, RecordError, RecordReader
from archive.replaywacz import WaczCache
from archive.store import Store
from archive.wacz import WaczError
from crawler.errors import StoreError

logger = logging.getLogger(__name__)
T = TypeVar("T")

ASSETS = ("ui.js", "sw.js")


@dataclass(frozen=True)
class ReplayOptions:
    bind: str = "127.0.0.1"
    port: int = 8090
    browse_port: int = 8091
    refresh: float = 60.0
    assets_dir: Path = Path(".replayweb")
    cache_dir: Path = Path("data/replay-cache")


class ReplayArchive:
    """What the server reads: the store, its capture index, the record reader; refreshed in a thread."""

    def __init__(self, store: Store, index: CaptureIndex, cache_dir: Path, workers: int = 8) -> None:
        self.store = store
        self.index = index
        self.reader = RecordReader(index, store)
        self.wacz = WaczCache(store, index, cache_dir)
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="replay")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.executor, functools.partial(fn, *args))

    def lookup(self, url: str, ts: str | None) -> tuple[list[CaptureRow], ReadCapture] | None:
        """The URL's mementos and the one nearest `ts`, read: one thread hop per raw replay, not three."""
        rows = self.index.mementos(url)
        row = nearest_of(rows, ts)
        return None if row is None else (rows, self.reader.read(row))

    def refresh(self) -> IndexUpdate:
        update = update_from_store(self.index, self.store)
        for problem in update.problems:
            logger.warning("capture index: %s", problem)
        if update.indexed:
            logger.info("capture index: %d crawls indexed (%d unchanged)", len(update.indexed), update.unchanged)
        return update


class ReplayServer:
    """Routes of both origins; `start()` binds them, `stop()` closes them."""

    def __init__(self, archive: ReplayArchive, options: ReplayOptions) -> None:
        self.archive = archive
        self.options = options
        self.main_url = ""
        self.browse_url = ""
        self._runners: list[web.AppRunner] = []
        self._refresher: asyncio.Task[None] | None = None

    # --- life ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.archive.run(self.archive.refresh)
        main, browse = self._main_app(), self._browse_app()
        self.main_url = await self._listen(main, self.options.port)
        self.browse_url = await self._listen(browse, self.options.browse_port)
        self._refresher = asyncio.ensure_future(self._refresh_loop())

    async def _listen(self, app: web.Application, port: int) -> str:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.options.bind, port, reuse_address=True)
        await site.start()
        self._runners.append(runner)
        bound = runner.addresses[0][1]
        host = f"[{self.options.bind}]" if ":" in self.options.bind else self.options.bind
        return f"http://{host}:{bound}"

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.refresh)
            try:
                await self.archive.run(self.archive.refresh)
            except Exception:  # a store that is away for a while: keep serving what is indexed
                logger.exception("capture index refresh failed; serving what is indexed")

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        for runner in self._runners:
            await runner.cleanup()
        self.archive.executor.shutdown(wait=False, cancel_futures=True)

    # --- apps ------------------------------------------------------------------------------------------

    def _main_app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        app.router.add_get("/", self.home)
        app.router.add_get("/search", self.search)
        app.router.add_get("/calendar", self.calendar)
        app.router.add_get("/crawl/{crawl_id}", self.crawl)
        app.router.add_get("/web/{rest:.*}", self.replay)
        app.router.add_get("/timegate/{rest:.*}", self.timegate)
        app.router.add_get("/timemap/{kind}/{rest:.*}", self.timemap)
        app.router.add_get("/wacz/{name}", self.wacz)
        return app

    def _browse_app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        app.router.add_get("/browse/{rest:.*}", self.browse)
        app.router.add_get("/replay/", self.replay_index)
        app.router.add_get("/replay/{name}", self.asset)
        app.router.add_get("/wacz/{name}", self.wacz)
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
        """A bad request is a 400 page, a record that cannot be read a 502 naming file and offset; never a
        traceback in the browser."""
        try:
            response: web.StreamResponse = await handler(request)
        except BadRequestError as exc:
            return replaypages.error(400, "Bad request", str(exc))
        except RecordError as exc:
            return replaypages.error(502, "Archived record unreadable",
                                     f"The capture is in {exc.filename} at offset {exc.offset}, but it cannot be "
                                     f"read: {exc.message}. Other captures are served as usual.")
        except WaczError as exc:
            return replaypages.error(502, "Crawl cannot be packaged for browsing", str(exc))
        except StoreError as exc:  # the store is away: what the index knows is still listed
            return replaypages.error(503, "Store unreachable", f"The store cannot be read just now: {exc}")
        return response

    # --- helpers ---------------------------------------------------------------------------------------

    def _uris(self) -> Uris:
        return Uris(self.main_url)

    @staticmethod
    def _tail(request: web.Request, prefix: str) -> str:
        """What follows `prefix` in the raw request target: an archived URL keeps its query as it was."""
        raw = request.raw_path
        return raw[len(prefix):] if raw.startswith(prefix) else request.match_info.get("rest", "")

    async def _mementos(self, url: str) -> list[CaptureRow]:
        return await self.archive.run(self.archive.index.mementos, url)

    # --- main origin -----------------------------------------------------------------------------------

    async def home(self, request: web.Request) -> web.Response:
        sources = await self.archive.run(self.archive.index.sources)
        return replaypages.home(sources, self.browse_url)

    async def search(self, request: web.Request) -> web.Response:
        query = request.query.get("url", "").strip()
        match = request.query.get("match", "exact")
        if match not in ("exact", "prefix", "domain"):
            raise BadRequestError("match must be exact, prefix or domain")
        rows: list[CaptureRow] = []
        if query:
            url = query if match == "domain" else check_url(query)
            rows = await self.archive.run(self.archive.index.search, url, match)
        return replaypages.search(query, match, rows, self.browse_url)

    async def calendar(self, request: web.Request) -> web.Response:
        url = check_url(request.query.get("url", ""))
        return replaypages.calendar(url, await self._mementos(url), self.browse_url)

    async def crawl(self, request: web.Request) -> web.Response:
        crawl_id = request.match_info["crawl_id"]
        sources = {s.source: s for s in await self.archive.run(self.archive.index.sources)}
        if crawl_id not in sources:
            return replaypages.error(404, "No such crawl", f"The store has no crawl {crawl_id!r}.")
        rows = await self.archive.run(self.archive.index.pages, crawl_id)
        return replaypages.crawl(sources[crawl_id], rows, self.browse_url)

    async def replay(self, request: web.Request) -> web.StreamResponse:
        """`/web/TSid_/URL` raw replay; `/web/TS/URL` goes to the browsing replay; `/web/URL` the latest."""
        target = self._tail(request, "/web/")
        stamp, slash, rest = target.partition("/")
        raw = stamp.endswith("id_")
        digits = stamp.removesuffix("id_")
        if not slash or not digits.isdigit() or "://" in stamp:
            url = check_url(target)
            rows = await self._mementos(url)
            if not rows:
                return replaypages.not_archived(url, self._uris())
            raise web.HTTPFound(f"/web/{rows[-1].ts}id_/{url}")
        ts, url = parse_timestamp(digits), check_url(rest)
        if not raw:
            raise web.HTTPFound(f"{self.browse_url}/browse/{ts}/{url}")
        found = await self.archive.run(self.archive.lookup, url, ts)
        if found is None:
            return replaypages.not_archived(url, self._uris())
        rows, read = found
        row = read.row
        response = replayresponse.raw_response(read)
        response.headers["Memento-Datetime"] = http_date(row.moment)
        response.headers["Link"] = memento_links(self._uris(), url, rows, row)
        if row.ts != ts:
            response.headers["Content-Location"] = f"/web/{row.ts}id_/{url}"
        return response

    async def timegate(self, request: web.Request) -> web.Response:
        url = check_url(self._tail(request, "/timegate/"))
        header = request.headers.get("Accept-Datetime")
        ts = ts_of(parse_accept_datetime(header)) if header else None
        rows = await self._mementos(url)
        row = nearest_of(rows, ts)
        if row is None:
            response = replaypages.not_archived(url, self._uris())
            response.headers["Vary"] = "accept-datetime"
            return response
        uris = self._uris()
        return web.Response(status=302, headers={
            "Location": uris.memento(row), "Vary": "accept-datetime",
            "Link": memento_links(uris, url, rows, row, timegate=False),
            "Content-Type": "text/plain; charset=utf-8"}, text=f"{uris.memento(row)}\n")

    async def timemap(self, request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        if kind not in ("link", "json"):
            raise BadRequestError("a TimeMap is /timemap/link/URL or /timemap/json/URL")
        url = check_url(self._tail(request, f"/timemap/{kind}/"))
        rows = await self._mementos(url)
        if not rows:
            return replaypages.not_archived(url, self._uris())
        if kind == "json":
            return web.Response(body=orjson.dumps(timemap_json(self._uris(), url, rows)),
                                content_type="application/json")
        return web.Response(text=timemap_link(self._uris(), url, rows), content_type="application/link-format")

    # --- browse origin ---------------------------------------------------------------------------------

    async def browse(self, request: web.Request) -> web.Response:
        stamp, _, rest = self._tail(request, "/browse/").partition("/")
        ts, url = parse_timestamp(stamp), check_url(rest)
        row = await self.archive.run(self.archive.index.nearest, url, ts)
        if row is None:
            return replaypages.not_archived(url, self._uris())
        if not (self.options.assets_dir / "ui.js").is_file():
            return replaypages.error(503, "Browsing replay not installed",
                                     f"ReplayWeb.page is not in {self.options.assets_dir}: run `make replayweb`. "
                                     f"Raw replay still works: {self.main_url}/web/{row.ts}id_/{url}")
        return replaypages.browse(url, row, self.main_url)

    async def replay_index(self, request: web.Request) -> web.Response:
        """ReplayWeb.page's app page, as its service worker serves it (`serveIndex`): asked of us when the
        embed's frame loads before the worker controls it (a first visit on a slow machine)."""
        return replaypages.replay_app()

    async def asset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name == "index.html":
            return replaypages.replay_app()
        path = self.options.assets_dir / name
        if name not in ASSETS or not path.is_file():
            raise web.HTTPNotFound(text=f"no {name}: run `make replayweb`")
        response = web.FileResponse(path, headers={"Content-Type": "application/javascript",
                                                   "Cache-Control": "no-cache"})
        if name == "sw.js":
            response.headers["Service-Worker-Allowed"] = "/replay/"
        return response

    async def wacz(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        crawl_id = name.removesuffix(".wacz")
        if not name.endswith(".wacz") or "/" in crawl_id:
            raise web.HTTPNotFound()
        path = await self.wacz_path(crawl_id)
        if path is None:
            return replaypages.error(404, "No such crawl", f"The store has no crawl {crawl_id!r}.")
        return web.FileResponse(path, headers={"Content-Type": "application/wacz+zip",
                                               "Accept-Ranges": "bytes"})

    async def wacz_path(self, crawl_id: str) -> Path | None:
        return await self.archive.wacz.path(crawl_id, self.archive.run)
