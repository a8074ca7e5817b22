"""Words of a story, for similarity and diffs: runs of non-space characters, except in scripts written
without spaces (Chinese, Japanese kana, Thai), where every character is a word. Splitting a Chinese story
on spaces gives one "word" per paragraph, and an edit anywhere in it would change the whole paragraph.
"""

from __future__ import annotations

import re

# CJK punctuation, kana, CJK ideographs (and extension A, compatibility), full-width forms; Thai, Lao.
UNSPACED = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef\u0e00-\u0eff"
WORD = rf"[{UNSPACED}]|[^\s{UNSPACED}]+"
_WORD = re.compile(WORD)
_UNSPACED = re.compile(rf"[{UNSPACED}]")


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def unspaced(token: str) -> bool:
    """A one-character word of a script without spaces: no space goes next to it when words are joined."""
    return len(token) == 1 and bool(_UNSPACED.match(token))
