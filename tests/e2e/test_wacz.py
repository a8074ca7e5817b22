"""WACZ of a real crawl of the sample web: ARCHIVE_WACZ leaves one at its key when the crawl ends, `scrapy wacz`
packages a crawl on demand, and py-wacz's `wacz validate` (its own venv, `make .venv-wacz/.installed`)
passes both, with the plain and the compressed index."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from archive.reader import ArchiveReader
from archive.wacz import wacz_key, write_wacz
from tests.crawling import CrawlResult, run_crawl, scrapy
from tests.fixtureweb.process import ROOT, FixtureWeb

WACZ_BIN = ROOT / ".venv-wacz" / "bin" / "wacz"
CRAWL_ID = "wacz-crawl"


@pytest.fixture(scope="module")
def wacz_crawl(web: FixtureWeb, tmp_path_factory: pytest.TempPathFactory) -> CrawlResult:
    result = run_crawl(web, tmp_path_factory.mktemp("wacz") / "store", settings={"ARCHIVE_WACZ": "True"},
                       crawl_id=CRAWL_ID)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    if not WACZ_BIN.exists():
        pytest.fail(f"py-wacz is not installed at {WACZ_BIN}: run `make .venv-wacz/.installed` (make test does)")
    return subprocess.run([str(WACZ_BIN), "validate", "-f", str(path)], capture_output=True, text=True,
                          timeout=300, check=False)


def assert_valid(path: Path) -> None:
    proc = validate(path)
    assert proc.returncode == 0 and "Validation succeeded" in proc.stdout, proc.stdout + proc.stderr[-3000:]


def test_archive_wacz_stores_a_package_of_the_crawl(wacz_crawl: CrawlResult) -> None:
    path = wacz_crawl.store.root / wacz_key(CRAWL_ID)
    assert path.is_file(), wacz_crawl.stderr[-3000:]
    assert "'archive/wacz/stored': 1" in wacz_crawl.stderr and "archive/wacz/failed" not in wacz_crawl.stderr
    warcs = sorted((wacz_crawl.crawl_dir / "warc").glob("*.warc.gz"))
    with zipfile.ZipFile(path) as zf:
        assert sorted(n for n in zf.namelist() if n.startswith("archive/")) == [f"archive/{p.name}" for p in warcs]
        pages = [json.loads(x) for x in zf.read("pages/pages.jsonl").decode().splitlines()[1:]]
        index = zf.read("indexes/index.cdxj").decode().splitlines()
    live = {e["final_url"] for e in wacz_crawl.log if e["kind"] == "article" and e["verdict"] == "ok"}
    assert {p["url"] for p in pages} == live and live
    assert len(index) == sum(len(p.read_text().splitlines()) for p in (wacz_crawl.crawl_dir / "cdxj").iterdir())
    reader = ArchiveReader([path])
    captures = list(reader.captures())
    assert reader.problems == [] and len(captures) >= len(index)  # the index leaves out nothing but metadata
    assert_valid(path)


def test_wacz_command_and_compressed_index_validate(wacz_crawl: CrawlResult, tmp_path: Path) -> None:
    out = tmp_path / "crawl.wacz"
    proc = scrapy(["wacz", CRAWL_ID, "-o", str(out), "-s", f"STORE_URI=file://{wacz_crawl.store.root}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith(f"wrote {out}\n") and " pages; " in proc.stdout
    assert_valid(out)
    packed = write_wacz(wacz_crawl.store, CRAWL_ID, tmp_path / "packed.wacz", compress_above=50, block_lines=40)
    assert packed.compressed_index and packed.index_lines > 80
    assert_valid(packed.path)


def test_the_validator_is_not_vacuous(wacz_crawl: CrawlResult, tmp_path: Path) -> None:
    """A package whose datapackage.json lists a wrong hash fails `wacz validate`: the check above means something."""
    good, bad = wacz_crawl.store.root / wacz_key(CRAWL_ID), tmp_path / "bad.wacz"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "datapackage.json":
                package = json.loads(data)
                package["resources"][0]["hash"] = "sha256:" + "0" * 64
                data = json.dumps(package).encode()
            dst.writestr(info, data)
    assert validate(bad).returncode != 0


def test_wacz_command_refuses_unknown_and_incomplete_crawls(wacz_crawl: CrawlResult, tmp_path: Path) -> None:
    store_setting = ["-s", f"STORE_URI=file://{wacz_crawl.store.root}"]
    proc = scrapy(["wacz", "no-such-crawl", "-o", str(tmp_path / "x.wacz"), *store_setting])
    assert proc.returncode == 2 and "'no-such-crawl': not in the store" in proc.stderr
    unfinished = wacz_crawl.store.root / "crawls" / "wacz-unfinished"
    shutil.copytree(wacz_crawl.crawl_dir, unfinished)
    manifest = json.loads((unfinished / "crawl.json").read_text())
    (unfinished / "crawl.json").write_text(json.dumps({**manifest, "complete": False}))
    proc = scrapy(["wacz", "wacz-unfinished", "-o", str(tmp_path / "u.wacz"), *store_setting])
    assert proc.returncode == 2 and "'wacz-unfinished' is incomplete" in proc.stderr
    assert not (tmp_path / "u.wacz").exists()
    proc = scrapy(["wacz", "wacz-unfinished", "-o", str(tmp_path / "u.wacz"), "--partial", *store_setting])
    assert proc.returncode == 0 and (tmp_path / "u.wacz").is_file(), proc.stderr[-3000:]
    shutil.rmtree(unfinished)
