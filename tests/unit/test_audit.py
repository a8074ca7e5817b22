"""The audit's states, URL by URL, over small hand-written stores (tests/auditstore.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from archive.audit import AuditError, AuditOptions, resolve_point, run_audit, same_page, similarity
from archive.auditmodel import AuditRow
from archive.catalog import Catalog
from archive.store import FileStore
from tests.auditstore import BASE, T0, Fetch, story, write_crawl

DAY = timedelta(days=1)
OPTIONS = AuditOptions(confirm_after=86400.0)


def audit(tmp_path: Path, crawls: list[list[Fetch]], options: AuditOptions = OPTIONS, spiders: list[str] | None = None,
          window_from: str | None = None, window_to: str | None = None) -> dict[str, AuditRow]:
    """One crawl a day from T0; the audit's rows by path."""
    store = tmp_path / "store"
    for n, fetches in enumerate(crawls):
        spider = spiders[n] if spiders else "news"
        write_crawl(store, f"news-{n}", T0 + n * DAY, fetches, spider=spider)
    with Catalog(tmp_path / "catalog.sqlite", FileStore(store)) as catalog:
        catalog.update()
        report = run_audit(catalog, "news", window_from, window_to, options)
    return {row.url.removeprefix(BASE): row for row in report.rows}


def ok(path: str, n: int, **kw: object) -> Fetch:
    return Fetch(path, text=story(n), title=f"Title {n}", **kw)  # type: ignore[arg-type]


def test_an_untouched_story_is_unchanged_and_an_edited_one_changed_with_its_fields_and_a_diff(tmp_path: Path) -> None:
    edited = story(2) + "\n\nCorrection: an earlier version misstated the date of the vote."
    rows = audit(tmp_path, [[ok("a", 1), ok("b", 2)],
                            [ok("a", 1), Fetch("b", text=edited, title="Title 2 (updated)", modified="2026-11-02")]])
    assert rows["a"].state == "unchanged" and rows["a"].similarity == 1.0 and not rows["a"].changed_fields
    b = rows["b"]
    assert b.state == "changed" and b.changed_fields == ["title", "text", "modified"]
    assert b.similarity is not None and 0.85 < b.similarity < 1.0
    assert b.diff and any(line.startswith("+Correction:") for line in b.diff)
    assert b.first_capture.crawl_id == "news-0" and b.last_capture.crawl_id == "news-1"
    assert b.last_capture.warc and b.last_capture.warc["offset"] == 1000


def test_not_found_is_deleted_and_confirmed_only_when_two_fetches_a_day_apart_agree(tmp_path: Path) -> None:
    gone = Fetch("a", status=404, verdict="not-found", reasons=["status-404"])
    rows = audit(tmp_path / "one", [[ok("a", 1)], [gone]])
    assert rows["a"].state == "deleted" and not rows["a"].confirmed
    rows = audit(tmp_path / "two", [[ok("a", 1)], [gone], [gone]])
    assert rows["a"].state == "deleted" and rows["a"].confirmed
    rows = audit(tmp_path / "soon", [[ok("a", 1)], [gone], [gone]], AuditOptions(confirm_after=3 * 86400.0))
    assert not rows["a"].confirmed


def test_transient_failures_never_make_a_url_deleted(tmp_path: Path) -> None:
    busy = Fetch("a", status=503, verdict="error", reasons=["status-503"])
    timeout = Fetch("a", status=None, verdict="error", reasons=["timeout"], error="TimeoutError: took too long")
    rows = audit(tmp_path / "down", [[ok("a", 1)], [busy], [timeout], [busy]])
    assert rows["a"].state == "unreachable"
    assert "transient" in rows["a"].evidence[0] and "3 failed fetches" in rows["a"].evidence[0]
    rows = audit(tmp_path / "back", [[ok("a", 1)], [busy], [timeout], [ok("a", 1)]])
    assert rows["a"].state == "unchanged"


def test_the_last_decisive_verdict_wins_over_later_transient_errors_and_a_comeback_wins_over_all(
        tmp_path: Path) -> None:
    gone = Fetch("a", status=404, verdict="not-found", reasons=["status-404"])
    busy = Fetch("a", status=503, verdict="error", reasons=["status-503"])
    rows = audit(tmp_path / "dead", [[ok("a", 1)], [gone], [busy]])
    assert rows["a"].state == "deleted" and any("then 1 failed" in e for e in rows["a"].evidence)
    rows = audit(tmp_path / "back", [[ok("a", 1)], [gone], [ok("a", 1)]])
    assert rows["a"].state == "unchanged" and any("was not-found" in e for e in rows["a"].evidence)


