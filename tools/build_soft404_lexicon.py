"""Build crawler/soft404/lexicon.json: what error pages say, in every language the real sources have.

The phrases come from real platforms' templates and translation files (tests/soft404data/errorpages.json,
each entry with its source) and from the gettext catalogs of more platforms, found by the English of their
messages (tests/soft404data/catalogs.json, tools/build_soft404_catalogs.py; never used to build pages),
all filed by the split of their platform (tests/soft404real.py). The crawler reads
both parts; the model is trained, and benchmarks/soft404.py measures the held-out hosts, with the
development part only, so the held-out figures measure wording the classifier has not seen. Titles,
headings and the short sentences of messages are kept, normalised (case folded, placeholders and
punctuation at the ends dropped), at least two words long (three for login walls and search pages) or four
CJK characters, unless the development hosts' real live pages say them too (an apology, "nothing here").

    python tools/build_soft404_lexicon.py
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scrapy.http import HtmlResponse  # noqa: E402

from crawler.analysis import page_text, page_title  # noqa: E402
from crawler.extract import parse_html  # noqa: E402
from crawler.soft404.blocks import words_of  # noqa: E402
from tests.soft404real import BENCHMARK, _split, error_pages, family, host_of  # noqa: E402

OUT = ROOT / "crawler" / "soft404" / "lexicon.json"
CATALOGS = ROOT / "tests" / "soft404data" / "catalogs.json"
KINDS = {"not-found": "error-text", "removed": "error-text", "item-not-found": "error-text",
         "video-unavailable": "error-text", "search": "search-page", "login": "blocked-text"}
_PLACEHOLDER = re.compile(r"\{[^}]*\}|%\d*\$?[sd]|%\(\w+\)[sdr]|\$\{[^}]*\}|\{\{[^}]*\}\}")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_SENTENCES = re.compile(r"(?<=[.!?。！？])\s+|[|–—:•·]\s*|\s-\s")
MAX_WORDS = 12


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", _PLACEHOLDER.sub(" ", text)).casefold()
    text = re.sub(r"[\s\u00a0]+", " ", text)
    return text.strip(" .!?¡¿:;,'\"“”‘’«»()[]-–—…。！？")


def phrases(entry: dict[str, str]) -> set[str]:
    """The entry's titles, headings and message sentences as phrases. A catalog message (it has its
    English) is taken whole: it was chosen for what all of it says, and a sentence of it alone may say
    something else ("Please see below for details")."""
    found = set()
    for field in ("title", "heading", "body"):
        text = entry.get(field) or ""
        for piece in [text] if entry.get("english") else _SENTENCES.split(text):
            phrase = normalise(piece)
            words = len(phrase.split())
            if not phrase or words > MAX_WORDS:
                continue
            # Two words say "page not found"; a login wall or a search page needs three ("search results"
            # alone is on the search box of every live page of some sites).
            long_enough = words >= (3 if entry["kind"] in ("login", "search") else 2) or len(_CJK.findall(phrase)) >= 4
            if long_enough and not phrase.isdigit():
                found.add(phrase)
    return found


def live_text() -> tuple[str, str]:
    """The visible text of the development hosts' real live pages, as words (and packed, for CJK): a phrase
    found there is said on live pages too ("we are sorry", "nothing here"), so it is no cue."""
    truth = json.loads((BENCHMARK / "ground-truth.json").read_text(encoding="utf-8"))
    texts = []
    for digest, value in truth.items():
        if _split(host_of(value["url"]), "host") != "dev":
            continue
        raw = gzip.decompress((BENCHMARK / "html" / f"{digest}.html.gz").read_bytes())
        tree = parse_html(HtmlResponse(value["url"], body=raw).text)
        if tree is not None:
            texts.append(words_of(f"{page_title(tree, 1000) or ''} {page_text(tree)}"))
    spaced = " | ".join(f" {t} " for t in texts)
    return spaced, spaced.replace(" ", "")


def main() -> None:
    lexicon: dict[str, dict[str, set[str]]] = {split: {reason: set() for reason in set(KINDS.values())}
                                               for split in ("dev", "heldout")}
    spaced, packed = live_text()
    dropped = set()
    catalogs = json.loads(CATALOGS.read_text(encoding="utf-8"))  # tools/build_soft404_catalogs.py
    for entry in [*error_pages(), *catalogs]:
        if entry["kind"] not in KINDS:
            continue
        for phrase in phrases(entry):
            words = words_of(phrase)
            if (f" {words} " in spaced) if not _CJK.search(phrase) else (words.replace(" ", "") in packed):
                dropped.add(phrase)
                continue
            lexicon[_split(family(entry["platform"]), "platform")][KINDS[entry["kind"]]].add(phrase)
    print(f"{len(dropped)} phrases dropped, said on live pages too: {sorted(dropped)[:40]}")
    data = {split: {reason: sorted(found) for reason, found in sorted(part.items())}
            for split, part in lexicon.items()}
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    for split, part in data.items():
        print(f"wrote {OUT}, {split}: " + ", ".join(f"{reason} {len(found)}" for reason, found in part.items()))


if __name__ == "__main__":
    main()
