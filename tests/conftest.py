"""Session-wide fixtures: the sample web (a real HTTP server subprocess) and one full crawl of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.crawling import CrawlResult, run_crawl
from tests.fixtureweb.process import FixtureWeb

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def web() -> Iterator[FixtureWeb]:
    """The sample web in state 1, shared by every test that only reads from it."""
    with FixtureWeb() as server:
        yield server


@pytest.fixture(scope="session")
def demo_crawl(web: FixtureWeb, tmp_path_factory: pytest.TempPathFactory) -> CrawlResult:
    """One crawl of the sample web with settings/sites/demo.toml; many tests read its output."""
    result = run_crawl(web, tmp_path_factory.mktemp("demo") / "store")
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = SHARED / "data"
    if not path.is_dir():
        pytest.fail(f"shared test data not found at {path}: the checkout must sit beside shared/")
    return path
