"""Content decoding (gzip, deflate, brotli, zstd, and chains of them) as a stream that stops at a size limit.

Why not Scrapy's HttpCompressionMiddleware: it decodes each encoding of a chain to its own limit (a chain of
two may hold twice the limit), takes its limit from `request.meta["download_maxsize"]`, which the capture
middleware sets to 0 so that the download handler cuts instead of dropping (crawler/capture.py) - so it
decoded a 4 GiB bomb whole - and when it does stop, it raises IgnoreRequest past every middleware on the
engine side, so the URL had no crawl-log entry and no verdict. A body that cannot be decoded went the same
way. Here the raw body is fed through the decoders a few kilobytes at a time, each decoder's output is
bounded, and decoding stops as soon as the decoded body passes the limit; what comes out is the decoded
prefix and why it stopped (`Decoded.problem`), never an exception.

Pure functions, no Scrapy: the middleware is crawler/compression.py.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import brotli

from crawler.limits import DATA_LOSS, DECODE_FAILED, DECOMPRESSION_BOMB, TOO_LARGE

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

DECODABLE = ("gzip", "x-gzip", "deflate", "br", "zstd")
RAW_CHUNK = 4096  # raw bytes fed at a time: the decoded/raw ratio of a bomb is measured to this grain
OUT_CHUNK = 65536  # the most one decoder hands on per step
_GZIP = 16 + zlib.MAX_WBITS


class DecodeError(ValueError):
    """The data is not in the encoding it is labelled with."""


class _Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...
    @property
    def finished(self) -> bool: ...


class _Zlib:
    """gzip (members one after another, as browsers read them) and deflate (zlib-wrapped or raw)."""

    def __init__(self, wbits: int) -> None:
        self.wbits = wbits
        self._z: zlib._Decompress | None = None
        self._done = False

    @property
    def finished(self) -> bool:
        return self._done

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            if self._z is None:
                if self._done and (self.wbits != _GZIP or not data.startswith(b"\x1f\x8b")):
                    return  # trailing bytes after the stream: ignored, as browsers do
                self._z, self._done = zlib.decompressobj(self._wbits_for(data)), False
            try:
                out = self._z.decompress(data, OUT_CHUNK)
            except zlib.error as exc:
                raise DecodeError(str(exc)) from None
            if out:
                yield out
            if self._z.eof:
                data, self._z, self._done = self._z.unused_data, None, True
            else:
                data = self._z.unconsumed_tail

    def _wbits_for(self, data: bytes) -> int:
        if self.wbits != zlib.MAX_WBITS:
            return self.wbits
        zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
        return zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS  # raw deflate: what some servers send


class _Brotli:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    @property
    def finished(self) -> bool:
        return bool(self._d.is_finished())

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._d.is_finished():
            return
        try:
            out = self._d.process(data, output_buffer_limit=OUT_CHUNK)
            while out:  # the decoder may hold more output than it handed out: drain it, a piece at a time
                yield out
                if self._d.is_finished():
                    return
                out = self._d.process(b"", output_buffer_limit=OUT_CHUNK)
        except brotli.error as exc:
            raise DecodeError(str(exc)) from None


class _Zstd:
    """zstd frames one after another."""

    def __init__(self) -> None:
        self._d: zstd.ZstdDecompressor | None = None
        self._done = False

    @property
    def finished(self) -> bool:
        return self._done

    def feed(self, data: bytes) -> Iterator[bytes]:
        pending = data
        while True:
            if self._d is None:
                if not pending:
                    return
                self._d, self._done = zstd.ZstdDecompressor(), False
            try:
                out = self._d.decompress(pending, OUT_CHUNK)
            except zstd.ZstdError as exc:
                raise DecodeError(str(exc)) from None
            pending = b""
            if out:
                yield out
            if self._d.eof:
                pending, self._d, self._done = self._d.unused_data, None, True
            elif self._d.needs_input:
                return


def _decoder(encoding: str) -> _Decoder:
    if encoding in ("gzip", "x-gzip"):
        return _Zlib(_GZIP)
    if encoding == "deflate":
        return _Zlib(zlib.MAX_WBITS)
    if encoding == "br":
        return _Brotli()
    return _Zstd()


@dataclass(frozen=True)
class Decoded:
    """The decoded body (at most `limit` bytes), the encodings left undone, and why decoding stopped early."""

    body: bytes
    remaining: list[str]
    problem: str | None = None
    detail: str = ""
    raw_read: int = 0  # raw bytes fed in before decoding stopped


def split_encodings(headers: list[bytes]) -> tuple[list[str], list[str]]:
    """(encodings to undo, outermost first; encodings left as they are): the tail of the Content-Encoding
    chain we can decode. `identity` is no encoding at all."""
    chain = [token.strip().lower() for value in headers for token in value.decode("latin-1").split(",")]
    chain = [token for token in chain if token and token != "identity"]
    undo: list[str] = []
    while chain and chain[-1] in DECODABLE:
        undo.append(chain.pop())
    return undo, chain


def _through(decoders: list[_Decoder], data: bytes) -> Iterator[bytes]:
    """`data` through the chain of decoders, outermost first, one bounded piece at a time."""
    if not decoders:
        yield data
        return
    for piece in decoders[0].feed(data):
        yield from _through(decoders[1:], piece)


def decode(body: bytes, encodings: list[str], limit: int, bomb_ratio: float) -> Decoded:
    """Undo `encodings` (outermost first) on `body`, stopping once more than `limit` bytes came out (0: no
    limit). Past the limit the body is a `decompression-bomb` when it came from `bomb_ratio` times fewer raw
    bytes, else `too-large`; `decode-failed` when the data is not in its encoding, `data-loss` when its
    encoding ends before the data does (a cut stream)."""
    decoders = [_decoder(encoding) for encoding in encodings]
    out: list[bytes] = []
    size = read = 0
    try:
        for start in range(0, len(body), RAW_CHUNK):
            chunk = body[start:start + RAW_CHUNK]
            read += len(chunk)
            for piece in _through(decoders, chunk):
                out.append(piece)
                size += len(piece)
                if limit and size > limit:
                    return _over(b"".join(out)[:limit], encodings, limit, size, read, bomb_ratio)
    except DecodeError as exc:
        return Decoded(b"".join(out), [], DECODE_FAILED, f"not valid {'+'.join(encodings)}: {exc}", read)
    if not all(d.finished for d in decoders):
        return Decoded(b"".join(out), [], DATA_LOSS, f"{'+'.join(encodings)} stream ends early", read)
    return Decoded(b"".join(out), [], None, "", read)


def _over(body: bytes, encodings: list[str], limit: int, size: int, read: int, bomb_ratio: float) -> Decoded:
    ratio = size / max(read, 1)
    problem = DECOMPRESSION_BOMB if ratio >= bomb_ratio else TOO_LARGE
    detail = f"{'+'.join(encodings)}: over {limit} B decoded from {read} B (ratio {ratio:.0f})"
    return Decoded(body, [], problem, detail, read)
