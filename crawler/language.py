"""Language of a text (py3langid; its model ships with the package), for articles whose page declares none.

The model takes about half a second to load and is loaded on first use only: in a crawl that is the page
worker (crawler/analysis.py), so a site whose pages or config declare their language never loads it, and
the reactor never waits for it.
"""

from __future__ import annotations

import py3langid

MIN_CHARS = 20  # shorter text says nothing reliable about its language
SAMPLE_CHARS = 2000  # the classifier's answer settles long before; more text only costs time


def detect_language(text: str) -> str | None:
    if len(text) < MIN_CHARS:
        return None
    language, _score = py3langid.classify(text[:SAMPLE_CHARS])
    return str(language)
