"""`scrapy reprocess` end to end: crawls of the sample web re-run from their archive with no network, the
foreign WARCs and ARCs of shared/data re-processed, and the audit over two re-processed crawls."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from archive.captureindex import CaptureIndex
from archive.indexing import index_files
from archive.store import FileStore
from crawler.analysis import HTML_TYPES
from crawler.summary import read_jsonl_parts
from tests.auditflow import isolated_settings, setting_args
from tests.crawling import SAMPLE_WEB_NETWORK, scrapy
from tests.fixtureweb.process import FixtureWeb

NOT_COMPARED = {"crawl_id", "fetched_at"}


@dataclass
class Crawl:
    crawl_id: str
    manifest: dict[str, Any]
    log: list[dict[str, Any]]
    items: list[dict[str, Any]]
    stderr: str


def read_crawl(store: Path, crawl_id: str, stderr: str = "") -> Crawl:
    files = FileStore(store)
    manifest = json.loads((store / "crawls" / crawl_id / "crawl.json").read_text())
    return Crawl(crawl_id, manifest, read_jsonl_parts(files, f"crawls/{crawl_id}/log"),
                 read_jsonl_parts(files, f"crawls/{crawl_id}/items"), stderr)


def step(settings: dict[str, str], args: list[str]) -> str:
    proc = scrapy([*args, *setting_args(settings)], timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stderr


def reprocess(settings: dict[str, str], sources: list[str], crawl_id: str, store: Path) -> Crawl:
    stderr = step({**settings, "CRAWL_ID": crawl_id, "LOG_LEVEL": "INFO"}, ["reprocess", *sources])
    return read_crawl(store, crawl_id, stderr)


@dataclass
class Runs:
    work: Path
    settings: dict[str, str]
    live: list[Crawl]
    again: list[Crawl]
    served_while_reprocessing: list[list[str]]

    @property
    def store(self) -> Path:
        return self.work / "store"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Crawl the sample web in state 1 and in state 2; re-process each crawl while the web is up, and check
    that it was never asked for anything meanwhile."""
    work = tmp_path_factory.mktemp("reprocess")
    settings = {**isolated_settings(work), "NETWORK_ALLOW": SAMPLE_WEB_NETWORK}
    live, again, served = [], [], []
    with FixtureWeb() as web:
        site = ["-a", "site=demo", "-a", f"base_url={web.base_url}/"]
        for state in (1, 2):
            web.set_state(state)
            crawl_id = f"demo-{state}"
            step({**settings, "CRAWL_ID": crawl_id}, ["crawl", "news", *site])
            live.append(read_crawl(work / "store", crawl_id))
            web.requests(reset=True)
            again.append(reprocess(settings, [crawl_id], f"demo-reprocess-{state}", work / "store"))
            served.append(web.requests())
    return Runs(work, settings, live, again, served)


def _by_url(log: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["kind"], e["url"]): e for e in log}


def _copies(items: dict[str, dict[str, Any]]) -> set[frozenset[str]]:
    return {frozenset((url, item["duplicate_of"])) for url, item in items.items() if item["duplicate_of"]}


def test_reprocess_gives_the_live_crawls_items_field_for_field(runs: Runs) -> None:
    """Of two near-copies the dedup pipeline stores the first to arrive whole and links the other to it
    (`duplicate_of`, no text): which one comes first is arrival order, in a live crawl as in a re-run. So
    the pairs are compared, and the other fields of every item."""
    for live, again in zip(runs.live, runs.again, strict=True):
        assert len(live.items) > 250
        ours, theirs = ({i["url"]: {k: v for k, v in i.items() if k not in NOT_COMPARED} for i in items}
                        for items in (live.items, again.items))
        assert set(ours) == set(theirs)
        assert _copies(ours) == _copies(theirs)
        paired = {url for pair in _copies(ours) for url in pair}
        order = {"duplicate_of", "text"}
        assert [u for u in ours if {k: v for k, v in ours[u].items() if u not in paired or k not in order}
                != {k: v for k, v in theirs[u].items() if u not in paired or k not in order}] == []
        assert {i["crawl_id"] for i in again.items} == {again.crawl_id}


SEEN = "redirect-to-seen-url"


