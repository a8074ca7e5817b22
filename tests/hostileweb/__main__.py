"""`python -m tests.hostileweb`: serve the hostile web on loopback until stopped.

Prints `READY <base url>` on stdout once listening, so a parent process can wait for that line
instead of sleeping.
"""

from __future__ import annotations

import argparse
import sys

from tests.hostileweb import compressed
from tests.hostileweb.cases import CASES
from tests.hostileweb.server import HostileServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.hostileweb", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--bomb-mib", type=int, default=1024, metavar="N",
                        help="what each decompression bomb inflates to, in MiB (default 1024: 1 GiB)")
    parser.add_argument("--only", default="", metavar="NAME,...",
                        help="list only these cases on / and in /_cases.json (all paths are still served)")
    args = parser.parse_args(argv)
    if args.bomb_mib < 1:
        parser.error("--bomb-mib needs N >= 1")
    compressed.set_bomb_size(args.bomb_mib * compressed.MIB)
    only = [name for name in args.only.split(",") if name]
    unknown = set(only) - {case.name for case in CASES}
    if unknown:
        parser.error(f"--only: no such case: {', '.join(sorted(unknown))}")
    # Built before READY, not on the first request: compressing 1 GiB takes seconds, and more on a loaded
    # machine, which a crawl's DOWNLOAD_TIMEOUT would count against the server (a bomb must arrive whole).
    for encoding in compressed.BOMB_ENCODINGS:
        compressed.bomb(encoding)
    server = HostileServer(args.port, only)
    print(f"READY {server.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
