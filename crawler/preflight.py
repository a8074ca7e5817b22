"""Check every setting and the site config before a crawl starts, so a mistake costs one clear line."""

from __future__ import annotations

from typing import Any

from crawler.browser import BrowserNotFoundError, find_browser
from crawler.config import (
    archive_config,
    crawl_config,
    pipeline_config,
    render_config,
    soft404_config,
    store_config,
)
from crawler.errors import ConfigError
from crawler.siteconfig import load_site


def check(settings: Any, spider_args: dict[str, str]) -> None:
    """Raise ConfigError naming the key and the file for the first bad setting or site config."""
    store_config(settings)
    archive_config(settings)
    soft404_config(settings)
    pipeline_config(settings)
    render = render_config(settings)
    config = crawl_config(settings)
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
