"""Site configs (`settings/sites/NAME.toml`): one news site's sections, feeds, sitemaps, rules and politeness.

Loaded and validated at start-up: a wrong key or type fails with the file, the key and what was expected.
URLs may be absolute or relative to `base_url`, so one config can crawl a mirror or a staging copy when the
crawl is started with `-a base_url=...` (the sample web uses this: it listens on a random port).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from crawler.config import parse_duration
from crawler.cronspec import normalize_cron
from crawler.errors import ConfigError
from crawler.validation import validate


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return value


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme and parts.scheme not in ("http", "https"):
        raise ValueError("expected an http(s) URL or a path relative to base_url")
    if not parts.scheme and not value.startswith("/"):
        raise ValueError("a relative URL must start with '/'")
    return value


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 field-name
# Set by the HTTP client from the request itself: a configured value would only contradict it.
_TRANSPORT_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "te", "upgrade",
                                "keep-alive", "trailer"})


def _header_name(value: str) -> str:
    if not _TOKEN.match(value):
        raise ValueError("not a valid HTTP header name")
    if value.lower() in _TRANSPORT_HEADERS:
        raise ValueError("set by the HTTP client for each request; it cannot be configured")
    return value


def _header_value(value: str) -> str:
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        raise ValueError("an HTTP header value cannot hold line breaks or control characters")
    if value != value.strip():
        raise ValueError("an HTTP header value cannot start or end with white space")
    return value


Regex = Annotated[str, AfterValidator(_regex)]
Url = Annotated[str, AfterValidator(_url)]
HeaderName = Annotated[str, AfterValidator(_header_name)]
HeaderValue = Annotated[str, AfterValidator(_header_value)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Politeness(_Strict):
    """How hard we may hit the site."""

    delay: float = Field(0.0, ge=0, description="seconds between requests to one host")
    concurrency_per_host: int = Field(4, ge=1, le=64)
    autothrottle: bool = False


RenderMode = Literal["never", "always", "auto"]


class RenderRule(_Strict):
    """How pages whose URL matches `pattern` go through Chromium, and what to do on them there."""

    pattern: Regex = Field(description="searched for in the URL")
    mode: RenderMode | None = Field(None, description="overrides the site's render mode for these URLs")
    wait_for: str | None = Field(None, min_length=1, description="CSS selector to wait for after loading")
    click: str | None = Field(None, min_length=1, description="selector of a 'load more' control")
    max_clicks: int = Field(20, ge=0, le=1000, description="clicks on `click` at most, while it is there")
    scroll: int = Field(0, ge=0, le=1000, description="times to scroll to the bottom (infinite scroll)")


class Section(_Strict):
    """One section front; its listing pages are followed through pagination."""

    name: str = Field(min_length=1)
    url: Url
    max_pages: int | None = Field(None, ge=1, description="overrides the site's max_pages_per_section")


class SiteConfig(_Strict):
    """A news site as a user describes it."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    base_url: Url
    allowed_domains: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
    language: str | None = None
    obey_robots: bool = True
    max_pages_per_section: int = Field(10, ge=1)
    max_depth: int = Field(1, ge=0, description="hops from a section to sub-sections found by section_patterns")
    sections: list[Section] = Field(default_factory=list)
    feeds: list[Url] = Field(default_factory=list)
    sitemaps: list[Url] = Field(default_factory=list)
    sitemap_from_robots: bool = True
    max_sitemap_urls: int = Field(50000, ge=1)
    article_patterns: list[Regex] = Field(default_factory=list)
    section_patterns: list[Regex] = Field(default_factory=list)
    deny_patterns: list[Regex] = Field(default_factory=list)
    politeness: Politeness = Field(default_factory=Politeness)
    render: RenderMode = Field("auto", description="when pages go through Chromium (crawler/render.py)")
    render_rules: list[RenderRule] = Field(default_factory=list)
    headers: dict[HeaderName, HeaderValue] = Field(
        default_factory=dict, description="request headers sent with every request of the site (an Authorization "
                                          "for a paywalled feed, a Cookie); archived and dumped as [redacted]")
    allow_private_networks: bool = Field(False, description="let this site's crawl connect to loopback, private "
                                                            "and link-local addresses (crawler/netguard.py)")
    # `scrapy schedule` (crawler/schedule.py): when this site is crawled and its archived articles rechecked.
    schedule: str | None = Field(None, description="cron expression of the site's crawls, in its timezone")
    recheck: str | None = Field(None, description="cron expression (or hourly, daily, weekly) of its rechecks")
    enabled: bool = Field(True, description="false: the scheduler runs nothing of this site")
    jitter: float = Field(60.0, ge=0, le=86400, description="each scheduled run starts up to this many seconds "
                                                            "after its cron time (fixed per site and job)")

    @field_validator("base_url")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not urlsplit(value).netloc:
            raise ValueError("base_url must be an absolute http(s) URL")
        return value

    @field_validator("schedule", "recheck")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return None if value is None else normalize_cron(value)

    @field_validator("jitter", mode="before")
    @classmethod
    def _jitter(cls, value: object) -> float:
        return parse_duration(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected an IANA time zone name such as 'Asia/Shanghai'") from None
        return value

    @model_validator(mode="after")
    def _has_entry_points(self) -> SiteConfig:
        if not (self.sections or self.feeds or self.sitemaps or self.sitemap_from_robots):
            raise ValueError("a site needs at least one of sections, feeds, sitemaps or sitemap_from_robots")
        return self

    def abs(self, url: str) -> str:
        """`url` resolved against base_url."""
        return urljoin(self.base_url, url)

    def section_of(self, url: str) -> str | None:
        """The configured section whose directory holds `url` (the deepest, when sections nest); None when no
        section below the site root holds it, or two sections of different names share that directory."""
        target = urlsplit(self.abs(url))
        best, depth, tie = None, -1, False
        for section in self.sections:
            parts = urlsplit(self.abs(section.url))
            directory = parts.path[: parts.path.rfind("/") + 1]
            if parts.hostname != target.hostname or directory in ("", "/") or not target.path.startswith(directory):
                continue
            if len(directory) > depth:
                best, depth, tie = section.name, len(directory), False
            elif len(directory) == depth and section.name != best:
                tie = True
        return None if tie else best

    @property
    def domains(self) -> list[str]:
        """Allowed domains: as configured, else the host of base_url."""
        return self.allowed_domains or [urlsplit(self.base_url).hostname or ""]

    def with_base_url(self, base_url: str) -> SiteConfig:
        """The same site served from another origin (mirror, staging, the sample web)."""
        old = urlsplit(self.base_url)

        def move(url: str) -> str:
            parts = urlsplit(url)
            if parts.netloc and parts.netloc != old.netloc:
                return url
            return urljoin(base_url, parts.path + (f"?{parts.query}" if parts.query else ""))

        host = urlsplit(base_url).hostname or ""
        domains = [host] if not self.allowed_domains or old.hostname in self.allowed_domains else self.allowed_domains
        return self.model_copy(update={
            "base_url": base_url,
            "allowed_domains": domains,
            "sections": [s.model_copy(update={"url": move(s.url)}) for s in self.sections],
            "feeds": [move(u) for u in self.feeds],
            "sitemaps": [move(u) for u in self.sitemaps],
        })

    def resolved(self) -> SiteConfig:
        """All URLs absolute."""
        return self.model_copy(update={
            "sections": [s.model_copy(update={"url": self.abs(s.url)}) for s in self.sections],
            "feeds": [self.abs(u) for u in self.feeds],
            "sitemaps": [self.abs(u) for u in self.sitemaps],
        })

    def render_plan(self, url: str) -> tuple[RenderMode, RenderRule | None]:
        """The render mode for `url` and the first rule that matches it (its page actions)."""
        for rule in self.render_rules:
            if re.search(rule.pattern, url):
                return rule.mode or self.render, rule
        return self.render, None

    @property
    def may_render(self) -> bool:
        return self.render != "never" or any(rule.mode not in (None, "never") for rule in self.render_rules)

    @property
    def must_render(self) -> bool:
        """Some pages are configured to always render: the crawl cannot do its job without a browser."""
        return self.render == "always" or any(rule.mode == "always" for rule in self.render_rules)

    def section_max_pages(self, section: Section) -> int:
        return section.max_pages or self.max_pages_per_section


def load_site(name_or_path: str, sites_dir: Path) -> SiteConfig:
    """Load `sites_dir/NAME.toml` (or a path to a .toml file) and validate it."""
    path = Path(name_or_path) if name_or_path.endswith(".toml") else sites_dir / f"{name_or_path}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in sites_dir.glob("*.toml"))
        raise ConfigError(f"site config {path} not found; known sites in {sites_dir}: {', '.join(known) or 'none'}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    data.setdefault("name", path.stem)
    site = validate(SiteConfig, data, lambda key: str(path))
    return site.resolved()
