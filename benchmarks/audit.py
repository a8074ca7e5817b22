"""Catalog build and audit over >= 1M captures: wall time and peak memory, against the cost of reading the rows.

Targets (issue 12): catalog build + audit of 1M captures under 60 s and under 1 GB of peak RSS; every state
of the sample web's story right.

First the sample web's story (tests/auditflow.py, as `make demo` tells it): crawl, advance to state 2, crawl,
recheck while two URLs fail (a 503, a timeout), recheck, audit; per-state precision and recall against the
web's own manifest, after the first recheck and at the end (`--no-sample-web` skips it).

The store is made by benchmarks/auditdata.py: one site, `--crawls` crawls a day apart (two of them recheck
crawls) of `--urls` articles living seeded life stories (edited, deleted, soft-deleted, moved with and
without a redirect, failing for a crawl or two, blocked, new), in the format a real crawl writes, with the
ground truth. The script prints the generation figures, then the read floor: the time to merely read what
the catalog reads (every crawl.json, every log and item line gunzipped and parsed, every CDXJ line) in one
process, which a one-process catalog cannot beat. Then the catalog is built from scratch
(`archive.catalog.Catalog.update`) and the audit run over the whole window (`archive.audit.run_audit`), each
in a fresh process: wall time, peak RSS (ru_maxrss of the process with its children, from wait4, and its
VmHWM), the ratio to the floor, and the precision and recall of the audit's states against the truth, with
the commonest confusions.

The store goes to a temporary directory, deleted afterwards unless `--keep`; `--store DIR` writes it to
DIR, or reuses DIR when it holds one already (its truth is kept in DIR/.truth.json). The WARCs are sparse
placeholders (zeros, of the size their records add up to; ~19 GB apparent, ~0 on disk at full size): the
catalog checks CDXJ offsets against WARC sizes but reads no WARC. `--check` verifies the
store first: manifests (sizes, sha256), gzip JSON lines with the contract's fields, crawl-log and item
`warc` pointers against the CDXJ lines, SURTs, text digests.

    python benchmarks/audit.py [--urls 100000] [--crawls 10] [--seed 1] [--workers 2] [--store DIR] [--keep]
                               [--no-sample-web]
                               [--check] [--no-catalog] [--no-warcs]
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from archive.cdxj import url_key  # noqa: E402
from archive.store import sha256_file  # noqa: E402
from benchmarks.auditdata import SITE, Truth, disk_bytes, read_floor, write_store  # noqa: E402
from benchmarks.soak import _status_kb, descendants  # noqa: E402
from crawler.textutil import sha1_digest, simhash  # noqa: E402

CATALOG_WORKERS = 2  # AUDIT_WORKERS' default: what `scrapy catalog` and `scrapy audit` use
TARGET_SECONDS = 60.0
TARGET_MB = 1024.0
STATES = ("deleted", "soft-deleted", "moved", "blocked", "unreachable", "changed", "new", "unchanged")
LOG_KEYS = ["url", "final_url", "redirects", "status", "mime", "fetched_at", "verdict", "reasons", "score", "kind",
            "title", "content_digest", "simhash", "warc", "crawl_id", "site", "error", "render", "probe"]
ITEM_KEYS = ["url", "canonical_url", "site", "section", "title", "authors", "published", "modified", "language",
             "text", "summary", "tags", "images", "fetched_at", "crawl_id", "content_digest", "simhash", "warc",
             "duplicate_of"]
CDXJ_KEYS = ["url", "mime", "status", "digest", "length", "offset", "filename"]


def status_kb(field: str) -> int:
    """A `VmXXX:` line of /proc/self/status, in kB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _usage() -> dict[str, int]:
    return {"maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "children_maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            "hwm_kb": status_kb("VmHWM")}


# --- the measured part: archive.catalog and archive.audit, each in a process of its own -----------------------

