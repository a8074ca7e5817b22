"""Bounded work per page and honest verdicts (crawler/limits.py, the limits applied in crawler/analysis.py)."""

from __future__ import annotations

from lxml.html import document_fromstring

from crawler.analysis import PageRequest, analyze, binary_body, page_links
from crawler.discovery import Discovery
from crawler.extract import parse_page
from crawler.limits import PageLimits, limited
from crawler.siteconfig import SiteConfig
from crawler.soft404.status import Verdict

STORY = " ".join(f"Sentence {i} of an ordinary story about the harbour and its boats." for i in range(40))
ARTICLE = (f"<html><head><title>Harbour reopens</title></head><body><article><h1>Harbour reopens</h1>"
           f"<time datetime='2026-11-02'>2 Nov</time><p>{STORY}</p></article></body></html>")


def test_an_unreadable_body_is_an_error_whatever_the_page_looked_like() -> None:
    for verdict in (Verdict("soft-404", ["empty-content"], 0.8), Verdict("ok", ["content"], 0.2)):
        assert limited(verdict, ["decompression-bomb"]) == Verdict("error", ["decompression-bomb"], 0.0)
    assert limited(Verdict("not-found", ["status-404"], 0.95), ["data-loss"]) == \
        Verdict("error", ["status-404", "data-loss"], 0.0)


def test_a_trimmed_page_keeps_its_verdict_but_is_never_dead() -> None:
    ok = Verdict("ok", ["article-evidence"], 0.05)
    assert limited(ok, ["too-many-links"]) == Verdict("ok", ["article-evidence", "too-many-links"], 0.05)
    assert limited(Verdict("soft-404", ["error-title"], 0.9), ["long-title"]).verdict == "error"
    assert limited(ok, []) is ok and limited(ok, ["not-a-limit"]) is ok


def test_binary_behind_an_html_label_is_told_from_text() -> None:
    assert binary_body(b"\x89PNG\r\n\x1a\n" + bytes(200))
    assert binary_body(bytes(range(256)) * 8)
    assert binary_body(ARTICLE.encode()) is None
    assert binary_body("<html>中文 ünïcödé\x00 and one NUL</html>".encode()) is None
    assert binary_body(ARTICLE.encode("utf-16")) is None  # a NUL in every character, and a BOM
    assert binary_body(ARTICLE.encode("utf-16-le"), "utf-16-le") is None


def test_outlinks_stop_at_the_limit_and_count_the_rest() -> None:
    links = "".join(f"<a href='/s/{i}'>s</a>" for i in range(300))
    tree = document_fromstring(f"<html><body><a name='x'>anchor</a>{links}<img src='/i.png'></body></html>")
    kept, unread = page_links(tree, "http://news.example/", 100)
    assert len(kept) == 100 and kept[0] == "http://news.example/s/0" and unread == 201
    assert page_links(tree, "http://news.example/", 1000) == (
        [*(f"http://news.example/s/{i}" for i in range(300)), "http://news.example/i.png"], 0)


def test_a_listing_reads_at_most_its_limit_of_links() -> None:
    site = SiteConfig.model_validate({"name": "x", "base_url": "http://news.example/",
                                      "sections": [{"name": "world", "url": "/world/"}]})
    links = "".join(f"<li><a href='/world/2026/11/02/story-{i}'>Story {i} of the day</a></li>" for i in range(50))
    tree = document_fromstring(f"<html><body><ul>{links}</ul></body></html>")
    kept, unread = Discovery(site).read_listing(tree, "http://news.example/world/", 1, 20)
    assert len(kept) == 20 and unread == 30
    assert len(Discovery(site).listing_links(tree, "http://news.example/world/", 1)) == 50


def test_nesting_past_the_parser_limit_is_reported_not_judged() -> None:
    deep = "<html><body>" + "<div>" * 5000 + "x" + "</div>" * 5000 + ARTICLE.split("<body>")[1]
    assert parse_page(deep)[1] == "too-deep"
    assert parse_page(ARTICLE)[1] is None
    analysis = analyze(PageRequest(url="http://news.example/a", body=deep.encode(), encoding="utf-8"))
    assert "too-deep" in analysis.problems


def test_a_huge_title_is_cut_and_said_so() -> None:
    page = ARTICLE.replace("<title>", "<title>" + "Title " * 100_000)
    analysis = analyze(PageRequest(url="http://news.example/a", body=page.encode(), encoding="utf-8",
                                   limits=PageLimits(title_chars=50)))
    assert analysis.title is not None and len(analysis.title) == 50
    assert "long-title" in analysis.problems
    assert analysis.verdict is not None and analysis.verdict.verdict == "ok"
    plain = analyze(PageRequest(url="http://news.example/a", body=ARTICLE.encode(), encoding="utf-8"))
    assert plain.title == "Harbour reopens" and not plain.problems


def test_a_binary_page_is_not_parsed() -> None:
    analysis = analyze(PageRequest(url="http://news.example/a", body=b"GIF89a" + bytes(3000), encoding="utf-8"))
    assert not analysis.parsed and "binary-body" in analysis.problems and analysis.verdict is None


def test_a_page_cut_before_its_end_is_not_read_as_dead() -> None:
    """A lying Content-Length hands over the head of a page and nothing of its story: that looks like an
    empty page, which the classifier calls soft-404; a cut document is no evidence of a dead page."""
    whole = ("<html><head><title>Harbour works begin</title></head><body><nav>Home News</nav>"
             "<main></main></body></html>")
    cut = whole[:whole.index("<main>")]
    complete = analyze(PageRequest("http://n.test/2026/12/01/a.html", whole.encode(), "utf-8")).verdict
    assert complete is not None and complete.verdict == "soft-404"
    page = analyze(PageRequest("http://n.test/2026/12/01/a.html", cut.encode(), "utf-8"))
    assert page.verdict is not None and page.verdict.verdict == "soft-404"
    assert "incomplete-html" in page.problems  # judged with it later:
    assert limited(page.verdict, page.problems).verdict == "error"  # error, never a dead page


def test_a_page_in_another_charset_than_it_declares_is_read_in_its_own() -> None:
    """A GBK page labelled UTF-8 (common on older Chinese sites) is read as GBK, not as replacement marks;
    a UTF-8 page with a few broken bytes stays UTF-8."""
    title = "港口扩建工程今日正式开工建设"
    html = (f"<html><head><meta charset='utf-8'><title>{title}</title></head><body><main><h1>{title}</h1>"
            f"<p>{'市政府表示，新码头将在两年内完工，并为当地创造数千个就业岗位。' * 8}</p></main></body></html>")
    mislabelled = analyze(PageRequest("http://n.test/2026/12/01/a.html", html.encode("gbk"), "utf-8"))
    assert mislabelled.title == title
    broken = html.encode("utf-8").replace("码头".encode(), b"\xff\xfe", 1)
    assert analyze(PageRequest("http://n.test/2026/12/01/b.html", broken, "utf-8")).title == title
