"""The crawler against the hostile web (tests/hostileweb/): a crawl and a `scrapy soft404` of every case finish,
answer every case URL with a reason, never call a broken page dead, keep the control pages `ok`, archive every
redirect hop and each bomb's raw bytes, and give each case the verdict and reason its `/_cases.json` expects.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.crawling import SAMPLE_WEB_NETWORK, CrawlResult, run_crawl, scrapy, write_site
from tests.hostileweb.cases import CASES
from tests.hostileweb.crawlplan import DEAD, MAX_DEPTH, SITE, Outcome, crawl_settings, outcomes, site_toml, table
from tests.hostileweb.process import HostileWeb

NAMES = [case.name for case in CASES]
CONTROLS = ("control", "control-dated")


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileWeb]:
    with HostileWeb() as web:
        yield web


@pytest.fixture(scope="module")
def cases(hostile: HostileWeb) -> dict[str, dict[str, Any]]:
    return {case["name"]: case for case in hostile.cases()}


@pytest.fixture(scope="module")
def runs(hostile: HostileWeb, cases: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
         ) -> tuple[CrawlResult, subprocess.CompletedProcess[str]]:
    """The crawl of the hostile web, then `scrapy soft404` of every case URL. One after the other: side by side
    they would share the two cores, and a page's time bound (CRAWL_PAGE_TIMEOUT) would depend on the other."""
    work = tmp_path_factory.mktemp("hostile")
    settings = {**write_site(work, SITE, site_toml(hostile.base_url)), **crawl_settings()}
    urls = work / "urls.txt"
    urls.write_text("".join(f"{hostile.base_url}{case['path']}\n" for case in cases.values()))
    check_args = ["soft404", "--urls-file", str(urls), "-s", f"NETWORK_ALLOW={SAMPLE_WEB_NETWORK}",
                  "-s", f"STORE_URI=file://{work / 'check'}", "-s", f"STORE_SPOOL_DIR={work / 'check-spool'}"]
    for key, value in crawl_settings().items():
        check_args += ["-s", f"{key}={value}"]
    try:  # run_crawl and scrapy guard against a hung command (tests/crawling.py): say so, once
        crawl = run_crawl(hostile, work / "store", site=SITE, settings=settings, crawl_id="hostile")
        check = scrapy(check_args)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"a run over the hostile web did not finish in {exc.timeout:.0f} s: {exc.cmd[1]}")
    return crawl, check


@pytest.fixture(scope="module")
def crawl(runs: tuple[CrawlResult, subprocess.CompletedProcess[str]]) -> CrawlResult:
    return runs[0]


@pytest.fixture(scope="module")
def check_lines(runs: tuple[CrawlResult, subprocess.CompletedProcess[str]]) -> list[dict[str, Any]]:
    proc = runs[1]
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def crawl_rows(crawl: CrawlResult, hostile: HostileWeb, cases: dict[str, dict[str, Any]]) -> dict[str, Outcome]:
    rows = outcomes(list(cases.values()), hostile.base_url, crawl.log)
    print("\ncrawl of the hostile web, expected against reported:\n" + table(rows))
    return {row.name: row for row in rows}


@pytest.fixture(scope="module")
def check_rows(check_lines: list[dict[str, Any]], hostile: HostileWeb, cases: dict[str, dict[str, Any]]
               ) -> dict[str, Outcome]:
    rows = outcomes(list(cases.values()), hostile.base_url, check_lines)
    print("\nscrapy soft404 of every case, expected against reported:\n" + table(rows))
    return {row.name: row for row in rows}


def test_the_web_serves_every_case_listed(cases: dict[str, dict[str, Any]]) -> None:
    assert len(cases) >= 30
    assert list(cases) == NAMES  # the parametrised tests below cover every case /_cases.json lists
    assert all(case["verdict"] not in DEAD and case["reason"] for case in cases.values())


def test_the_crawl_finishes(crawl: CrawlResult, hostile: HostileWeb) -> None:
    assert hostile.proc is not None and hostile.proc.poll() is None  # the outcomes are the crawler's, not a dead web's
    assert crawl.returncode == 0, crawl.stderr[-3000:]
    assert crawl.manifest.get("finish_reason") == "finished", crawl.manifest
    assert crawl.manifest.get("complete") is True


