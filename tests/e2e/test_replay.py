"""`scrapy replay` as a real server over a real crawl of the sample web: raw replay is the archived response
byte for byte (checked against the WARC records read with warcio, not with our reader), Memento TimeGate,
mementos and TimeMaps follow RFC 7089, and bad requests get a 400 page."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from tests.crawling import CrawlResult
from tests.fixtureweb.process import ROOT
from tests.replayserver import ReplayProcess, get
from tests.servers import CREDENTIALS, MotoServer, create_bucket

OURS = {"memento-datetime", "link", "content-security-policy", "x-archive-src", "content-location"}


@pytest.fixture(scope="module")
def server(demo_crawl: CrawlResult, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReplayProcess]:
    with ReplayProcess(f"file://{demo_crawl.store.root}", tmp_path_factory.mktemp("replay")) as proc:
        yield proc


def warc_captures(crawl: CrawlResult) -> list[dict[str, Any]]:
    """Every response and revisit record of the crawl, as warcio reads it (a revisit: its original's body)."""
    out: list[dict[str, Any]] = []
    bodies: dict[tuple[str, str], bytes] = {}
    for path in sorted((crawl.crawl_dir / "warc").glob("*.warc.gz")):
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type not in ("response", "revisit"):
                    continue
                url = record.rec_headers.get_header("WARC-Target-URI")
                digest = record.rec_headers.get_header("WARC-Payload-Digest")
                body = record.raw_stream.read()
                if record.rec_type == "response":
                    bodies[(url, digest)] = body
                else:
                    body = bodies[(record.rec_headers.get_header("WARC-Refers-To-Target-URI"), digest)]
                out.append({"url": url, "type": record.rec_type, "date": record.rec_headers.get_header("WARC-Date"),
                            "status": int(record.http_headers.get_statuscode()), "body": body,
                            "headers": list(record.http_headers.headers)})
    return out


def ts(date: str) -> str:
    return re.sub(r"\D", "", date)[:14]


def test_raw_replay_is_the_archived_response_byte_for_byte(server: ReplayProcess, demo_crawl: CrawlResult) -> None:
    captures = warc_captures(demo_crawl)
    once = Counter((c["url"], ts(c["date"])) for c in captures)
    checked = Counter[str]()
    replayed: set[str] = set()
    for capture in captures:
        if once[(capture["url"], ts(capture["date"]))] > 1:
            continue  # two records in one second (a page and its revisit): one Memento URI, either answers
        status, _, headers, body = get(f"{server.main_url}/web/{ts(capture['date'])}id_/{capture['url']}")
        assert status == capture["status"], capture["url"]
        assert body == capture["body"], capture["url"]
        archived = [(n.lower(), v) for n, v in capture["headers"] if n.lower() != "content-length"]
        served = [(n.lower(), v) for n, v in headers if n.lower() not in OURS | {"content-length"}]
        if "date" not in {n for n, _ in archived}:
            served = [(n, v) for n, v in served if n not in ("date", "server")]  # the server's own
        assert served == archived, capture["url"]
        assert dict(headers)["Memento-Datetime"] == format_datetime(
            parsedate_to_datetime(dict(headers)["Memento-Datetime"]), usegmt=True)
        # An archived page opened here runs nothing and loads nothing (archive/replayresponse.py).
        assert dict(headers)["Content-Security-Policy"].startswith("sandbox; default-src 'none'")
        checked[capture["type"] + "/" + str(capture["status"])[0] + "xx"] += 1
        replayed.add(capture["url"])
    # pages, redirects, 404s / 410s, revisits resolved, rendered pages' subresources (script, json, images)
    assert checked["response/2xx"] > 200 and checked["response/3xx"] >= 2 and checked["response/4xx"] >= 1
    assert checked["revisit/2xx"] >= 1 and checked["revisit/4xx"] >= 1
    loaded = {url for e in demo_crawl.log if e.get("render") for url in e["render"].get("subresources", [])}
    assert len(loaded) >= 8 and loaded <= replayed  # scripts, styles, JSON and images the browser fetched


def test_a_url_never_archived_is_404_and_bad_requests_are_400(server: ReplayProcess, demo_crawl: CrawlResult) -> None:
    base = demo_crawl.manifest["site_config"]["base_url"]
    assert get(f"{server.main_url}/web/2026id_/{base}never/archived.html")[0] == 404
    assert get(f"{server.main_url}/timegate/{base}never/archived.html")[0] == 404
    assert get(f"{server.main_url}/timemap/link/{base}never/archived.html")[0] == 404
    for bad in ("/web/20261399id_/" + base, "/web/12id_/" + base, "/web/2026id_/ftp://example.com/",
                "/web/2026id_/http://[::1/x", "/web/2026id_/http://example.com:port/", "/timemap/xml/" + base,
                "/search?url=" + base + "&match=all", "/calendar?url="):
        status, _, headers, body = get(server.main_url + bad.replace(" ", "%20"))
        assert status == 400, bad
        assert b"Traceback" not in body and dict(headers)["Content-Type"].startswith("text/html")
    status, _, _, _ = get(f"{server.main_url}/timegate/{base}", {"Accept-Datetime": "yesterday at noon"})
    assert status == 400


def _links(header: str) -> list[tuple[str, dict[str, str]]]:
    out = []
    for match in re.finditer(r'<([^>]*)>((?:\s*;\s*[a-z]+="[^"]*")*)', header):
        out.append((match.group(1), dict(re.findall(r'([a-z]+)="([^"]*)"', match.group(2)))))
    return out


def test_memento_timegate_mementos_and_timemaps_follow_rfc_7089(server: ReplayProcess,
                                                                demo_crawl: CrawlResult) -> None:
    url = demo_crawl.manifest["site_config"]["base_url"]  # the home page: fetched as a page and as a redirect target
    stamps = sorted({ts(c["date"]) for c in warc_captures(demo_crawl) if c["url"] == url})
    assert stamps
    accept = format_datetime(datetime.strptime(stamps[0], "%Y%m%d%H%M%S").replace(tzinfo=UTC), usegmt=True)
    status, _, headers, _ = get(f"{server.main_url}/timegate/{url}", {"Accept-Datetime": accept})
    gate = dict((n.lower(), v) for n, v in headers)
    assert status == 302 and gate["vary"].lower() == "accept-datetime"
    assert gate["location"] == f"{server.main_url}/web/{stamps[0]}id_/{url}"
    rels = {rel for _, attrs in _links(gate["link"]) for rel in attrs.get("rel", "").split()}
    assert {"original", "timemap", "memento"} <= rels and "timegate" not in rels

    status, _, headers, _ = get(gate["location"])
    memento = dict((n.lower(), v) for n, v in headers)
    assert status == 200 and parsedate_to_datetime(memento["memento-datetime"]).strftime("%Y%m%d%H%M%S") == stamps[0]
    links = _links(memento["link"])
    by_rel = {rel: (uri, attrs) for uri, attrs in links for rel in attrs["rel"].split()}
    assert by_rel["original"][0] == url
    assert by_rel["timegate"][0] == f"{server.main_url}/timegate/{url}"
    assert by_rel["timemap"][1]["type"] == "application/link-format"
    assert by_rel["first"][0] == gate["location"]
    assert by_rel["last"][0].endswith(f"/web/{stamps[-1]}id_/{url}")
    assert all("datetime" in attrs for _, attrs in links if "memento" in attrs["rel"].split())

    status, _, headers, body = get(f"{server.main_url}/timemap/link/{url}")
    assert status == 200 and dict(headers)["Content-Type"].startswith("application/link-format")
    entries = _links(body.decode())
    mementos = [uri for uri, attrs in entries if "memento" in attrs["rel"].split()]
    assert mementos == [f"{server.main_url}/web/{s}id_/{url}" for s in stamps]
    assert {attrs["rel"] for _, attrs in entries} >= {"original", "self", "timegate"}
    status, _, _, body = get(f"{server.main_url}/timemap/json/{url}")
    timemap = json.loads(body)
    assert [m["uri"] for m in timemap["mementos"]["list"]] == mementos
    assert timemap["original_uri"] == url

    # no Accept-Datetime: the latest; an Accept-Datetime after the last capture: the last
    status, _, headers, _ = get(f"{server.main_url}/timegate/{url}")
    assert dict(headers)["Location"].endswith(f"/web/{stamps[-1]}id_/{url}")
    status, _, headers, _ = get(f"{server.main_url}/timegate/{url}", {"Accept-Datetime": "Fri, 31 Dec 2100 "
                                                                                           "00:00:00 GMT"})
    assert status == 302 and dict(headers)["Location"].endswith(f"/web/{stamps[-1]}id_/{url}")
    # never archived: 404, still varying on Accept-Datetime; a malformed Accept-Datetime: 400
    status, _, headers, _ = get(f"{server.main_url}/timegate/{url}never-archived.html")
    assert status == 404 and dict((n.lower(), v) for n, v in headers)["vary"].lower() == "accept-datetime"
    assert get(f"{server.main_url}/timegate/{url}", {"Accept-Datetime": "yesterday"})[0] == 400


def test_pages_list_crawls_search_and_calendar(server: ReplayProcess, demo_crawl: CrawlResult) -> None:
    base = demo_crawl.manifest["site_config"]["base_url"]
    status, _, headers, body = get(server.main_url + "/")
    assert status == 200 and demo_crawl.crawl_id.encode() in body
    assert "script-src" not in dict(headers)["Content-Security-Policy"] and \
        "default-src 'none'" in dict(headers)["Content-Security-Policy"]
    dead = next(e for e in demo_crawl.log if e["verdict"] == "soft-404" and e["kind"] == "article"
                and not e["redirects"])
    status, _, _, body = get(f"{server.main_url}/search?url={dead['url']}")
    assert status == 200 and b'class="badge soft-404"' in body
    status, _, _, body = get(f"{server.main_url}/search?match=domain&url={base.split('//')[1].split(':')[0]}")
    assert status == 200 and body.count(b"<tr>") > 100
    status, _, _, body = get(f"{server.main_url}/search?match=prefix&url={base}world/")
    assert status == 200 and b"/world/" in body and b"/business/" not in body.split(b"</header>")[1]
    status, _, _, body = get(f"{server.main_url}/calendar?url={base}")
    assert status == 200 and b'class="on"' in body
    status, _, _, body = get(f"{server.main_url}/crawl/{demo_crawl.crawl_id}")
    assert status == 200 and body.count(b"<tr>") > 100
    assert get(f"{server.main_url}/crawl/no-such-crawl")[0] == 404


def test_replay_refuses_a_broken_config_and_binds_loopback(demo_crawl: CrawlResult, tmp_path: Path) -> None:
    from tests.crawling import scrapy  # noqa: PLC0415

    proc = scrapy(["replay", "-s", "REPLAY_PORT=not-a-port", "-s", f"STORE_URI=file://{demo_crawl.store.root}"])
    assert proc.returncode == 2 and "REPLAY_PORT" in proc.stderr
    proc = scrapy(["replay", "-s", "REPLAY_PROT=8000"])
    assert proc.returncode == 2 and "REPLAY_PORT" in proc.stderr  # the typo named with the key it resembles
    with ReplayProcess(f"file://{demo_crawl.store.root}", tmp_path) as server:
        assert server.main_url.startswith("http://127.0.0.1:") and server.browse_url.startswith("http://127.0.0.1:")


MEMENTO_VENV = ROOT / ".venv-memento" / "bin" / "python"


def test_an_independent_memento_client_finds_the_mementos(server: ReplayProcess, demo_crawl: CrawlResult) -> None:
    if not MEMENTO_VENV.exists():
        pytest.fail("memento_client is not installed: `make test` makes .venv-memento")
    url = demo_crawl.manifest["site_config"]["base_url"]
    stamps = sorted({ts(c["date"]) for c in warc_captures(demo_crawl) if c["url"] == url})
    moments = [datetime.strptime(s, "%Y%m%d%H%M%S").replace(tzinfo=UTC) for s in (stamps[0], stamps[-1])]
    proc = subprocess.run([str(MEMENTO_VENV), str(ROOT / "tests/interop/memento_check.py"),
                           f"{server.main_url}/timegate/", url, *(m.isoformat() for m in moments)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, last = json.loads(proc.stdout)
    assert first["original_uri"] == url and first["timegate_uri"] == f"{server.main_url}/timegate/{url}"
    assert first["closest"]["uri"] == f"{server.main_url}/web/{stamps[0]}id_/{url}"
    assert first["first"]["uri"] == first["closest"]["uri"]
    assert last["closest"]["uri"] == last["last"]["uri"] == f"{server.main_url}/web/{stamps[-1]}id_/{url}"
    if len(stamps) > 1:
        assert first["next"]["uri"] == f"{server.main_url}/web/{stamps[1]}id_/{url}"


def test_a_broken_record_is_a_502_naming_file_and_offset_and_the_rest_is_served(
        demo_crawl: CrawlResult, tmp_path: Path) -> None:
    store = tmp_path / "store"
    shutil.copytree(demo_crawl.store.root, store)
    warc = next((store / "crawls" / demo_crawl.crawl_id / "warc").glob("*.warc.gz"))
    pages = [c for c in warc_captures(demo_crawl) if c["type"] == "response" and c["status"] == 200]
    victim, other = pages[10], pages[20]
    cdxjs = (store / "crawls" / demo_crawl.crawl_id / "cdxj").glob("*")
    line = next(json.loads(line.split(" ", 2)[2]) for cdxj in cdxjs
                for line in cdxj.read_text().splitlines() if f'"url": "{victim["url"]}"' in line)
    data = bytearray(warc.read_bytes())
    offset = int(line["offset"])
    data[offset + 40: offset + 60] = b"\xff" * 20  # inside the record's gzip member
    warc.write_bytes(bytes(data))
    with ReplayProcess(f"file://{store}", tmp_path) as server:
        status, _, _, body = get(f"{server.main_url}/web/{ts(victim['date'])}id_/{victim['url']}")
        assert status == 502
        assert warc.name.encode() in body and f"offset {offset}".encode() in body and b"Traceback" not in body
        status, _, _, body = get(f"{server.main_url}/web/{ts(other['date'])}id_/{other['url']}")
        assert status == 200 and body == other["body"]


def test_raw_replay_and_the_wacz_from_an_s3_store(demo_crawl: CrawlResult, tmp_path: Path) -> None:
    bucket = "replay-test"
    everything = warc_captures(demo_crawl)
    once = Counter((c["url"], ts(c["date"])) for c in everything)
    captures = [c for c in everything if once[(c["url"], ts(c["date"]))] == 1][::7]
    with MotoServer() as moto:
        client = create_bucket(moto.endpoint, bucket)
        for path in sorted(demo_crawl.store.root.rglob("*")):
            if path.is_file():
                client.upload_file(str(path), bucket, "arch/" + path.relative_to(demo_crawl.store.root).as_posix())
        env = {**CREDENTIALS, "AWS_ENDPOINT_URL": moto.endpoint}
        with ReplayProcess(f"s3://{bucket}/arch", tmp_path, {"STORE_S3_ADDRESSING": "path"}, env) as server:
            for capture in captures:
                status, _, _, body = get(f"{server.main_url}/web/{ts(capture['date'])}id_/{capture['url']}")
                assert (status, body) == (capture["status"], capture["body"]), capture["url"]
            status, _, _, body = get(f"{server.browse_url}/wacz/{demo_crawl.crawl_id}.wacz")
            assert status == 200 and body[:2] == b"PK"
            status, _, _, part = get(f"{server.browse_url}/wacz/{demo_crawl.crawl_id}.wacz",
                                           {"Range": "bytes=100-199"})
            assert status == 206 and part == body[100:200]  # ReplayWeb.page reads the WACZ by range
