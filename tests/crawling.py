"""Run real crawls (the `scrapy` command in a subprocess) against the sample web and read back the store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archive.store import FileStore
from crawler.summary import read_jsonl_parts
from tests.fixtureweb.process import ROOT, FixtureWeb


@dataclass
class CrawlResult:
    """What one crawl left in its store, plus what the web says about itself and what it served."""

    returncode: int
    stderr: str
    store: FileStore
    crawl_id: str
    manifest: dict[str, Any]
    log: list[dict[str, Any]]
    items: list[dict[str, Any]]
    web: dict[str, Any]
    served: list[str]

    @property
    def crawl_dir(self) -> Path:
        return self.store.root / "crawls" / self.crawl_id


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# The sample web listens on loopback, which the network policy refuses by default (crawler/netguard.py):
# crawls of it allow that one address, not loopback at large (tests of the policy listen on 127.0.0.2).
SAMPLE_WEB_NETWORK = "127.0.0.1/32"


def scrapy(args: list[str], cwd: Path = ROOT, timeout: float = 300,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real `scrapy` command of this environment, run from the project root."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    cmd = [str(Path(sys.executable).with_name("scrapy")), *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def write_site(tmp_path: Path, name: str, toml: str) -> dict[str, str]:
    """A one-off site config in its own sites dir; returns the settings that point the crawl at it."""
    sites = tmp_path / "sites"
    sites.mkdir(exist_ok=True)
    (sites / f"{name}.toml").write_text(toml)
    return {"CRAWL_SITES_DIR": str(sites)}


def run_crawl(web: FixtureWeb, store_dir: Path, site: str = "demo", settings: dict[str, str] | None = None,
              crawl_id: str = "test-crawl") -> CrawlResult:
    """Crawl the sample web with `site` into a FileStore at `store_dir`."""
    web.requests(reset=True)
    opts = {"STORE_URI": f"file://{store_dir}", "STORE_SPOOL_DIR": str(store_dir.parent / "spool"),
            "CRAWL_ID": crawl_id, "LOG_LEVEL": "INFO", "NETWORK_ALLOW": SAMPLE_WEB_NETWORK, **(settings or {})}
    args = ["crawl", "news", "-a", f"site={site}", "-a", f"base_url={web.base_url}/"]
    for key, value in opts.items():
        args += ["-s", f"{key}={value}"]
    proc = scrapy(args)
    store = FileStore(store_dir)
    prefix = f"crawls/{crawl_id}"
    manifest_path = store_dir / prefix / "crawl.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return CrawlResult(proc.returncode, proc.stderr, store, crawl_id, manifest,
                       read_jsonl_parts(store, f"{prefix}/log"), read_jsonl_parts(store, f"{prefix}/items"),
                       web.manifest(), web.requests())