def test_soft_404_blocked_and_a_page_nobody_could_judge(tmp_path: Path) -> None:
    rows = audit(tmp_path, [
        [ok("a", 1), ok("b", 2), ok("c", 3), ok("d", 4)],
        [Fetch("a", verdict="soft-404", reasons=["error-title"]),
         Fetch("b", final_path="", verdict="soft-404", reasons=["redirect-to-home"]),
         Fetch("c", status=403, verdict="blocked", reasons=["status-403"]),
         Fetch("d", verdict=None, reasons=["needs-render"])]])
    assert [rows[p].state for p in "abcd"] == ["soft-deleted", "soft-deleted", "blocked", "unreachable"]
    assert "redirect-to-home" in rows["b"].evidence[0]


def test_a_redirect_to_the_same_story_is_moved_and_to_another_page_soft_deleted(tmp_path: Path) -> None:
    rows = audit(tmp_path, [
        [ok("a", 1), ok("b", 2)],
        [ok("a", 1, final_path="new/a"), Fetch("b", final_path="other", text=story(99), title="Other")]])
    assert rows["a"].state == "moved" and rows["a"].new_url == BASE + "new/a"
    assert rows["a"].similarity == 1.0 and "redirects to" in rows["a"].evidence[0]
    assert rows["b"].state == "soft-deleted" and "another page there" in rows["b"].evidence[1]


def test_a_story_that_reappears_at_a_new_url_without_a_redirect_is_moved(tmp_path: Path) -> None:
    gone = Fetch("a", status=404, verdict="not-found", reasons=["status-404"])
    rows = audit(tmp_path, [[ok("a", 1), ok("copy", 1)], [gone, ok("copy", 1), ok("b/a-revised", 1)]])
    assert rows["a"].state == "moved" and rows["a"].new_url == BASE + "b/a-revised"
    assert "no redirect" in rows["a"].evidence[0]
    # "copy" carried the same text since before: a syndicated copy, not where the story went
    assert rows["copy"].state == "unchanged"
    assert rows["b/a-revised"].state == "new" and any("moved here from" in e for e in rows["b/a-revised"].evidence)


def test_new_urls_are_those_first_seen_after_the_window_starts(tmp_path: Path) -> None:
    crawls = [[ok("a", 1)], [ok("a", 1), ok("b", 2)], [ok("a", 1), ok("b", 2), ok("c", 3)]]
    rows = audit(tmp_path / "all", crawls)
    assert (rows["a"].state, rows["b"].state, rows["c"].state) == ("unchanged", "new", "new")
    rows = audit(tmp_path / "from1", crawls, window_from="news-1")
    assert (rows["b"].state, rows["c"].state) == ("unchanged", "new")
    rows = audit(tmp_path / "to1", crawls, window_to="news-1")
    assert "c" not in rows and rows["b"].state == "new"
    rows = audit(tmp_path / "gone", [[ok("a", 1), ok("old", 9)], [ok("a", 1)], [ok("a", 1)]], window_from="news-1")
    assert set(rows) == {"a"}  # "old" was not fetched inside the window


def test_window_points_and_bad_input(tmp_path: Path) -> None:
    rows = audit(tmp_path / "s", [[ok("a", 1)]])
    assert rows["a"].state == "unchanged"
    assert resolve_point("2026-11-02", [], end=True, flag="--to") == "2026-11-02T23:59:59Z"
    assert resolve_point("2026-11-02T06:00:00+02:00", [], end=False, flag="--from") == "2026-11-02T04:00:00Z"
    with pytest.raises(AuditError, match="neither a crawl id"):
        audit(tmp_path / "bad", [[ok("a", 1)]], window_from="yesterday")
    with Catalog(tmp_path / "empty.sqlite", FileStore(tmp_path / "nothing")) as catalog:
        catalog.update()
        with pytest.raises(AuditError, match="holds no crawls"):
            run_audit(catalog, None, None, None, OPTIONS)
    with Catalog(tmp_path / "s.sqlite", FileStore(tmp_path / "s" / "store")) as catalog:
        catalog.update()
        with pytest.raises(AuditError, match="no crawls of site 'elsewhere'"):
            run_audit(catalog, "elsewhere", None, None, OPTIONS)


def test_the_series_counts_states_crawl_by_crawl(tmp_path: Path) -> None:
    store = tmp_path / "store"
    gone = Fetch("a", status=404, verdict="not-found", reasons=["status-404"])
    for n, fetches in enumerate([[ok("a", 1), ok("b", 2)], [gone, ok("b", 2)], [ok("b", 2), ok("c", 3)]]):
        write_crawl(store, f"news-{n}", T0 + n * DAY, fetches, spider="recheck" if n == 1 else "news")
    with Catalog(tmp_path / "c.sqlite", FileStore(store)) as catalog:
        catalog.update()
        report = run_audit(catalog, "news", None, None, AuditOptions(series=True, texts=True))
    assert [p.kind for p in report.series] == ["news", "recheck", "news"]
    assert [p.states for p in report.series] == [{"unchanged": 2}, {"deleted": 1, "unchanged": 1},
                                                {"deleted": 1, "unchanged": 1, "new": 1}]


