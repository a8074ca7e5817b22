"""`scrapy replay` as a real subprocess on free loopback ports, for tests and benchmarks; stopped by PID."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from tests.fixtureweb.process import ROOT


class ReplayProcess:
    """A context manager: `main_url` and `browse_url` once the server says it is listening."""

    def __init__(self, store_uri: str, workdir: Path, settings: dict[str, str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.store_uri = store_uri
        self.workdir = workdir
        self.settings = settings or {}
        self.env = env or {}
        self.proc: subprocess.Popen[str] | None = None
        self.main_url = ""
        self.browse_url = ""
        self.banner: list[str] = []

    def __enter__(self) -> ReplayProcess:
        opts = {"STORE_URI": self.store_uri, "REPLAY_INDEX": str(self.workdir / "replay-index.sqlite"),
                "REPLAY_CACHE_DIR": str(self.workdir / "replay-cache"),
                "REPLAY_ASSETS_DIR": str(ROOT / ".replayweb"), **self.settings}
        args = [str(Path(sys.executable).with_name("scrapy")), "replay", "--port", "0", "--browse-port", "0"]
        for key, value in opts.items():
            args += ["-s", f"{key}={value}"]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT), **self.env})
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # blocks until the server has printed its addresses (or died)
            self.banner.append(line.rstrip())
            if "raw replay, Memento:" in line:
                self.main_url = line.split()[-1].rstrip("/")
            elif "browsing replay:" in line:
                self.browse_url = line.split()[-1].split("/browse/")[0]
            elif "Ctrl-C" in line:
                break
        if not self.main_url:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.stop()
            raise RuntimeError(f"scrapy replay did not start: {self.banner} {err[-2000:]}")
        return self

    def stop(self) -> str:
        """Stop the server (SIGINT, as Ctrl-C) and return what it wrote to stderr."""
        err = ""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                try:
                    _, err = self.proc.communicate(timeout=20)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    _, err = self.proc.communicate()
            self.proc = None
        return err

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def get(url: str, headers: dict[str, str] | None = None,
        method: str = "GET") -> tuple[int, str, list[tuple[str, str]], bytes]:
    """One request, no redirect followed: status, reason, every header line (repeats kept), body."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        target = url[len(f"{parts.scheme}://{parts.netloc}"):] or "/"
        conn.request(method, target, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.reason, resp.getheaders(), resp.read()
    finally:
        conn.close()
