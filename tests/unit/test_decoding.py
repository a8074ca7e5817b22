"""Content decoding as a bounded stream (crawler/decoding.py): every encoding, chains, bombs, broken data."""

from __future__ import annotations

import gzip
import sys
import zlib
from collections.abc import Callable

import brotli
import pytest

from crawler.decoding import decode, split_encodings

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

PAGE = b"<html><body>" + b"".join(b"<p>paragraph %d of a story</p>" % i for i in range(20000)) + b"</body></html>"
ZEROS = b"\0" * (64 * 1024 * 1024)  # what a bomb inflates to
LIMIT = 2 * 1024 * 1024

ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda data: gzip.compress(data, compresslevel=9),
    "deflate": lambda data: zlib.compress(data, 9),
    "br": lambda data: brotli.compress(data, quality=5),
    "zstd": zstd.compress,
}


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_each_encoding_decodes_whole(encoding: str) -> None:
    decoded = decode(ENCODERS[encoding](PAGE), [encoding], LIMIT, 100)
    assert decoded.body == PAGE and decoded.problem is None


@pytest.mark.parametrize("encoding", sorted(ENCODERS))
def test_a_bomb_of_each_encoding_stops_at_the_limit(encoding: str) -> None:
    bomb = ENCODERS[encoding](ZEROS)
    decoded = decode(bomb, [encoding], LIMIT, 100)
    assert decoded.problem == "decompression-bomb", decoded.detail
    assert len(decoded.body) == LIMIT
    assert decoded.raw_read < len(bomb) or len(bomb) < 8192  # stopped early, not after inflating it all


def test_a_chain_is_undone_outermost_first_and_bounded_as_a_whole() -> None:
    twice = gzip.compress(brotli.compress(PAGE))  # Content-Encoding: br, gzip
    assert split_encodings([b"br, gzip"]) == (["gzip", "br"], [])
    assert decode(twice, ["gzip", "br"], LIMIT, 100).body == PAGE
    bomb = gzip.compress(gzip.compress(ZEROS))  # the outer layer is small: only the inner one inflates
    decoded = decode(bomb, ["gzip", "gzip"], LIMIT, 100)
    assert decoded.problem == "decompression-bomb" and len(decoded.body) == LIMIT


def test_a_large_body_that_compresses_normally_is_too_large_not_a_bomb() -> None:
    decoded = decode(gzip.compress(PAGE), ["gzip"], len(PAGE) // 2, 100)
    assert decoded.problem == "too-large" and len(decoded.body) == len(PAGE) // 2


def test_data_not_in_its_encoding_is_decode_failed() -> None:
    for encoding in ENCODERS:
        decoded = decode(b"<html>not compressed at all</html>" * 10, [encoding], LIMIT, 100)
        assert decoded.problem == "decode-failed", encoding


def test_a_stream_cut_short_is_data_loss_with_what_it_decoded() -> None:
    decoded = decode(gzip.compress(PAGE)[:-2000], ["gzip"], LIMIT, 100)
    assert decoded.problem == "data-loss" and PAGE.startswith(decoded.body) and decoded.body


def test_gzip_members_one_after_another_and_raw_deflate_are_read_as_browsers_do() -> None:
    assert decode(gzip.compress(b"one ") + gzip.compress(b"two"), ["gzip"], LIMIT, 100).body == b"one two"
    raw = zlib.compressobj(wbits=-15)
    assert decode(raw.compress(PAGE) + raw.flush(), ["deflate"], LIMIT, 100).body == PAGE


def test_unknown_and_identity_encodings() -> None:
    assert split_encodings([b"identity"]) == ([], [])
    assert split_encodings([b"gzip", b"compress, br"]) == (["br"], ["gzip", "compress"])
