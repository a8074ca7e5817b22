"""What an audit says: one row per URL, the captures behind it, and the counts a report draws.

Kept apart from `archive/audit.py` (which decides states) so that writers of the outputs (JSON lines, CSV,
the HTML report) depend on the shape of an answer, not on how it was reached.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# The states of ../shared/DESIGN.md section 4, in the order a report lists them (worst news first).
STATES = ("deleted", "soft-deleted", "moved", "blocked", "unreachable", "changed", "new", "unchanged")
CHANGE_FIELDS = ("title", "text", "authors", "published", "modified")


@dataclass(frozen=True, slots=True)
class CaptureRef:
    """One fetch of a URL as the catalog knows it, and where its record is in the archive."""

    crawl_id: str
    fetched_at: str
    status: int | None
    verdict: str | None
    reasons: tuple[str, ...] = ()
    final_url: str | None = None
    kind: str | None = None
    warc: dict[str, Any] | None = None  # {filename, offset, length, record_id}, as in the crawl log

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reasons"] = list(self.reasons)
        return out


@dataclass(slots=True)
class AuditRow:
    """The state of one URL of a site between two points in time."""

    url: str
    site: str
    state: str
    first_capture: CaptureRef
    last_capture: CaptureRef
    section: str | None = None
    title: str | None = None
    new_url: str | None = None
    similarity: float | None = None  # article text of the reference capture against the latest good one
    changed_fields: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    confirmed: bool = False
    diff: list[str] | None = None  # unified diff of the text, paragraph by paragraph, for `changed`
    timeline: list[CaptureRef] = field(default_factory=list)  # every capture, oldest first (kept for rows that
    #   are not `unchanged`; an unchanged row's first and last capture say it all)
    captures: int = 0  # how many captures the state was decided from

    def as_dict(self, timeline: bool = False) -> dict[str, Any]:
        """The row as JSON wants it; the timeline only when asked (it repeats what the catalog holds)."""
        out: dict[str, Any] = {
            "url": self.url, "site": self.site, "section": self.section, "state": self.state, "title": self.title,
            "first_capture": self.first_capture.as_dict(), "last_capture": self.last_capture.as_dict(),
            "new_url": self.new_url, "similarity": self.similarity, "changed_fields": list(self.changed_fields),
            "evidence": list(self.evidence), "confirmed": self.confirmed,
            "captures": self.captures or len(self.timeline),
        }
        if self.diff is not None:
            out["diff"] = list(self.diff)
        if timeline:
            out["timeline"] = [c.as_dict() for c in self.timeline]
        return out


@dataclass(frozen=True)
class CrawlPoint:
    """One crawl in the window: a point of the report's chart, with the count of URLs in each state then."""

    crawl_id: str
    started_at: str
    kind: str  # news | recheck | ...
    complete: bool
    states: dict[str, int]


@dataclass
class TextPair:
    """The two texts behind a `changed` or `moved` row, for side-by-side views (kept out of JSON rows)."""

    before_title: str | None
    before_text: str
    after_title: str | None
    after_text: str


@dataclass
class AuditReport:
    """Everything one audit found: rows, the state of the window crawl by crawl, and what it could not read."""

    sites: list[str]
    window_from: str | None  # the first crawl or time of the window, as resolved
    window_to: str | None
    generated_at: str
    store_uri: str
    rows: list[AuditRow]
    series: list[CrawlPoint] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # "crawl id: what was wrong", from the catalog
    texts: dict[str, TextPair] = field(default_factory=dict)  # by url, for changed and moved rows

    def counts(self) -> dict[str, dict[str, int]]:
        """URLs in each state, per site; every state present, so tables line up."""
        out: dict[str, dict[str, int]] = {site: dict.fromkeys(STATES, 0) for site in self.sites}
        for row in self.rows:
            out.setdefault(row.site, dict.fromkeys(STATES, 0))[row.state] += 1
        return out

    def counts_by_section(self) -> dict[tuple[str, str], dict[str, int]]:
        out: dict[tuple[str, str], dict[str, int]] = {}
        for row in self.rows:
            key = (row.site, row.section or "(none)")
            out.setdefault(key, dict.fromkeys(STATES, 0))[row.state] += 1
        return dict(sorted(out.items()))
