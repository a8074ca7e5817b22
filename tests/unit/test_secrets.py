"""The redaction rule (by key name, by value shape), its uses: start-up log, configuration errors, site
config headers, the spider's requests and the WARC request records."""

from __future__ import annotations

import asyncio
import gzip
import io
import logging
import pprint
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.service import ServiceOptions, WarcOptions
from archive.store import FileStore
from archive.warc import Exchange, gzip_member, request_record, with_request_headers
from crawler.errors import ConfigError
from crawler.run import RedactingArchive
from crawler.secrets import (
    REDACTED,
    HeaderSecrets,
    RedactingFilter,
    install_log_redaction,
    is_secret_name,
    redact,
    redact_config_error,
    redact_text,
    redact_url,
)
from crawler.siteconfig import SiteConfig, load_site
from crawler.spiders.news import NewsSpider

WHEN = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
BEARER = "Bearer 5f2b7c0e9a4d4e6f8b1c"


# --- the rule -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "Authorization", "Proxy-Authorization",
    "Cookie", "REDIS_PASSWORD", "http_pass", "HTTP_PASS", "apiKey", "X-Api-Key", "X-Auth-Token", "client_secret",
    "X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "TELNETCONSOLE_PASSWORD", "db_passwd",
])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["USER_AGENT", "STORE_URI", "DOWNLOAD_DELAY", "author", "authors", "bypass",
                                  "passenger", "compass", "Accept-Language", "DUPEFILTER_KEY", "sort_key"])
