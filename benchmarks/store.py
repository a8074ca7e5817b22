"""Items per second through the item pipelines, and S3 upload speed of our S3Store beside plain boto3.

1. clean -> validate -> dedup on items built from the shared benchmark's 181 real pages (extraction done
   beforehand, not timed), repeated to `--items`.
2. The same files (`--files` x `--megabytes` MB, incompressible) uploaded to one moto_server on loopback:
   by our S3Store.put_file (multipart above the threshold, SHA-256 checksums, the HEAD check after each
   upload) and by a plain boto3 `upload_file`, alternating, in the same run (target ratio at least 0.8).

    python benchmarks/store.py [--items 20000] [--files 6] [--megabytes 32]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import boto3
from scrapy.exceptions import DropItem
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from archive.s3store import S3Store, make_client  # noqa: E402
from crawler.extract import extract_article  # noqa: E402
from crawler.items import ArticleItem  # noqa: E402
from pipelines.clean import CleanPipeline  # noqa: E402
from pipelines.dedup import DedupPipeline  # noqa: E402
from pipelines.validate import Dropper, ValidatePipeline  # noqa: E402
from tests.servers import MotoServer  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "article-extraction-benchmark"


def real_items() -> list[ArticleItem]:
    truth = json.loads((DATA / "ground-truth.json").read_text())
    items = []
    for key, value in sorted(truth.items()):
        html = gzip.decompress((DATA / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8")
        got = extract_article(html, value["url"])
        if got is None:
            continue
        items.append(ArticleItem(
            url=value["url"], canonical_url=got.canonical_url or value["url"], site="bench", section=got.section,
            title=got.title or "", authors=got.authors, published=got.published, modified=got.modified,
            language=got.language, text=got.text, summary=got.summary, tags=got.tags, images=got.images,
            fetched_at="2026-11-28T10:00:00Z", crawl_id="bench", content_digest=got.text_digest,
            simhash=got.text_simhash))
    return items


def pipeline_rate(items: list[ArticleItem], count: int) -> float:
    stats = MemoryStatsCollector(get_crawler())
    drop = Dropper(stats, lambda record: None)
    stages: list[CleanPipeline | ValidatePipeline | DedupPipeline] = [
        CleanPipeline(stats), ValidatePipeline(drop), DedupPipeline(drop)]
    batch = [replace(items[n % len(items)], url=f"{items[n % len(items)].url}?n={n}",
                     canonical_url=f"{items[n % len(items)].canonical_url}#{n}") for n in range(count)]
    start = time.perf_counter()
    for original in batch:
        item = original
        for stage in stages:
            try:
                item = stage.process_item(item)
            except DropItem:  # a dropped item ends its own run through the stages, as in Scrapy
                break
    return count / (time.perf_counter() - start)


def upload_rates(work: Path, files: int, megabytes: int) -> tuple[float, float]:
    with MotoServer() as server:
        os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
        endpoint = server.endpoint
        plain = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        plain.create_bucket(Bucket="bench")
        ours = S3Store("s3://bench/ours", make_client(endpoint, "us-east-1", "path"))
        source = work / "blob"
        source.write_bytes(os.urandom(megabytes * 1024 * 1024))
        times: dict[str, float] = {"ours": 0.0, "boto3": 0.0}
        for n in range(files):
            copy = work / f"copy-{n}"
            shutil.copyfile(source, copy)  # put_file consumes its file, as it does with the spool
            start = time.perf_counter()
            ours.put_file(f"f{n}", copy)
            times["ours"] += time.perf_counter() - start
            start = time.perf_counter()
            plain.upload_file(str(source), "bench", f"plain/f{n}")
            times["boto3"] += time.perf_counter() - start
        size = files * megabytes * 1024 * 1024 / 1e6
        return size / times["ours"], size / times["boto3"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--megabytes", type=int, default=32)
    args = parser.parse_args()
    items = real_items()
    print(f"pipelines (clean, validate, dedup) on {args.items} items from {len(items)} real pages: "
          f"{pipeline_rate(items, args.items):.0f} items/s")
    with tempfile.TemporaryDirectory() as tmp:
        ours, plain = upload_rates(Path(tmp), args.files, args.megabytes)
    print(f"S3 upload to moto_server on loopback, {args.files} files of {args.megabytes} MB:")
    print(f"  palimpsest S3Store.put_file {ours:7.1f} MB/s")
    print(f"  boto3 upload_file           {plain:7.1f} MB/s   ratio {ours / plain:.3f} (target >= 0.8)")


if __name__ == "__main__":
    main()
