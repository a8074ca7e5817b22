"""Scrapy settings for Palimpsest; `base` holds the defaults, `sites/` one TOML per news site."""
