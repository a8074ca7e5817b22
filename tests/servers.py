"""Real server processes for tests and benchmarks: a free loopback port, moto_server (S3 API), and FaultyS3
(a reverse proxy process in front of an S3 server that answers writes with S3 errors on demand).

    python -m tests.servers faulty-s3 UPSTREAM_URL   # the proxy itself, as FaultyS3 starts it
"""

from __future__ import annotations

import collections
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
# What tests and benchmarks give boto3 for moto_server (which takes any credentials).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def create_bucket(endpoint: str, bucket: str) -> Any:
    """A boto3 client for `endpoint` (credentials from the environment or CREDENTIALS), with `bucket` made."""
    import boto3  # noqa: PLC0415 (the FaultyS3 proxy process imports this module and needs no boto3)

    keys = {"aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)
    client.create_bucket(Bucket=bucket)
    return client


def free_port() -> int:
    """A port nobody listens on right now, on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def dead_endpoint() -> str:
    """An S3 endpoint where nothing listens: every connection is refused at once."""
    return f"http://127.0.0.1:{free_port()}"


class MotoServer:
    """moto_server on a free loopback port, in its own process group: it serves from a child process, so
    pausing or stopping it means signalling the group. A context manager that stops it.

    Its stderr (one log line per request) is drained by a thread once it listens: an unread pipe fills
    after ~1000 requests and the server then hangs in the middle of a test."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.endpoint = ""
        self.log: collections.deque[str] = collections.deque(maxlen=50)  # its last lines, for a failing test
        self._drain: threading.Thread | None = None

    def start(self) -> MotoServer:
        port = free_port()
        cmd = [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        assert self.proc.stderr is not None
        for line in self.proc.stderr:  # wait for the server to say it listens, instead of sleeping
            self.log.append(line)
            if "Running on" in line:
                self.endpoint = f"http://127.0.0.1:{port}"
                self._drain = threading.Thread(target=self.log.extend, args=(self.proc.stderr,), daemon=True)
                self._drain.start()
                return self
        self.stop()
        raise RuntimeError("moto_server exited before listening: " + "".join(self.log)[-2000:])

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def pause(self) -> None:
        """The server stops answering (connections are accepted, requests wait) until `resume`."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None:
            self._signal(signal.SIGCONT)
            self._signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
            if self._drain is not None:
                self._drain.join(timeout=10)  # the pipe ends with the process
                self._drain = None
            if self.proc.stderr is not None:
                self.proc.stderr.close()
            self.proc = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class RedisServer:
    """A real redis-server on a free loopback port, persisting nothing (`--save ''`), stopped by its PID.
    A context manager. `pause()` / `resume()` stop and continue the process (a Redis that hangs)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.log: collections.deque[str] = collections.deque(maxlen=50)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = free_port()
        cmd = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--daemonize", "no", "--loglevel", "notice"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # wait for it to say it listens, instead of sleeping
            self.log.append(line)
            if "Ready to accept connections" in line:
                threading.Thread(target=self.log.extend, args=(self.proc.stdout,), daemon=True).start()
                return self
        self.stop()
        raise RuntimeError("redis-server exited before listening: " + "".join(self.log)[-2000:])

    def pause(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None:
            self.resume()
            self.proc.terminate()
            self.proc.wait(timeout=10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


# S3's own error bodies for the statuses FaultyS3 can answer with, as AWS sends them.
S3_ERRORS = {
    "500": ("InternalError", "We encountered an internal error. Please try again."),
    "503": ("SlowDown", "Please reduce your request rate."),
    "403": ("AccessDenied", "Access Denied"),
}
FAULT_MODES = ("pass", "drop", *S3_ERRORS)  # drop: read the request, then close the connection unanswered
# writes: PUT (object, part) and POST (initiate, complete multipart); parts: only a multipart upload's parts
# and its completion, once it has begun; all: every request.
FAULT_SCOPES = ("writes", "parts", "all")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "expect", "upgrade", "te"}


class FaultyS3:
    """A reverse proxy process on a free loopback port in front of `upstream` (a MotoServer's endpoint).

    It passes every request through, byte for byte (aws-chunked bodies and their checksum trailers
    included), until told otherwise through its control endpoint, `GET /_fault?mode=500&scope=writes`
    (`fault()` here): then it answers the requests in scope with that S3 error, after reading the body as
    S3 does. `GET /_fault` alone returns the mode and how many requests were faulted and passed since it
    was set.
    A context manager that stops it.
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.proc: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def start(self) -> FaultyS3:
        cmd = [sys.executable, "-m", "tests.servers", "faulty-s3", self.upstream]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the proxy binds port 0 and says which port it got: no race
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"FaultyS3 exited before listening: {line!r}")
        self.endpoint = line.removeprefix("listening on ").strip()
        return self

    def _control(self, query: str) -> dict[str, Any]:
        """A control request straight to the proxy's socket (not urllib, which would honour HTTP_PROXY)."""
        host, _, port = urlsplit(self.endpoint).netloc.partition(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("GET", f"/_fault{query}")
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"FaultyS3 control {query!r}: {response.status} {body!r}")
        state: dict[str, Any] = json.loads(body)
        return state

    def fault(self, mode: str, scope: str = "writes", count: int = 0) -> None:
        """Answer requests in `scope` (writes, parts, all) with `mode` (500, 503, 403, drop) from now on, or
        only the next `count` of them; "pass" clears it."""
        self._control(f"?mode={mode}&scope={scope}&count={count}")

    def state(self) -> dict[str, Any]:
        """{"mode", "scope", "faulted", "passed"}: what the proxy does, and has done since `fault()`."""
        return self._control("")

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
            self.proc.wait(timeout=10)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None

    def __enter__(self) -> FaultyS3:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


class _FaultyS3Handler(BaseHTTPRequestHandler):
    """One request: control, fault or pass through to the upstream (one upstream connection per request)."""

    protocol_version = "HTTP/1.1"  # keep-alive and 100-continue, as boto3 uses them with S3
    upstream: ClassVar[tuple[str, int]] = ("127.0.0.1", 0)
    lock: ClassVar[threading.Lock] = threading.Lock()
    state: ClassVar[dict[str, Any]] = {"mode": "pass", "scope": "writes", "faulted": 0, "passed": 0, "count": 0}

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's signature)
        """Quiet: the test reads the state through /_fault instead."""

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/_fault":
            self._control()
        else:
            self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _control(self) -> None:
        query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        mode, scope = query.get("mode"), query.get("scope", "writes")
        if (mode is not None and mode not in FAULT_MODES) or scope not in FAULT_SCOPES:
            self._reply(400, b"unknown mode or scope", "text/plain")
            return
        with self.lock:
            if mode is not None:  # counting starts again with each mode
                self.state.update(mode=mode, scope=scope, faulted=0, passed=0, count=int(query.get("count") or 0))
            body = json.dumps(self.state).encode()
        self._reply(200, body, "application/json")

    def _body(self) -> bytes:
        """The request body exactly as sent: chunked framing (boto3's aws-chunked uploads use it, with the
        checksum in a trailer) is kept, so the upstream sees what the client sent."""
        if "chunked" not in self.headers.get("Transfer-Encoding", "").lower():
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        raw = bytearray()
        while True:
            line = self.rfile.readline()
            raw += line
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while (trailer := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                    raw += trailer
                raw += b"\r\n"
                return bytes(raw)
            raw += self.rfile.read(size + 2)  # the chunk and its CRLF

    def _in_scope(self) -> bool:
        query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        scope = self.state["scope"]
        if scope == "parts":
            return self.command in ("PUT", "POST") and "uploadId" in query
        write = self.command == "PUT" or (self.command == "POST" and ("uploads" in query or "uploadId" in query))
        return scope == "all" or write

    def _handle(self) -> None:
        body = self._body()
        with self.lock:
            mode = self.state["mode"] if self._in_scope() else "pass"
            if mode != "pass" and self.state["count"] and self.state["faulted"] >= self.state["count"]:
                mode = "pass"  # only the first `count` requests in scope were to fail
            self.state["faulted" if mode != "pass" else "passed"] += 1
        if mode == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode != "pass":
            code, message = S3_ERRORS[mode]
            request_id = uuid.uuid4().hex[:16].upper()
            xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
                   f"<RequestId>{request_id}</RequestId><HostId>faulty-s3</HostId></Error>").encode()
            self._reply(int(mode), xml, "application/xml", {"x-amz-request-id": request_id})
            return
        self._forward(body)

    def _forward(self, body: bytes) -> None:
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            if self.command in ("PUT", "POST") and "Transfer-Encoding" not in headers:
                headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
            data = response.read()
            self.send_response_only(response.status, response.reason)
            for name, value in response.getheaders():
                if name.lower() not in HOP_BY_HOP | {"transfer-encoding", "content-length", "date", "server"}:
                    self.send_header(name, value)
            length = response.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length if length is not None else str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        finally:
            conn.close()

    def _reply(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def serve_faulty_s3(upstream: str) -> None:
    """Run the FaultyS3 proxy on a free loopback port until terminated; print the endpoint first."""
    netloc = urlsplit(upstream).netloc
    host, _, port = netloc.partition(":")
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit(f"FaultyS3 only proxies to loopback, not {upstream}")
    _FaultyS3Handler.upstream = ("127.0.0.1", int(port or 80))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FaultyS3Handler)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    signal.signal(signal.SIGTERM, lambda signum, frame: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    if sys.argv[1:2] == ["faulty-s3"] and len(sys.argv) == 3:
        serve_faulty_s3(sys.argv[2])
    else:
        raise SystemExit("usage: python -m tests.servers faulty-s3 UPSTREAM_URL")
