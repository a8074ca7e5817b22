"""`scrapy replay [--port P] [--browse-port Q] [--bind ADDRESS]`: serve the store's archive back, read-only.

Prints the two addresses (the server's pages, raw replay and Memento; the browsing replay) and serves until
interrupted. The capture index (archive/captureindex.py) is brought up to date first, then every
REPLAY_REFRESH.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from archive.captureindex import CaptureIndex, CaptureIndexError
from archive.replay import ReplayArchive, ReplayOptions, ReplayServer
from archive.store import open_store
from crawler.cli import QuietCommand
from crawler.config import check_unknown_settings, replay_config, store_config
from crawler.errors import ConfigError, StoreError
from crawler.secrets import redact_config_error, redact_url


class Command(QuietCommand):
    def syntax(self) -> str:
        return "[--port P] [--browse-port Q] [--bind ADDRESS]"

    def short_desc(self) -> str:
        return "Serve the archive: crawls, search, raw replay, Memento TimeGate / TimeMaps, browsing replay"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--port", type=int, help="port of the server's pages, raw replay and Memento "
                            "(REPLAY_PORT; 0: any free port)")
        parser.add_argument("--browse-port", type=int, help="port of the browsing replay (REPLAY_BROWSE_PORT)")
        parser.add_argument("--bind", help="address to listen on (REPLAY_BIND, 127.0.0.1 by default)")

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        try:
            check_unknown_settings(self.settings)
            store_cfg, cfg = store_config(self.settings), replay_config(self.settings)
            store = open_store(store_cfg.uri, store_cfg.s3_options(), fsync=False)
            index = CaptureIndex(cfg.index_path(store.uri), store.uri.rstrip("/"))
        except ConfigError as exc:
            print(f"configuration error:\n{redact_config_error(str(exc))}", file=sys.stderr)
            self.exitcode = 2
            return
        except (StoreError, CaptureIndexError) as exc:
            print(f"replay: {exc}", file=sys.stderr)
            self.exitcode = 2
            return
        options = ReplayOptions(
            bind=opts.bind or cfg.bind, port=cfg.port if opts.port is None else opts.port,
            browse_port=cfg.browse_port if opts.browse_port is None else opts.browse_port,
            refresh=cfg.refresh, assets_dir=cfg.assets_dir, cache_dir=cfg.cache_dir)
        archive = ReplayArchive(store, index, cfg.cache_dir)
        try:
            asyncio.run(self._serve(archive, options, redact_url(store.uri)))
        except OSError as exc:  # the port is taken, the address is not ours
            print(f"replay: cannot listen on {options.bind}: {exc}", file=sys.stderr)
            self.exitcode = 1
        except StoreError as exc:
            print(f"replay: cannot read the store: {exc}", file=sys.stderr)
            self.exitcode = 1

    async def _serve(self, archive: ReplayArchive, options: ReplayOptions, store: str) -> None:
        server = ReplayServer(archive, options)
        await server.start()
        sources = archive.index.sources()
        print(f"replaying {store}: {len(sources)} crawls, {archive.index.count()} captures "
              f"(index {archive.index.path})")
        print(f"  crawls, search, raw replay, Memento: {server.main_url}/")
        print(f"  browsing replay:                     {server.browse_url}/browse/TIMESTAMP/URL")
        if not (options.assets_dir / "ui.js").is_file():
            print(f"  (browsing replay needs ReplayWeb.page in {options.assets_dir}: run `make replayweb`)")
        print("  Ctrl-C stops it", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await server.stop()
            archive.index.close()
