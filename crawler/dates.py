"""Dates from pages to ISO 8601: aware times in UTC (`...Z`), bare dates kept as dates.

Pages give dates in every shape ("2017-11-28 10:33", "Tue, 28 Nov 2017 02:33:00 GMT", "28/11/2017"); a time
without a zone is read in the site's own time zone (from its config), never in the crawler's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

from dateutil import parser as dateparser

_DATE_ONLY = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")


def iso_datetime(moment: datetime) -> str:
    """An aware datetime as ISO 8601 UTC with a `Z`, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_iso(value: str | None, site_tz: tzinfo = UTC) -> str | None:
    """Normalise one date string; None when it cannot be read as a date."""
    if not value or not value.strip():
        return None
    bare = _DATE_ONLY.match(value)
    if bare:
        return value.strip()
    try:
        parsed = dateparser.parse(value.strip(), dayfirst=False, fuzzy=False)
    except (ValueError, OverflowError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=site_tz)
    return iso_datetime(parsed)
