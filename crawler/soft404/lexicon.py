"""What error pages say, as real platforms phrase it: the lexicon of crawler/soft404/lexicon.json (titles,
headings and message sentences of real platforms' templates and translation files, some 80 languages;
tools/build_soft404_lexicon.py), and how a short text is matched against it.

A phrase matches whole words, in order, or, in a short text (a title, a heading, a message line), nearly:
most of its words, close together, two of them words that live pages rarely use. Platforms word one message
many ways ("The page can't be found", "This page could not be found", "Die Seite wurde nicht gefunden" /
"Die angeforderte Seite konnte nicht gefunden werden"); a lexicon of some platforms then also knows the
others'. Measured by cross-validation over the development platforms (half builds the lexicon, the other
half's strings are matched; `benchmarks/soft404.py` reports the held-out hosts): error wording found 119 of
421 strings instead of 46, search pages 20 of 81 instead of 5, and none of 4,294 titles, headings and
paragraphs of real live pages matched.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from functools import cache
from pathlib import Path

LEXICON = Path(__file__).with_name("lexicon.json")
LEXICON_PARTS = ["dev", "heldout"]  # what the crawler reads; training and evaluation read "dev" only
REASONS = ("error-text", "search-page", "blocked-text")
NEAR_SHARE = 0.6  # a near match has this share of a phrase's words or more (and two at least) ...
NEAR_SLACK = 2  # ... within the phrase's length and this many more words of the text ...
NEAR_RARE = 2  # ... this many of them rare on live pages (not in the lexicon's "common" list) and ...
NEAR_LETTERS = 4  # ... this long: short words are mostly a language's "not", "is", "the"; rare in few pages ...
NEAR_MAX_WORDS = 24  # ... in a text this short: in a paragraph, common words meet by chance

_WORDS = re.compile(r"\w+")
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def words(text: str) -> str:
    """Text as its words, case folded, one space apart and at both ends: phrases match whole words only
    ("oops" is not in "troops")."""
    return " " + " ".join(_WORDS.findall(unicodedata.normalize("NFKC", text).casefold())) + " "


def use_lexicon(*parts: str) -> None:
    """Read only these parts of the lexicon from now on (tools/train_soft404.py, benchmarks/soft404.py)."""
    LEXICON_PARTS[:] = parts
    lexicon.cache_clear()


class Phrases:
    """The phrases of one reason, indexed by their first word (or, in scripts written without spaces, their
    first character), so a text is matched in one pass over its words instead of one per phrase; and by
    each of their rare words, for near matches."""

    def __init__(self, phrases: set[str], common: frozenset[str] = frozenset()) -> None:
        self.common = common
        self.spaced: dict[str, list[str]] = {}
        self.unspaced: dict[str, list[str]] = {}
        self.near: dict[str, list[tuple[str, ...]]] = {}
        for phrase in sorted(phrases):
            found = words(phrase)
            if CJK.search(phrase):
                packed = found.replace(" ", "")
                self.unspaced.setdefault(packed[0], []).append(packed)
            elif found.strip():
                self.spaced.setdefault(found.split()[0], []).append(found)
                said = tuple(found.split())
                for word in set(said) - common:
                    self.near.setdefault(word, []).append(said)

    def found_in(self, text: str) -> bool:
        """Whether a phrase is in `text` (as words() gives it): whole words, or anywhere for CJK."""
        for word in set(text.split()):
            if any(phrase in text for phrase in self.spaced.get(word, ())):
                return True
        if not CJK.search(text):
            return False
        packed = text.replace(" ", "")
        return any(packed.startswith(phrase, at) for at, char in enumerate(packed)
                   for phrase in self.unspaced.get(char, ()))

    def near_spans(self, tokens: list[str]) -> list[tuple[int, int, frozenset[str]]]:
        """Where the text (its words) nearly says a phrase: (start, end, the phrase's words) for each phrase
        that has NEAR_SHARE of its words in it, close together, NEAR_RARE of them rare on live pages."""
        if len(tokens) > NEAR_MAX_WORDS:
            return []
        present, seen, found = set(tokens), set(), []
        for word in present - self.common:
            for phrase in self.near.get(word, ()):
                if phrase in seen:
                    continue
                seen.add(phrase)
                said = frozenset(phrase)
                need = max(2, math.ceil(NEAR_SHARE * len(said)))
                hit = said & present
                if len(hit) < need or sum(1 for word in hit - self.common if len(word) >= NEAR_LETTERS) < NEAR_RARE:
                    continue
                at = [n for n, token in enumerate(tokens) if token in said]
                for first in range(len(at) - need + 1):
                    last = at[first + need - 1]
                    if last - at[first] < len(said) + NEAR_SLACK and \
                            len({tokens[n] for n in at[first:first + need]}) >= need:
                        found.append((at[first], last + 1, said))
                        break
        return found

    def mark(self, tokens: list[str], covered: list[bool]) -> None:
        """Mark the tokens (words; CJK characters one each) that a phrase covers, or nearly covers."""
        for at, token in enumerate(tokens):
            for phrase in self.spaced.get(token, ()):
                said = phrase.split()
                if tokens[at:at + len(said)] == said:
                    covered[at:at + len(said)] = [True] * len(said)
            for packed in self.unspaced.get(token[0], []):
                end, joined = at, ""
                while end < len(tokens) and len(joined) < len(packed):
                    joined += tokens[end]
                    end += 1
                if joined == packed:
                    covered[at:end] = [True] * (end - at)
        for start, end, near in self.near_spans(tokens):
            for at in range(start, end):
                covered[at] = covered[at] or tokens[at] in near


@cache
def lexicon() -> dict[str, Phrases]:
    data = json.loads(LEXICON.read_text(encoding="utf-8"))
    common = frozenset(data.get("common", ()))
    phrases: dict[str, set[str]] = {}
    for part in LEXICON_PARTS:
        for reason, found in data[part].items():
            phrases.setdefault(reason, set()).update(found)
    return {reason: Phrases(found, common) for reason, found in phrases.items()}


def lexicon_cue(text: str) -> str | None:
    """The reason the lexicon gives for `text` (short prominent text: a title, a heading, an opening)."""
    if not text:
        return None
    said = words(text)
    for reason in REASONS:
        if lexicon()[reason].found_in(said):
            return reason
    if CJK.search(said):
        return None
    tokens = said.split()  # no phrase said whole: one said nearly ("You must log in to read this page")
    return next((reason for reason in REASONS if lexicon()[reason].near_spans(tokens)), None)
