"""What a request was for (`request.meta["kind"]`), as the crawl log records it.

A recheck re-fetches an archived article: it is judged, probed, rendered and extracted as an article, and
logged as `recheck` so the audit can tell a scheduled re-visit from a discovery.
"""

KINDS = ("section", "article", "recheck", "feed", "sitemap", "probe", "other")
ARTICLE_KINDS = frozenset({"article", "recheck"})
