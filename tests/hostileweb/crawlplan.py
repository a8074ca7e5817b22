"""How the hostile web is crawled and checked (one plan for tests/e2e/test_hostile.py and benchmarks/hostile.py),
and the table of what each case was expected to give against what it gave."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SITE = "hostile"
DOWNLOAD_TIMEOUT = 5  # seconds: the slow drip and the stall outlast it by far
DOWNLOAD_MAXSIZE = 32 * 1024 * 1024  # the project's default: the million-link page (~22 MB) fits, bombs do not
MAX_DEPTH = 2  # hops from `/` to sub-sections: the calendar trap may take two months, never more
DEAD = ("soft-404", "not-found")


def site_toml(base_url: str) -> str:
    """The site config: `/` is the one section; its case links are articles, the listing and the calendar
    sub-sections."""
    return (f'base_url = "{base_url}/"\n'
            "allow_private_networks = true\n"  # the hostile web listens on 127.0.0.1
            'render = "never"\nsitemap_from_robots = false\n'
            f"max_pages_per_section = 1\nmax_depth = {MAX_DEPTH}\n"
            'article_patterns = ["/case/", "/control/"]\n'
            'section_patterns = ["/calendar/", "/listing/"]\n'
            "[politeness]\nconcurrency_per_host = 16\n"
            '[[sections]]\nname = "hostile"\nurl = "/"\n')


def crawl_settings() -> dict[str, str]:
    """Scrapy settings of both the crawl and `scrapy soft404` (site-config settings aside). CRAWL_PAGE_TIMEOUT
    stays at its default: a page's time bound is a bound on the machine's load too, and a bounded reading
    of any case takes a fraction of it."""
    return {"DOWNLOAD_TIMEOUT": str(DOWNLOAD_TIMEOUT), "DOWNLOAD_MAXSIZE": str(DOWNLOAD_MAXSIZE),
            "RENDER_ENABLED": "False", "CRAWL_PROGRESS": "off"}


@dataclass(frozen=True)
class Outcome:
    """One case: what /_cases.json expects, what the crawl log (or `scrapy soft404`) says."""

    name: str
    expected_verdict: str | None
    expected_reason: str
    verdict: str | None
    reasons: tuple[str, ...]
    found: bool

    @property
    def matches(self) -> bool:
        return self.found and self.verdict == self.expected_verdict and self.expected_reason in self.reasons


def outcomes(cases: list[dict[str, Any]], base_url: str, entries: list[dict[str, Any]]) -> list[Outcome]:
    """Each case against the first non-probe entry for its URL."""
    by_url: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if entry.get("kind") != "probe":
            by_url.setdefault(entry["url"], entry)
    rows = []
    for case in cases:
        found = by_url.get(base_url + case["path"])
        rows.append(Outcome(case["name"], case["verdict"], case["reason"],
                            found.get("verdict") if found else None,
                            tuple(found.get("reasons") or ()) if found else (), found is not None))
    return rows


def table(rows: list[Outcome]) -> str:
    """A fixed-width table, one line per case, `ok`/`FAIL` last."""
    lines = [f"{'case':<22} {'expected':<32} {'got':<58} match"]
    for row in rows:
        expected = f"{row.expected_verdict} {row.expected_reason}"
        got = f"{row.verdict} {','.join(row.reasons)}" if row.found else "(no entry)"
        lines.append(f"{row.name:<22} {expected:<32} {got:<58} {'ok' if row.matches else 'FAIL'}")
    return "\n".join(lines)