def test_harmless_names(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(("url", "expected"), [
    ("https://user:pass@news.test/feed", f"https://user:{REDACTED}@news.test/feed"),
    ("redis://:hunter2@127.0.0.1:6379/0", f"redis://:{REDACTED}@127.0.0.1:6379/0"),
    ("https://user@news.test/", "https://user@news.test/"),  # a user name alone is no credential
    ("https://news.test/feed?token=abc&page=2", f"https://news.test/feed?token={REDACTED}&page=2"),
    ("https://b.test/k?X-Amz-Signature=abc&X-Amz-Credential=AKIA%2Fx", (
        f"https://b.test/k?X-Amz-Signature={REDACTED}&X-Amz-Credential={REDACTED}")),
    ("https://news.test/a?b=1", "https://news.test/a?b=1"),
])
def test_urls(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_shapes_in_free_text() -> None:
    text = ("fetching https://u:pw1234@h.test/x?api_key=zzz with Authorization: Bearer abcdefghijklmnop1 "
            "as AKIAABCDEFGHIJKLMNOP, jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl")
    redacted = redact_text(text)
    for secret in ("pw1234", "zzz", "abcdefghijklmnop1", "AKIAABCDEFGHIJKLMNOP", "eyJhbGciOiJIUzI1NiJ9"):
        assert secret not in redacted
    assert redacted.startswith(f"fetching https://u:{REDACTED}@h.test/x?api_key={REDACTED} with Authorization: "
                               f"Bearer {REDACTED}")
    assert redact_text("Basic settings are fine") == "Basic settings are fine"  # no token after the scheme


def test_known_values_in_free_text() -> None:
    assert redact_text("the key is s3cr3t-value!", known=["s3cr3t-value"]) == f"the key is {REDACTED}!"


def test_settings_by_name_and_shape() -> None:
    settings = {"AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI", "AWS_SESSION_TOKEN": "", "COOKIES_ENABLED": True,
                "HTTPPROXY_AUTH_ENCODING": "latin-1", "RETRY_TIMES": 2, "USER_AGENT": "Palimpsest/0.1",
                "FRONTIER": ["redis://:pw@127.0.0.1:6379/0"], "EXTRA": {"client_secret": {"value": "x"}}}
    assert redact(settings) == {
        "AWS_SECRET_ACCESS_KEY": REDACTED, "AWS_SESSION_TOKEN": "",  # nothing to hide in an empty value
        "COOKIES_ENABLED": True,  # a switch, not a secret, whatever its name
        "HTTPPROXY_AUTH_ENCODING": REDACTED, "RETRY_TIMES": 2, "USER_AGENT": "Palimpsest/0.1",
        "FRONTIER": [f"redis://:{REDACTED}@127.0.0.1:6379/0"], "EXTRA": {"client_secret": {"value": REDACTED}}}


def test_site_config_dump() -> None:
    site = SiteConfig(name="paywalled", base_url="http://news.test/", feeds=["https://u:pw@news.test/feed"],
                      headers={"Authorization": BEARER, "Accept-Language": "en", "X-Trace": BEARER})
    dumped = redact(site.model_dump())
    assert dumped["headers"] == {"Authorization": REDACTED, "Accept-Language": "en", "X-Trace": f"Bearer {REDACTED}"}
    assert dumped["feeds"] == [f"https://u:{REDACTED}@news.test/feed"]
    assert dumped["base_url"] == "http://news.test/"


# --- the start-up log and configuration errors ---------------------------------------------------------------

class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_overridden_settings_are_logged_redacted() -> None:
    """Scrapy's own start-up line, through the filter installed on its logger."""
    install_log_redaction()
    install_log_redaction()  # idempotent: one filter
    log = logging.getLogger("scrapy.crawler")
    assert sum(isinstance(f, RedactingFilter) for f in log.filters) == 1
    handler, level = _Lines(), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" * 4  # long enough for pformat to split it over lines
    try:
        settings = {"AWS_SECRET_ACCESS_KEY": secret, "BOT_NAME": "palimpsest", "CONCURRENT_REQUESTS": 16}
        log.info("Overridden settings:\n%(settings)s", {"settings": pprint.pformat(settings)})
        log.info("Overridden settings:\n%(settings)s", {"settings": "{'A': <object at 0x1>}"})
        log.info("proxy %s", "http://u:topsecret@127.0.0.1:3128")
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    assert handler.lines[0] == "Overridden settings:\n" + pprint.pformat(
        {"AWS_SECRET_ACCESS_KEY": REDACTED, "BOT_NAME": "palimpsest", "CONCURRENT_REQUESTS": 16})
    assert handler.lines[1] == "Overridden settings:\n(not shown: they could not be checked for secrets)"
    assert handler.lines[2] == f"proxy http://u:{REDACTED}@127.0.0.1:3128"


def test_configuration_errors_do_not_quote_header_values(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('base_url = "http://news.test/"\n[headers]\nAuthorization = "tok\\u0001"\n'
                                       '"Bad Name" = "x"\n')
    with pytest.raises(ConfigError) as raised:
        load_site("bad", tmp_path)
    message = str(raised.value)
    assert "tok" in message  # pydantic quotes the value it refused...
    shown = redact_config_error(message)
    assert "tok" not in shown and "key 'headers.Authorization'" in shown  # ...not once redacted
    assert "key 'name': too short (got 'ab')" in redact_config_error("f: key 'name': too short (got 'ab')")


# --- site config headers -----------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [{"Bad Name": "x"}, {"Host": "news.test"}, {"Content-Length": "1"},
                                     {"X-A": "line\r\nbreak"}, {"X-A": " padded"}, {"X-A": 5}])
def test_bad_headers_are_refused(headers: dict[str, object], tmp_path: Path) -> None:
    name, value = next(iter(headers.items()))
    quoted = f'"{value}"' if isinstance(value, str) else str(value)
    quoted = quoted.replace("\r", "\\r").replace("\n", "\\n")
    (tmp_path / "s.toml").write_text(f'base_url = "http://news.test/"\n[headers]\n"{name}" = {quoted}\n')
    with pytest.raises(ConfigError, match=r"key 'headers\."):
        load_site("s", tmp_path)


def test_spider_requests_carry_the_site_headers_under_their_own() -> None:
    site = SiteConfig(name="paywalled", base_url="http://news.test/", headers={
        "Authorization": BEARER, "Accept-Language": "en", "Cookie": "sid=abc; theme=dark"})
    spider = NewsSpider(site)
    request = spider.request("http://news.test/a", spider.parse_article, {"kind": "article"},
                             headers={"Accept-Language": "zh"})
    assert request.headers.get("Authorization") == BEARER.encode()
    assert request.headers.get("Accept-Language") == b"zh"  # the request's own header wins
    assert request.headers.get("Cookie") == b"sid=abc; theme=dark"  # used when COOKIES_ENABLED is off
    assert request.cookies == {"sid": "abc", "theme": "dark"}  # the cookie jar's way, when it is on
    assert spider._sitemap_request("http://news.test/s.xml", 0).headers.get("Authorization") == BEARER.encode()
    plain = NewsSpider(SiteConfig(name="open", base_url="http://news.test/"))
    assert not plain._article_request("http://news.test/a", None).headers


# --- WARC request records ----------------------------------------------------------------------------------

def _exchange(headers: list[tuple[str, str]]) -> Exchange:
    return Exchange(url="http://news.test/a", method="GET", request_line_target="/a", request_headers=headers,
                    request_body=b"", protocol="HTTP/1.1", status=200,
                    response_headers=[("Content-Type", "text/html"), ("Set-Cookie", "srv=1")], body=b"<p>hi</p>",
                    date=WHEN)


SENT = [("Host", "news.test"), ("Authorization", BEARER), ("Proxy-Authorization", "Basic dXNlcjpwYXNzd29yZA=="),
        ("X-Api-Key", "k-123"), ("X-Request-Id", "k-123"), ("Cookie", "srv=1; sid=abc; theme=dark"),
        ("Accept", "text/html")]
SECRETS = HeaderSecrets.configured({"Authorization": BEARER, "X-Api-Key": "k-123", "Cookie": "sid=abc; theme=dark",
                                    "Accept": "text/html"})


def test_only_configured_secret_values_are_redacted() -> None:
    redacted = with_request_headers(_exchange(SENT), SECRETS.header).request_headers
    assert redacted == [
        ("Host", "news.test"), ("Authorization", REDACTED),
        ("Proxy-Authorization", REDACTED),  # whatever set it (proxy credentials): no server does
        ("X-Api-Key", REDACTED), ("X-Request-Id", "k-123"),  # the same value under a harmless configured name
        ("Cookie", f"srv=1; sid={REDACTED}; theme={REDACTED}"),  # the server's cookie stays as sent
        ("Accept", "text/html")]
    unconfigured = with_request_headers(_exchange([("Cookie", "srv=1")]), HeaderSecrets().header)
    assert unconfigured.request_headers == [("Cookie", "srv=1")]


def test_request_record_bytes_hold_no_configured_secret() -> None:
    exchange = with_request_headers(_exchange(SENT), SECRETS.header)
    data = gzip_member(request_record(exchange, "<urn:uuid:2>", "<urn:uuid:1>").to_bytes())
    record = next(iter(ArchiveIterator(io.BytesIO(data))))
    block = record.raw_stream.read()
    headers = dict(record.http_headers.headers)
    assert headers["Authorization"] == REDACTED and headers["Proxy-Authorization"] == REDACTED
    for secret in (b"5f2b7c0e9a4d4e6f8b1c", b"dXNlcjpwYXNzd29yZA", b"sid=abc"):
        assert secret not in data + block


def test_the_crawl_archive_service_redacts_what_it_is_handed(tmp_path: Path) -> None:
    """What the capture middleware and the browser recorder hand over, through the service they are given."""
    warc = WarcOptions("TEST", 10_000_000, "sha1", False, {"software": "test"}, None)
    options = ServiceOptions("c1", tmp_path / "spool", 1000, 1 << 20, warc, {"give_up": 5.0}, fsync=False)
    service = RedactingArchive(FileStore(tmp_path / "store"), options, SECRETS)
    service.open()
    errors: list[BaseException] = []

    def run() -> None:  # on a loop of its own: the test session's reactor already runs one here
        try:
            asyncio.run(service.archive(_exchange(SENT)))
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    service.close()
    service.release()
    assert not errors
    data = b"".join(p.read_bytes() for p in (tmp_path / "store").rglob("*.warc.gz"))
    requests = [r for r in ArchiveIterator(io.BytesIO(data)) if r.rec_type == "request"]
    assert [dict(r.http_headers.headers)["Authorization"] for r in requests] == [REDACTED]
    assert b"5f2b7c0e9a4d4e6f8b1c" not in gzip.decompress(data)
