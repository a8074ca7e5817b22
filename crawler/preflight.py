"""Check every setting and the site config before a crawl starts, so a mistake costs one clear line."""

from __future__ import annotations

from typing import Any

from crawler.config import archive_config, crawl_config, pipeline_config, soft404_config, store_config
from crawler.siteconfig import load_site


def check(settings: Any, spider_args: dict[str, str]) -> None:
    """Raise ConfigError naming the key and the file for the first bad setting or site config."""
    store_config(settings)
    archive_config(settings)
    soft404_config(settings)
    pipeline_config(settings)
    config = crawl_config(settings)
    site = spider_args.get("site")
    if site:
        load_site(site, config.sites_dir)
