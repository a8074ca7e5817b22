"""The HTML report's data side: chart coordinates, word diffs, caps, escaping, and a page that loads nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from lxml import html

from archive import report as report_module
from archive.auditmodel import STATES, AuditReport, AuditRow, CaptureRef, CrawlPoint, TextPair
from archive.report import (
    CHART_HEIGHT,
    CHART_MARGIN,
    CHART_WIDTH,
    MAX_X_LABELS,
    Segment,
    build_chart,
    build_view,
    excerpt,
    render_report,
    safe_href,
    timeline_view,
    word_diff,
    write_report,
)

TOP, RIGHT, BOTTOM, LEFT = CHART_MARGIN


def cap(crawl: str = "c-1", at: str = "2026-11-01T06:00:00Z", verdict: str | None = "ok") -> CaptureRef:
    return CaptureRef(crawl_id=crawl, fetched_at=at, status=200, verdict=verdict,
                      warc={"filename": "a.warc.gz", "offset": 10, "length": 5, "record_id": "<urn:uuid:x>"})


def row(url: str, state: str, site: str = "s", **kw: Any) -> AuditRow:
    return AuditRow(url=url, site=site, state=state, first_capture=cap(), last_capture=cap("c-2"), **kw)


def audit(rows: list[AuditRow], **kw: Any) -> AuditReport:
    return AuditReport(sites=["s"], window_from="2026-11-01", window_to="2026-11-30", generated_at="2026-12-01T00:00Z",
                       store_uri="file:///store", rows=rows, **kw)


def point(day: int, kind: str = "news", **states: int) -> CrawlPoint:
    return CrawlPoint(f"c-{day}", f"2026-11-{day:02d}T06:00:00+00:00", kind, True,
                      {k.replace("_", "-"): v for k, v in states.items()})


# --- chart -------------------------------------------------------------------------------------------------


def test_no_crawl_is_an_empty_chart() -> None:
    chart = build_chart([])
    assert chart.empty and chart.lines == [] and chart.y_ticks == [] and chart.recheck_bands == []


def test_one_crawl_is_one_column_of_markers_in_the_middle() -> None:
    chart = build_chart([point(1, unchanged=5, deleted=2)])
    assert [line.state for line in chart.lines] == ["deleted", "unchanged"]
    xs = {m.x for line in chart.lines for m in line.markers}
    assert xs == {(LEFT + CHART_WIDTH - RIGHT) / 2}
    assert all(len(line.markers) == 1 for line in chart.lines)


def test_lines_follow_states_order_and_crawls_time_order() -> None:
    chart = build_chart([point(8, changed=3, unchanged=7), point(1, unchanged=10), point(9, "recheck", changed=2)])
    assert [line.state for line in chart.lines] == [s for s in STATES if s in ("changed", "unchanged")]
    assert [t.crawl_id for t in chart.x_ticks] == ["c-1", "c-8", "c-9"]
    changed = chart.lines[0]
    assert [m.count for m in changed.markers] == [0, 3, 2]
    xs = [m.x for m in changed.markers]
    assert xs == sorted(xs) and xs[0] > LEFT and xs[-1] < CHART_WIDTH - RIGHT
    assert changed.points == " ".join(f"{m.x},{m.y}" for m in changed.markers)
    assert [m.recheck for m in changed.markers] == [False, False, True]
    assert [t.recheck for t in chart.x_ticks] == [False, False, True] and len(chart.recheck_bands) == 1
    assert chart.x_ticks[0].date == "2026-11-01" and chart.x_ticks[0].time == "06:00"


def test_y_is_zero_at_the_axis_and_grows_upwards_within_the_plot() -> None:
    chart = build_chart([point(1, unchanged=10, deleted=0), point(2, unchanged=7, deleted=4)])
    assert not chart.log_scale
    unchanged = next(line for line in chart.lines if line.state == "unchanged")
    deleted = next(line for line in chart.lines if line.state == "deleted")
    assert deleted.markers[0].y == CHART_HEIGHT - BOTTOM
    assert TOP <= unchanged.markers[0].y < unchanged.markers[1].y < deleted.markers[1].y < CHART_HEIGHT - BOTTOM
    assert chart.y_ticks[0].label == "0" and chart.y_ticks[-1].y == TOP


def test_counts_of_different_magnitudes_get_a_log_scale_so_small_ones_stay_visible() -> None:
    chart = build_chart([point(1, unchanged=90_000, deleted=40)])
    assert chart.log_scale
    assert [t.label for t in chart.y_ticks] == ["0", "1", "10", "100", "1k", "10k", "100k"]
    deleted = next(line for line in chart.lines if line.state == "deleted").markers[0]
    assert (CHART_HEIGHT - BOTTOM) - deleted.y > (CHART_HEIGHT - BOTTOM - TOP) / 4


def test_many_crawls_label_only_some_of_them() -> None:
    chart = build_chart([point(1 + i % 28, unchanged=i) for i in range(100)])
    labelled = [t for t in chart.x_ticks if t.labelled]
    assert len(chart.x_ticks) == 100 and len(labelled) <= MAX_X_LABELS + 1
    assert chart.x_ticks[-1].labelled


# --- word diff ---------------------------------------------------------------------------------------------


def test_word_diff_marks_deleted_and_inserted_words_without_their_spaces() -> None:
    assert word_diff("the cat sat here", "the dog sat here today") == [
        Segment("equal", "the "), Segment("delete", "cat"), Segment("insert", "dog"),
        Segment("equal", " sat here "), Segment("insert", "today")]


def one_side(segments: list[Segment], drop: str) -> str:
    """The text left without `drop` segments, spaces collapsed (a pure insert leaves two spaces around it)."""
    text = "".join(s.text for s in segments if s.op != drop)
    return re.sub(r" *\n\n *", "\n\n", re.sub(" +", " ", text)).strip()


def test_dropping_one_side_of_a_diff_gives_the_other_text() -> None:
    before = "A storm hit the coast.\n\nTwo people were hurt, officials said on Monday.\n\nRoads are closed."
    after = "A big storm hit the north coast.\n\nThree people were hurt.\n\nNew paragraph here.\n\nRoads are closed."
    segments = word_diff(before, after, context=1000)
    assert one_side(segments, "delete") == after and one_side(segments, "insert") == before
    assert all(not s.text.startswith(" ") and not s.text.endswith(" ") for s in segments if s.op != "equal")


def test_equal_texts_have_no_diff() -> None:
    assert word_diff("same words\n\nhere", "same  words\n\n\nhere") == []


def test_paragraphs_survive_the_diff() -> None:
    segments = word_diff("one two\n\nthree four", "one two\n\nthree five")
    assert one_side(segments, "delete") == "one two\n\nthree five"


def test_long_unchanged_runs_are_elided_with_their_length() -> None:
    words = [f"w{i}" for i in range(100)]
    after = [*words[:50], "NEW", *words[50:]]
    segments = word_diff(" ".join(words), " ".join(after), context=5)
    assert [s.op for s in segments] == ["skip", "equal", "insert", "equal", "skip"]
    assert segments[0].text == "45 unchanged words" and segments[-1].text == "45 unchanged words"
    assert segments[1].text == "w45 w46 w47 w48 w49 " and segments[3].text == " w50 w51 w52 w53 w54"


def test_a_huge_rewrite_is_cut() -> None:
    before = " ".join(f"a{i}" for i in range(500))
    after = " ".join(f"b{i}" for i in range(500))
    segments = word_diff(before, after, max_words=100)
    assert segments[-1] == Segment("skip", "diff cut at 100 words")
    assert sum(len(s.text.split()) for s in segments if s.op != "skip") == 100
    small = word_diff(" ".join(f"x{i} y" for i in range(300)), " ".join(f"z{i} y" for i in range(300)), max_words=50)
    assert sum(len(s.text.split()) for s in small if s.op != "skip") < 60 and small[-1].op == "skip"


# --- view and caps -----------------------------------------------------------------------------------------


def test_rows_are_ordered_by_state_and_capped_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "MAX_TABLE_ROWS", 5)
    rows = [row(f"https://n.test/{i}", state) for i, state in enumerate(["new", "deleted", "unchanged"] * 4)]
    view = build_view(audit(rows))
    assert [r.row.state for r in view.rows] == ["deleted"] * 4 + ["new"]
    assert view.rows_total == 8 and view.rows_cut == 3
    assert [r.first_of_state for r in view.rows] == [True, False, False, False, True]
    assert "3 more rows in the JSON/CSV output" in render_report(audit(rows))


def test_diffs_and_moved_pairs_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_module, "MAX_DIFFS", 2)
    monkeypatch.setattr(report_module, "MAX_MOVED", 1)
    rows = [row(f"https://n.test/c{i}", "changed") for i in range(5)]
    rows += [row(f"https://n.test/m{i}", "moved", new_url=f"https://n.test/new{i}") for i in range(3)]
    texts = {r.url: TextPair("t", "old words", "t", "new words") for r in rows}
    view = build_view(audit(rows, texts=texts))
    assert len(view.diffs) == 2 and view.diffs_cut == 3 and len(view.moved) == 1 and view.moved_cut == 2
    assert [r.anchor for r in view.rows] == ["moved-0", None, None, "diff-0", "diff-1", None, None, None]
    page = render_report(audit(rows, texts=texts))
    assert "3 more diffs in the JSON output" in page and "2 more moved pairs in the JSON/CSV output" in page


def test_a_changed_row_without_texts_shows_its_unified_diff() -> None:
    page = render_report(audit([row("https://n.test/a", "changed", diff=["@@ -1 +1 @@", "-old", "+new"])]))
    doc = html.fromstring(page)
    assert [s.get("class") for s in doc.cssselect("pre.unified span")] == ["hunk", "rem", "add"]
    assert not doc.cssselect("#changes del")


def test_moved_pairs_show_both_sides_from_the_texts() -> None:
    moved = row("https://n.test/old", "moved", title="Old", new_url="https://n.test/new", similarity=0.9,
                evidence=["redirect-301"])
    page = render_report(audit([moved], texts={moved.url: TextPair("Old", "before " * 400, "New", "after text")}))
    pair = html.fromstring(page).cssselect("#moved .pair")[0]
    assert [a.get("href") for a in pair.cssselect("a")] == ["https://n.test/old", "https://n.test/new"]
    old, new = (q.text_content() for q in pair.cssselect("blockquote"))
    assert old.endswith("…") and len(old) <= report_module.EXCERPT_CHARS + 2 and new == "after text"
    assert "redirect-301" in pair.text_content() and "0.90" in pair.text_content()


def test_a_long_timeline_keeps_its_ends() -> None:
    captures = [cap(f"c-{i}") for i in range(100)]
    view = timeline_view(row("https://n.test/a", "deleted", timeline=captures), limit=10)
    assert [c.crawl_id for c in view[:5]] == ["c-0", "c-1", "c-2", "c-3", "c-4"]
    assert view[5].gap == 90 and view[-1].crawl_id == "c-99" and len(view) == 11
    assert view[0].record == "a.warc.gz#10" and view[0].record_id == "<urn:uuid:x>"


def test_excerpt_cuts_at_a_word() -> None:
    assert excerpt("short") == "short" and excerpt(None) is None
    assert excerpt("alpha beta gamma delta", limit=12) == "alpha beta …"


# --- escaping and self-containment -------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "href"), [
    ("https://n.test/a", "https://n.test/a"), ("HTTP://n.test/", "HTTP://n.test/"),
    ("javascript:alert(1)", None), (" JavaScript:alert(1)", None), ("data:text/html,<b>", None),
    ("//n.test/a", None), ("", None), (None, None), ("http://[::1", None)])
def test_only_http_urls_become_links(url: str | None, href: str | None) -> None:
    assert safe_href(url) == href


def test_hostile_titles_and_urls_come_out_as_text() -> None:
    title = "<script>alert('t')</script><img src=x onerror=alert(1)>"
    rows = [row('https://n.test/"><script>alert(2)</script>', "changed", title=title, similarity=0.5),
            row("javascript:alert(3)", "new", title="js"),
            row("https://n.test/ok", "deleted", section="<b>sec</b>", evidence=["<i>ev</i>"])]
    pair = TextPair("<script>t</script>", "a <script>b</script>", "x", "a <ins>c</ins>")
    page = render_report(audit(rows, texts={rows[0].url: pair}, unreadable=["c-9: <script>bad</script>"]))
    doc = html.fromstring(page)
    assert "<script" not in page.lower() and "<img" not in page and "<b>sec" not in page
    assert "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;" in page
    assert doc.cssselect("#urls td.story .title")[1].text_content() == title
    assert not doc.cssselect("script") and not doc.cssselect("img")
    assert all(not a.get("href", "").lower().startswith("javascript") for a in doc.cssselect("a"))
    assert 'href="https://n.test/&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"' in page
    assert [e.text_content() for e in doc.cssselect("#changes .words ins")] == ["<ins>c</ins>"]
    assert doc.cssselect("#unreadable li")[0].text_content() == "c-9: <script>bad</script>"


def test_the_page_references_nothing_outside_itself() -> None:
    rows = [row(f"https://n.test/{state}", state, new_url="https://n.test/x" if state == "moved" else None)
            for state in STATES]
    page = render_report(audit(rows, series=[point(1, unchanged=3, deleted=1), point(2, "recheck", deleted=1)],
                               texts={"https://n.test/changed": TextPair("a", "b c", "a", "b d")}))
    doc = html.fromstring(page)
    assert not doc.cssselect("script, link, img, iframe, object, embed, source, video, audio, form, base")
    assert not [e for e in doc.iter() if isinstance(e.tag, str) and (e.get("src") or e.get("srcset")
                                                                    or e.get("xlink:href") or e.get("poster"))]
    style = "".join(s.text_content() for s in doc.cssselect("style"))
    assert "url(" not in style and "@import" not in style and "@font-face" not in style
    hrefs = [a.get("href") for a in doc.cssselect("a")]
    assert hrefs and all(h.startswith(("https://n.test/", "#")) for h in hrefs)
    csp = doc.cssselect('meta[http-equiv="Content-Security-Policy"]')[0].get("content")
    assert csp.startswith("default-src 'none'")
    assert len(doc.cssselect("#chart svg polyline")) == 2 and len(doc.cssselect("#chart svg polygon.recheck")) == 2


def test_an_empty_report_renders() -> None:
    page = render_report(AuditReport(sites=[], window_from=None, window_to=None, generated_at="now",
                                     store_uri="file:///s", rows=[]))
    doc = html.fromstring(page)
    assert "No crawl in the window" in page and "Every URL of the window is unchanged" in page
    assert not doc.cssselect("svg") and not doc.cssselect("#unreadable") and not doc.cssselect("#changes")


def test_write_report_leaves_only_the_finished_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    write_report(audit([row("https://n.test/a", "new")]), target)
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]
    assert target.read_text(encoding="utf-8").startswith("<!doctype html>")


def test_a_chinese_edit_is_diffed_character_by_character_without_spaces_added() -> None:
    from archive.report import word_diff  # noqa: PLC0415

    before = "交通运输部发布了绿色金融发展规划。"
    segments = word_diff(before, before.replace("绿色", "数字"), context=3)
    assert ("delete", "绿色") in [(s.op, s.text) for s in segments]
    assert ("insert", "数字") in [(s.op, s.text) for s in segments]
    assert all(" " not in s.text for s in segments if s.op != "skip")
