"""Extraction on real pages: the seed page in its served forms, the shared benchmark, structured data."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta, timezone
from pathlib import Path

import pytest
import trafilatura
from lxml.html import document_fromstring, tostring

from crawler import extract
from crawler.dates import to_iso
from crawler.extract import extract_article, extract_from_tree, parse_html
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


def _benchmark_pages(shared_data: Path, count: int) -> list[tuple[str, str]]:
    root = shared_data / "article-extraction-benchmark"
    truth = json.loads((root / "ground-truth.json").read_text())
    return [(gzip.decompress((root / "html" / f"{key}.html.gz").read_bytes()).decode("utf-8"), truth[key]["url"])
            for key in sorted(truth)[:count]]


def test_extract_from_tree_gives_the_fields_extract_article_gives(shared_data: Path) -> None:
    pages = [(seedpage.build("visible"), seedpage.URL), *_benchmark_pages(shared_data, 4)]
    for html, url in pages:
        tree = parse_html(html)
        assert tree is not None
        from_tree = extract_from_tree(tree, url, SHANGHAI)
        assert from_tree is not None
        assert from_tree == extract_article(html, url, SHANGHAI), url


def test_extract_from_tree_takes_structured_data_read_by_the_caller() -> None:
    html = seedpage.build("visible")
    tree = parse_html(html)
    assert tree is not None
    structured = read_structured(tree)
    assert extract_from_tree(tree, seedpage.URL, SHANGHAI, structured=structured) == \
        extract_article(html, seedpage.URL, SHANGHAI)


def test_trafilatura_leaves_the_tree_it_is_given_intact(shared_data: Path) -> None:
    """The second (default-mode) pass and the metadata search read the tree the first pass was given."""
    html, url = _benchmark_pages(shared_data, 1)[0]
    tree = parse_html(html)
    assert tree is not None
    before = tostring(tree)
    assert trafilatura.extract(tree, url=url, include_comments=False, favor_precision=True)
    assert tostring(tree) == before


def _story_page(paragraphs: int) -> str:
    body = "".join(f"<p>Paragraph {i} of the story, with enough words in it to be a paragraph.</p>"
                   for i in range(paragraphs))
    return f"<html><body><nav><p>Home</p></nav><article>{body}</article></body></html>"


@pytest.mark.parametrize(("paragraphs", "second_pass"), [(40, True), (2, False)])
def test_default_mode_runs_only_when_precision_kept_a_fragment(
        monkeypatch: pytest.MonkeyPatch, paragraphs: int, second_pass: bool) -> None:
    calls: list[bool] = []

    def fake(tree: object, url: str, precision: bool) -> str:
        calls.append(precision)
        fragment = "A caption-sized fragment of the story, a sentence or so long."
        return fragment if precision else "The whole story. " * 200

    monkeypatch.setattr(extract, "_trafilatura_text", fake)
    got = extract_article(_story_page(paragraphs), "http://x.test/story")
    assert got is not None
    assert calls == ([True, False] if second_pass else [True])
    assert got.text.startswith("The whole story." if second_pass else "A caption-sized")


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


def test_structured_data_resolves_graph_references() -> None:
    """WordPress SEO plugins name the author and the image as separate @graph nodes, referenced by @id."""
    html = """<html><head><script type="application/ld+json">{"@context": "https://schema.org", "@graph": [
      {"@type": "Article", "@id": "https://x.test/a#article", "headline": "H",
       "author": {"@id": "https://x.test/#/schema/person/1"}, "image": {"@id": "https://x.test/a#img"}},
      {"@type": "ImageObject", "@id": "https://x.test/a#img", "url": "https://x.test/a.jpg"},
      {"@type": "Person", "@id": "https://x.test/#/schema/person/1", "name": "Ann Writer"}]}</script>
    <meta property="og:image" content="https://x.test/other.jpg"></head><body></body></html>"""
    data = read_structured(document_fromstring(html))
    assert data.authors == ["Ann Writer"] and data.images == ["https://x.test/a.jpg"]


def test_structured_author_from_the_web_page_node_when_the_article_has_none() -> None:
    html = """<html><head><script type="application/ld+json">{"@graph": [{"@type": "Article", "headline": "H"},
      {"@type": "WebPage", "author": {"@id": "#p"}}, {"@type": "Person", "@id": "#p", "name": "Bo Blogger"}]}
    </script></head><body></body></html>"""
    assert read_structured(document_fromstring(html)).authors == ["Bo Blogger"]


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
