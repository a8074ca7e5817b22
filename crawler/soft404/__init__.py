"""The page classifier. So far: what HTTP status and fetch failures say on their own.

Content signals and host probes (soft-404 detection proper) build on this; until then a 2xx page has no
verdict (null in the crawl log) rather than a guess.
"""
