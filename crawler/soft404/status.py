"""Verdicts that follow from the HTTP status alone (DESIGN.md section 4), and the verdict type.

Free of Scrapy and Twisted: the page workers import it (crawler/soft404/failures.py maps download failures)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Verdict:
    """What a fetch means for the requested URL; `score` is the confidence that the URL is dead."""

    verdict: str | None
    reasons: list[str] = field(default_factory=list)
    score: float | None = None


def from_status(status: int) -> Verdict:
    """Verdict from a final HTTP status; 2xx stays unclassified until the content is judged."""
    if status in (404, 410):
        return Verdict("not-found", [f"status-{status}"], 1.0 if status == 410 else 0.95)
    if status in (401, 403, 451):
        return Verdict("blocked", [f"status-{status}"], 0.0)
    if status == 429 or status >= 500:
        return Verdict("error", [f"status-{status}"], 0.0)
    if 300 <= status < 400:
        return Verdict(None, ["redirect-not-followed"], None)
    if 400 <= status < 500:
        return Verdict("error", [f"status-{status}"], 0.0)
    return Verdict(None, [], None)