def test_every_case_url_has_one_entry_with_a_reason(crawl: CrawlResult, hostile: HostileWeb,
                                                     cases: dict[str, dict[str, Any]]) -> None:
    entries: dict[str, list[dict[str, Any]]] = {}
    for entry in crawl.log:
        if entry["kind"] != "probe":
            entries.setdefault(entry["url"], []).append(entry)
    problems = {name: entries.get(hostile.base_url + case["path"]) for name, case in cases.items()}
    problems = {name: found for name, found in problems.items()
                if not found or len(found) != 1 or not found[0]["reasons"]}
    assert not problems, problems


def test_no_broken_page_is_called_dead(crawl_rows: dict[str, Outcome], check_rows: dict[str, Outcome]) -> None:
    dead = {(run, row.name, row.verdict) for run, rows in (("crawl", crawl_rows), ("soft404", check_rows))
            for row in rows.values() if row.verdict in DEAD}
    assert not dead


def test_the_control_pages_are_ok_and_stored(crawl: CrawlResult, crawl_rows: dict[str, Outcome],
                                             check_rows: dict[str, Outcome], hostile: HostileWeb,
                                             cases: dict[str, dict[str, Any]]) -> None:
    for name in CONTROLS:
        assert crawl_rows[name].matches, crawl_rows[name]
        assert check_rows[name].matches, check_rows[name]
    stored = {item["url"] for item in crawl.items}
    assert {hostile.base_url + cases[name]["path"] for name in CONTROLS} <= stored


def test_the_calendar_trap_is_left_after_max_depth(crawl: CrawlResult) -> None:
    months = {entry["url"] for entry in crawl.log if "/calendar/" in entry["url"]}
    assert 1 <= len(months) <= MAX_DEPTH, sorted(months)


def _responses(crawl: CrawlResult) -> Iterator[tuple[str, Any, int]]:
    """(target URI, HTTP headers, payload length as stored) of every response record of the crawl."""
    for path in sorted((crawl.crawl_dir / "warc").glob("*.warc.gz")):
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type != "response":
                    continue
                size = 0
                while block := record.raw_stream.read(1 << 20):
                    size += len(block)
                yield record.rec_headers.get_header("WARC-Target-URI"), record.http_headers, size


def test_every_hop_and_every_bomb_is_archived_as_received(crawl: CrawlResult, hostile: HostileWeb,
                                                          cases: dict[str, dict[str, Any]]) -> None:
    archived = {uri: (headers, size) for uri, headers, size in _responses(crawl)}
    wanted = {hostile.base_url + path for case in cases.values() for path in case["archived"]}
    assert not wanted - set(archived), sorted(wanted - set(archived))
    for name in ("gzip-bomb", "deflate-bomb", "brotli-bomb", "zstd-bomb"):
        headers, size = archived[hostile.base_url + cases[name]["path"]]
        assert headers.get_header("Content-Encoding"), name  # the raw bytes, still encoded ...
        assert size == int(headers.get_header("Content-Length")), name  # ... all of them


@pytest.mark.parametrize("name", NAMES)
def test_crawl_gives_the_expected_outcome(name: str, crawl_rows: dict[str, Outcome]) -> None:
    row = crawl_rows[name]
    assert row.matches, f"expected {row.expected_verdict} + {row.expected_reason}, got {row.verdict} {row.reasons}"


@pytest.mark.parametrize("name", NAMES)
def test_soft404_gives_the_expected_outcome(name: str, check_rows: dict[str, Outcome]) -> None:
    row = check_rows[name]
    assert row.matches, f"expected {row.expected_verdict} + {row.expected_reason}, got {row.verdict} {row.reasons}"


def test_soft404_answers_every_url_with_a_reason(check_lines: list[dict[str, Any]],
                                                 cases: dict[str, dict[str, Any]]) -> None:
    assert len(check_lines) == len(cases)
    assert all(line["reasons"] and line["reasons"] != ["not-fetched"] for line in check_lines), check_lines

