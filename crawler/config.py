"""Our settings, parsed once per crawl into typed, validated config objects.

Components call `store_config(settings)` / `crawl_config(settings)` in `from_crawler`; a bad value stops the
crawl at start-up with the key's name and where it was set. `check_unknown_settings` does the same for a key
under one of our prefixes that no setting has (a typo would otherwise be ignored), naming the closest one.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from scrapy.settings import SETTINGS_PRIORITIES, BaseSettings

from crawler.errors import ConfigError
from crawler.limits import PageLimits
from crawler.validation import problem, validate

# One prefix per subsystem (DESIGN.md section 5). A key under one of them that settings/base.py does not
# define is a mistake (`-s ARCHIVE_DEDUPE=False`): Scrapy would keep it and nothing would ever read it.
PREFIXES = ("ARCHIVE_", "STORE_", "SOFT404_", "RENDER_", "AUDIT_", "REPLAY_", "SCHEDULE_", "CRAWL_", "PIPELINE_",
            "NETWORK_", "LIMIT_", "REPROCESS_")
# The module that defines, defaults and documents every setting of ours: the list of known keys.
DEFAULTS_MODULE = "settings.base"

# Where a Scrapy setting priority came from, in words a user recognises.
_SOURCES = {
    "default": "Scrapy's defaults",
    "command": "the scrapy command",
    "addon": "the Palimpsest add-on",
    "project": "settings/base.py",
    "spider": "the site config",
    "cmdline": "the command line (-s)",
}


class _SettingsModel(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)


M = TypeVar("M", bound=_SettingsModel)


class StoreConfig(_SettingsModel):
    """STORE_*: where a crawl's files go."""

    uri: str = Field(alias="STORE_URI")
    spool_dir: Path = Field(alias="STORE_SPOOL_DIR")
    part_max_records: int = Field(alias="STORE_PART_MAX_RECORDS", ge=1)
    part_max_bytes: int = Field(alias="STORE_PART_MAX_BYTES", ge=1024)
    s3_endpoint_url: str = Field(alias="STORE_S3_ENDPOINT_URL")
    s3_region: str = Field(alias="STORE_S3_REGION")
    s3_addressing: Literal["auto", "path", "virtual"] = Field(alias="STORE_S3_ADDRESSING")
    multipart_threshold: int = Field(alias="STORE_MULTIPART_THRESHOLD", ge=5 * 1024 * 1024)
    s3_timeout: float = Field(alias="STORE_S3_TIMEOUT", gt=0)
    s3_connect_timeout: float = Field(alias="STORE_S3_CONNECT_TIMEOUT", gt=0)
    s3_give_up: float = Field(alias="STORE_S3_GIVE_UP", gt=0)
    upload_workers: int = Field(alias="STORE_UPLOAD_WORKERS", ge=1)
    upload_backoff: float = Field(alias="STORE_UPLOAD_BACKOFF", gt=0)
    upload_max_backoff: float = Field(alias="STORE_UPLOAD_MAX_BACKOFF", gt=0)
    fsync: bool = Field(alias="STORE_FSYNC")

    def s3_options(self) -> dict[str, Any]:
        return {"endpoint_url": self.s3_endpoint_url or None, "region": self.s3_region or None,
                "addressing": self.s3_addressing, "multipart_threshold": self.multipart_threshold,
                "timeout": self.s3_timeout, "connect_timeout": self.s3_connect_timeout}

    def uploader_options(self) -> dict[str, Any]:
        """What the Uploader takes: one retry policy (ours), its backoff and its deadline."""
        return {"workers": self.upload_workers, "give_up": self.s3_give_up, "backoff": self.upload_backoff,
                "max_backoff": max(self.upload_backoff, self.upload_max_backoff)}

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("file://", "s3://")):
            raise ValueError("expected a file:// or s3:// URI")
        return value


