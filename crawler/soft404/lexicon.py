"""What error pages say, as real platforms phrase it: the lexicon of crawler/soft404/lexicon.json (titles,
headings and message sentences of real platforms' templates and translation files, some 80 languages;
tools/build_soft404_lexicon.py), and how a short text is matched against it: a phrase matches whole words,
in order. Never nearly: without word frequencies for every language, "most of a phrase's words" meets live
headlines ("Trumps Tweet wurde gelöscht" is near "Der Beitrag wurde gelöscht").
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from pathlib import Path

LEXICON = Path(__file__).with_name("lexicon.json")
LEXICON_PARTS = ["dev", "heldout"]  # what the crawler reads; training and evaluation read "dev" only
REASONS = ("error-text", "search-page", "blocked-text")

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
    first character), so a text is matched in one pass over its words instead of one per phrase."""

    def __init__(self, phrases: set[str]) -> None:
        self.spaced: dict[str, list[str]] = {}
        self.unspaced: dict[str, list[str]] = {}
        for phrase in sorted(phrases):
            found = words(phrase)
            if CJK.search(phrase):
                packed = found.replace(" ", "")
                self.unspaced.setdefault(packed[0], []).append(packed)
            elif found.strip():
                self.spaced.setdefault(found.split()[0], []).append(found)

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

    def mark(self, tokens: list[str], covered: list[bool]) -> None:
        """Mark the tokens (words; CJK characters one each) that a phrase covers."""
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


@cache
def lexicon() -> dict[str, Phrases]:
    data = json.loads(LEXICON.read_text(encoding="utf-8"))
    phrases: dict[str, set[str]] = {}
    for part in LEXICON_PARTS:
        for reason, found in data[part].items():
            phrases.setdefault(reason, set()).update(found)
    return {reason: Phrases(found) for reason, found in phrases.items()}


def lexicon_cue(text: str) -> str | None:
    """The reason the lexicon gives for `text` (short prominent text: a title, a heading, an opening)."""
    if not text:
        return None
    said = words(text)
    return next((reason for reason in REASONS if lexicon()[reason].found_in(said)), None)
