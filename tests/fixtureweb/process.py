"""Start and stop the sample web as a subprocess, for tests, benchmarks and `scrapy demo`."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


class FixtureWebError(RuntimeError):
    """The sample web did not start."""


class FixtureWeb:
    """The sample web on a free loopback port; a context manager that stops it by PID."""

    def __init__(self, seed: int = 1, state: int = 1, size: int | None = None) -> None:
        self.seed, self.initial_state, self.size = seed, state, size
        self.proc: subprocess.Popen[str] | None = None
        self.base_url = ""

    def start(self) -> FixtureWeb:
        cmd = [sys.executable, "-m", "tests.fixtureweb", "--seed", str(self.seed), "--state", str(self.initial_state)]
        if self.size is not None:
            cmd += ["--size", str(self.size)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # blocks until the server is listening (or died)
        if not line.startswith("READY "):
            self.stop()
            raise FixtureWebError(f"sample web failed to start: {line!r}")
        self.base_url = line.split()[1]
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()  # or the pipe is left to the garbage collector (a ResourceWarning)
        self.proc = None

    def manifest(self) -> dict[str, Any]:
        """The web's own list of articles, dead pages and changes in its current state."""
        with urllib.request.urlopen(f"{self.base_url}/_fixture/manifest.json") as resp:
            data: dict[str, Any] = json.load(resp)
        return data

    def requests(self, reset: bool = False) -> list[str]:
        """Request targets (path and query) the web has served, in order; `reset` clears the list."""
        req = urllib.request.Request(f"{self.base_url}/_fixture/requests", data=b"" if reset else None,
                                     method="POST" if reset else "GET")
        with urllib.request.urlopen(req) as resp:
            served: list[str] = json.load(resp)
        return served

    def count(self) -> int:
        """How many requests the web has served (its own /_fixture/ endpoints not included): cheap to poll."""
        with urllib.request.urlopen(f"{self.base_url}/_fixture/count") as resp:
            count: int = json.load(resp)["requests"]
        return count

    def set_state(self, number: int) -> None:
        req = urllib.request.Request(f"{self.base_url}/_fixture/state", data=str(number).encode(), method="POST")
        with urllib.request.urlopen(req) as resp:
            resp.read()

    def fault(self, path: str, mode: str, times: int | None = None, hold: float = 30.0) -> None:
        """Make requests of `path` fail, whatever the state, until `times` of them have (None: until cleared).

        `mode` is "503" (Service Unavailable with Retry-After: 120), "timeout" (the connection is held
        `hold` seconds without an answer, then closed) or "reset" (closed at once with a TCP reset).
        `path` is matched against the path alone, or against path and query if it has one. Faulted
        requests are in `requests()` like any other; a new fault on the same path replaces the old one.
        """
        body = json.dumps({"path": path, "mode": mode, "times": times, "hold": hold}).encode()
        self._control("/_fixture/faults", "POST", body)

    def clear_faults(self) -> None:
        """Every path answers normally again."""
        self._control("/_fixture/faults", "DELETE")

    def faults(self) -> list[dict[str, Any]]:
        """The active faults: path, mode, times left (None: until cleared) and hold of each."""
        active: list[dict[str, Any]] = json.loads(self._control("/_fixture/faults", "GET"))
        return active

    def _control(self, path: str, method: str, body: bytes | None = None) -> bytes:
        """A request to a control endpoint; one the web rejects (400) raises ValueError with its reason."""
        req = urllib.request.Request(f"{self.base_url}{path}", data=body, method=method,
                                     headers={"Content-Type": "application/json"} if body else {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                data: bytes = resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code != 400:
                raise
            raise ValueError(exc.read().decode("utf-8", "replace")) from exc
        return data

    def __enter__(self) -> FixtureWeb:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