def _modules() -> tuple[Any, Any, Any]:
    """archive.store, archive.catalog, archive.audit; imported by name (they may not exist yet)."""
    return tuple(importlib.import_module(f"archive.{name}") for name in ("store", "catalog", "audit"))  # type: ignore[return-value]


def child_catalog(db: Path, uri: str) -> dict[str, Any]:
    """Build the catalog from scratch: what `scrapy catalog` does on a store it has never seen."""
    store, catalog_mod, _ = _modules()
    before = status_kb("VmRSS")
    started = time.perf_counter()
    catalog = catalog_mod.Catalog(db, store.open_store(uri), CATALOG_WORKERS)
    update = catalog.update(rebuild=False)
    seconds = time.perf_counter() - started
    if hasattr(catalog, "close"):
        catalog.close()
    indexed = update.crawls_indexed
    return {"seconds": seconds, "crawls_indexed": len(indexed) if isinstance(indexed, list | tuple) else indexed,
            "captures": update.captures,
            "problems": len(update.problems), "some_problems": list(update.problems)[:5], "rss_before_kb": before,
            **_usage()}


def child_audit(db: Path, uri: str, rows_path: Path) -> dict[str, Any]:
    """Audit the whole window of the site; the rows (url, state, new_url) go to `rows_path` for scoring."""
    store, catalog_mod, audit_mod = _modules()
    before = status_kb("VmRSS")
    started = time.perf_counter()
    catalog = catalog_mod.Catalog(db, store.open_store(uri))
    report = audit_mod.run_audit(catalog, site=SITE, window_from=None, window_to=None,
                                 options=audit_mod.AuditOptions())
    seconds = time.perf_counter() - started
    usage = _usage()
    with rows_path.open("w") as fh:
        for row in report.rows:
            fh.write(json.dumps({"url": row.url, "state": row.state, "new_url": row.new_url}) + "\n")
    return {"seconds": seconds, "rows": len(report.rows), "unreadable": len(report.unreadable),
            "rss_before_kb": before, **usage}


TREE_PEAKS: list[int] = []  # kB: the peak of the summed RSS of each child's process tree, sampled


def _tree_rss_kb(pid: int) -> int:
    return sum(_status_kb(p, "VmRSS") for p in [pid, *descendants(pid)])


