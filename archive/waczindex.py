"""Streaming pieces of WACZ packaging: store objects read in chunks, their lines, the merged CDXJ, and the
compressed index (`index.cdx.gz` + `index.idx`) written block by block.

Nothing here holds a whole WARC, a whole crawl log or a whole index: a crawl of a million pages packs in the
memory of one chunk per CDXJ file (the merge reads them side by side) plus one index block.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Protocol

from archive.store import Store

# One object read per request: big for WARCs (few S3 GETs), smaller for the CDXJ files a merge keeps open at once.
COPY_CHUNK = 8 * 1024 * 1024
LINE_CHUNK = 512 * 1024
# Lines per gzip member of index.cdx.gz. cdxj-indexer writes 300, py-wacz 1024: a reader unpacks one block
# per lookup, so a block is a few hundred KB of CDXJ at most.
BLOCK_LINES = 1024
INDEX_NAME = "index.cdx.gz"


def chunks(store: Store, key: str, size: int, chunk: int = COPY_CHUNK) -> Iterator[bytes]:
    """`key`'s bytes in `chunk`-sized ranges, up to the `size` the listing gave; fails when the object is
    shorter than listed (changed while it was being packed), which would make a corrupt member."""
    read = 0
    while read < size:
        data = store.get_range(key, read, min(chunk, size - read))
        if not data:
            raise OSError(f"{key} ends at byte {read}, the store listed {size}")
        read += len(data)
        yield data


def gunzip(stream: Iterable[bytes]) -> Iterator[bytes]:
    """Undo gzip on a chunk stream, across concatenated members (as gzip.decompress does on whole bytes)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for chunk in stream:
        data = chunk
        while data:
            yield inflater.decompress(data)
            if not inflater.eof:
                break
            data = inflater.unused_data
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    yield inflater.flush()


def lines(stream: Iterable[bytes]) -> Iterator[str]:
    """The non-empty lines of a byte stream, decoded as UTF-8, without their line ends."""
    carry = b""
    for data in stream:
        carry += data
        *complete, carry = carry.split(b"\n")
        for line in complete:
            if line.strip():
                yield line.rstrip(b"\r").decode("utf-8", errors="replace")
    if carry.strip():
        yield carry.rstrip(b"\r").decode("utf-8", errors="replace")


def merged_cdxj(store: Store, parts: Iterable[tuple[str, int]]) -> Iterator[str]:
    """Every line of the per-WARC CDXJ files (each sorted), in one sorted order: a k-way merge, as `sort -m`.
    Python compares str by code point, which for UTF-8 text is the byte order `LC_ALL=C sort` gives."""
    return heapq.merge(*(lines(chunks(store, key, size, LINE_CHUNK)) for key, size in parts))


class Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


class HashingWriter:
    """A write-only file that passes bytes on and keeps their sha256 and count (a datapackage resource's)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.bytes += len(data)
        return self.out.write(data)

    @property
    def hash(self) -> str:
        return f"sha256:{self.sha256.hexdigest()}"


class CompressedIndex:
    """index.cdx.gz as WACZ 1.1.1 describes it (cdxj-indexer's CompressedWriter): CDXJ lines in gzip members of
    `block_lines` each, concatenated; `idx_lines()` gives index.idx: a `!meta` line, then per block its first
    line's key (SURT and timestamp) with the block's offset, length and sha256 in index.cdx.gz."""

    def __init__(self, out: Writable, block_lines: int = BLOCK_LINES) -> None:
        if block_lines < 1:
            raise ValueError(f"block_lines must be at least 1, not {block_lines}")
        self.out = out
        self.block_lines = block_lines
        self.block: list[str] = []
        self.offset = 0
        self.lines = 0
        self._idx = [f"!meta 0 {json.dumps({'format': 'cdxj-gzip-1.0', 'filename': INDEX_NAME})}"]

    def write(self, line: str) -> None:
        self.block.append(line)
        self.lines += 1
        if len(self.block) >= self.block_lines:
            self.flush()

    def flush(self) -> None:
        if not self.block:
            return
        packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        data = packer.compress("".join(f"{line}\n" for line in self.block).encode()) + packer.flush()
        key = " ".join(self.block[0].split(" ", 2)[:2])  # SURT TIMESTAMP of the block's first line
        fields = {"offset": self.offset, "length": len(data), "digest": f"sha256:{hashlib.sha256(data).hexdigest()}",
                  "filename": INDEX_NAME}
        self._idx.append(f"{key} {json.dumps(fields)}")
        self.out.write(data)
        self.offset += len(data)
        self.block = []

    def idx_lines(self) -> list[str]:
        """The block index, after `flush()`: one line per block, a 1/`block_lines` fraction of the index."""
        return list(self._idx)
