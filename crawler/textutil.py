"""Text fingerprints shared by the crawl log, items and (later) audit: digests, simhash, normalisation."""

from __future__ import annotations

import base64
import hashlib
import re
import unicodedata

# CJK ideographs, kana and hangul count one token per character; everything else by \w+ runs.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_TOKEN = re.compile(f"[{_CJK}]|[^\\W{_CJK}]+")
_BIT_OF = [bytes((value >> bit) & 1 for value in range(256)) for bit in range(8)]  # byte -> its bit, as 0/1
_SPACES = re.compile(r"[ \t\u00a0\u3000\u200b]+")


def sha1_digest(data: bytes) -> str:
    """`sha1:BASE32`, the form WARC payload digests use."""
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


def tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def simhash(text: str, shingle: int = 3) -> str | None:
    """64-bit SimHash over token shingles, as 16 hex digits; None for text too short to fingerprint.

    Written here because the PyPI simhash packages are either unmaintained or pull in numpy for a
    twenty-line computation.
    """
    toks = tokens(text)
    if len(toks) < shingle:
        return None
    blob = b"".join(
        hashlib.blake2b(" ".join(toks[i:i + shingle]).encode(), digest_size=8).digest()
        for i in range(len(toks) - shingle + 1)
    )
    count = len(blob) // 8
    result = 0
    # Majority vote per bit, done in C: one byte column per digest position, one translate+count per bit.
    for position in range(8):
        column = blob[position::8]
        for bit in range(8):
            if column.translate(_BIT_OF[bit]).count(1) * 2 > count:
                result |= 1 << ((7 - position) * 8 + bit)
    return f"{result:016x}"


def hamming(a: str, b: str) -> int:
    """Bits that differ between two simhashes."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def clean_text(text: str) -> str:
    """NFC, no stray whitespace, paragraphs separated by exactly one blank line."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = (_SPACES.sub(" ", p).strip() for p in re.split(r"\n\s*\n|\n", text))
    return "\n\n".join(p for p in paragraphs if p)
