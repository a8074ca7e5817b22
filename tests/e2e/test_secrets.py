"""No secret kept: fake credentials planted in the environment, the settings and the site config of a real
crawl of the sample web are nowhere in what the crawl wrote or printed, and the request records still show
the configured headers, their values redacted."""

from __future__ import annotations

import subprocess
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.secrets import REDACTED
from tests import crawling
from tests.crawling import CrawlResult, run_crawl, scrapy, write_site
from tests.fixtureweb.process import ROOT, FixtureWeb


def _fake(label: str) -> str:
    """A unique value nothing but this test could have written."""
    return f"{label}-{uuid.uuid4().hex}"


ENV = {
    "AWS_ACCESS_KEY_ID": "AKIA" + uuid.uuid4().hex[:16].upper(),
    "AWS_SECRET_ACCESS_KEY": _fake("env-aws-secret"),
    "AWS_SESSION_TOKEN": _fake("env-aws-session"),
    "REDIS_PASSWORD": _fake("env-redis-password"),
}
SETTINGS = {
    "AWS_SECRET_ACCESS_KEY": _fake("setting-aws-secret"),  # Scrapy defaults these: its start-up log prints them
    "AWS_SESSION_TOKEN": _fake("setting-aws-session"),
    "TELNETCONSOLE_PASSWORD": _fake("setting-telnet"),
    "STORE_S3_ENDPOINT_URL": f"http://minio:{_fake('setting-url-password')}@127.0.0.1:9/",
}
BEARER, SESSION, API_KEY = _fake("site-bearer"), _fake("site-cookie"), _fake("site-api-key")
HEADERS_TOML = f"""
[headers]
Authorization = "Bearer {BEARER}"
Cookie = "palimpsest_session={SESSION}; theme=dark"
X-Api-Key = "{API_KEY}"
Accept-Language = "en"
"""


def secrets() -> dict[str, str]:
    """Every planted value, by where it was planted."""
    url_password = SETTINGS["STORE_S3_ENDPOINT_URL"].split(":")[2].split("@")[0]
    return {**{f"env {k}": v for k, v in ENV.items()},
            **{f"setting {k}": v for k, v in SETTINGS.items() if k != "STORE_S3_ENDPOINT_URL"},
            "setting URL password": url_password, "site Authorization": BEARER, "site Cookie": SESSION,
            "site X-Api-Key": API_KEY}


def gunzip_members(data: bytes) -> Iterator[bytes]:
    """Each gzip member on its own, as a WARC reader sees them (a member may not be glued to the next)."""
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        yield inflater.decompress(data)
        data = inflater.unused_data


@dataclass
class Planted:
    result: CrawlResult
    out: Path
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def planted(web: FixtureWeb, tmp_path_factory: pytest.TempPathFactory) -> Planted:
    config, out = tmp_path_factory.mktemp("config"), tmp_path_factory.mktemp("out")
    toml = (ROOT / "settings" / "sites" / "demo.toml").read_text() + HEADERS_TOML
    settings = {**write_site(config, "secretdemo", toml), **SETTINGS, "LOG_LEVEL": "DEBUG",
                "ARCHIVE_DEDUP_INDEX_DIR": str(out / "index")}
    seen: list[subprocess.CompletedProcess[str]] = []

    def recorded(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        seen.append(scrapy(*args, **kwargs))  # run_crawl keeps stderr only: stdout is searched too
        return seen[-1]

    with pytest.MonkeyPatch.context() as patch:
        for name, value in ENV.items():
            patch.setenv(name, value)
        patch.setattr(crawling, "scrapy", recorded)
        result = run_crawl(web, out / "store", site="secretdemo", settings=settings, crawl_id="secrets")
    assert result.returncode == 0, result.stderr[-3000:]
    return Planted(result, out, seen[0].stdout, seen[0].stderr)


def written(out: Path) -> Iterator[tuple[str, bytes]]:
    """Every file the crawl wrote (store, spool, digest index), raw and, when gzip, member by member."""
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        data = path.read_bytes()
        yield str(path), data
        if data[:2] == b"\x1f\x8b":
            yield f"{path} (decompressed)", b"".join(gunzip_members(data))


def test_no_planted_secret_is_in_any_file_or_output(planted: Planted) -> None:
    files = list(written(planted.out))
    assert any(n.endswith("crawl.json") for n, _ in files), "the manifest was not written"
    assert any(".warc.gz (decompressed)" in n for n, _ in files) and any(n.endswith(".cdxj") for n, _ in files)
    assert any("/log/part-" in n for n, _ in files) and any("/items/part-" in n for n, _ in files)
    found = [(where, name) for where, secret in secrets().items()
             for name, data in [*files, ("stdout", planted.stdout.encode()), ("stderr", planted.stderr.encode())]
             if secret.encode() in data]
    assert not found


def test_start_up_log_shows_the_secret_settings_redacted(planted: Planted) -> None:
    assert "Overridden settings" in planted.stderr
    assert f"'AWS_SECRET_ACCESS_KEY': '{REDACTED}'" in planted.stderr


def test_manifest_keeps_the_site_headers_names_with_redacted_values(planted: Planted) -> None:
    headers = planted.result.manifest["site_config"]["headers"]
    assert headers == {"Authorization": REDACTED, "Cookie": REDACTED, "X-Api-Key": REDACTED,
                       "Accept-Language": "en"}


def request_records(result: CrawlResult) -> Iterator[tuple[str, dict[str, list[str]]]]:
    for path in sorted((result.crawl_dir / "warc").glob("*.warc.gz")):
        with path.open("rb") as fh:
            for record in ArchiveIterator(fh):
                if record.rec_type == "request":
                    headers: dict[str, list[str]] = {}
                    for name, value in record.http_headers.headers:
                        headers.setdefault(name.lower(), []).append(value)
                    yield record.rec_headers.get_header("WARC-Target-URI"), headers


def test_request_records_show_the_configured_headers_redacted(planted: Planted) -> None:
    records = list(request_records(planted.result))
    sent = [(uri, h) for uri, h in records if "authorization" in h]
    pages = [e["url"] for e in planted.result.log if e["kind"] in ("article", "section", "feed", "sitemap")]
    assert len(sent) >= len(set(pages)) > 100  # every page request of the spider carried them
    for uri, headers in sent:
        assert headers["authorization"] == [REDACTED], uri
        assert headers["x-api-key"] == [REDACTED], uri
        assert headers["accept-language"] == ["en"], uri  # not a secret: archived as sent
        # every configured cookie is redacted (the site's Cookie is a secret as a whole); the server's are not
        assert any(f"palimpsest_session={REDACTED}" in c and f"theme={REDACTED}" in c for c in headers["cookie"]), uri


def test_a_bad_header_value_is_not_echoed_in_the_configuration_error(tmp_path: Path) -> None:
    secret = _fake("bad-header")
    toml = (ROOT / "settings" / "sites" / "demo.toml").read_text() + f'[headers]\nAuthorization = "{secret}\\n"\n'
    sites = write_site(tmp_path, "badheader", toml)
    proc = scrapy(["crawl", "news", "-a", "site=badheader", "-s", f"CRAWL_SITES_DIR={sites['CRAWL_SITES_DIR']}"])
    assert proc.returncode == 2, proc.stderr
    assert "headers.Authorization" in proc.stderr
    assert secret not in proc.stderr + proc.stdout