def test_helpers() -> None:
    assert same_page("http://a.example/x/", "https://a.example/x")
    assert same_page("https://a.example/x", "https://www.a.example/x")
    assert not same_page("https://a.example/x", "https://a.example/y")
    assert similarity("a b c d", "a b c d") == 1.0 and similarity("", "a") == 0.0
    assert 0.7 < similarity("a b c d", "a b c e") < 0.8


def test_similarity_counts_characters_in_scripts_without_spaces() -> None:
    story_zh = "交通运输部发布了绿色金融发展规划，相关负责人在发布会上作了说明。"
    edited = story_zh.replace("绿色", "数字")
    # Split on spaces, the whole sentence is one word and any edit makes the texts 0 % alike.
    assert 0.9 < similarity(story_zh, edited) < 1.0


def test_a_short_text_or_one_found_at_several_new_urls_is_no_proof_of_a_move(tmp_path: Path) -> None:
    gone = Fetch("a", status=404, verdict="not-found", reasons=["status-404"])
    short = Fetch("a", text="Photo: the harbour at dawn.", title="Gallery")
    rows = audit(tmp_path / "short", [[short], [gone, Fetch("b", text=short.text, title="Gallery")]])
    assert rows["a"].state == "deleted"
    rows = audit(tmp_path / "twice", [[ok("a", 1)], [gone, ok("b", 1), ok("c", 1)]])
    assert rows["a"].state == "deleted" and any("a copy, not a move" in e for e in rows["a"].evidence)


def test_a_redirect_to_the_same_page_seen_already_is_the_story_not_a_failure(tmp_path: Path) -> None:
    """`/a` -> `/a/` (or http -> https) fetched after `/a/` itself: no verdict of its own, the item of `/a/`."""
    seen_first = ok("a/", 1)
    hop = Fetch("a", status=301, verdict=None, reasons=["redirect-to-seen-url"], final_path="a/")
    rows = audit(tmp_path, [[ok("a", 1)], [seen_first, hop], [seen_first, hop]])
    assert rows["a"].state == "unchanged"


def test_a_story_without_its_text_is_compared_by_its_simhash_not_called_zero(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write_crawl(store, "news-0", T0, [ok("a", 1)])
    base = write_crawl(store, "news-1", T0 + DAY, [ok("a", 1, final_path="new/a")])
    items = base / "items" / "part-00000.jsonl.gz"
    import gzip  # noqa: PLC0415
    import json  # noqa: PLC0415

    [item] = [json.loads(line) for line in gzip.decompress(items.read_bytes()).splitlines()]
    item.update(text="", content_digest="sha1:other", duplicate_of=BASE + "x", simhash="00000000000000ff")
    items.write_bytes(gzip.compress(json.dumps(item).encode() + b"\n"))
    (base / "crawl.json").unlink()  # the manifest's sha256 would call the edited part corrupt
    with Catalog(tmp_path / "c.sqlite", FileStore(store)) as catalog:
        catalog.update()
        db = catalog.db
        db.execute("UPDATE captures SET i_simhash = '00000000000000fe' WHERE crawl_id = 'news-0'")
        report = run_audit(catalog, "news", None, None, OPTIONS)
    [row] = report.rows
    assert row.state == "moved" and row.similarity == round(1 - 1 / 64, 4)


def test_an_edited_new_story_is_changed_and_says_it_is_new(tmp_path: Path) -> None:
    rows = audit(tmp_path, [[ok("a", 1)], [ok("a", 1), ok("b", 2)], [ok("a", 1), Fetch("b", text=story(2) + " More.",
                                                                                      title="Title 2")]])
    assert rows["b"].state == "changed" and rows["b"].evidence[0].startswith("first seen")


def test_to_a_crawl_without_a_manifest_reaches_its_last_capture(tmp_path: Path) -> None:
    store = tmp_path / "store"
    write_crawl(store, "news-0", T0, [ok("a", 1), ok("b", 2)])
    gone = [Fetch(p, status=404, verdict="not-found", reasons=["status-404"]) for p in ("a", "b")]
    write_crawl(store, "news-1", T0 + DAY, gone, manifest=False)
    with Catalog(tmp_path / "c.sqlite", FileStore(store)) as catalog:
        catalog.update()
        report = run_audit(catalog, "news", None, "news-1", OPTIONS)
    assert {r.state for r in report.rows} == {"deleted"}


def test_a_move_found_by_both_its_text_key_and_its_simhash_is_one_candidate(tmp_path: Path) -> None:
    store = tmp_path / "store"
    gone = Fetch("a", status=404, verdict="not-found", reasons=["status-404"])
    write_crawl(store, "news-0", T0, [ok("a", 1)])
    write_crawl(store, "news-1", T0 + DAY, [gone, ok("b", 1)])
    with Catalog(tmp_path / "c.sqlite", FileStore(store)) as catalog:
        catalog.update()
        catalog.db.execute("UPDATE captures SET i_simhash = '0123456789abcdef'")
        rows = {r.url.removeprefix(BASE): r for r in run_audit(catalog, "news", None, None, OPTIONS).rows}
    assert rows["a"].state == "moved" and rows["a"].new_url == BASE + "b"