class CrawlConfig(_SettingsModel):
    """CRAWL_*: identity and operation of one crawl."""

    sites_dir: Path = Field(alias="CRAWL_SITES_DIR")
    crawl_id: str = Field(alias="CRAWL_ID", pattern=r"^[A-Za-z0-9._-]*$")
    progress: Literal["auto", "on", "off"] = Field(alias="CRAWL_PROGRESS")
    page_workers: int = Field(alias="CRAWL_PAGE_WORKERS", ge=-1)
    page_timeout: float = Field(alias="CRAWL_PAGE_TIMEOUT", gt=0)
    frontier: Literal["memory", "redis"] = Field(alias="CRAWL_FRONTIER")
    worker: str = Field(alias="CRAWL_WORKER", pattern=r"^[A-Za-z0-9._-]*$", max_length=64)
    worker_timeout: float = Field(alias="CRAWL_WORKER_TIMEOUT", ge=2)
    redis_url: str = Field(alias="REDIS_URL")

    @field_validator("worker_timeout", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("frontier")
    @classmethod
    def _shared_id(cls, value: str, info: ValidationInfo) -> str:
        if value == "redis" and not info.data.get("crawl_id"):
            raise ValueError("a distributed crawl (redis) needs a CRAWL_ID that every worker is given")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("frontier") == "redis" and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("CRAWL_FRONTIER = redis needs REDIS_URL = redis://HOST:PORT/DB")
        return value


class ArchiveConfig(_SettingsModel):
    """ARCHIVE_*: WARC capture."""

    enabled: bool = Field(alias="ARCHIVE_ENABLED")
    max_file_size: int = Field(alias="ARCHIVE_MAX_FILE_SIZE", ge=1024)
    prefix: str = Field(alias="ARCHIVE_PREFIX", pattern=r"^[A-Za-z0-9._]+$")
    dedup: bool = Field(alias="ARCHIVE_DEDUP")
    digest: Literal["sha1", "sha256"] = Field(alias="ARCHIVE_DIGEST")
    dedup_index_dir: str = Field(alias="ARCHIVE_DEDUP_INDEX_DIR")
    queue: int = Field(alias="ARCHIVE_QUEUE", ge=1)
    wacz: bool = Field(alias="ARCHIVE_WACZ")


class Soft404Config(_SettingsModel):
    """SOFT404_*: the page classifier."""

    probes: bool = Field(alias="SOFT404_PROBES")
    probe_ttl: float = Field(alias="SOFT404_PROBE_TTL", gt=0)
    probe_reuse: bool = Field(alias="SOFT404_PROBE_REUSE")


class PipelineConfig(_SettingsModel):
    """PIPELINE_*: what happens to article items."""

    detect_language: bool = Field(alias="PIPELINE_DETECT_LANGUAGE")
    near_duplicate_bits: int = Field(alias="PIPELINE_NEAR_DUPLICATE_BITS", ge=0, le=12)


class AuditConfig(_SettingsModel):
    """AUDIT_*: the catalog, the recheck cadence and the audit's thresholds."""

    catalog: str = Field(alias="AUDIT_CATALOG")
    catalog_dir: Path = Field(alias="AUDIT_CATALOG_DIR")
    workers: int = Field(alias="AUDIT_WORKERS", ge=0)
    recheck_cadence: tuple[float, ...] = Field(alias="AUDIT_RECHECK_CADENCE", min_length=1)
    confirm_after: float = Field(alias="AUDIT_CONFIRM_AFTER", ge=0)
    moved_similarity: float = Field(alias="AUDIT_MOVED_SIMILARITY", ge=0, le=1)
    redirect_similarity: float = Field(alias="AUDIT_REDIRECT_SIMILARITY", ge=0, le=1)
    simhash_bits: int = Field(alias="AUDIT_SIMHASH_BITS", ge=0, le=32)

    @field_validator("confirm_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("recheck_cadence", mode="before")
    @classmethod
    def _cadence(cls, value: Any) -> tuple[float, ...]:
        items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
        steps = tuple(parse_duration(v) for v in items)
        if any(b <= a for a, b in itertools.pairwise(steps)) or steps[:1] == (0.0,):
            raise ValueError("expected increasing durations above zero, e.g. [\"1h\", \"6h\", \"1d\"]")
        return steps

    def catalog_path(self, store_uri: str) -> Path:
        """One catalog per store: the digest of its URI names the file unless AUDIT_CATALOG names one."""
        if self.catalog:
            return Path(self.catalog)
        tag = hashlib.sha1(store_uri.rstrip("/").encode()).hexdigest()[:16]
        return self.catalog_dir / f"catalog-{tag}.sqlite"


class ReplayConfig(_SettingsModel):
    """REPLAY_*: the replay server, its capture index and the browsing replay's assets."""

    bind: str = Field(alias="REPLAY_BIND", min_length=1)
    port: int = Field(alias="REPLAY_PORT", ge=0, le=65535)
    browse_port: int = Field(alias="REPLAY_BROWSE_PORT", ge=0, le=65535)
    index: str = Field(alias="REPLAY_INDEX")
    index_dir: Path = Field(alias="REPLAY_INDEX_DIR")
    refresh: float = Field(alias="REPLAY_REFRESH", gt=0)
    assets_dir: Path = Field(alias="REPLAY_ASSETS_DIR")
    cache_dir: Path = Field(alias="REPLAY_CACHE_DIR")

    @field_validator("refresh", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    def index_path(self, store_uri: str) -> Path:
        """One capture index per store, as the catalog (REPLAY_INDEX names another file)."""
        if self.index:
            return Path(self.index)
        tag = hashlib.sha1(store_uri.rstrip("/").encode()).hexdigest()[:16]
        return self.index_dir / f"replay-{tag}.sqlite"


class ReprocessConfig(_SettingsModel):
    """REPROCESS_*: `scrapy reprocess`, spiders and pipelines re-run over archived captures."""

    index: str = Field(alias="REPROCESS_INDEX")
    at: str = Field(alias="REPROCESS_AT", pattern=r"^(\d{4,14})?$")
    concurrency: int = Field(alias="REPROCESS_CONCURRENCY", ge=1, le=1024)


class ScheduleConfig(_SettingsModel):
    """SCHEDULE_*: `scrapy schedule` (crawler/schedule.py)."""

    sites: tuple[str, ...] = Field(alias="SCHEDULE_SITES")
    state: Path = Field(alias="SCHEDULE_STATE")
    log_dir: Path = Field(alias="SCHEDULE_LOG_DIR")
    max_runs: int = Field(alias="SCHEDULE_MAX_RUNS", ge=1, le=256)
    run_timeout: float = Field(alias="SCHEDULE_RUN_TIMEOUT", gt=0)
    stop_timeout: float = Field(alias="SCHEDULE_STOP_TIMEOUT", ge=0)
    missed: Literal["once", "skip"] = Field(alias="SCHEDULE_MISSED")
    grace: float = Field(alias="SCHEDULE_GRACE", ge=0)
    retry: tuple[float, ...] = Field(alias="SCHEDULE_RETRY")

    @field_validator("run_timeout", "stop_timeout", "grace", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        return parse_duration(value)

    @field_validator("sites", mode="before")
    @classmethod
    def _names(cls, value: Any) -> tuple[str, ...]:
        return tuple(value.replace(",", " ").split()) if isinstance(value, str) else tuple(value)

    @field_validator("retry", mode="before")
    @classmethod
    def _steps(cls, value: Any) -> tuple[float, ...]:
        items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
        steps = tuple(parse_duration(v) for v in items)
        if any(step <= 0 for step in steps):
            raise ValueError("expected durations above zero, e.g. [\"5m\", \"15m\", \"1h\"] (or [] for no retry)")
        return steps


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: Any) -> float:
    """Seconds from `90`, `"90s"`, `"15m"`, `"6h"`, `"1d"` or `"2w"`: cadences read better in days."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 6h or 1d, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        unit = _UNITS.get(text[-1:]) if text else None
        number = text[:-1] if unit else text
        try:
            seconds = float(number) * (unit or 1)
        except ValueError:
            raise ValueError(f"expected a duration such as 6h or 1d, got {value!r}") from None
    if seconds < 0:
        raise ValueError(f"expected a duration of zero or more, got {value!r}")
    return seconds


def _source(settings: Any, key: str) -> str:
    """Where `key` was set, from the priority Scrapy recorded for it (`settings` without priorities: "settings")."""
    priority = settings.getpriority(key) if hasattr(settings, "getpriority") else None
    names = {v: k for k, v in SETTINGS_PRIORITIES.items()}
    return _SOURCES.get(names.get(priority, "") if priority is not None else "", "settings")


def _load(model: type[M], settings: Any) -> M:
    aliases = [f.alias for f in model.model_fields.values() if f.alias]
    data = {key: settings.get(key) for key in aliases}
    return validate(model, data, lambda key: _source(settings, key))


def _models(base: type[_SettingsModel] = _SettingsModel) -> Iterator[type[_SettingsModel]]:
    for model in base.__subclasses__():
        yield model
        yield from _models(model)


def known_settings() -> frozenset[str]:
    """Every setting of ours: the upper-case names settings/base.py defines (what Scrapy's `setmodule` reads),
    and the keys our config models read. Read from the modules each time, so a key added there is known."""
    module = importlib.import_module(DEFAULTS_MODULE)
    names = {name for name in dir(module) if name.isupper()}
    names.update(f.alias for model in _models() for f in model.model_fields.values() if f.alias)
    return frozenset(names)


def _prefix(key: str) -> str | None:
    # Case-insensitive: `-s archive_dedup=False` is as silently ignored as a typo.
    return next((p for p in PREFIXES if key.upper().startswith(p)), None)


def _hint(key: str, prefix: str, known: frozenset[str], others: Iterable[str]) -> str:
    """What to say after "unknown setting": the closest known key, ours first, then Scrapy's; failing that,
    the settings under the same prefix."""
    upper = key.upper()
    ours = sorted(k for k in known if _prefix(k))
    if upper in known:
        return f" (did you mean {upper!r}?)"
    for candidates in (ours, sorted(set(others) - known)):
        close = difflib.get_close_matches(upper, candidates, n=1)
        if close:
            return f" (did you mean {close[0]!r}?)"
    family = [k for k in ours if k.startswith(prefix)]
    if family:
        return f" (the {prefix}* settings are {', '.join(family)})"
    return f" ({_SOURCES['project']} defines no {prefix}* setting)"


def check_unknown_settings(settings: BaseSettings) -> None:
    """Raise ConfigError, one line per key, for every key under one of our PREFIXES that is not a known
    setting: where it was set, and the closest known key."""
    known = known_settings()
    others = [k for k in settings if isinstance(k, str) and k.isupper() and not _prefix(k)]
    lines = []
    for key in sorted(k for k in settings if isinstance(k, str)):
        prefix = _prefix(key)
        if prefix is None or key in known:
            continue
        lines.append(problem(_source(settings, key), key, f"unknown setting{_hint(key, prefix, known, others)}"))
    if lines:
        raise ConfigError("\n".join(lines))


class RenderConfig(_SettingsModel):
    """RENDER_*: how pages go through Chromium."""

    enabled: bool = Field(alias="RENDER_ENABLED")
    browser_path: str = Field(alias="RENDER_BROWSER_PATH")
    max_pages: int = Field(alias="RENDER_MAX_PAGES", ge=1, le=32)
    context_pages: int = Field(alias="RENDER_CONTEXT_PAGES", ge=1)
    timeout: float = Field(alias="RENDER_TIMEOUT", gt=0)
    subresource_max_bytes: int = Field(alias="RENDER_SUBRESOURCE_MAX_BYTES", ge=0)
    screenshot: bool = Field(alias="RENDER_SCREENSHOT")


class LimitConfig(_SettingsModel):
    """LIMIT_*: bounded work per page (crawler/limits.py); DOWNLOAD_MAXSIZE bounds raw and decoded bodies."""

    bomb_ratio: float = Field(alias="LIMIT_BOMB_RATIO", ge=2)
    header_count: int = Field(alias="LIMIT_HEADER_COUNT", ge=16)
    header_bytes: int = Field(alias="LIMIT_HEADER_BYTES", ge=4096)
    page_links: int = Field(alias="LIMIT_PAGE_LINKS", ge=1)
    title_chars: int = Field(alias="LIMIT_TITLE_CHARS", ge=16)
    parse_bytes: int = Field(alias="LIMIT_PARSE_BYTES", ge=65536)

    def page_limits(self) -> PageLimits:
        """The limits that apply inside a page worker."""
        return PageLimits(links=self.page_links, title_chars=self.title_chars, parse_bytes=self.parse_bytes)


def limit_config(settings: Any) -> LimitConfig:
    return _load(LimitConfig, settings)


def store_config(settings: Any) -> StoreConfig:
    return _load(StoreConfig, settings)


def archive_config(settings: Any) -> ArchiveConfig:
    return _load(ArchiveConfig, settings)


def soft404_config(settings: Any) -> Soft404Config:
    return _load(Soft404Config, settings)


def pipeline_config(settings: Any) -> PipelineConfig:
    return _load(PipelineConfig, settings)


def audit_config(settings: Any) -> AuditConfig:
    return _load(AuditConfig, settings)


def replay_config(settings: Any) -> ReplayConfig:
    return _load(ReplayConfig, settings)


def reprocess_config(settings: Any) -> ReprocessConfig:
    return _load(ReprocessConfig, settings)


def crawl_config(settings: Any) -> CrawlConfig:
    return _load(CrawlConfig, settings)


def schedule_config(settings: Any) -> ScheduleConfig:
    return _load(ScheduleConfig, settings)


def render_config(settings: Any) -> RenderConfig:
    return _load(RenderConfig, settings)
