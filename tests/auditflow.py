"""The audit's whole story on the sample web, as a user runs it: crawl state 1, advance the web to state 2,
crawl and recheck (two URLs failing transiently), recheck again once they are back, audit.

Used by tests/e2e/test_audit.py, `scrapy demo --audit` and benchmarks/audit.py; every step is the real
`scrapy` command in a subprocess (a Twisted reactor cannot be restarted, so one process per crawl).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive.store import open_store
from crawler.summary import read_jsonl_parts
from tests.crawling import SAMPLE_WEB_NETWORK, path_of, scrapy
from tests.fixtureweb.process import FixtureWeb

CRAWLS = ("demo-1", "demo-2", "demo-recheck-1", "demo-recheck-2")
# The recheck that meets the transient failures: a short download timeout (held connections time out
# quickly), one retry, so the story costs seconds, not minutes.
FLAKY_RECHECK = {"DOWNLOAD_TIMEOUT": "3", "RETRY_TIMES": "1"}
HOLD = 20.0  # seconds a timed-out connection is held: well past DOWNLOAD_TIMEOUT


class StepFailedError(RuntimeError):
    """A step of the story exited non-zero."""


def isolated_settings(work: Path) -> dict[str, str]:
    """A story of its own under `work`: its store, spool, indexes and catalog; two not-found fetches a few
    seconds apart confirm a deletion here (AUDIT_CONFIRM_AFTER), as a day would for real."""
    return {"STORE_URI": f"file://{work / 'store'}", "STORE_SPOOL_DIR": str(work / "spool"),
            "ARCHIVE_DEDUP_INDEX_DIR": str(work / "index"), "AUDIT_CATALOG_DIR": str(work / "catalog"),
            "AUDIT_CONFIRM_AFTER": "1s", "LOG_LEVEL": "WARNING"}


@dataclass
class Story:
    """What every step runs with, the crawl ids it used, and what the web says it changed."""

    work: Path
    settings: dict[str, str]
    ids: tuple[str, ...] = CRAWLS
    base_url: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)  # the web's own account of state 2
    flaky: dict[str, str] = field(default_factory=dict)  # path -> how it failed in the first recheck
    steps: list[str] = field(default_factory=list)

    @property
    def store(self) -> Path:
        return Path(self.settings["STORE_URI"].removeprefix("file://"))


def setting_args(settings: dict[str, str]) -> list[str]:
    """`-s KEY=VALUE` for each setting."""
    return [arg for key, value in settings.items() for arg in ("-s", f"{key}={value}")]


def run(story: Story, args: list[str], extra: dict[str, str] | None = None,
        env: dict[str, str] | None = None) -> str:
    """One `scrapy` step; its stderr, or StepFailedError with the tail of it."""
    settings = {"NETWORK_ALLOW": SAMPLE_WEB_NETWORK, **story.settings, **(extra or {})}
    proc = scrapy([*args, *setting_args(settings)], env=env)
    story.steps.append(" ".join(args))
    if proc.returncode != 0:
        raise StepFailedError(f"scrapy {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc.stderr


def pick_flaky(manifest: dict[str, Any]) -> dict[str, str]:
    """Two articles that state 2 leaves untouched and that the crawl reaches without JavaScript."""
    changed = {c.get("path") or c.get("old") for kind in manifest["changes"].values() for c in kind}
    steady = [a["path"] for a in manifest["articles"] if a["path"] not in changed and "section" in a["routes"]]
    return {steady[0]: "503", steady[1]: "timeout"}


def tell_story(web: FixtureWeb, work: Path, settings: dict[str, str] | None = None, ids: tuple[str, ...] = CRAWLS,
               say: Callable[[str], None] = lambda _: None, first_only: bool = False) -> Story:
    """Crawl, advance, crawl, recheck with faults, recheck again; the store is then ready to audit.
    `settings` default to a story of its own under `work` (isolated_settings); `first_only` stops after
    the first crawl."""
    story = Story(work, settings if settings is not None else isolated_settings(work), ids, web.base_url)
    site = ["-a", "site=demo", "-a", f"base_url={web.base_url}/"]
    web.set_state(1)
    say("crawl of the sample web in state 1")
    run(story, ["crawl", "news", *site], {"CRAWL_ID": story.ids[0]})
    if first_only:
        return story
    web.set_state(2)
    story.manifest = web.manifest()
    say("the sample web advances to state 2: articles deleted, moved, edited, replaced, published")
    run(story, ["crawl", "news", *site], {"CRAWL_ID": story.ids[1]})
    story.flaky = pick_flaky(story.manifest)
    for path, mode in story.flaky.items():
        web.fault(path, mode, hold=HOLD)
    say(f"recheck of every archived article, while {len(story.flaky)} of them fail transiently "
        f"({', '.join(story.flaky.values())})")
    urls = ["-a", f"urls_file={story_articles(story)}"]
    run(story, ["crawl", "recheck", *site, *urls], {"CRAWL_ID": story.ids[2], **FLAKY_RECHECK})
    web.clear_faults()
    say("recheck again, once they are back")
    run(story, ["crawl", "recheck", *site, *urls], {"CRAWL_ID": story.ids[3]})
    return story


def story_articles(story: Story) -> Path:
    """Every article URL the story's two crawls archived, in a file for the rechecks: what `due=all` gives in
    a store of its own, without the articles of an earlier demo in the same store (another sample web, on
    another port, long stopped: they would all come back unreachable)."""
    store = open_store(story.settings["STORE_URI"])
    urls = sorted({entry["url"] for crawl_id in story.ids[:2]
                   for entry in read_jsonl_parts(store, f"crawls/{crawl_id}/log") if entry["kind"] == "article"})
    path = story.work / f"{story.ids[0]}-articles.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{url}\n" for url in urls))
    return path


def audit_rows(story: Story, *args: str, extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """`scrapy audit` with `args`, its JSON lines."""
    out = story.work / "audit-rows.jsonl"
    run(story, ["audit", *args, "-o", str(out)], extra)
    return [json.loads(line) for line in out.read_text().splitlines()]


def expected_states(manifest: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """path -> (state, new path) that an audit over both states must find, from the web's own manifest.

    Pages dead in state 1 already stay dead; a moved story's new URL is `new` (first seen in state 2)."""
    expected: dict[str, tuple[str, str | None]] = {}
    for dead in manifest["dead"]:
        if dead["expect"] in ("not-found", "soft-404"):
            expected[dead["path"]] = ({"not-found": "deleted", "soft-404": "soft-deleted"}[dead["expect"]], None)
    changes = manifest["changes"]
    for change in changes["deleted"]:
        expected[change["path"]] = ("deleted", None)
    for change in changes["soft_deleted"]:
        expected[change["path"]] = ("soft-deleted", None)
    for move in changes["moved"]:
        expected[move["old"]] = ("moved", move["new"])
        expected[move["new"]] = ("new", None)
    for change in changes["edited"]:
        expected[change["path"]] = ("changed", None)
    for change in changes["new"]:
        expected[change["path"]] = ("new", None)
    for article in manifest["articles"]:
        expected.setdefault(article["path"], ("unchanged", None))
    return expected


def by_path(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {path_of(row["url"]): row for row in rows}


def scores(expected: dict[str, tuple[str, str | None]], rows: list[dict[str, Any]],
           reachable: set[str] | None = None) -> dict[str, tuple[float, float, int]]:
    """Per state: (precision, recall, URLs expected) of the audit's rows against the manifest, counting a
    `moved` right only with the right new URL. `reachable`: expected paths a crawl could reach at all."""
    got = {path: (row["state"], path_of(row["new_url"]) if row["new_url"] else None)
           for path, row in by_path(rows).items()}
    wanted = {p: v for p, v in expected.items() if reachable is None or p in reachable}
    out = {}
    for state in sorted({s for s, _ in wanted.values()} | {s for s, _ in got.values()}):
        said = {p for p, (s, _) in got.items() if s == state}
        truth = {p for p, (s, _) in wanted.items() if s == state}
        right = {p for p in said & truth if state != "moved" or got[p][1] == wanted[p][1]}
        out[state] = (len(right) / len(said) if said else 1.0, len(right) / len(truth) if truth else 1.0, len(truth))
    return out