def run_child(args: list[str]) -> tuple[dict[str, Any] | None, float, int, str]:
    """(its JSON answer or None, wall time, ru_maxrss of it and its children in kB, its stderr's tail).

    ru_maxrss is one process's peak (the catalog's parsing workers are the forkserver's children, not its);
    the RSS of the whole tree (the child, its forkserver and workers) is sampled every 0.2 s too: TREE_PEAKS."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, stderr=errors, text=True)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.2):
                peak[0] = max(peak[0], _tree_rss_kb(proc.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out = proc.stdout.read() if proc.stdout else ""
        done.set()
        sampler.join()
        TREE_PEAKS.append(peak[0])
        _, status, usage = os.wait4(proc.pid, 0)  # not proc.wait(): wait4 also says how much memory it took
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        errors.seek(0)
        err = errors.read()
    lines = out.strip().splitlines()
    answer = json.loads(lines[-1]) if proc.returncode == 0 and lines else None
    return answer, wall, usage.ru_maxrss, "\n".join(err.strip().splitlines()[-8:])


def _rss(result: dict[str, Any], wait_kb: int) -> str:
    return (f"peak RSS of the process tree {TREE_PEAKS[-1] / 1024:.0f} MB (sampled); of one process "
            f"{wait_kb / 1024:.0f} MB (wait4; VmHWM {result['hwm_kb'] / 1024:.0f} MB, "
            f"children {result['children_maxrss_kb'] / 1024:.0f} MB, {result['rss_before_kb'] / 1024:.0f} MB "
            f"before the call)")


def measure(store_root: Path, work: Path, floor_seconds: float, truth: Truth) -> bool:
    """Catalog build, then audit, each in a fresh process; prints figures and the states' precision/recall."""
    print("--- archive.catalog + archive.audit (each in a fresh process) ---")
    missing = [m for m in ("archive.catalog", "archive.audit") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"  SKIPPED: {', '.join(missing)} not importable yet (being written); the store and the floor "
              "above stand on their own")
        return False
    db, rows = work / "catalog.sqlite", work / "audit-rows.jsonl"
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), rows):
        path.unlink(missing_ok=True)
    uri = f"file://{store_root.resolve()}"
    built, wall, build_kb, err = run_child(["--child", "catalog", "--db", str(db), "--store-uri", uri])
    if built is None:
        print(f"  catalog build FAILED after {wall:.1f} s:\n{err}")
        return False
    print(f"  catalog build {wall:6.1f} s wall ({built['seconds']:.1f} s in the call)  "
          f"{built['seconds'] / floor_seconds:5.2f}x the floor  {_rss(built, build_kb)}")
    print(f"                {built['crawls_indexed']} crawls, {built['captures']:,} captures indexed, "
          f"{built['problems']} problems {built['some_problems'] or ''}")
    audited, wall2, audit_kb, err = run_child(["--child", "audit", "--db", str(db), "--store-uri", uri,
                                               "--rows", str(rows)])
    if audited is None:
        print(f"  audit FAILED after {wall2:.1f} s:\n{err}")
        return False
    print(f"  audit         {wall2:6.1f} s wall ({audited['seconds']:.1f} s in the call)  "
          f"{audited['seconds'] / floor_seconds:5.2f}x the floor  {_rss(audited, audit_kb)}")
    print(f"                {audited['rows']:,} rows, {audited['unreadable']} unreadable")
    total, peak_mb = built["seconds"] + audited["seconds"], max(build_kb, audit_kb, *TREE_PEAKS[-2:]) / 1024
    print(f"  together      {total:6.1f} s in the calls, {wall + wall2:.1f} s wall (target < {TARGET_SECONDS:.0f} s); "
          f"peak {peak_mb:.0f} MB (target < {TARGET_MB:.0f} MB); {truth.captures:,} captures")
    accurate = score(rows, truth)
    return total < TARGET_SECONDS and peak_mb < TARGET_MB and accurate


def score(rows_path: Path, truth: Truth) -> bool:
    """Per-state precision and recall of the audit's rows against the truth; True when every state is exact."""
    found: dict[str, tuple[str, str | None]] = {}
    with rows_path.open() as fh:
        for line in fh:
            row = json.loads(line)
            found[row["url"]] = (row["state"], row["new_url"])
    # A story's new URL that the crawls only ever reached through the old URL's redirect is no crawl-log entry
    # of its own: it has no row, and is reported as the moved row's new_url.
    targets = {new for state, new in found.values() if state == "moved" and new}
    expected = {url: state for url, state in truth.expected.items() if url in found or url not in targets}
    if len(expected) < len(truth.expected):
        print(f"  {len(truth.expected) - len(expected)} new URLs reached only through a moved URL's redirect: "
              "no row of their own, named as that row's new_url")
    extra = Counter(state for url, (state, _) in found.items() if url not in expected)
    missing = Counter(state for url, state in expected.items() if url not in found)
    confusion = Counter((state, found[url][0]) for url, state in expected.items() if url in found)
    print(f"  states: {len(expected):,} URLs in the truth, {len(found):,} rows; rows for URLs outside the truth "
          f"{dict(extra) or 0}; truth URLs without a row {dict(missing) or 0}")
    print(f"    {'state':<13} {'truth':>8} {'rows':>8} {'precision':>10} {'recall':>8}")
    exact = not extra and not missing
    for state in STATES:
        real = sum(n for (t, _), n in confusion.items() if t == state) + missing[state]
        said = sum(n for (_, f), n in confusion.items() if f == state)
        right = confusion[(state, state)]
        if not real and not said:
            continue
        exact = exact and right == real == said
        print(f"    {state:<13} {real:>8,} {said:>8,} {_ratio(right, said):>10} {_ratio(right, real):>8}")
    moved = [url for url, target in truth.new_url.items() if found.get(url, ("", None))[0] == "moved"]
    right_target = sum(1 for url in moved if found[url][1] == truth.new_url[url])
    print(f"    moved rows with the right new_url: {right_target:,} of {len(moved):,}")
    wrong = [(n, t, f) for (t, f), n in confusion.items() if t != f]
    if wrong:
        stories = Counter((truth.story[url], state, found[url][0]) for url, state in expected.items()
                          if url in found and found[url][0] != state)
        print("    commonest confusions (story: truth -> audit): " + "; ".join(
            f"{s}: {t} -> {f} x{n:,}" for (s, t, f), n in stories.most_common(8)))
    return exact and right_target == len(moved)


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:.4f}" if whole else "-"


