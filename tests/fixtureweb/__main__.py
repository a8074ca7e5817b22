"""`python -m tests.fixtureweb`: serve the sample news web on loopback until stopped.

Prints `READY <base url>` on stdout once listening, so a parent process can wait for that line
instead of sleeping.
"""

from __future__ import annotations

import argparse
import sys

from tests.fixtureweb.server import make_server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fixtureweb", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--state", type=int, choices=(1, 2), default=1)
    parser.add_argument("--size", type=int, default=None, metavar="N",
                        help="serve a generated web of about N articles (state 1 only) instead of the default one")
    args = parser.parse_args(argv)
    if args.size is not None and (args.size < 1 or args.state != 1):
        parser.error("--size needs N >= 1 and state 1")
    server = make_server(args.port, args.seed, args.state, args.size)
    print(f"READY http://127.0.0.1:{server.server_port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
