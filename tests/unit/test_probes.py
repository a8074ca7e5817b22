"""Host probes: URL shapes, probe URLs, fingerprint matching, one fetch per shape."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_twisted

from crawler.soft404.probes import Fingerprint, HostProbes, matches, probe_url, shape_of
from tests.asyncio_helpers import on_asyncio


def test_urls_of_one_section_share_a_shape() -> None:
    a = shape_of("https://www.chinadaily.com.cn/a/201711/28/WS5a1cd7a6a31010.html")
    b = shape_of("https://www.chinadaily.com.cn/a/202402/03/WS65bd.html")
    assert a == b == ("www.chinadaily.com.cn", "/a/#/#", "html")
    assert shape_of("https://n.test/tech/article/10211") != shape_of("https://n.test/world/2026/11/20/x.html")


def test_probe_urls_stay_in_the_directory_and_keep_the_extension() -> None:
    url = probe_url("https://n.test/world/2026/11/20/bridge-plan-approved.html?utm_source=x")
    assert url.startswith("https://n.test/world/2026/11/20/") and url.endswith(".html") and "?" not in url
    assert url != probe_url("https://n.test/world/2026/11/20/bridge-plan-approved.html")


@pytest.mark.parametrize(("page", "kept", "number"), [
    ("https://n.test/news/article-123456.html", "https://n.test/news/article-", "123456"),
    ("https://n.test/a/123456-bridge-plan-approved", "https://n.test/a/", "123456"),
    ("https://n.test/story.php?id=1234567&lang=fr", "https://n.test/story.php?id=", "1234567"),
])
def test_a_page_named_by_a_number_is_probed_with_a_number_the_host_does_not_have(page: str, kept: str,
                                                                               number: str) -> None:
    """A host that routes by the number answers the probe from its article route ("article not found"), as
    it answers a deleted article; a random name would miss the route and make the host look honest."""
    url = probe_url(page)
    assert url.startswith(kept) and len(url) == len(page) and number not in url
    assert shape_of(url) == shape_of(page)
    assert url.removeprefix(kept)[:len(number)].isdigit() and url.removeprefix(kept).startswith("9")


def test_years_dates_short_numbers_and_tracking_numbers_are_no_ids() -> None:
    """Nor is a number in a query that does not name the item (a campaign, a timestamp): a probe with it
    changed would fetch the page itself; nor digits that begin inside a percent-escape."""
    for page in ("https://n.test/2024/05/my-post/", "https://n.test/news-20240203-harbour.html",
                 "https://n.test/p/1234", "https://n.test/list?page=2",
                 "https://n.test/news/2024/05/my-post.html?cmpid=1234567", "https://n.test/article?t=1714723200",
                 "https://n.test/x/%E2%80%9312345678-harbour"):
        url = probe_url(page)
        assert "my-post" not in url and "harbour" not in url and "?" not in url and "%" not in url, url


def test_an_unknown_id_is_past_the_hosts_newest() -> None:
    """One more leading 9 than the ID has: 9876543 is probed as 99....., not as another 9...... it may have."""
    assert probe_url("https://n.test/news/9876543").removeprefix("https://n.test/news/").startswith("99")
    assert probe_url("https://n.test/story.php?id=123456;s=1").endswith(";s=1")


def _fp(status: int | None, title: str | None = "Page not found", simhash: str | None = "00000000000000ff",
        final: str | None = None) -> Fingerprint:
    return Fingerprint(status, final, final is not None, title, simhash, 0.0)


def test_a_page_matches_a_soft_host_s_probe_only() -> None:
    page = {"title": "Page not found", "simhash": "00000000000000fe", "redirects": [], "final_url": "x"}
    assert matches(page, _fp(200))
    assert not matches(page, _fp(404))  # an honest host: its 404s say nothing about this 200 page
    assert not matches({**page, "title": "Council approves bridge"}, _fp(200))
    assert not matches({**page, "simhash": "ffffffffffffff00"}, _fp(200))
    sink = {"title": "x", "simhash": None, "redirects": [{"url": "a", "status": 302}], "final_url": "https://n/404"}
    assert matches(sink, _fp(200, title=None, simhash=None, final="https://n/404"))


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_one_fetch_serves_every_page_of_a_shape() -> None:
    fetched: list[str] = []

    async def fetch(url: str) -> Fingerprint:
        fetched.append(url)
        await asyncio.sleep(0)  # let the other pages arrive while the probe is in flight
        return _fp(200)

    async def run() -> list[Fingerprint]:
        probes = HostProbes(fetch, ttl=3600)
        urls = [f"https://n.test/world/2026/11/{d:02d}/story-{d}.html" for d in range(1, 6)]
        results = await asyncio.gather(*(probes.fingerprint(u) for u in urls))
        await probes.fingerprint("https://n.test/tech/article/12345")
        return list(results)

    results = await on_asyncio(run())
    assert len(fetched) == 2 and all(r.status == 200 for r in results)


def test_pages_with_a_trailing_slash_are_siblings_not_directories() -> None:
    """`/2024/05/my-post/` is a page of `/2024/05/`: its probe is a sibling, not a URL under the article that
    a host routing by slug or number may answer with the article itself."""
    a, b = shape_of("https://b.test/2024/05/my-post/"), shape_of("https://b.test/2024/06/other-post/")
    assert a == b == ("b.test", "/#/#", "/")
    url = probe_url("https://b.test/2024/05/my-post/")
    assert url.startswith("https://b.test/2024/05/") and url.endswith("/") and "my-post" not in url
    assert url.count("/") == "https://b.test/2024/05/my-post/".count("/")


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_a_failed_probe_fails_every_page_waiting_for_it_and_is_asked_again() -> None:
    calls: list[str] = []

    async def fetch(url: str) -> Fingerprint:
        calls.append(url)
        await asyncio.sleep(0)
        if len(calls) == 1:
            raise ValueError("a bug in the fetch")
        return _fp(200)

    async def run() -> tuple[list[object], Fingerprint]:
        probes = HostProbes(fetch, ttl=3600)
        urls = [f"https://n.test/world/2026/11/{d:02d}/story-{d}.html" for d in range(1, 4)]
        first = await asyncio.gather(*(probes.fingerprint(u) for u in urls), return_exceptions=True)
        return list(first), await probes.fingerprint(urls[0])

    first, again = await on_asyncio(run())
    assert all(isinstance(r, ValueError) for r in first)  # none of them hangs
    assert again.status == 200 and len(calls) == 2


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_the_probe_cache_keeps_the_shapes_most_recently_asked_for() -> None:
    fetched: list[str] = []

    async def fetch(url: str) -> Fingerprint:
        fetched.append(url)
        return Fingerprint(200, None, False, "Page not found", None, time.monotonic())

    async def run() -> None:
        probes = HostProbes(fetch, ttl=3600, max_shapes=2)
        for host in ("a", "b", "a", "c", "a", "b"):
            await probes.fingerprint(f"https://{host}.test/news/story.html")

    await on_asyncio(run())
    assert [u.split("/")[2] for u in fetched] == ["a.test", "b.test", "c.test", "b.test"]


@pytest_twisted.ensureDeferred  # type: ignore[untyped-decorator]
async def test_an_answer_learned_by_an_earlier_crawl_saves_the_probe_until_its_ttl() -> None:
    fetched: list[str] = []

    async def fetch(url: str) -> Fingerprint:
        fetched.append(url)
        return Fingerprint(404, url, False, None, None, time.monotonic())

    async def scenario() -> None:
        probes = HostProbes(fetch, ttl=100)
        learned = Fingerprint(200, None, False, "Not here", None, time.monotonic() - 30)
        assert probes.learn("https://a.example/news/2024/01/old-story.html", learned)
        assert await probes.fingerprint("https://a.example/news/2025/12/new-story.html") is learned
        stale = Fingerprint(200, None, False, "Gone", None, time.monotonic() - 100)
        assert not probes.learn("https://a.example/sport/x.html", stale)  # as old as the TTL: asked again
        assert (await probes.fingerprint("https://a.example/sport/y.html")).status == 404
        older = Fingerprint(200, None, False, "Older", None, time.monotonic() - 60)
        assert not probes.learn("https://a.example/sport/z.html", older)  # this crawl's own answer is fresher
        assert not probes.learn("https://a.example/news/2020/01/a.html", older)

    await on_asyncio(scenario())
    assert fetched and all("/sport/" in url for url in fetched) and len(fetched) == 1


def test_an_answer_kept_before_media_and_markup_were_kept_reads_as_an_earlier_version_judged_it() -> None:
    """A `probes` part written by an earlier version has no `media`, `paywalled`, `article` or `lists` in its
    view: the template shows no media, no paywall and no story list, and may declare an article, as that
    version judged it."""
    old_view: dict[str, object] = {"blocks": [1, 2], "title": "Not found", "heading": "Oops", "login": False}
    record = {"status": 200, "final_url": None, "redirected": False, "title": "Not found", "simhash": "00ff",
              "at": time.time(), "view": old_view}
    view = Fingerprint.of_record(record).view
    assert view is not None and view.media == frozenset() and not view.paywalled
    assert view.article  # unknown: the template may declare one, so a page's markup proves nothing
    assert view.lists == ()  # no story list known: nothing of a page is taken away as one
    with_media = Fingerprint.of_record({**record, "view": {**old_view, "media": [5, 9], "paywalled": True,
                                                               "article": False, "lists": [[77, 6]],
                                                               "searches": True, "echoes": True}})
    assert with_media.view is not None and with_media.view.media == frozenset({5, 9}) and with_media.view.paywalled
    assert not with_media.view.article and with_media.view.lists == ((77, 6),) and with_media.view.searches
    assert with_media.view.echoes
    assert not view.searches and not view.echoes  # unknown: a page naming its URL is taken as that URL's page
    assert Fingerprint.of_record(record).url is None  # the probe URL: not kept before
    asked = Fingerprint(200, None, False, "Not found", None, time.monotonic(), url="https://n.test/a/xkqz.html")
    assert Fingerprint.of_record(asked.record()).url == "https://n.test/a/xkqz.html"
    assert Fingerprint.of_record(with_media.record()).view == with_media.view
