"""Our settings, parsed once per crawl into typed, validated config objects.

Components call `store_config(settings)` / `crawl_config(settings)` in `from_crawler`; a bad value stops the
crawl at start-up with the key's name and where it was set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator
from scrapy.settings import SETTINGS_PRIORITIES

from crawler.validation import validate

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
    s3_attempts: int = Field(alias="STORE_S3_ATTEMPTS", ge=1)

    def s3_options(self) -> dict[str, Any]:
        return {"endpoint_url": self.s3_endpoint_url or None, "region": self.s3_region or None,
                "addressing": self.s3_addressing, "multipart_threshold": self.multipart_threshold,
                "timeout": self.s3_timeout, "attempts": self.s3_attempts}

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
    extract_workers: int = Field(alias="CRAWL_EXTRACT_WORKERS", ge=-1)


class ArchiveConfig(_SettingsModel):
    """ARCHIVE_*: WARC capture."""

    enabled: bool = Field(alias="ARCHIVE_ENABLED")
    max_file_size: int = Field(alias="ARCHIVE_MAX_FILE_SIZE", ge=1024)
    prefix: str = Field(alias="ARCHIVE_PREFIX", pattern=r"^[A-Za-z0-9._]+$")
    dedup: bool = Field(alias="ARCHIVE_DEDUP")
    digest: Literal["sha1", "sha256"] = Field(alias="ARCHIVE_DIGEST")


class Soft404Config(_SettingsModel):
    """SOFT404_*: the page classifier."""

    probes: bool = Field(alias="SOFT404_PROBES")
    probe_ttl: float = Field(alias="SOFT404_PROBE_TTL", gt=0)


class PipelineConfig(_SettingsModel):
    """PIPELINE_*: what happens to article items."""

    detect_language: bool = Field(alias="PIPELINE_DETECT_LANGUAGE")
    near_duplicate_bits: int = Field(alias="PIPELINE_NEAR_DUPLICATE_BITS", ge=0, le=12)


def _load(model: type[M], settings: Any) -> M:
    aliases = [f.alias for f in model.model_fields.values() if f.alias]
    data = {key: settings.get(key) for key in aliases}

    def where(key: str) -> str:
        priority = settings.getpriority(key) if hasattr(settings, "getpriority") else None
        names = {v: k for k, v in SETTINGS_PRIORITIES.items()}
        return _SOURCES.get(names.get(priority, "") if priority is not None else "", "settings")

    return validate(model, data, where)


class RenderConfig(_SettingsModel):
    """RENDER_*: how pages go through Chromium."""

    enabled: bool = Field(alias="RENDER_ENABLED")
    browser_path: str = Field(alias="RENDER_BROWSER_PATH")
    max_pages: int = Field(alias="RENDER_MAX_PAGES", ge=1, le=32)
    context_pages: int = Field(alias="RENDER_CONTEXT_PAGES", ge=1)
    timeout: float = Field(alias="RENDER_TIMEOUT", gt=0)
    subresource_max_bytes: int = Field(alias="RENDER_SUBRESOURCE_MAX_BYTES", ge=0)
    screenshot: bool = Field(alias="RENDER_SCREENSHOT")


def store_config(settings: Any) -> StoreConfig:
    return _load(StoreConfig, settings)


def archive_config(settings: Any) -> ArchiveConfig:
    return _load(ArchiveConfig, settings)


def soft404_config(settings: Any) -> Soft404Config:
    return _load(Soft404Config, settings)


def pipeline_config(settings: Any) -> PipelineConfig:
    return _load(PipelineConfig, settings)


def crawl_config(settings: Any) -> CrawlConfig:
    return _load(CrawlConfig, settings)


def render_config(settings: Any) -> RenderConfig:
    return _load(RenderConfig, settings)
