"""Bounded work per page and honest verdicts, end to end: `scrapy soft404` over a web that breaks HTTP on purpose
(tests/brokenweb.py), then its output, crawl log, stats and WARCs read back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.store import FileStore
from crawler.limits import REASONS as LIMIT_REASONS
from crawler.summary import read_jsonl_parts
from tests.brokenweb import PAGES, BrokenWeb, bomb, variant
from tests.crawling import SAMPLE_WEB_NETWORK, scrapy
from tests.servers import free_port

MAXSIZE = 4 * 1024 * 1024
LINKS, TITLE = 1000, 200  # LIMIT_PAGE_LINKS, LIMIT_TITLE_CHARS of the run: the settings reach the page workers
BOMBS = ("/gzip-bomb", "/deflate-bomb", "/br-bomb", "/zstd-bomb", "/double-bomb")


@dataclass
class Check:
    """One `scrapy soft404` run over the broken web."""

    base: str
    stderr: str
    verdicts: dict[str, dict[str, Any]]  # by path
    log: dict[str, dict[str, Any]]  # crawl-log entries by requested path
    stats: dict[str, Any]
    responses: dict[str, list[Any]]  # WARC response records by path, body read

    def verdict(self, path: str) -> tuple[str | None, list[str]]:
        found = self.verdicts[path]
        return found["verdict"], found["reasons"]


def settings_args(store: Path, extra: dict[str, str]) -> list[str]:
    options = {"STORE_URI": f"file://{store / 'store'}", "STORE_SPOOL_DIR": str(store / "spool"), "CRAWL_ID": "check",
               "ARCHIVE_DEDUP_INDEX_DIR": "", "NETWORK_ALLOW": SAMPLE_WEB_NETWORK, **extra}
    return [arg for key, value in options.items() for arg in ("-s", f"{key}={value}")]


def _responses(warc_dir: Path, base: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for path in sorted(warc_dir.glob("*.warc.gz")):
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "response":
                    record.raw = record.raw_stream.read()
                    target = record.rec_headers.get_header("WARC-Target-URI").removeprefix(base)
                    found.setdefault(target, []).append(record)
    return found


@pytest.fixture(scope="module")
def check(tmp_path_factory: pytest.TempPathFactory) -> Check:
    store = tmp_path_factory.mktemp("limits")
    paths = [p for p in PAGES if p != "/robots.txt"] + ["/chain/0"]
    with BrokenWeb() as web:
        proc = scrapy(["soft404", *(web.url(p) for p in paths),
                       *settings_args(store, {"DOWNLOAD_MAXSIZE": str(MAXSIZE), "LIMIT_PAGE_LINKS": str(LINKS),
                                              "LIMIT_TITLE_CHARS": str(TITLE)})], timeout=600)
        base = web.base_url
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    crawl = store / "store" / "crawls" / "check"
    log = read_jsonl_parts(FileStore(store / "store"), "crawls/check/log")
    manifest = json.loads((crawl / "crawl.json").read_text())
    return Check(base, proc.stderr, {line["url"].removeprefix(base): line for line in lines},
                 {entry["url"].removeprefix(base): entry for entry in log}, manifest["stats"],
                 _responses(crawl / "warc", base))


def test_every_url_gets_an_answer_and_the_control_page_stays_ok(check: Check) -> None:
    assert check.verdict("/ok") == ("ok", ["article-evidence"])
    assert all(found["reasons"] for found in check.verdicts.values())
    assert "not-fetched" not in {reason for found in check.verdicts.values() for reason in found["reasons"]}


def test_bombs_of_every_encoding_are_errors_never_soft_404s(check: Check) -> None:
    for path in BOMBS:
        assert check.verdict(path) == ("error", ["decompression-bomb"]), path
        assert "ratio" in check.log[path]["error"]
    assert check.stats["limits/decompression-bomb"] == len(BOMBS)


def test_a_bomb_is_archived_as_it_came_off_the_wire(check: Check) -> None:
    record = check.responses["/gzip-bomb"][0]
    assert record.raw == bomb("gzip")  # the payload: the gzip bytes as sent
    assert record.rec_headers.get_header("WARC-Truncated") is None
    assert record.http_headers.get_header("Content-Encoding") == "gzip"


def test_bodies_past_the_size_limit_are_errors_raw_or_decoded(check: Check) -> None:
    assert check.verdict("/big-plain") == ("error", ["too-large", "truncated"])
    record = check.responses["/big-plain"][0]
    assert record.rec_headers.get_header("WARC-Truncated") == "length" and len(record.raw) == MAXSIZE
    assert check.verdict("/big-gzip") == ("error", ["too-large"])  # compresses ~3x: big, not a bomb


def test_a_body_encoded_twice_and_labelled_so_is_read(check: Check) -> None:
    assert check.verdict("/double-gzip") == ("ok", ["article-evidence"])


def test_undecodable_and_binary_bodies_are_errors(check: Check) -> None:
    assert check.verdict("/bad-gzip") == ("error", ["decode-failed"])
    assert check.verdict("/binary") == ("error", ["binary-body"])


def test_redirect_loops_and_long_chains_are_errors_with_every_hop_archived(check: Check) -> None:
    assert check.verdict("/loop-a") == ("error", ["redirect-loop"])
    assert check.log["/loop-a"]["redirects"] == [{"url": check.base + "/loop-a", "status": 302}]
    assert check.verdict("/self") == ("error", ["redirect-loop"])
    assert check.verdict("/chain/0") == ("error", ["too-many-redirects"])
    hops = [f"/chain/{i}" for i in range(21)]  # REDIRECT_MAX_TIMES (20) followed, the last one answered
    assert all(check.responses.get(hop) for hop in hops)
    assert check.log["/chain/0"]["final_url"] == check.base + "/chain/20" and check.log["/chain/0"]["status"] == 301
    assert len(check.log["/chain/0"]["redirects"]) == 20


def test_a_meta_refresh_loop_is_an_error(check: Check) -> None:
    assert check.verdict("/refresh-loop") == ("error", ["redirect-loop"])


def test_short_and_broken_bodies_are_data_loss_and_what_arrived_is_archived(check: Check) -> None:
    chunked = variant("broken-chunks")
    for path, arrived in (("/short", variant("short")), ("/broken-chunks", chunked[: len(chunked) // 2])):
        assert check.verdict(path) == ("error", ["data-loss"]), path
        record = check.responses[path][0]
        assert record.rec_headers.get_header("WARC-Truncated") == "disconnect"
        assert record.raw == arrived
    assert check.stats["retry/reason_count/data-loss"] == 2 * 2  # tried again RETRY_TIMES (2) times each


def test_a_header_flood_is_an_error_and_archived_whole(check: Check) -> None:
    assert check.verdict("/header-flood") == ("error", ["too-many-headers"])
    assert len(check.responses["/header-flood"][0].http_headers.headers) > 3000
    assert check.verdict("/huge-header")[0] == "error"  # Twisted drops a connection at a 16 KiB header line


def test_links_past_the_limit_are_counted_not_kept(check: Check) -> None:
    assert check.verdict("/many-links") == ("ok", ["article-evidence", "too-many-links"])
    assert f"{LINKS} outlinks kept" in check.stderr


def test_nesting_past_the_parser_limit_is_an_error_not_an_empty_page(check: Check) -> None:
    assert check.verdict("/deep") == ("error", ["too-deep"])


def test_a_huge_title_is_cut_at_the_limit(check: Check) -> None:
    assert check.verdict("/huge-title") == ("ok", ["article-evidence", "long-title"])
    assert len(check.log["/huge-title"]["title"]) == TITLE


def test_each_limit_is_logged_once_per_url_and_counted(check: Check) -> None:
    for path, found in check.verdicts.items():
        for reason in LIMIT_REASONS & set(found["reasons"]):
            assert check.stderr.count(f"{check.base}{path}: {reason}") == 1, (path, reason)
    assert check.stats["limits/redirect-loop"] == 4  # loop-a, loop-b, self, refresh-loop
    assert check.stats["limits/data-loss"] == 2
    assert "Traceback" not in check.stderr


def test_robots_txt_of_an_unreachable_host_is_one_log_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/page"  # nothing listens there: every connection is refused
    proc = scrapy(["soft404", url, *settings_args(tmp_path, {"RETRY_TIMES": "1"})])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout)["reasons"] == ["connection-refused"]
    robots = [line for line in proc.stderr.splitlines() if "robots.txt" in line]
    assert len(robots) == 1 and "not fetched" in robots[0], proc.stderr
    assert "Traceback" not in proc.stderr