# --- the store: generation, reuse, verification ----------------------------------------------------------------

def _jsonl(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rb") as fh:
        return [json.loads(line) for line in fh]


def _check_manifest(root: Path, crawl: Path, manifest: dict[str, Any]) -> list[str]:
    listed = {o["key"]: o for o in manifest["objects"]}
    files = {p.relative_to(root).as_posix() for p in crawl.rglob("*") if p.is_file() and p.name != "crawl.json"}
    problems = [f"{crawl.name}: files not in objects {sorted(files - set(listed))[:3]}"] if files - set(listed) else []
    for key, obj in listed.items():
        path = root / key
        if not path.is_file():
            problems.append(f"{key}: listed, not in the store")
        elif path.stat().st_size != obj["size"] or sha256_file(path) != obj["sha256"]:
            problems.append(f"{key}: size or sha256 differs from the manifest")
    return problems


def _check_cdxj(crawl: Path, full: bool) -> tuple[dict[tuple[str, int], dict[str, Any]], list[str]]:
    """(filename, offset) -> the CDXJ fields (with `ts`), and what is wrong with the files."""
    index: dict[tuple[str, int], dict[str, Any]] = {}
    problems = []
    for cdxj in sorted((crawl / "cdxj").glob("*.cdxj")):
        lines = cdxj.read_text().splitlines()
        if lines != sorted(lines):
            problems.append(f"{cdxj.name}: not sorted")
        for n, line in enumerate(lines):
            key, ts, body = line.split(" ", 2)
            fields = json.loads(body)
            if [k for k in fields if k in CDXJ_KEYS] != [k for k in CDXJ_KEYS if k in fields] or \
                    fields["filename"] != cdxj.name.removesuffix(".cdxj") + ".warc.gz" or len(ts) != 14:
                problems.append(f"{cdxj.name}: bad line {line[:120]}")
            if (full or n % 97 == 0) and url_key(fields["url"]) != key:
                problems.append(f"{cdxj.name}: SURT {key} is not url_key of {fields['url']}")
            index[(fields["filename"], int(fields["offset"]))] = {**fields, "ts": ts}
    return index, problems


def _check_entry(entry: dict[str, Any], index: dict[tuple[str, int], dict[str, Any]]) -> str | None:
    if list(entry) != LOG_KEYS:
        return f"log entry keys {list(entry)}"
    warc = entry["warc"]
    if warc is None:
        return None if entry["error"] and entry["status"] is None and entry["final_url"] is None else \
            f"no warc pointer: {entry['url']}"
    line = index.get((warc["filename"], warc["offset"]))
    if line is None or int(line["length"]) != warc["length"]:
        return f"warc pointer of {entry['url']} matches no CDXJ line"
    hop = 300 <= (entry["status"] or 0) < 400
    if line["url"] != (entry["url"] if hop else entry["final_url"]) or line.get("status") != str(entry["status"]):
        return f"CDXJ line at the pointer of {entry['url']} is for {line['url']} {line.get('status')}"
    lag = datetime.fromisoformat(entry["fetched_at"]) - datetime.strptime(line["ts"] + "Z", "%Y%m%d%H%M%S%z")
    if not 0 <= lag.total_seconds() <= 2:
        return f"CDXJ time {line['ts']} far from fetched_at {entry['fetched_at']}"
    return None


def check_store(root: Path, full: bool) -> list[str]:
    """Everything a reader of the store relies on; `full` also checks every SURT and simhash (slow)."""
    problems: list[str] = []
    for crawl in sorted((root / "crawls").iterdir()):
        manifest = json.loads((crawl / "crawl.json").read_text())
        problems += _check_manifest(root, crawl, manifest)
        index, found = _check_cdxj(crawl, full)
        problems += found
        ok_pages: dict[str, str] = {}
        entries = items = 0
        for part in sorted((crawl / "log").glob("*.jsonl.gz")):
            for entry in _jsonl(part):
                entries += 1
                problem = _check_entry(entry, index)
                if problem:
                    problems.append(f"{crawl.name}: {problem}")
                elif entry["verdict"] == "ok" and entry["kind"] in ("article", "recheck"):
                    ok_pages[entry["warc"]["record_id"]] = entry["final_url"]
        for part in sorted((crawl / "items").glob("*.jsonl.gz")):
            for item in _jsonl(part):
                items += 1
                if list(item) != ITEM_KEYS or ok_pages.get(item["warc"]["record_id"]) != item["url"]:
                    problems.append(f"{crawl.name}: item {item['url']} has no ok log entry at its warc pointer")
                if sha1_digest(item["text"].encode()) != item["content_digest"] or \
                        ((full or items % 53 == 0) and simhash(item["text"]) != item["simhash"]):
                    problems.append(f"{crawl.name}: item {item['url']} digest or simhash is not of its text")
        counts = manifest["counts"]
        if (counts["log_entries"], counts["items"]) != (entries, items):
            problems.append(f"{crawl.name}: counts {counts} but {entries} entries, {items} items")
    return problems


def obtain_store(args: argparse.Namespace, work: Path) -> tuple[Path, Truth]:
    """The store and its truth: reused from --store when it holds one, else generated (and its truth saved)."""
    root = Path(args.store) if args.store else work / "store"
    truth_path = root / ".truth.json"  # a dot name: FileStore.keys() and the catalog never see it
    if (root / "crawls").is_dir() and any((root / "crawls").iterdir()):
        if not truth_path.exists():
            raise SystemExit(f"{root} holds a store but no {truth_path.name}: not one of ours")
        truth = Truth.load(truth_path)
        print(f"store: {root} (reused; generated in {truth.seconds:.1f} s)")
        return root, truth
    print(f"generating the store at {root}: --urls {args.urls:,} --crawls {args.crawls} --seed {args.seed} "
          f"--workers {args.workers}", flush=True)
    truth = write_store(root, args.urls, args.crawls, args.seed, args.workers, lambda s: print(s, flush=True),
                        placeholders=not args.no_warcs)
    truth.save(truth_path)
    print(f"store: {root} (generated in {truth.seconds:.1f} s)")
    return root, truth


def describe(root: Path, truth: Truth) -> None:
    crawls = truth.crawls
    kinds: Counter[str] = Counter()
    for crawl in crawls:
        kinds.update(crawl["kinds"])
    size, apparent = disk_bytes(root / "crawls")
    sparse = f" ({apparent / 1e9:.1f} GB apparent: the WARCs are sparse placeholders)" if apparent > 2 * size else ""
    by_kind = ", ".join(f"{kind} {n:,}" for kind, n in kinds.most_common())
    print(f"  {truth.captures:,} captures (crawl-log entries: {by_kind})")
    print(f"  {sum(c['items'] for c in crawls):,} items, {sum(c['dropped'] for c in crawls):,} dropped, "
          f"{sum(c['cdxj_lines'] for c in crawls):,} CDXJ lines ({sum(c['revisits'] for c in crawls):,} revisits); "
          f"{size / 1e9:.2f} GB on disk{sparse} in {sum(c['files'] for c in crawls):,} files; {len(crawls)} crawls")
    print(f"  truth: {dict(Counter(truth.expected.values()).most_common())}")


def sample_web(work: Path) -> bool:
    """The audit's story on the sample web (tests/auditflow.py): per-state precision and recall against the
    web's own manifest, after the first recheck (two URLs failing) and at the end."""
    from tests.auditflow import audit_rows, by_path, expected_states, scores, tell_story  # noqa: PLC0415
    from tests.fixtureweb.process import FixtureWeb  # noqa: PLC0415

    print("--- the sample web: crawl, advance to state 2, crawl, recheck (a 503 and a timeout), recheck, audit ---")
    started = time.perf_counter()
    with FixtureWeb() as web:
        story = tell_story(web, work / "sample-web")
    print(f"  four crawls in {time.perf_counter() - started:.1f} s")
    exact = True
    expected = expected_states(story.manifest)
    for label, rows in (("after the first recheck", audit_rows(story, "--to", story.ids[2])),
                        ("at the end", audit_rows(story))):
        found = by_path(rows)
        flaky = ", ".join(f"{mode}: {found[path]['state']}" for path, mode in story.flaky.items())
        print(f"  {label}: {len(rows)} rows; the transiently failing URLs {flaky}")
        print(f"    {'state':<13} {'expected':>8} {'precision':>10} {'recall':>8}")
        for state, (precision, recall, count) in scores(expected, rows).items():
            print(f"    {state:<13} {count:>8} {precision:>10.3f} {recall:>8.3f}")
            exact = exact and (label != "at the end" or precision == recall == 1.0)
    return exact


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--urls", type=int, default=100_000, help="articles in the first crawl (5%% more come later)")
    parser.add_argument("--crawls", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="processes generating the store")
    parser.add_argument("--store", help="write the store here, or reuse the one here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (store, catalog)")
    parser.add_argument("--check", action="store_true", help="verify the store before measuring")
    parser.add_argument("--no-catalog", action="store_true", help="stop after the floor")
    parser.add_argument("--no-sample-web", action="store_true", help="skip the sample web's story")
    parser.add_argument("--no-warcs", action="store_true",
                        help="no placeholder WARCs (the catalog then reports each CDXJ's WARC missing)")
    parser.add_argument("--child", choices=("catalog", "audit"), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--store-uri", help=argparse.SUPPRESS)
    parser.add_argument("--rows", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "catalog":
        print(json.dumps(child_catalog(Path(args.db), args.store_uri)))
        return 0
    if args.child == "audit":
        print(json.dumps(child_audit(Path(args.db), args.store_uri, Path(args.rows))))
        return 0

    work = Path(tempfile.mkdtemp(prefix="palimpsest-audit-"))
    try:
        accurate = args.no_sample_web or sample_web(work)
        root, truth = obtain_store(args, work)
        describe(root, truth)
        if args.check:
            started = time.perf_counter()
            problems = check_store(root, full=args.urls <= 20_000)
            print(f"check: {len(problems)} problems in {time.perf_counter() - started:.1f} s")
            for problem in problems[:20]:
                print(f"  {problem}")
            if problems:
                return 1
        rows, seconds = read_floor(root)
        print(f"read floor: {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s; crawl.json, log and "
              "item lines gunzipped and json.loads-ed, CDXJ lines read; page cache warm)")
        if args.no_catalog:
            return 0
        ok = measure(root, work, seconds, truth) and accurate
        print("targets met" if ok else "TARGETS MISSED")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
