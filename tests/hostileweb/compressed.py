"""Compressed bodies: decompression bombs (built by streaming, never holding what they inflate to) and broken
encodings. Each is built once and kept (the bombs at start-up, the rest on first use): a few MB at most."""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Callable
from functools import cache

import brotli
from backports import zstd

MIB = 1024 * 1024
BOMB_PREFIX = b"<!DOCTYPE html><html><head><title>Bomb</title></head><body><p>"
_lock = threading.Lock()
_bomb_size = 1024 * MIB  # what a bomb inflates to; set once at start-up (`--bomb-mib`)


def set_bomb_size(size: int) -> None:
    global _bomb_size  # noqa: PLW0603 - one setting of the process, read by every bomb
    _bomb_size = size


def bomb_size() -> int:
    return _bomb_size


def _inflated(size: int) -> list[bytes]:
    """The bomb's content as 1 MiB pieces: an HTML start, then spaces. Only one piece is real: the others
    are the same object."""
    spaces = b" " * MIB
    return [BOMB_PREFIX + spaces[len(BOMB_PREFIX):], *([spaces] * (size // MIB - 1))]


def _gzip_stream(pieces: list[bytes], wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return b"".join(packer.compress(p) for p in pieces) + packer.flush()


def _brotli_stream(pieces: list[bytes]) -> bytes:
    packer = brotli.Compressor(quality=5)
    out = b"".join(packer.process(p) for p in pieces)
    return bytes(out + packer.finish())


def _zstd_stream(pieces: list[bytes]) -> bytes:
    packer = zstd.ZstdCompressor(level=3)
    return b"".join(packer.compress(p) for p in pieces) + packer.flush()


_BUILDERS: dict[str, Callable[[list[bytes]], bytes]] = {
    "gzip": lambda pieces: _gzip_stream(pieces, 31),  # wbits 16 + 15: a gzip member
    "deflate": lambda pieces: _gzip_stream(pieces, 15),  # zlib-wrapped, what "deflate" means in HTTP
    "br": _brotli_stream,
    "zstd": _zstd_stream,
}

BOMB_ENCODINGS = tuple(_BUILDERS)


@cache
def _bomb(encoding: str, size: int) -> bytes:
    return _BUILDERS[encoding](_inflated(size))


def bomb(encoding: str) -> bytes:
    """A body in `encoding` (gzip, deflate, br, zstd) that inflates to `bomb_size()` bytes."""
    with _lock:  # the first request builds it (gzip: ~2 s per GiB), the others wait for that one
        return _bomb(encoding, _bomb_size)


def double_gzip(html: bytes) -> bytes:
    """gzip of gzip: sent with `Content-Encoding: gzip` once, so one decoding leaves gzip bytes."""
    return gzip.compress(gzip.compress(html, mtime=0), mtime=0)


def truncated_gzip(html: bytes) -> bytes:
    """A gzip member cut in the middle of its deflate stream (no end, no CRC), framed correctly."""
    whole = gzip.compress(html, mtime=0)
    return whole[: len(whole) // 2]
