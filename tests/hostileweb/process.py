"""Start and stop the hostile web as a subprocess, for tests and benchmarks.

A `FixtureWeb` in all but the command it starts: the hostile web answers the sample web's control endpoints,
so `run_crawl` (tests/crawling.py) and the benchmarks' helpers take it as they take the sample web.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from typing import Any

from tests.fixtureweb.process import ROOT, FixtureWeb, FixtureWebError


class HostileWeb(FixtureWeb):
    """The hostile web on a free loopback port; a context manager that stops it by PID."""

    def __init__(self, bomb_mib: int = 1024, only: list[str] | None = None) -> None:
        super().__init__()
        self.bomb_mib, self.only = bomb_mib, only or []

    def start(self) -> HostileWeb:
        cmd = [sys.executable, "-m", "tests.hostileweb", "--port", "0", "--bomb-mib", str(self.bomb_mib),
               "--only", ",".join(self.only)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until the server is listening (or died)
        if not line.startswith("READY "):
            self.stop()
            raise FixtureWebError(f"hostile web failed to start: {line!r}")
        self.base_url = line.split()[1]
        return self

    def __enter__(self) -> HostileWeb:
        return self.start()

    def cases(self) -> list[dict[str, Any]]:
        """/_cases.json: name, path, what it does, the expected verdict and reason of every case."""
        with urllib.request.urlopen(f"{self.base_url}/_cases.json") as resp:
            data: list[dict[str, Any]] = json.load(resp)
        return data
