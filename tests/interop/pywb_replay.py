"""Interoperability: replay one of our crawls in pywb, using our WARCs and our CDXJ as pywb's own index.

pywb pins old dependencies, so it lives in its own venv (`make interop` creates `.venv-pywb`). This script
crawls the sample web, builds a pywb collection from the crawl's files as they are, starts `wayback` on a
free loopback port, and checks that raw replay (`id_`) of archived pages returns the bytes the sample web
serves, and that a page missing from the archive is a 404.

    python tests/interop/pywb_replay.py --pywb .venv-pywb/bin
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tests.crawling import path_of, run_crawl  # noqa: E402
from tests.fixtureweb.process import FixtureWeb  # noqa: E402
from tests.servers import free_port  # noqa: E402


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pywb", type=Path, required=True, help="bin/ directory of a venv with pywb installed")
    args = parser.parse_args()
    with FixtureWeb() as web, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        crawl = run_crawl(web, work / "store", crawl_id="interop")
        if crawl.returncode:
            print(crawl.stderr[-2000:])
            return 1
        coll = work / "pywb" / "collections" / "ours"
        (coll / "archive").mkdir(parents=True)
        (coll / "indexes").mkdir()
        for warc in (crawl.crawl_dir / "warc").glob("*.warc.gz"):
            shutil.copy(warc, coll / "archive")
        lines = sorted(line for cdxj in (crawl.crawl_dir / "cdxj").glob("*.cdxj")
                       for line in cdxj.read_text().splitlines())
        (coll / "indexes" / "index.cdxj").write_text("".join(line + "\n" for line in lines))
        port = free_port()
        server = subprocess.Popen([str(args.pywb.resolve() / "wayback"), "-p", str(port), "-b", "127.0.0.1"],
                                  cwd=work / "pywb", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            assert server.stderr is not None
            for line in server.stderr:  # wait for pywb to say it listens, instead of sleeping
                if "Starting" in line and str(port) in line:
                    break
            else:
                print("pywb exited before listening")
                return 1
            return check(web, crawl.items, crawl.log, port)
        finally:
            server.terminate()
            server.wait(timeout=10)


def check(web: FixtureWeb, items: list[dict[str, object]], log: list[dict[str, Any]], port: int) -> int:
    pages = [str(i["url"]) for i in items][:20]
    # What Chromium saw for rendered pages: their own exchange and what they loaded (XHR, scripts, styles).
    for entry in (e for e in log if (e["render"] or {}).get("rendered")):
        pages += [entry["url"], *entry["render"]["subresources"]]
    replayed_ok = 0
    for url in pages:
        status, replayed = fetch(f"http://127.0.0.1:{port}/ours/2030id_/{url}")
        live_status, live = fetch(web.base_url + path_of(url))
        ok = status == live_status and replayed == live  # a 404 archived (the dead app's story) replays as 404
        replayed_ok += ok
        print(f"{'ok  ' if ok else 'FAIL'} {status} {url}")
    status, _ = fetch(f"http://127.0.0.1:{port}/ours/2030id_/{web.base_url}/never/archived.html")
    print(f"{'ok  ' if status == 404 else 'FAIL'} {status} (a URL that was never archived)")
    print(f"pywb replayed {replayed_ok} of {len(pages)} pages and subresources byte for byte")
    return 0 if replayed_ok == len(pages) and status == 404 else 1


if __name__ == "__main__":
    sys.exit(main())
