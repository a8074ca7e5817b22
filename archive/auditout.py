"""Writing an audit: JSON lines (the default, on stdout), CSV, or the HTML report, chosen by extension.

The JSON rows are the contract (AuditRow.as_dict); CSV flattens them for spreadsheets: lists joined with
" | ", each capture as crawl id, time, status, verdict and its WARC record (`filename#offset`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from archive.auditmodel import STATES, AuditReport, CaptureRef
from crawler.errors import ConfigError

FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".html": "html", ".htm": "html"}
CSV_FIELDS = ("url", "site", "section", "state", "title", "new_url", "similarity", "changed_fields", "evidence",
              "confirmed", "first_crawl_id", "first_fetched_at", "first_status", "first_verdict", "first_warc",
              "last_crawl_id", "last_fetched_at", "last_status", "last_verdict", "last_warc", "captures")


def output_format(path: str) -> str:
    """jsonl, csv or html from the file name; a ConfigError naming what is understood otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"-o {path}: unknown output format {suffix or '(no extension)'!r}; use .jsonl, .csv "
                          "or .html")
    return FORMATS[suffix]


def write_jsonl(report: AuditReport, out: IO[str], timeline: bool = False) -> None:
    for row in report.rows:
        out.write(json.dumps(row.as_dict(timeline), ensure_ascii=False) + "\n")


def _record(ref: CaptureRef) -> str:
    return f"{ref.warc['filename']}#{ref.warc['offset']}" if ref.warc else ""


def _capture(prefix: str, ref: CaptureRef) -> dict[str, Any]:
    return {f"{prefix}_crawl_id": ref.crawl_id, f"{prefix}_fetched_at": ref.fetched_at,
            f"{prefix}_status": ref.status, f"{prefix}_verdict": ref.verdict, f"{prefix}_warc": _record(ref)}


def write_csv(report: AuditReport, out: IO[str]) -> None:
    writer = csv.DictWriter(out, CSV_FIELDS)
    writer.writeheader()
    for row in report.rows:
        writer.writerow({"url": row.url, "site": row.site, "section": row.section, "state": row.state,
                         "title": row.title, "new_url": row.new_url, "similarity": row.similarity,
                         "changed_fields": " | ".join(row.changed_fields), "evidence": " | ".join(row.evidence),
                         "confirmed": row.confirmed, **_capture("first", row.first_capture),
                         **_capture("last", row.last_capture), "captures": row.captures or len(row.timeline)})


def write(report: AuditReport, path: str, timeline: bool = False) -> None:
    """Write the report to `path` in the format its extension names."""
    kind = output_format(path)
    if kind == "html":
        from archive.report import write_report  # noqa: PLC0415 (Jinja2 loads only for the report)

        write_report(report, Path(path))
        return
    with open(path, "w", encoding="utf-8", newline="") as out:
        (write_csv(report, out) if kind == "csv" else write_jsonl(report, out, timeline))


def summary_lines(report: AuditReport) -> Iterable[str]:
    """What a person reads first: the window, counts per state per site, and what could not be read."""
    yield f"audit of {', '.join(report.sites)} in {report.store_uri}: {report.window_from} -> {report.window_to}"
    for site, counts in report.counts().items():
        total = sum(counts.values())
        parts = ", ".join(f"{state} {counts[state]}" for state in STATES if counts[state])
        yield f"  {site}: {total} article URLs: {parts or 'none'}"
    confirmed = sum(1 for r in report.rows if r.state == "deleted" and r.confirmed)
    deleted = sum(1 for r in report.rows if r.state == "deleted")
    if deleted:
        yield f"  deleted: {confirmed} of {deleted} confirmed (two not-found fetches AUDIT_CONFIRM_AFTER apart)"
    for problem in report.unreadable:
        yield f"  could not read all of crawl {problem}"
