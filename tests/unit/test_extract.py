"""Extraction on real pages: the seed page in its served forms, the shared benchmark, structured data."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta, timezone
from pathlib import Path

import pytest
from lxml.html import document_fromstring

from crawler.dates import to_iso
from crawler.extract import extract_article
from crawler.structured import read_structured
from tests import seedpage
from tests.fixtureweb.content import build_articles
from tests.fixtureweb.pages import article_page

SHANGHAI = timezone(timedelta(hours=8))


@pytest.mark.parametrize("style", ["visible", "hidden"])
def test_seed_page_keeps_the_story_not_the_error_block(style: str) -> None:
    parts = seedpage.parts()
    extracted = extract_article(seedpage.build(style), seedpage.URL, SHANGHAI)
    assert extracted is not None
    assert extracted.text == "\n\n".join(parts.story)
    assert "Sorry, the page you requested was not found" not in extracted.text
    assert extracted.title == parts.title


def test_benchmark_pages_extract_close_to_ground_truth(shared_data: Path) -> None:
    root = shared_data / "article-extraction-benchmark"
    truth = json.loads((root / "ground-truth.json").read_text())
    keys = sorted(truth)[:12]
    for key in keys:
        html = gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8")
        extracted = extract_article(html, truth[key]["url"])
        assert extracted is not None, key
        expected = set(truth[key]["articleBody"].split())
        got = set(extracted.text.split())
        assert len(expected & got) / max(len(expected), 1) > 0.8, key


def test_fixture_article_fields_come_from_json_ld() -> None:
    art = next(a for a in build_articles(1) if a.jsonld and a.lang == "zh" and a.template == "normal")
    extracted = extract_article(article_page(art, "http://web.test", []), f"http://web.test{art.path}")
    assert extracted is not None
    assert extracted.title == art.title and extracted.authors == art.authors
    assert extracted.published == to_iso(art.published.isoformat())
    assert extracted.language == "zh" and extracted.section == art.section
    assert extracted.canonical_url == f"http://web.test{art.path}"
    assert extracted.images == [f"http://web.test/img/{art.id}.jpg"]


def test_structured_data_from_graph_broken_scripts_and_html_bodies() -> None:
    html = """<html lang="fr"><head>
    <script type="application/ld+json">{"@graph": [{"@type": "WebPage"}, {"@type": ["NewsArticle"],
      "headline": "Titre", "author": {"@type": "Person", "name": "A. Auteur"},
      "articleBody": "<p>Premier &amp; paragraphe.</p><p>Second.</p>", "keywords": "a, b"}]}</script>
    <script type="application/ld+json">{"@type": "NewsArticle", "headline": </script>
    <meta property="og:type" content="article"><link rel="canonical" href="/x"></head><body></body></html>"""
    data = read_structured(document_fromstring(html))
    assert data.headline == "Titre" and data.authors == ["A. Auteur"]
    assert data.body == "Premier & paragraphe.\n\nSecond."
    assert data.tags == ["a", "b"] and data.jsonld_errors == 1
    assert data.is_article and data.language == "fr" and data.canonical == "/x"


@pytest.mark.parametrize(("value", "expected"), [
    ("2017-11-28 10:33", "2017-11-28T02:33:00Z"),  # naive: read in the site's zone (Asia/Shanghai)
    ("2017-11-28T10:33:00+08:00", "2017-11-28T02:33:00Z"),
    ("Tue, 28 Nov 2017 02:33:00 GMT", "2017-11-28T02:33:00Z"),
    ("2017-11-28", "2017-11-28"),
    ("Nov. 19, 2019 5:30 PM EST", "2019-11-19T22:30:00Z"),
    ("2017-11-28 10:33 CST", "2017-11-28T02:33:00Z"),  # China Standard Time on a UTC+8 site
    ("not a date", None),
    ("", None),
])
def test_dates_normalise_to_iso_utc(value: str, expected: str | None) -> None:
    assert to_iso(value, SHANGHAI) == expected


def test_page_without_text_gives_nothing() -> None:
    assert extract_article("<html><body><nav><a href='/'>Home</a></nav></body></html>", "http://x.test/") is None
    assert extract_article(b"", "http://x.test/") is None
