"""CDXJ index lines, field for field what pywb's `cdxj-indexer` writes, so any CDXJ reader can use ours.

`SURT TIMESTAMP14 {"url", "mime", "status", "digest", "length", "offset", "filename"}` plus our own fields
after pywb's: `record_id` and `warc_date` of payload records (what a revisit in a later crawl names), and the
crawl's `verdict` and `reasons`. Only captures are indexed (response, revisit, resource); metadata records
(`application/warc-fields`) are left out, as cdxj-indexer leaves them out.
"""

from __future__ import annotations

import json
from typing import Any

import surt

from archive.warc import Written, warc_date

INDEXED_TYPES = ("response", "revisit", "resource", "conversion")


def media_type(content_type: str | None) -> str | None:
    """`text/html` from `text/html; charset=utf-8`: the first token, as pywb's cdxj-indexer keeps it."""
    if not content_type:
        return None
    token = content_type.replace(";", " ").split()
    return token[0] if token else None


def url_key(url: str) -> str:
    try:
        return str(surt.surt(url))
    except ValueError:  # a URL surt cannot parse is still indexed, under itself
        return url


def cdxj_line(written: Written, extra: dict[str, Any] | None = None) -> str:
    return joined(*cdxj_parts(written), extra)


def joined(head: str, fields: dict[str, Any], extra: dict[str, Any] | None = None) -> str:
    """A CDXJ line from its parts: our own fields (verdict, reasons) after pywb's."""
    return f"{head} {json.dumps({**fields, **extra} if extra else fields)}"


def cdxj_parts(written: Written) -> tuple[str, dict[str, Any]]:
    """`SURT TIMESTAMP14` and the JSON fields of a record's line, before our annotations: computed when the
    record is written, so closing a file of a hundred thousand records costs no second of SURTs at once."""
    fields: dict[str, Any] = {"url": written.target_uri}
    mime = "warc/revisit" if written.record_type == "revisit" else written.mime
    if mime:
        fields["mime"] = mime
    if written.status is not None:
        fields["status"] = str(written.status)
    if written.payload_digest:
        fields["digest"] = written.payload_digest
    fields.update(length=str(written.length), offset=str(written.offset), filename=written.filename)
    if written.record_type in ("response", "resource", "conversion"):
        # Ours, after pywb's: what a later revisit of this payload must name (the 14 digits lose the ms).
        fields.update(record_id=written.record_id, warc_date=warc_date(written.date))
    return f"{url_key(written.target_uri)} {written.date:%Y%m%d%H%M%S}", fields
