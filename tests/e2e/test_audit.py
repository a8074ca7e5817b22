"""The audit end to end on the sample web: two crawls, two rechecks (with transient failures), `scrapy audit`
from a file:// store and from an s3:// one (moto_server), every change of the web's manifest found."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted

from archive.auditmodel import STATES
from crawler.summary import read_jsonl_parts
from tests.asyncio_helpers import on_asyncio
from tests.auditflow import (
    CRAWLS,
    Story,
    audit_rows,
    by_path,
    expected_states,
    run,
    scores,
    setting_args,
    tell_story,
)
from tests.crawling import path_of, scrapy
from tests.e2e.test_report import launch, look
from tests.fixtureweb.process import FixtureWeb
from tests.servers import CREDENTIALS, MotoServer, create_bucket


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    with FixtureWeb() as web:  # its own web: the story changes its state and makes pages fail
        yield tell_story(web, tmp_path_factory.mktemp("audit"))


@pytest.fixture(scope="module")
def final(story: Story) -> list[dict[str, Any]]:
    return audit_rows(story)


def test_every_change_of_the_sample_web_gets_its_state(story: Story, final: list[dict[str, Any]]) -> None:
    expected = expected_states(story.manifest)
    rows = by_path(final)
    assert set(rows) == set(expected)
    wrong = {p: (r["state"], expected[p][0], r["evidence"]) for p, r in rows.items() if r["state"] != expected[p][0]}
    assert not wrong
    for move in story.manifest["changes"]["moved"]:
        row = rows[move["old"]]
        assert path_of(row["new_url"]) == move["new"]
        assert any(("redirects to" in e) == move["redirect"] for e in row["evidence"])
        assert ("no redirect" in row["evidence"][0]) == (not move["redirect"])
    assert all(precision == recall == 1.0 for precision, recall, _ in scores(expected, final).values())


def test_deleted_stories_are_confirmed_by_two_not_found_fetches_far_enough_apart(
        story: Story, final: list[dict[str, Any]]) -> None:
    deleted = [r for r in final if r["state"] == "deleted"]
    assert deleted and all(r["confirmed"] for r in deleted)
    strict = audit_rows(story, "--no-update", extra={"AUDIT_CONFIRM_AFTER": "1d"})
    assert not any(r["confirmed"] for r in strict)


def test_transient_failures_are_unreachable_then_unchanged_never_deleted(
        story: Story, final: list[dict[str, Any]]) -> None:
    during = by_path(audit_rows(story, "--to", CRAWLS[2]))
    after = by_path(final)
    for path, mode in story.flaky.items():
        assert during[path]["state"] == "unreachable", (mode, during[path])
        assert "transient" in during[path]["evidence"][0]
        assert during[path]["last_capture"]["verdict"] == "error"
        assert after[path]["state"] == "unchanged"
        assert after[path]["last_capture"]["crawl_id"] == CRAWLS[3]
    assert not {r["state"] for r in during.values() if path_of(r["url"]) in story.flaky} & {"deleted", "soft-deleted"}


def test_a_recheck_follows_no_link_and_stores_unchanged_articles_as_revisits(story: Story) -> None:
    from archive.store import FileStore  # noqa: PLC0415

    store = FileStore(story.store)
    log = read_jsonl_parts(store, f"crawls/{CRAWLS[3]}/log")
    kinds = {e["kind"] for e in log}
    assert kinds <= {"recheck", "probe", "other"} and "recheck" in kinds
    assert {path_of(e["url"]) for e in log if e["kind"] == "other"} <= {"/robots.txt"}
    manifest = json.loads((story.store / "crawls" / CRAWLS[3] / "crawl.json").read_text())
    assert manifest["spider"] == "recheck"
    revisits = set()
    for cdxj in (story.store / "crawls" / CRAWLS[3] / "cdxj").glob("*.cdxj"):
        for line in cdxj.read_text().splitlines():
            fields = json.loads(line.split(" ", 2)[2])
            if fields["mime"] == "warc/revisit":
                revisits.add((fields["filename"], int(fields["offset"])))
    ok = [e for e in log if e["kind"] == "recheck" and e["verdict"] == "ok" and not e["redirects"]]
    as_revisit = [e for e in ok if (e["warc"]["filename"], e["warc"]["offset"]) in revisits]
    assert len(as_revisit) >= 0.95 * len(ok), (len(as_revisit), len(ok))


def test_outputs_by_extension_agree(story: Story, final: list[dict[str, Any]]) -> None:
    out = story.work / "outputs"
    out.mkdir(exist_ok=True)
    stderr = run(story, ["audit", "--no-update", "-o", str(out / "a.csv"), "-o", str(out / "report.html")])
    assert "wrote" in stderr and "demo:" in stderr and "deleted:" in stderr
    with (out / "a.csv").open(newline="") as fh:
        table = {row["url"]: row for row in csv.DictReader(fh)}
    assert {u: r["state"] for u, r in table.items()} == {r["url"]: r["state"] for r in final}
    html = (out / "report.html").read_text()
    assert "<html" in html and all(crawl in html for crawl in CRAWLS)
    proc = scrapy(["audit", "--no-update", "-o", str(out / "a.xlsx")])
    assert proc.returncode == 2 and "unknown output format '.xlsx'" in proc.stderr


def test_an_empty_store_or_an_unknown_site_exits_2(story: Story, tmp_path: Path) -> None:
    empty = {**story.settings, "STORE_URI": f"file://{tmp_path / 'empty'}", "AUDIT_CATALOG_DIR": str(tmp_path)}
    proc = scrapy(["audit", *setting_args(empty)])
    assert proc.returncode == 2 and "holds no crawls" in proc.stderr
    proc = scrapy(["audit", "--site", "nowhere", *setting_args(story.settings)])
    assert proc.returncode == 2 and "no crawls of site 'nowhere'" in proc.stderr and "demo" in proc.stderr
    proc = scrapy(["audit", "--from", "last tuesday", *setting_args(story.settings)])
    assert proc.returncode == 2 and "neither a crawl id" in proc.stderr


def test_the_catalog_command_says_what_it_holds(story: Story) -> None:
    proc = scrapy(["catalog", "--rebuild", *setting_args(story.settings)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "this update: 4 crawls indexed" in proc.stdout
    assert "demo: 4 crawls (4 complete)" in proc.stdout and "captures" in proc.stdout


def test_the_same_audit_from_an_s3_store(story: Story, final: list[dict[str, Any]], tmp_path: Path) -> None:
    bucket = "audit-test"
    with MotoServer() as server:
        client = create_bucket(server.endpoint, bucket)
        for path in sorted(story.store.rglob("*")):
            if path.is_file():
                client.upload_file(str(path), bucket, "arch/" + path.relative_to(story.store).as_posix())
        env = {**CREDENTIALS, "AWS_ENDPOINT_URL": server.endpoint}
        settings = {**story.settings, "STORE_URI": f"s3://{bucket}/arch", "STORE_S3_ADDRESSING": "path",
                    "AUDIT_CATALOG_DIR": str(tmp_path / "catalog")}
        out = tmp_path / "s3.jsonl"
        proc = scrapy(["audit", "-o", str(out), *setting_args(settings)],
                      env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
    from_s3 = [json.loads(line) for line in out.read_text().splitlines()]
    assert from_s3 == final


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_the_story_s_report_renders_in_chromium_and_loads_nothing(
        story: Story, final: list[dict[str, Any]], tmp_path: Path) -> None:
    report, screenshot = tmp_path / "report.html", tmp_path / "report.png"
    run(story, ["audit", "--no-update", "-o", str(report)])
    seen = await on_asyncio(look(report, screenshot, launch()))
    assert seen["requests"] == []
    assert seen["url_rows"] == sorted((r["state"] for r in final if r["state"] != "unchanged"), key=STATES.index)
    assert seen["marks"] == len(CRAWLS) * len(seen["chart_states"]) and seen["recheck_labels"] == ["recheck"] * 2
    assert len(seen["moved_new"]) == 4 and seen["dels"] + seen["inss"]
    assert seen["timeline_rows"] >= 3 and seen["width"] <= 1280 and seen["csp_errors"] == []
    screenshot.replace("/tmp/audit-story.png")  # for a person to look at


def test_a_recheck_of_a_urls_file_and_of_what_is_due(story: Story, tmp_path: Path) -> None:
    shutil.copytree(story.store, tmp_path / "store")  # a copy: the other tests read the story's four crawls
    settings = {**story.settings, "STORE_URI": f"file://{tmp_path / 'store'}", "STORE_SPOOL_DIR": str(tmp_path / "s"),
                "ARCHIVE_DEDUP_INDEX_DIR": str(tmp_path / "index"), "AUDIT_CATALOG_DIR": str(tmp_path / "catalog")}
    copy = Story(tmp_path, settings, story.ids, story.base_url)
    site = ["-a", "site=demo", "-a", f"base_url={story.base_url}/"]
    wanted = sorted(r["url"] for r in audit_rows(copy) if r["state"] == "unchanged")[:2]
    (tmp_path / "urls.txt").write_text(f"# two of them\n{wanted[0]}\n\n{wanted[1]}\n{wanted[0]}\n")
    run(copy, ["crawl", "recheck", *site, "-a", f"urls_file={tmp_path / 'urls.txt'}"], {"CRAWL_ID": "from-file"})
    from archive.store import FileStore  # noqa: PLC0415

    log = read_jsonl_parts(FileStore(tmp_path / "store"), "crawls/from-file/log")
    assert sorted(e["url"] for e in log if e["kind"] == "recheck") == wanted
    # On the default cadence nothing is due: every article was first seen minutes ago (the first step is 1 h).
    run(copy, ["crawl", "recheck", *site], {"CRAWL_ID": "on-cadence"})
    log = read_jsonl_parts(FileStore(tmp_path / "store"), "crawls/on-cadence/log")
    assert [e for e in log if e["kind"] == "recheck"] == []
    manifest = json.loads((tmp_path / "store" / "crawls" / "on-cadence" / "crawl.json").read_text())
    assert manifest["stats"]["recheck/urls"] == 0 and manifest["spider"] == "recheck"
    for bad, said in ((["-a", "due=sometimes"], "-a due='sometimes': expected one of cadence, all"),
                      (["-a", f"urls_file={tmp_path / 'nope.txt'}"], "cannot read it")):
        proc = scrapy(["crawl", "recheck", *site, *bad, *setting_args(settings)])
        assert proc.returncode == 2 and said in proc.stderr


def test_a_crawl_reuses_the_host_s_probe_answers_that_earlier_crawls_archived(story: Story, tmp_path: Path) -> None:
    """Once the catalog knows the story's crawls, a recheck takes the host's answers for URLs that cannot exist
    from their `probes` parts instead of probing again and judges each page as the last recheck did, dead
    pages included; re-processing it judges with the same templates; answers older than SOFT404_PROBE_TTL
    are asked again."""
    from archive.store import FileStore  # noqa: PLC0415
    from crawler.soft404.probes import shape_of  # noqa: PLC0415

    shutil.copytree(story.store, tmp_path / "store")  # a copy: the other tests read the story's four crawls
    settings = {**story.settings, "STORE_URI": f"file://{tmp_path / 'store'}", "STORE_SPOOL_DIR": str(tmp_path / "s"),
                "ARCHIVE_DEDUP_INDEX_DIR": str(tmp_path / "index"), "AUDIT_CATALOG_DIR": str(tmp_path / "catalog"),
                "LOG_LEVEL": "INFO"}
    copy = Story(tmp_path, settings, story.ids, story.base_url)
    run(copy, ["catalog"])
    store = FileStore(tmp_path / "store")
    before = read_jsonl_parts(store, f"crawls/{CRAWLS[3]}/log")
    probes = {shape_of(e["url"]): e for e in before if e["kind"] == "probe"}
    assert {e["status"] for e in probes.values()} >= {200, 404}  # a section with an error template, honest ones
    assert read_jsonl_parts(store, f"crawls/{CRAWLS[3]}/probes")  # what it judged with, kept for later crawls
    pages = [e for e in before if e["kind"] == "recheck" and shape_of(e["url"]) in probes]
    matched = [e for e in pages if "probe-match" in e["reasons"]][:3]  # dead only beside the template
    assert matched
    chosen = {e["url"]: e for e in matched + [p for shape in probes for p in
                                              [q for q in pages if shape_of(q["url"]) == shape][:2]]}
    (tmp_path / "urls.txt").write_text("".join(f"{url}\n" for url in chosen))
    site = ["-a", "site=demo", "-a", f"base_url={story.base_url}/", "-a", f"urls_file={tmp_path / 'urls.txt'}"]

    stderr = run(copy, ["crawl", "recheck", *site], {"CRAWL_ID": "reused"})
    assert "answers of earlier crawls taken" in stderr
    log = read_jsonl_parts(store, "crawls/reused/log")
    assert [e["url"] for e in log if e["kind"] == "probe"] == []
    judged = {e["url"]: (e["verdict"], e["reasons"]) for e in log if e["kind"] == "recheck"}
    assert judged == {url: (e["verdict"], e["reasons"]) for url, e in chosen.items()}
    kept = read_jsonl_parts(store, "crawls/reused/probes")  # the answers its pages were judged with
    assert {shape_of(e["url"]) for e in matched} <= {shape_of(r["url"]) for r in kept} <= set(probes)
    assert all(r["reused"] and r["crawl_id"] in CRAWLS for r in kept)
    assert {e["probe"] for e in log if e["kind"] == "recheck" and "probe-match" in e["reasons"]} <= {
        r["url"] for r in kept}  # each names the earlier crawl's probe it was judged beside
    manifest = json.loads((tmp_path / "store" / "crawls" / "reused" / "crawl.json").read_text())
    assert manifest["stats"]["soft404/probes/reused"] == len(kept)

    run(copy, ["reprocess", "reused"], {"CRAWL_ID": "reused-again"})
    again = read_jsonl_parts(store, "crawls/reused-again/log")
    assert {e["url"]: (e["verdict"], e["reasons"]) for e in again if e["kind"] == "recheck"} == judged
    assert [e for e in again if e["kind"] == "probe"] == []  # judged with the templates the crawl used

    stderr = run(copy, ["crawl", "recheck", *site], {"CRAWL_ID": "expired", "SOFT404_PROBE_TTL": "1"})
    log = read_jsonl_parts(store, "crawls/expired/log")
    assert "answers of earlier crawls taken" not in stderr and [e for e in log if e["kind"] == "probe"]
    assert {e["url"]: (e["verdict"], e["reasons"]) for e in log if e["kind"] == "recheck"} == judged
