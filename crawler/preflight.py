"""Check every setting and the site config before a crawl starts, so a mistake costs one clear line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from archive.spoollock import SpoolLock, SpoolLockedError
from crawler.browser import BrowserNotFoundError, find_browser
from crawler.config import (
    archive_config,
    audit_config,
    check_unknown_settings,
    crawl_config,
    pipeline_config,
    render_config,
    soft404_config,
    store_config,
)
from crawler.errors import ConfigError
from crawler.secrets import redact_url
from crawler.siteconfig import load_site


def check(settings: Any, spider_args: dict[str, str]) -> None:
    """Raise ConfigError naming the key and the file: for every unknown setting of ours at once, else for the
    first bad setting or site config."""
    check_unknown_settings(settings)
    store_config(settings)
    archive_config(settings)
    soft404_config(settings)
    pipeline_config(settings)
    audit_config(settings)
    render = render_config(settings)
    config = crawl_config(settings)
    _check_recheck_args(spider_args)
    if config.frontier == "redis":
        _check_redis(config.redis_url, config.crawl_id, config.worker)
    name = spider_args.get("site")
    if not name:
        return
    site = load_site(name, config.sites_dir)
    if site.must_render:  # pages configured to always render: the crawl cannot do its job without Chromium
        if not render.enabled:
            raise ConfigError(f"site {site.name} renders some pages always, but RENDER_ENABLED is off")
        try:
            find_browser(render, settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
        except BrowserNotFoundError as exc:
            raise ConfigError(f"site {site.name} renders some pages always: {exc}") from None


def _check_redis(url: str, crawl_id: str, worker: str) -> None:
    """A distributed crawl whose Redis cannot be reached at all at the start is a configuration mistake (a
    wrong REDIS_URL), said at once; Redis going away later only pauses the workers (crawler/frontier.py)."""
    import redis  # noqa: PLC0415 (only distributed crawls need it)

    try:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        client.ping()
        finished = client.exists(f"palimpsest:{crawl_id}:done")
        taken = bool(worker) and client.exists(f"palimpsest:{crawl_id}:alive:{worker}")
    except (redis.RedisError, OSError, ValueError) as exc:
        raise ConfigError(f"REDIS_URL: cannot reach Redis at {redact_url(url)} ({type(exc).__name__}: {exc})") \
            from None
    if finished:
        raise ConfigError(f"CRAWL_ID: the distributed crawl {crawl_id} is already finished (its frontier says "
                          "so); give this run another CRAWL_ID")
    if taken:
        raise ConfigError(f"CRAWL_WORKER: a worker named {worker} is running in crawl {crawl_id} (its heartbeat "
                          "is fresh); each worker needs its own name (leave CRAWL_WORKER empty: HOST-PID)")


def check_spool(settings: Any) -> None:
    """SpoolLockedError when another process is crawling the given CRAWL_ID: said before anything starts
    (the archive service takes the lock itself, so this is for the message, not for safety)."""
    crawl_id = crawl_config(settings).crawl_id
    if not crawl_id:
        return  # SITE-YYYYMMDDTHHMMSSZ: a new id
    lock = SpoolLock(store_config(settings).spool_dir / crawl_id)
    if lock.busy():
        raise SpoolLockedError(lock.directory, lock.holder())


def _check_recheck_args(spider_args: dict[str, str]) -> None:
    """The recheck spider's own arguments: a bad `due` or an unreadable `urls_file` is one clear line too."""
    from crawler.spiders.recheck import DUE_MODES, read_urls_file  # noqa: PLC0415 (a cycle: spiders import us)

    due = spider_args.get("due")
    if due is not None and due not in DUE_MODES:
        raise ConfigError(f"-a due={due!r}: expected one of {', '.join(DUE_MODES)}")
    if spider_args.get("urls_file"):
        try:
            read_urls_file(Path(spider_args["urls_file"]))
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
