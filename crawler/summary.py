"""A short, human summary of one stored crawl, read back from the store (manifest and crawl log)."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from typing import Any

from archive.store import Store


def read_jsonl_parts(store: Store, prefix: str) -> list[dict[str, Any]]:
    """All records of the parts under `prefix` (e.g. crawls/ID/log), in part order."""
    records: list[dict[str, Any]] = []
    for key in store.keys(prefix):
        if key.endswith(".jsonl.gz"):
            records += [json.loads(line) for line in gzip.decompress(store.get_bytes(key)).splitlines() if line]
    return records


def summarize(store: Store, crawl_id: str) -> str:
    prefix = f"crawls/{crawl_id}"
    root = getattr(store, "root", None)
    where = str((root / prefix).resolve()) if root is not None else ""
    manifest = json.loads(store.get_bytes(f"{prefix}/crawl.json"))
    log = read_jsonl_parts(store, f"{prefix}/log")
    failures = Counter(
        e["verdict"] or (e["reasons"][0] if e["reasons"] else "unclassified")
        for e in log if (e["verdict"] not in (None, "ok") or e["error"]) and e["kind"] != "probe"
    )
    kinds = Counter(e["kind"] for e in log)
    lines = [
        f"crawl {crawl_id} ({manifest['finish_reason']}, {manifest['started_at']} -> {manifest['finished_at']})",
        f"  pages fetched:    {len(log)} ({', '.join(f'{k} {v}' for k, v in kinds.most_common())})",
        f"  articles stored:  {manifest['counts']['items']}",
        f"  failures by kind: {', '.join(f'{k} {v}' for k, v in failures.most_common()) or 'none'}",
        f"  rendered:         {rendered_line(log)}",
        f"  store:            {store.uri}/{prefix}/" + (f"  ({where})" if where else ""),
    ]
    for obj in manifest["objects"]:
        lines.append(f"    {obj['key'].removeprefix(prefix + '/'):<40} {obj['size']:>10} bytes")
    lines.append(f"    {'crawl.json':<40} (manifest, written last)")
    return "\n".join(lines)


def rendered_line(log: list[dict[str, Any]]) -> str:
    """Which pages went through Chromium and why, or which needed it and were not rendered (and why)."""
    decisions = [e for e in log if e.get("render")]
    done = Counter(f"{e['render']['mode']}:{e['render']['reason']}" for e in decisions if e["render"].get("rendered"))
    skipped = [e for e in decisions if not e["render"].get("rendered")]
    text = f"{sum(done.values())} pages in Chromium" + (f" ({', '.join(f'{k} {v}' for k, v in sorted(done.items()))})"
                                                         if done else "")
    if skipped:
        why = "no Chromium found" if any("render-unavailable" in e["reasons"] for e in skipped) else "render failed"
        text += f"; NOT rendered ({why}): {len(skipped)} pages, e.g. {skipped[0]['url']}"
    return text