def _differences(ours: dict[str, Any], theirs: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """The fields of one URL's entries that differ. Whether a redirect's target had already been seen when
    the redirect came (then the redirect is logged as it stands, not followed) is arrival order, in a live
    crawl as in a re-run: there the verdict, the other reasons, where it led and the hops must agree."""
    fields = ["verdict", "reasons", "score", "status", "final_url", "redirects", "title", "warc"]
    if SEEN in ours["reasons"] or SEEN in theirs["reasons"]:
        ours, theirs = ({**e, "reasons": [r for r in e["reasons"] if r != SEEN]} for e in (ours, theirs))
        fields = ["verdict", "reasons", "final_url", "redirects"]
    return [(f, ours[f], theirs[f]) for f in fields if ours[f] != theirs[f]]


def test_reprocess_gives_the_same_verdict_for_every_url(runs: Runs) -> None:
    for live, again in zip(runs.live, runs.again, strict=True):
        ours, theirs = _by_url(live.log), _by_url(again.log)
        assert set(ours) == set(theirs)
        wrong = {key: _differences(ours[key], theirs[key]) for key in ours}
        assert {k: v for k, v in wrong.items() if v} == {}
        assert sum(e["kind"] == "probe" for e in again.log) >= 2  # probes answered by the archived probes
        assert {e["verdict"] for e in again.log} >= {"ok", "soft-404", "not-found"}


def test_rendered_pages_come_from_the_archived_dom_without_a_browser(runs: Runs) -> None:
    again = runs.again[0]
    rendered = [e for e in again.log if (e["render"] or {}).get("rendered")]
    assert len(rendered) >= 4 and all(e["render"]["archived"] for e in rendered)
    stats = again.manifest["stats"]
    assert stats["reprocess/rendered-from-archive"] == len(rendered)
    assert not any(k.startswith("playwright/") for k in stats)  # no browser was launched
    live = {e["url"]: e for e in runs.live[0].log if (e["render"] or {}).get("rendered")}
    # the items of rendered pages point at the DOM's conversion record, as live
    assert {e["url"]: e["render"]["conversion"] for e in rendered} == {u: e["render"]["conversion"]
                                                                        for u, e in live.items()}


def test_nothing_goes_to_the_network_and_nothing_is_archived_again(runs: Runs) -> None:
    assert runs.served_while_reprocessing == [[], []]  # the sample web was up, and never asked
    for again in runs.again:
        crawl_dir = runs.store / "crawls" / again.crawl_id
        assert sorted(p.name for p in crawl_dir.iterdir()) == ["crawl.json", "items", "log"]  # no warc/, cdxj/
        assert again.manifest["spider"] == "reprocess" and again.manifest["site"] == "demo"
        assert again.manifest["complete"] is True
        assert again.manifest["reprocess"]["sources"] == [again.crawl_id.replace("-reprocess", "")]
        assert again.manifest["reprocess"]["spider"] == "news"
        assert again.manifest["stats"].get("reprocess/not-archived", 0) == 0
        assert again.manifest["stats"]["reprocess/captures"] >= len(again.log) - 1
        warcs = {p.name for p in (runs.store / "crawls" / again.crawl_id.replace("-reprocess", "") / "warc").iterdir()}
        assert {e["warc"]["filename"] for e in again.log if e["warc"]} <= warcs


def test_the_second_crawls_revisits_are_read_through_the_first_crawl(runs: Runs) -> None:
    """demo-2 deduplicated against demo-1: its unchanged pages are revisit records whose payload is there."""
    assert runs.again[1].manifest["stats"].get("reprocess/revisits", 0) >= 10
    assert runs.again[1].manifest["stats"].get("reprocess/unreadable", 0) == 0


def _audit(store: Path, work: Path, crawl_ids: list[str], name: str) -> dict[str, dict[str, Any]]:
    """`scrapy audit` of a store holding only `crawl_ids` (copied from `store`): state per URL."""
    copy = work / name
    for crawl_id in crawl_ids:
        shutil.copytree(store / "crawls" / crawl_id, copy / "store" / "crawls" / crawl_id)
    out = copy / "rows.jsonl"
    settings = {**isolated_settings(copy), "AUDIT_CONFIRM_AFTER": "1s"}
    step(settings, ["audit", "--site", "demo", "-o", str(out)])
    return {row["url"]: row for row in map(json.loads, out.read_text().splitlines())}


def test_the_audit_of_two_reprocessed_crawls_is_the_audit_of_the_live_ones(runs: Runs) -> None:
    live = _audit(runs.store, runs.work, ["demo-1", "demo-2"], "live")
    again = _audit(runs.store, runs.work, ["demo-reprocess-1", "demo-reprocess-2"], "again")
    assert set(live) == set(again) and len(live) > 250
    states = {url: (row["state"], row.get("new_url")) for url, row in live.items()}
    assert {url: (row["state"], row.get("new_url")) for url, row in again.items()} == states
    assert {"deleted", "moved", "changed", "unchanged"} <= {s for s, _ in states.values()}


# --- other tools' archives --------------------------------------------------------------------------------

def _html_urls(paths: list[Path], work: Path) -> set[str]:
    """Every http(s) URL of which the files hold an HTML capture, from an index of them read with warcio."""
    index = CaptureIndex(work / "check.sqlite", "check")
    index_files(index, paths)
    rows = index._db().execute("SELECT url, mime FROM cdx").fetchall()
    index.close()
    return {u for u, mime in rows if mime in HTML_TYPES and u.startswith(("http://", "https://"))}


@pytest.mark.parametrize("folder", ["ukwa", "warcio"])
def test_foreign_archives_get_a_verdict_for_every_html_capture(folder: str, shared_data: Path,
                                                               tmp_path: Path) -> None:
    source = shared_data / "warc-interop" / folder
    files = sorted(p for p in source.rglob("*") if p.is_file() and p.name.endswith((".warc", ".warc.gz", ".arc",
                                                                                     ".arc.gz")))
    settings = isolated_settings(tmp_path)
    crawl = reprocess(settings, [str(source)], f"{folder}-reprocess", tmp_path / "store")
    assert "Traceback" not in crawl.stderr
    logged = {e["url"]: e for e in crawl.log}
    # a capture reached as another's redirect target (a meta refresh to it) is that entry's final URL
    reached = logged.keys() | {e["final_url"] for e in crawl.log}
    reached |= {h["url"] for e in crawl.log for h in e["redirects"]}
    html = _html_urls(files, tmp_path)
    assert html and html <= reached
    judged = [logged[u] for u in html if u in logged]
    assert all("verdict" in e and (e["verdict"] or e["reasons"]) for e in judged)
    assert any(e["verdict"] == "ok" for e in judged)
    assert crawl.items  # the article pages among them are extracted
    stats = crawl.manifest["stats"]
    assert stats["reprocess/unreadable"] >= 1  # the files broken on purpose: counted, and the run went on
    assert crawl.manifest["reprocess"]["spider"] == "archive" and crawl.manifest["spider"] == "reprocess"
    # no probe is archived in other tools' files: the probe fails as not-archived, the page still gets its verdict
    probes = [e for e in crawl.log if e["kind"] == "probe"]
    assert all(e["reasons"] == ["not-archived"] for e in probes)
    assert "unreadable" in crawl.stderr and "offset" in crawl.stderr


def test_a_wacz_of_a_crawl_reprocesses_like_the_crawl_and_a_cut_one_is_counted(runs: Runs) -> None:
    """`scrapy wacz` of the first crawl, re-processed as a file (the reader reads WACZ): the same verdicts as
    re-processing the crawl from the store; a copy cut short in the middle of its WARC costs the captures
    past the cut (counted as unreadable), never the run."""
    package = runs.work / "demo-1.wacz"
    step(runs.settings, ["wacz", "demo-1", "-o", str(package)])
    crawl = reprocess(runs.settings, [str(package), "--site", "demo"], "demo-wacz-1", runs.store)
    from_store = {e["url"]: e["verdict"] for e in runs.again[0].log if e["kind"] != "probe"}
    from_wacz = {e["url"]: e["verdict"] for e in crawl.log if e["kind"] != "probe"}
    same = [key for key in from_store if from_wacz.get(key, "missing") == from_store[key]]
    assert len(same) >= 0.95 * len(from_store), sorted(set(from_store) - set(same))[:10]
    assert len(crawl.items) >= 0.95 * len(runs.again[0].items)
    assert crawl.manifest["stats"].get("reprocess/unreadable", 0) == 0
    cut = runs.work / "cut" / "demo-1-cut.wacz"
    cut.parent.mkdir()
    data = package.read_bytes()
    cut.write_bytes(data[: len(data) // 2] + data[len(data) // 2:].replace(b"WARC/1.1", b"XXXX/1.1", 50))
    broken = reprocess(runs.settings, [str(cut), "--site", "demo"], "demo-wacz-cut", runs.store)
    assert broken.manifest["stats"].get("reprocess/unreadable", 0) >= 1
    assert broken.manifest["finish_reason"] == "finished" and "Traceback" not in broken.stderr
