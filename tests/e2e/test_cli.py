"""The commands a user types: `scrapy demo`, `scrapy crawl` with a broken config, robots.txt off."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from archive.spoollock import SpoolLock
from tests.crawling import SAMPLE_WEB_NETWORK, path_of, run_crawl, scrapy, write_site
from tests.fixtureweb.process import FixtureWeb


def test_demo_tells_the_whole_story_and_says_where_everything_went(tmp_path: Path) -> None:
    """Crawl, advance the web, crawl, recheck (two URLs failing), recheck, audit: `make demo`."""
    store = tmp_path / "store"
    proc = scrapy(["demo", "-s", f"STORE_URI=file://{store}", "-s", f"STORE_SPOOL_DIR={tmp_path / 'spool'}",
                   "-s", f"AUDIT_CATALOG_DIR={tmp_path / 'catalog'}", "-s", f"ARCHIVE_DEDUP_INDEX_DIR={tmp_path / 'i'}",
                   "--out", str(tmp_path / "audit")])
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = sorted(p.name for p in (store / "crawls").iterdir())
    assert len(names) == 4 and re.fullmatch(r"demo-\d{8}T\d{6}Z", names[0])
    assert names[1] == names[0] + "-2" and names[2] == names[0].replace("demo-", "demo-recheck-")
    out = proc.stdout
    audit = re.search(r"demo: (\d+) article URLs: (.*)", out)
    assert audit is not None
    counts = {state: int(n) for n, state in (p.split(" ")[::-1] for p in audit[2].split(", "))}
    assert counts["deleted"] == 6 and counts["moved"] == 4 and counts["changed"] == 4 and counts["new"] == 16
    assert "unreachable 2" in re.search(r"as of the first recheck.*", out)[0]  # type: ignore[index]
    report = Path(re.search(r"report \(open it in a browser\): (\S+)", out)[1])  # type: ignore[index]
    assert report.is_file() and report.parent == (tmp_path / "audit").resolve()
    crawl_dirs = [store / "crawls" / names[0]]
    assert f"store:            file://{store}/crawls/{crawl_dirs[0].name}/" in out
    stored = int(re.search(r"articles stored:\s+(\d+)", out)[1])  # type: ignore[index]
    assert stored >= 256
    assert re.search(r"failures by kind: .*not-found 2", out)
    assert "items/part-00000.jsonl.gz" in out and (crawl_dirs[0] / "crawl.json").is_file()
    assert "Traceback" not in proc.stderr
    assert "  scrapy replay -s STORE_URI=" in out  # how to browse what it archived, at the replay's addresses
    browse = re.search(r"as first archived, in the browser: http://127\.0\.0\.1:8091/browse/(\d{14})/(\S+)", out)
    assert browse is not None and browse[2].startswith("http://127.0.0.1:")


def test_broken_site_config_fails_fast_with_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "oops.toml").write_text('base_url = "https://news.example/"\nmax_depth = "deep"\nfeed = []\n')
    proc = scrapy(["crawl", "news", "-a", "site=oops", "-s", f"CRAWL_SITES_DIR={tmp_path}"])
    assert proc.returncode == 2
    assert f"{tmp_path / 'oops.toml'}: key 'max_depth': Input should be a valid integer" in proc.stderr
    assert f"{tmp_path / 'oops.toml'}: key 'feed': unknown key" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_crawl_id_another_process_is_crawling_is_refused_before_anything_starts(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    lock = SpoolLock(spool / "busy")
    assert lock.acquire()  # this test process plays the crawl that is running
    try:
        (spool / "busy" / "log").mkdir()
        (spool / "busy" / "log" / "part-00000.jsonl.gz.open").write_bytes(b"being written")
        proc = scrapy(["crawl", "news", "-a", "site=demo", "-s", f"STORE_URI=file://{tmp_path / 'store'}",
                       "-s", f"STORE_SPOOL_DIR={spool}", "-s", "CRAWL_ID=busy"])
    finally:
        lock.release()
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"cannot start: spool {spool / 'busy'} is in use by process {os.getpid()}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (spool / "busy" / "log" / "part-00000.jsonl.gz.open").read_bytes() == b"being written"


def test_bad_setting_fails_fast_naming_the_key(tmp_path: Path) -> None:
    proc = scrapy(["crawl", "news", "-a", "site=demo", "-s", "STORE_URI=ftp://nowhere/x"])
    assert proc.returncode == 2
    assert "the command line (-s): key 'STORE_URI'" in proc.stderr
    # A key under our prefixes that no setting has is not ignored: every one is named, with the closest key.
    proc = scrapy(["crawl", "news", "-a", "site=demo", "-s", "ARCHIVE_DEDUPE=False", "-s", "STORE_URL=s3://b/"])
    assert proc.returncode == 2
    assert ("the command line (-s): key 'ARCHIVE_DEDUPE': unknown setting (did you mean 'ARCHIVE_DEDUP'?)\n"
            "the command line (-s): key 'STORE_URL': unknown setting (did you mean 'STORE_URI'?)\n") in proc.stderr
    assert "Traceback" not in proc.stderr


def test_sitemaps_from_robots_txt_when_robots_is_not_obeyed(web: FixtureWeb, tmp_path: Path) -> None:
    settings = write_site(tmp_path, "norobots", 'base_url = "http://127.0.0.1:1/"\nobey_robots = false\n')
    result = run_crawl(web, tmp_path / "store", site="norobots", settings={**settings, "CRAWL_PROGRESS": "on"})
    assert result.returncode == 0, result.stderr[-2000:]
    fetched = {path_of(e["url"]) for e in result.log}
    assert {"/robots.txt", "/sitemap_index.xml", "/sitemaps/news.xml", "/sitemaps/opinion.xml"} <= fetched
    opinion = {a["path"] for a in result.web["articles"] if a["section"] == "opinion"}
    assert opinion and opinion <= {path_of(i["url"]) for i in result.items}
    assert result.served.count("/robots.txt") == 1
    assert re.search(r"pages \d+ \| queue \d+ \| [\d.]+ pages/s \| items \d+ \| failed \d+", result.stderr)


def test_soft404_command_prints_one_verdict_per_url(web: FixtureWeb, tmp_path: Path) -> None:
    manifest = web.manifest()
    mixed = next(a["path"] for a in manifest["articles"] if a["template"] == "mixed-visible")
    template = next(d["path"] for d in manifest["dead"] if d["how"] == "error-template")
    urls_file = tmp_path / "urls.txt"
    urls_file.write_text(f"# checked daily\n{web.base_url}/tech/article/999999\n\n{web.base_url}/gone.html\n")
    proc = scrapy(["soft404", web.base_url + mixed, web.base_url + template, "--urls-file", str(urls_file),
                   "-s", f"NETWORK_ALLOW={SAMPLE_WEB_NETWORK}", "-s", f"STORE_URI=file://{tmp_path / 'store'}",
                   "-s", f"STORE_SPOOL_DIR={tmp_path / 'spool'}"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(path_of(x["url"]), x["verdict"], x["reasons"][0]) for x in lines] == [
        (mixed, "ok", "article-evidence"), (template, "soft-404", "error-title"),
        ("/tech/article/999999", "soft-404", "redirect-to-home"), ("/gone.html", "not-found", "status-404")]
    assert all(set(x) == {"url", "final_url", "status", "verdict", "score", "reasons"} for x in lines)
    assert list((tmp_path / "store" / "crawls").glob("check-*/warc/*.warc.gz"))  # the evidence is archived


def test_soft404_command_needs_a_url() -> None:
    proc = scrapy(["soft404"])
    assert proc.returncode != 0 and "at least one URL" in proc.stderr
