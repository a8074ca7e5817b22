"""The page reader and the signals of the page classifier: blocks, the story, the host's template, cues."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.extract import parse_html
from crawler.soft404 import model as model_module
from crawler.soft404.blocks import read_blocks
from crawler.soft404.classify import built_nothing, judge, probed, template_view
from crawler.soft404.features import (
    Evidence,
    ProbeView,
    cue_of,
    echoes_name,
    evidence_of,
    is_home,
    named_by,
    searched_for,
    story_units,
    title_cue,
)
from crawler.soft404.lexicon import lexicon_cue
from crawler.soft404.page import read_page
from crawler.soft404.status import Verdict

STORY = " ".join(f"Paragraph {n} of the story says what happened at the harbour on Tuesday night, and who saw it."
                 for n in range(12))
CHROME = ("<nav><ul>" + "".join(f"<li><a href='/s/{n}'>Section {n}</a></li>" for n in range(12)) + "</ul></nav>"
          "<footer><p>About us: the Harbour Herald has served the coast since 1921 with news, sport and the "
          "weather, seven days a week.</p></footer>")


def page(body: str, title: str = "A quiet night at the harbour | Harbour Herald", head: str = "") -> str:
    return f"<html><head><title>{title}</title>{head}</head><body>{body}</body></html>"


def read(html: str, url: str = "https://herald.test/news/2026/harbour.html") -> Evidence:
    tree = parse_html(html)
    assert tree is not None
    return evidence_of(read_page(tree), url)


def paragraphs(text: str, size: int = 20) -> str:
    words = text.split()
    return "".join(f"<p>{' '.join(words[i:i + size])}</p>" for i in range(0, len(words), size))


def test_a_story_is_found_whatever_its_containers_are_called() -> None:
    """The first reader skipped containers whose class looked like chrome; a story sits in them on real
    sites (`sidebar-layout__main`, `related-content-wrapper`)."""
    html = page(f"{CHROME}<div class='sidebar-layout'><div class='widget related'><h1>A quiet night at the "
                f"harbour</h1>{paragraphs(STORY)}</div></div>")
    evidence = read(html)
    assert story_units(evidence) >= 100
    assert judge(evidence).reasons == ["article-evidence"]


def test_link_lists_and_hidden_blocks_are_not_prose() -> None:
    teasers = "".join(f"<li><a href='/n/{n}'>{STORY[:90]}</a></li>" for n in range(20))
    hidden = f"<div style='display: none'>{paragraphs(STORY)}</div><div hidden>{paragraphs(STORY)}</div>"
    evidence = read(page(f"<ul>{teasers}</ul>{hidden}<p>One short line.</p>"))
    assert story_units(evidence) == 0
    assert all(block.linked for block in evidence.blocks if block.units > 10)


def test_cjk_characters_count_one_each() -> None:
    story = "港口昨晚发生了一件事情，很多居民都看到了。" * 12
    evidence = read(page(f"<h1>港口的一个安静夜晚</h1><p>{story}</p>", title="港口的一个安静夜晚 - 新闻网"))
    assert story_units(evidence) == len(story) - story.count("，") - story.count("。")  # punctuation is no word
    assert evidence.headline


def test_the_opening_is_read_under_the_headline() -> None:
    html = page(f"{CHROME}<h2>Most read</h2><p>Nothing else here is of interest to anyone at all today.</p>"
                "<h1>Page not found</h1><p>Sorry, the page you were looking for does not exist.</p>",
                title="Page not found | Harbour Herald")
    tree = parse_html(html)
    assert tree is not None
    reading = read_blocks(tree, "Page not found | Harbour Herald")
    assert reading.opening.startswith("Sorry, the page you were looking for")


@pytest.mark.parametrize(("text", "reason"), [
    ("Oops! That page can't be found.", "error-text"),
    ("Troops leave the city after the storm", None),  # "oops" inside a word is not a cue
    ("Página no encontrada", "error-text"),
    ("抱歉，页面不存在", "error-text"),
    ("Hoops and loops: the basketball season starts", None),
])
def test_error_wording_is_matched_as_whole_words(text: str, reason: str | None) -> None:
    assert cue_of(text) == reason


def test_the_lexicon_matches_whole_words_in_any_script() -> None:
    assert lexicon_cue("Seite nicht gefunden") == "error-text"
    assert lexicon_cue("Gartenseite nicht gefundenes Fressen") is None


@pytest.mark.parametrize(("url", "home"), [
    ("https://herald.test/", True), ("https://herald.test", True), ("https://herald.test/index.html", True),
    ("https://herald.test/?page=2", False), ("https://herald.test/news/", False),
    ("https://herald.test/index.html/story", False),
])
def test_a_hosts_home_page_is_never_its_error_page(url: str, home: bool) -> None:
    assert is_home(url) is home
    verdict = judge(read(page(f"{CHROME}<h1>Page not found</h1>", title="Page not found"), url))
    assert (verdict.verdict == "ok" and verdict.reasons == ["home-page"]) is home


def test_a_visible_password_field_is_a_sign_in_wall_in_any_language() -> None:
    form = "<form><input type='email' name='e'><input type='password' name='p'><button>→</button></form>"
    wall = read(page(f"{CHROME}<h1>Ingia</h1>{form}", title="Harbour Herald"))
    assert (judge(wall).verdict, judge(wall).reasons) == ("blocked", ["login-form"])
    modal = read(page(f"{CHROME}<div style='display:none'>{form}</div><h1>Ukurasa haupatikani</h1>",
                      title="Harbour Herald"))
    assert judge(modal).verdict != "blocked"


def test_what_a_page_shares_with_its_hosts_error_page_is_taken_away() -> None:
    """Template prose (an about-us blurb, comments) is not the page's story once the probe shows it is the
    host's; the page's own story survives."""
    blurb = paragraphs(" ".join(f"The Herald's community desk {n} welcomes letters from readers across the "
                                "county about the stories that matter." for n in range(8)))
    error = page(f"{CHROME}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>{blurb}", title="Harbour Herald")
    probe = ProbeView.of(read(error))
    dead = read(error)
    assert story_units(dead) >= 100 and story_units(dead, probe) == 0
    verdict = judge(dead, probe)
    assert verdict.verdict == "soft-404" and "probe-match" in verdict.reasons
    live = read(page(f"{CHROME}<h1>A quiet night at the harbour</h1>{paragraphs(STORY)}{blurb}"))
    assert judge(live, probe).reasons == ["article-evidence"]


def test_a_model_trained_on_other_signals_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = json.loads(model_module.MODEL.read_text(encoding="utf-8"))
    data["names"] = data["names"][:-1]
    stale = tmp_path / "model.json"
    stale.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setattr(model_module, "MODEL", stale)
    model_module._models.cache_clear()
    try:
        with pytest.raises(ValueError, match="train_soft404"):
            model_module.model()
    finally:
        monkeypatch.undo()
        model_module._models.cache_clear()


def test_text_after_an_html_comment_is_read() -> None:
    evidence = read(page("<p>Hello <!-- ad slot --> world, <!--x-->and the rest of the sentence.</p>"))
    assert [b.units for b in evidence.blocks] == [8]


def test_a_headline_matches_its_title_whatever_the_quotes_and_case() -> None:
    evidence = read(page("<h1>It's the harbour’s quietest night</h1>",
                         title="It’s The Harbour's Quietest Night | Herald"))
    assert evidence.headline


def test_a_story_whose_title_says_404_is_alive_on_its_own() -> None:
    html = page(f"<h1>What a year in space does to the body</h1>{paragraphs(STORY)}",
                title="404 days in orbit: what it does to the body | Harbour Herald")
    verdict = judge(read(html))
    assert (verdict.verdict, verdict.reasons) == ("ok", ["article-evidence"])  # "404" in a headline says no error


def test_a_short_video_or_photo_page_is_alive_beside_its_hosts_error_page() -> None:
    """Little text of its own is what an error page shows too; on a player or a gallery it is the caption."""
    probe = ProbeView.of(read(page(f"{CHROME}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>", title="Harbour Herald")))
    video = read(page(f"{CHROME}<h1>Harbour at dawn</h1><video src='/v.mp4'></video><p>Eight words of a "
                      "caption for the video.</p>", title="Harbour at dawn | Harbour Herald"))
    assert judge(video, probe).verdict == "ok"
    photo_ld = '<script type="application/ld+json">{"@type": "ImageObject", "name": "Harbour"}</script>'
    photo = read(page(f"{CHROME}<h1>Harbour at dawn</h1><img src='/p.jpg'><p>The harbour at dawn.</p>",
                      title="Harbour at dawn | Harbour Herald", head=photo_ld))
    assert photo.media and judge(photo, probe).verdict == "ok"


@pytest.mark.parametrize("player", [
    "<audio controls><source src='/podcast/ep-41.mp3' type='audio/mpeg'></audio>",
    "<iframe src='https://embed.acast.com/harbour-hour/episode-41'></iframe>",
    "<iframe src='https://w.soundcloud.com/player/?url=https%3A//api.soundcloud.com/tracks/41'></iframe>",
    "<iframe src='about:blank' data-src='https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ'></iframe>",
    "<iframe src='https://datawrapper.dwcdn.net/Ab3xY/2/'></iframe>",
    "<iframe data-src='https://flo.uri.sh/visualisation/1234567/embed'></iframe>",
    "<iframe src='data:text/html,' data-src='https://player.vimeo.com/video/41'></iframe>",
    "<article><header><iframe src='https://www.youtube.com/embed/harbour-hour-41'></iframe></header></article>",
])
def test_a_podcast_a_lazy_video_or_a_chart_is_a_short_pages_story(player: str) -> None:
    """A podcast episode, a video whose frame loads lazily, a chart of the data desk: the page's story is
    what the frame plays or draws, and the line under it its caption, beside a host whose error page
    answers 200. An ad's or a form's frame is no story."""
    probe = ProbeView.of(read(page(f"{CHROME}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>", title="Harbour Herald")))
    short = read(page(f"{CHROME}<h1>Harbour Hour, episode 41</h1>{player}<p>The ferry strike, in twelve minutes."
                      "</p>", title="Harbour Hour, episode 41 | Harbour Herald"))
    assert short.media and judge(short, probe).verdict == "ok"
    for frame in ("<iframe src='https://ads.example-adserver.test/slot?id=41'></iframe>",
                  "<iframe src='https://forms.test/newsletter/embed'></iframe>",
                  "<iframe src='https://www.facebook.com/plugins/share_button.php?href=https%3A%2F%2Fherald.test"
                  "%2Fplayer-ratings'></iframe>",
                  "<aside><iframe src='https://www.youtube.com/embed/video-of-the-day'></iframe></aside>",
                  "<iframe src='https://[oops/embed'></iframe>"):  # no URL parser reads it: no player, no crash
        notice = read(page(f"{CHROME}<h1>Makala imeondolewa</h1>{frame}<p>Samahani sana.</p>", title="Harbour Herald"))
        assert not notice.media and judge(notice, probe).verdict == "soft-404"


def test_a_hosts_answer_that_is_an_article_is_no_template() -> None:
    """A host routing by a number in the path answers the probe beside an article with the article."""
    article = read(page(f"{CHROME}<h1>A quiet night at the harbour</h1><p><time datetime='2026-11-02'>2 Nov</time>"
                        f"</p>{paragraphs(STORY)}"))
    assert template_view(article) is None
    error = read(page(f"{CHROME}<h1>Page not found</h1><p>Sorry.</p>", title="Page not found"))
    assert template_view(error) == ProbeView.of(error)


def test_sign_in_wording_over_a_story_is_no_wall() -> None:
    html = page(f"<h1>Sign in to continue reading, says the bank</h1>{paragraphs(STORY)}",
                title="Sign in to continue reading, says the bank")
    assert judge(read(html)).verdict == "ok"


SIDEBAR_VIDEO = "<div class='rail'><iframe src='https://player.test/embed/live-tv'></iframe></div>"
FORM = "<form><input type='email' name='e'><input type='password' name='p'><button>→</button></form>"
NOT_FREE = '<script type="application/ld+json">{"@type": "NewsArticle", "isAccessibleForFree": false}</script>'


def test_a_player_the_hosts_template_shows_too_is_not_the_pages_own() -> None:
    """A live-TV player in the rail of every page is on the host's error page too: a removal notice beside
    it is no video page. A page with a player of its own still is. Players in an <aside> are no page's own
    at all (a "video of the day" changes from one request to the next)."""
    probe = ProbeView.of(read(page(f"{CHROME}{SIDEBAR_VIDEO}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>",
                                   title="Harbour Herald")))
    notice = read(page(f"{CHROME}{SIDEBAR_VIDEO}<h1>Makala imeondolewa</h1><p>Samahani sana.</p>",
                       title="Harbour Herald"))
    assert notice.media and probe.media == notice.media
    assert judge(notice, probe).verdict == "soft-404"
    video = read(page(f"{CHROME}{SIDEBAR_VIDEO}<h1>Harbour at dawn</h1><video src='/v.mp4'></video>"
                      "<p>Eight words of a caption for the video.</p>", title="Harbour at dawn | Harbour Herald"))
    assert judge(video, probe).reasons == ["media-page"]
    popular = "".join(f"<iframe src='https://player.test/embed/popular-{n}'></iframe>" for n in range(3))
    busy = ProbeView.of(read(page(f"{CHROME}<div>{popular}</div><h1>Ukurasa haupatikani</h1><p>Samahani.</p>",
                                  title="Harbour Herald")))
    clip = read(page(f"{CHROME}<div>{popular}</div><h1>Harbour at dawn</h1><video src='/v.mp4'></video>"
                     "<p>At dawn.</p>", title="Harbour at dawn | Harbour Herald"))
    assert judge(clip, busy).verdict == "ok"  # fewer players than the error page's sidebar, but its own
    assert len(busy.media) == 3  # players whose sources differ in digits only are three players
    assert not read(page(f"{CHROME}<aside>{popular}</aside><h1>Makala imeondolewa</h1><p>Samahani.</p>")).media


def test_a_sign_in_box_on_every_page_is_no_wall_beside_the_hosts_error_page() -> None:
    """Alone, a password field where the story should be is a wall; when the host's error page has the same
    box, the page is compared with that page (crawler/soft404/judge.py probes it) and judged on the rest."""
    probe = ProbeView.of(read(page(f"{CHROME}{FORM}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>",
                                   title="Harbour Herald")))
    dead = read(page(f"{CHROME}{FORM}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>", title="Harbour Herald"))
    alone = judge(dead)
    assert alone.reasons == ["login-form"] and probed(alone)
    assert judge(dead, probe).verdict == "soft-404"


@pytest.mark.parametrize("head", [
    NOT_FREE,
    '<script type="application/ld+json">{"@graph": [{"@type": "NewsArticle", "hasPart": '
    '{"@type": "WebPageElement", "isAccessibleForFree": "False", "cssSelector": ".paywall"}}]}</script>',
    '<meta itemprop="isAccessibleForFree" content="false">',
])
def test_a_page_that_declares_itself_not_free_and_shows_no_story_is_a_paywall(head: str) -> None:
    """schema.org's isAccessibleForFree (Google's paywall markup), in JSON-LD, in a part, or in microdata,
    over less than a paragraph of the page's own: a wall in any language, not a deleted story."""
    wall = read(page(f"{CHROME}<h1>A quiet night at the harbour</h1><p>Jiandikishe ili kusoma zaidi.</p>",
                     head=head))
    assert (judge(wall).verdict, judge(wall).reasons) == ("blocked", ["paywall-markup"])
    free = read(page(f"{CHROME}<h1>A quiet night at the harbour</h1><p>Jiandikishe ili kusoma zaidi.</p>",
                     head=head.replace("false", "true").replace("False", "True")))
    assert judge(free).verdict != "blocked"


def test_paywall_markup_is_no_wall_on_a_story_an_error_page_or_the_hosts_template() -> None:
    assert judge(read(page(f"{CHROME}<h1>A quiet night at the harbour</h1>{paragraphs(STORY)}",
                           head=NOT_FREE))).reasons == ["article-evidence"]
    forgotten = read(page(f"{CHROME}<h1>Page not found</h1><p>Sorry.</p>", title="Page not found", head=NOT_FREE))
    assert judge(forgotten).verdict == "soft-404"  # a 404 template that kept the article's markup
    template = ProbeView.of(read(page(f"{CHROME}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>",
                                      title="Harbour Herald", head=NOT_FREE)))
    dead = read(page(f"{CHROME}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>", title="Harbour Herald",
                     head=NOT_FREE))
    assert judge(dead).reasons == ["paywall-markup"] and probed(judge(dead))
    assert judge(dead, template).verdict == "soft-404"


def test_what_a_page_says_beyond_its_hosts_template_is_read_wherever_it_is() -> None:
    """A wall's message below a lede and a byline the host's error page shows too (past the opening that
    is read alone) is found once the template is taken away; a "log in to comment" line that every page of
    the host shows is the template's, and a brief under it stays alive."""
    lede = ("<p class='lede'>November 18, 2026. Share this. The harbour master said the night was the quietest "
            "of the year, and the boats stayed in.</p><p>By the Herald staff</p><p class='promo'>Get the Herald's "
            "morning briefing: the coast's news, sport and weather in your inbox before breakfast, every day of "
            "the week, free of charge.</p>")
    comments = "<div class='comments'><p>You must be signed in to comment.</p></div>"
    error = page(f"{CHROME}<h1>Ukurasa haupatikani</h1>{lede}<p>Samahani.</p>{comments}", title="Harbour Herald")
    probe = ProbeView.of(read(error))
    wall = read(page(f"{CHROME}<h1>Ukurasa haupatikani</h1>{lede}<p>Please log in to continue reading."
                     f"</p>{comments}", title="Harbour Herald"))
    assert judge(wall).verdict != "blocked"  # alone: the opening is the lede
    assert (judge(wall, probe).verdict, judge(wall, probe).reasons) == ("blocked", ["blocked-text"])
    brief = read(page(f"{CHROME}<h1>A quiet night at the harbour</h1>{lede}"
                      f"{paragraphs(' '.join(STORY.split()[:45]))}{comments}"))
    assert judge(brief, probe).verdict == "ok"


@pytest.mark.parametrize("aside", ["Photo: 404 Media", "Oops! Something went wrong while submitting the form.",
                                   "No results found", "Related posts not found", "Subscribers only"])
def test_a_short_line_of_a_live_page_beyond_its_hosts_template_does_not_kill_it(aside: str) -> None:
    """A widget's line under the headline (an empty widget, a form's error, a credit) that the host's error
    page does not show: a video, a gallery and a brief beside it stay alive."""
    probe = ProbeView.of(read(page(f"{CHROME}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>", title="Harbour Herald")))
    words = " ".join(STORY.split()[:28])
    bodies = {"video": f"<video src='/v.mp4'></video><p>{words}</p>",
              "gallery": "".join(f"<figure><img src='/p{n}.jpg'><figcaption>Boat {n}</figcaption></figure>"
                                 for n in range(4)),
              "brief": f"<p><time datetime='2026-11-02'>2 Nov</time></p><p>{words}</p>"}
    for kind, body in bodies.items():
        live = read(page(f"{CHROME}<h1>A quiet night at the harbour</h1>{body}<div class='w'><p>{aside}</p></div>",
                         head='<meta property="og:type" content="article">'))
        assert judge(live, probe).verdict != "soft-404", kind


ARTICLE = ('<meta property="og:type" content="article"><script type="application/ld+json">{"@type": "NewsArticle", '
           '"headline": "A quiet night at the harbour", "datePublished": "2026-11-02"}</script>')


def test_a_page_that_still_declares_its_article_beside_a_short_unknown_message_is_withheld_not_dead() -> None:
    """Beyond its host's error page, a sign-in wall in wording no lexicon holds and a removal notice in such
    wording look alike: a short message where the story was. When the page still declares its article and
    the host's error page declares none, the host still knows the article: its text is withheld (`blocked`),
    not proven deleted. Without that markup, with the error page's title or none, beside an error page that
    declares an article too, with no sentence of its own (an empty shell that kept its headline, and maybe a
    heading below it), or in wording that says it is gone, it is dead. A message set as headings, under a
    title that is neither, says something too."""
    clock = "<p><time datetime='2026-12-07'>7 Dec</time></p>"  # the template's clock
    error = page(f"{CHROME}{clock}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>", title="Harbour Herald")
    probe = ProbeView.of(read(error))
    assert not probe.article
    message = "<h1>Ukurasa wa wanachama</h1><p>Makala hii ni kwa wanachama pekee wa gazeti letu.</p>"
    title = "Ukurasa wa wanachama – Harbour Herald"
    og_only = '<meta property="og:type" content="article">'
    for head in (ARTICLE, og_only):
        walled = read(page(f"{CHROME}{clock}{message}", title=title, head=head))
        assert (judge(walled, probe).verdict, judge(walled, probe).reasons) == ("blocked", ["withheld"])
    # The message set as headings alone, under a title that is not one of them: a wall still.
    headed = read(page(f"{CHROME}{clock}<h1>Makala kwa wanachama pekee</h1><h2>Tafadhali ingia kwanza</h2>",
                       title="Ingia – Harbour Herald", head=ARTICLE))
    assert (judge(headed, probe).verdict, judge(headed, probe).reasons) == ("blocked", ["withheld"])
    # ... also below a masthead that names the site, on the host's error page too (the title holds it)
    masthead = "<div class='masthead'><h2>Harbour Herald</h2></div>"
    named = ProbeView.of(read(page(f"{masthead}{CHROME}{clock}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>",
                                   title="Harbour Herald")))
    headed = read(page(f"{masthead}{CHROME}{clock}<h1>Makala kwa wanachama pekee</h1><h2>Tafadhali ingia kwanza"
                       "</h2>", title="Ingia – Harbour Herald", head=ARTICLE))
    assert (judge(headed, named).verdict, judge(headed, named).reasons) == ("blocked", ["withheld"])
    dead = {
        "no markup": read(page(f"{CHROME}{clock}{message}", title=title)),
        "the error page's title": read(page(f"{CHROME}{clock}{message}", title="Harbour Herald", head=ARTICLE)),
        "no title": read(page(f"{CHROME}{clock}{message}", title="", head=ARTICLE)),
        "a kept headline only": read(page(f"{CHROME}{clock}<h1>Ukurasa wa wanachama</h1><p>Shiriki</p>",
                                          title=title, head=ARTICLE)),
        "a kept headline over a heading": read(page(f"{CHROME}{clock}<h1>Ukurasa wa wanachama</h1>"
                                                    "<h2>Habari zaidi za bandari</h2>", title=title, head=ARTICLE)),
        "a masthead's heading over a kept headline": read(page(f"{CHROME}{clock}<h2>Main navigation</h2>"
                                                               "<h1>Ukurasa wa wanachama</h1><h2>Habari zaidi za "
                                                               "bandari</h2>", title=title, head=ARTICLE)),
        "known wording": read(page(f"{CHROME}{clock}<h1>Ukurasa wa wanachama</h1><p>This article has been "
                                   "removed.</p>", title=title, head=ARTICLE)),
    }
    for why, evidence in dead.items():
        assert judge(evidence, probe).verdict == "soft-404", why
    sitewide = ProbeView.of(read(page(f"{CHROME}{clock}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>",
                                      title="Harbour Herald", head=og_only)))
    assert judge(read(page(f"{CHROME}{clock}{message}", title=title, head=ARTICLE)), sitewide).verdict == "soft-404"


@pytest.mark.parametrize("headline", ["Missing climber still not found after five days, police say",
                                      "Ferry timetable no longer available online, council says",
                                      "Page not found: the archivists rescuing the first websites",
                                      "U.S. hiker not found after storm, rangers say",
                                      "Not found: the state-of-the-art museum nobody visits on the coast",
                                      "Video unavailable: Israel/Gaza footage pulled from the harbour site",
                                      "Error 404: /r/place and the harbour pixel war explained"])
def test_error_words_inside_a_headline_do_not_make_a_breaking_stub_dead(headline: str) -> None:
    """A live stub of a breaking story (a headline, two lines, "more to follow") is as short as an error page;
    error words inside its headline are the news, not the page's state."""
    stub = read(page(f"{CHROME}<h1>{headline}</h1><p>{' '.join(STORY.split()[:22])}</p><p>More to follow.</p>",
                     title=f"{headline} | Harbour Herald", head=ARTICLE))
    assert stub.cues[:2] == (None, None)
    assert judge(stub).verdict == "ok"


@pytest.mark.parametrize("title", [
    "Page not found | Harbour Herald", "Oops! That page can’t be found. – Harbour Herald", "404 Not Found",
    "404: The page you requested could not be found", "Error 404 (Not Found)!!1", "Item '12345/6789' not found",
    "Sorry, the page you requested could not be found. It may have been moved or deleted.",
    "Erreur 404 : la page n'existe pas", "Страница не найдена — Harbour Herald", "页面不存在_新浪新闻中心_新浪网",
    "404 Not Found｜産経ニュース", "ページが見つかりませんでした | 朝日新聞", "الصفحة غير موجودة - الجزيرة",
    "Page not found: /news/2026/harbour.html", "404 Not Found: https://herald.test/news/2026/harbour.html."])
def test_an_error_title_states_its_error_in_any_form(title: str) -> None:
    """A title or heading cues an error when the wording is most of one of its parts (between a site's
    separators, CJK sites' "_" and "｜" too, or its first sentence); an ID, a path or a URL it echoes does not
    dilute it."""
    assert title_cue(title, "https://herald.test/news/2026/harbour.html") == "error-text"


def most_read(first: int, form: str = "list") -> str:
    """A host's most-read list with six of its stories of the hour, from the `first`th on."""
    teaser = "was the story most of the county read this hour, with its pictures and a map of the route"
    places, events = ("ferry", "lighthouse", "market", "school", "bridge"), ("fire", "vote", "storm", "strike", "fair")
    what = [f"The {place} {event}" for place in places for event in events]
    if form == "cards":
        items = "".join(f"<article><h3><a href='/s/{n}'>{what[n]} today</a></h3><p>{what[n]} {teaser}</p></article>"
                        for n in range(first, first + 6))
        return f"<aside><h2>Most read</h2>{items}</aside>"
    items = "".join(f"<li><a href='/s/{n}'>{what[n]} today</a><p>{what[n]} {teaser}</p></li>"
                    for n in range(first, first + 6))
    return f"<aside><h2>Most read</h2><ul>{items}</ul></aside>"


@pytest.mark.parametrize("form", ["list", "cards"])
def test_a_most_read_list_that_changes_per_request_is_the_hosts_template(form: str) -> None:
    """The host's pages list the stories of the hour, so its probe answer and a removal notice (in wording no
    lexicon holds) show different ones: the teasers under the template's "Most read" are not what the URL
    shows, and the notice shows nothing of its own. Under the template's heading, a brief, and a brief between
    a share bar and tags, stay alive."""
    probe = ProbeView.of(read(page(f"{CHROME}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>{most_read(0, form)}",
                                   title="Harbour Herald")))
    notice = read(page(f"{CHROME}<h1>Makala imeondolewa</h1><p>Makala hii imeondolewa.</p>{most_read(6, form)}",
                       title="Makala imeondolewa – Harbour Herald"))
    assert notice.cues == (None, None, None)
    assert (judge(notice, probe).verdict, judge(notice, probe).reasons) == ("soft-404", ["probe-match"])
    words = " ".join(STORY.split()[:30])
    share, tags = "<p><a href='/share'>Share this story</a></p>", "<p><a href='/t/1'>Harbour</a></p>"
    for body in (f"<h2>Most read</h2><p>{words}</p>", f"<h2>Most read</h2>{share}<p>{words}</p>{tags}",
                 f"<h1>A quiet night at the harbour</h1>{share}<p>{words}</p>{tags}{most_read(12, form)}"):
        live = read(page(f"{CHROME}{body}"))
        assert judge(live, probe).verdict != "soft-404", body


def test_a_search_for_the_words_of_the_url_asked_for_is_dead_beside_a_host_that_searches_for_what_it_lacks() -> None:
    """A host that answers a URL that cannot exist with a search for its words shows those words in its search
    box, in any language, with what it found: a page whose box holds its own URL's words is that answer. A
    box holding the words on a host whose probe answer does not (a topic page's lookup box), a placeholder,
    a share box's URL or another text box prove nothing."""
    def results(query: str, found: str = "") -> str:
        return page(f"{CHROME}<h1>Matokeo ya utafutaji</h1><form role='search'><input name='s' value='{query}'>"
                    f"</form>{found}", title="Harbour Herald")
    assert searched_for(("u s election results",), "https://herald.test/news/u.s.-election-results")  # no extension
    assert searched_for(("bridge plan",), "https://herald.test/a/bridge-plan.php")
    searching = ProbeView.of(read(results("xkqzvbwmtr") + "<p>Hakuna.</p>",
                                  url="https://herald.test/news/2026/xkqzvbwmtr.html"))
    assert searching.searches
    url = "https://herald.test/news/2026/harbour-ferry-fire.html"
    for query in ("harbour ferry fire", "ferry fire"):
        searched = read(results(query, most_read(0)), url=url)
        assert searched.searched
        assert judge(searched, searching) == Verdict("soft-404", ["search-page", "probe-match"], 0.9)
    plain = ProbeView.of(read(page(f"{CHROME}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>", title="Harbour Herald")))
    assert judge(read(results("harbour ferry fire", most_read(0)), url=url), plain).reasons != [
        "search-page", "probe-match"]
    for box in ("<input name='s' value='Search'>", "<input name='s' value='fire'>", f"<input name='s' value='{url}'>",
                "<input name='tweet' value='harbour ferry fire'>", "<input name='s' value='harbour ferry fire vote'>"):
        brief = read(page(f"{CHROME}<form>{box}</form><h1>Harbour ferry fire</h1><p>{' '.join(STORY.split()[:30])}</p>",
                          title="Harbour ferry fire | Harbour Herald", head=ARTICLE), url=url)
        assert not brief.searched, box
        assert judge(brief, searching).verdict == "ok"
    # A host that fills its search box with every page's slug: its probe answer holds the probe's too, and its
    # brief, its video and its cartoon stay alive.
    box = "<form role='search'><input name='s' value='harbour ferry fire'></form>"
    for body in (f"<p>{' '.join(STORY.split()[:60])}</p>", "<video src='/v.mp4'></video><p>The fire, filmed.</p>",
                 "<figure><img src='/c.jpg'><figcaption>Tuesday's cartoon</figcaption></figure>"):
        for head in (ARTICLE, ""):
            live = read(page(f"{CHROME}{box}<h1>Harbour ferry fire</h1>{body}",
                             title="Harbour ferry fire | Harbour Herald", head=head), url=url)
            assert live.searched and judge(live, searching).verdict != "soft-404", (body, head)


_MASTHEAD = ("<header><h2>Main navigation</h2><nav><ul>" + "".join(f"<li><a href='/s{n}'>Section {n}</a></li>"
                                                                  for n in range(10)) + "</ul></nav></header>")
_FOOTER = ("<footer><h3>News</h3><ul><li><a href='/news'>Local</a></li><li><a href='/world'>World</a></li></ul>"
           "<h3>Sign up for our newsletter</h3><p>The day's stories from the coast in your inbox every morning.</p>"
           "</footer>")


def _update(n: int, words: int = 28) -> str:
    place = ("ferry", "harbour", "market", "bridge", "school", "station")[n % 6]
    return " ".join(f"Update {n}: crews on the {place} reported water over the road and more rain due tonight as "
                    "well".split()[:words])


_ENTRIES = "".join(f"<p><a href='#post-{n}'>1{n}:0{n}</a></p><p>{_update(n)}</p>" for n in range(6))
_LISTICLE = "".join(f"<h2><a href='/s/{n}'>{n + 1}. Thing {n}</a></h2><p>{_update(n, 22)}</p>" for n in range(5))
_FRONT = "".join(f"<article><h2><a href='/n/{n}'>Latest {n}</a></h2><p>{_update(n, 22)}</p></article>"
                 for n in range(8))


@pytest.mark.parametrize("body", [
    f"<h1>News</h1>{_FRONT}",  # a front whose heading is the footer's column of links
    f"<h1><a href='/news/live'>Live: storm floods the harbour road</a></h1>{_ENTRIES}",  # a linked headline
    f"<div class='headline'>Five things to know about the storm</div>{_LISTICLE}",  # no heading of its own
    f"<h1>Five things</h1><h3>Sign up for our newsletter</h3><p>The day's stories from the coast in your inbox every "
    f"morning.</p>{_LISTICLE}",  # the template's newsletter box inside the story
    f"<h1>Live: storm floods the harbour road</h1>{most_read(0)}{_LISTICLE}",  # the host's list inside the story
])
def test_only_the_hosts_own_story_lists_and_only_their_length_are_taken_away(body: str) -> None:
    """A heading of the host's error page heads a story list only when it does there (not a footer's column of
    links, a newsletter box or the navigation's heading), and the list takes away only as many teasers as it
    has there: a live blog, a listicle or a front under such a heading, or below the list, stays the page's."""
    probe = ProbeView.of(read(page(f"{_MASTHEAD}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>{most_read(6)}{_FOOTER}",
                                   title="Harbour Herald")))
    assert len(probe.lists) == 1
    live = read(page(f"{_MASTHEAD}{body}{most_read(12)}{_FOOTER}", title="Five things | Harbour Herald"))
    assert judge(live, probe).verdict == "ok"


def test_a_captioned_picture_of_its_own_is_a_photo_pages_story_beside_its_hosts_error_page() -> None:
    """A cartoon or a photo of the day: a headline, one captioned picture, a byline; less text than an error
    page, and alive. A picture the host's error page shows too (its illustration) is not the page's own."""
    picture = "<figure><img src='/cartoons/2026-12-07.jpg'><figcaption>Tuesday's cartoon</figcaption></figure>"
    probe = ProbeView.of(read(page(f"{CHROME}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>{most_read(0)}",
                                   title="Harbour Herald")))
    cartoon = read(page(f"{CHROME}<h1>The harbour, as our cartoonist sees it</h1>{picture}<p>By Ana Ruiz</p>"
                        f"{most_read(6)}", title="The harbour, as our cartoonist sees it | Harbour Herald"))
    assert judge(cartoon, probe).verdict == "ok"
    illustrated = ProbeView.of(read(page(f"{CHROME}<h1>Ukurasa haupatikani</h1>{picture}<p>Samahani.</p>",
                                         title="Harbour Herald")))
    dead = read(page(f"{CHROME}<h1>Ukurasa haupatikani</h1>{picture}<p>Samahani.</p>", title="Harbour Herald"))
    assert judge(dead, illustrated).verdict == "soft-404"
    plain = ProbeView.of(read(page(f"{CHROME}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>", title="Harbour Herald")))
    for card in (f"<aside>{picture}</aside>", f"<a href='/s/1'>{picture}</a>",
                 "<figure><a href='/s/1'><img src='/p.jpg'></a><figcaption>Editor's pick</figcaption></figure>"):
        picked = read(page(f"{CHROME}<h1>Ukurasa haupatikani</h1><p>Samahani.</p>{card}", title="Harbour Herald"))
        assert picked.media == frozenset() and judge(picked, plain).verdict == "soft-404", card


def test_a_title_names_the_words_of_its_slug_as_a_cms_made_them() -> None:
    """A CMS makes a story's slug from its headline: a plural, an accent, an umlaut spelt out, a
    transliteration or a rewritten headline that kept some of its words still name it. What a title quotes
    (a search's query) does not, nor an ID."""
    slug = "https://herald.test/news/2026/harbour-ferry-fire-closes-pier.html"
    assert named_by(slug, "Ferry fires close the harbour pier | Harbour Herald") == {"harbour", "ferry", "fire",
                                                                                        "closes", "pier"}
    assert named_by("https://h.test/world/hostage-freed-after-talks", "Hostages freed") == {"hostage", "freed"}
    assert named_by("https://z.test/politik/trumps-tweet-wurde-geloescht", "Trumps Tweet wurde gelöscht") == {
        "trumps", "tweet", "wurde", "geloescht"}
    assert named_by("https://z.test/sport/mueller-fordert-ruecktritt", "Müller fordert Rücktritt") == {
        "mueller", "fordert", "ruecktritt"}
    russian = named_by("https://d.test/skajrim-skorost-bega-kak-uvelichit/", "Скайрим скорость бега как увеличить")
    assert {"skorost", "bega"} <= russian
    assert named_by("https://h.test/2019/11/opening-bell-11-18-19", "Opening Bell 11.18.19 - Dealbreaker") == {
        "opening", "bell"}
    assert named_by(slug, "Search results for “harbour ferry fire closes pier” – Herald") == set()
    assert named_by(slug, "Page not found – Herald") == set()
    assert named_by("https://herald.test/news/world-europe-50473792", "Sweden drops the case - Herald") == set()
    assert named_by("https://herald.test/a/12345", "Harbour fire | Herald") == set()
    assert named_by("", "Harbour ferry fire") == set()


def test_an_error_page_that_echoes_the_url_asked_for_is_told_by_its_probe_s_title() -> None:
    """A probe asks for a random name, or an ID-routed page's name with an unknown number: a host whose error
    title holds it, as asked, names any URL asked for. A word of the site's name in the page's slug is no
    echo."""
    assert echoes_name("https://h.test/news/2026/k3jx9qpzm0wt.html", "Nothing found for k3jx9qpzm0wt – Herald")
    assert not echoes_name("https://h.test/news/2026/k3jx9qpzm0wt.html", "Page not found – Herald News")
    assert echoes_name("https://h.test/a/9912345-harbour-ferry-fire", "Article 9912345 not found")
    assert not echoes_name("https://h.test/a/9912345-harbour-ferry-fire", "Not found | Harbour Evening News")
    assert not echoes_name("", "k3jx9qpzm0wt") and not echoes_name("https://h.test/", "Herald")


STUB_URL = "https://herald.test/news/2026/harbour-ferry-fire-poll.html"


def test_a_stub_that_names_its_url_is_alive_beside_a_probe_it_looks_like() -> None:
    """A poll, a death notice, a first alert: a headline over a line, no article markup, no picture. Beside the
    host's error page in unknown wording it is that page but for its title, which names its URL: alive. Not
    on a host whose error page echoes the URL asked for in its title, nor when the page says it is an
    error; a page titled with its message stays dead."""
    probe = ProbeView.of(read(page(f"{CHROME}<h1>Ukurasa haupatikani</h1><p>Samahani, hatukupata.</p>",
                                   title="Harbour Herald"), url="https://herald.test/news/2026/xkqzvbwmtr.html"))
    stub = page(f"{CHROME}<h1>Harbour ferry fire: have your say</h1><p>Should the ferry run again this winter?</p>",
                title="Harbour ferry fire: have your say | Harbour Herald")
    assert judge(read(stub, url=STUB_URL), probe) == Verdict("ok", ["names-url"], 0.3)
    assert judge(read(stub, url=STUB_URL)).verdict == "ok"
    unnamed = read(stub, url="https://herald.test/news/2026/council-budget-vote.html")
    assert judge(unnamed, probe).verdict == "soft-404"  # beside its host's template, nothing says otherwise
    echoing = ProbeView.of(read(page(f"{CHROME}<h1>Ukurasa haupatikani</h1><p>Samahani, hatukupata.</p>",
                                     title="xkqzvbwmtr – Harbour Herald"),
                                url="https://herald.test/news/2026/xkqzvbwmtr.html"))
    assert echoing.echoes
    assert judge(read(stub, url=STUB_URL), echoing).verdict == "soft-404"
    said = page(f"{CHROME}<h1>Page not found</h1><p>Harbour ferry fire poll</p>",
                title="Harbour ferry fire poll: page not found | Harbour Herald")
    assert judge(read(said, url=STUB_URL), probe).verdict == "soft-404"  # its own words say it is gone
    worded = page(f"{CHROME}<h1>Page not found</h1><p>Sorry, the page you asked for about the harbour ferry fire "
                  "poll is not here any more.</p>", title="Harbour ferry fire poll | Harbour Herald")
    assert judge(read(worded, url=STUB_URL), probe).verdict == "soft-404"  # the model's evidence: its wording
    # The site's name in the slug names nothing, nor does the error page's own title.
    for title in ("Harbour Herald", "Ukurasa haupatikani | Harbour Herald"):
        template = page(f"{CHROME}<h1>Ukurasa haupatikani</h1><p>Samahani, hatukupata.</p>", title=title)
        assert judge(read(template, url="https://herald.test/news/2026/harbour-herald-awards.html"), probe).verdict \
            == "soft-404", title
    headline_only = page(f"{CHROME}<h1>Harbour ferry fire poll</h1>", title="Harbour ferry fire poll | Harbour Herald")
    assert judge(read(headline_only, url=STUB_URL), probe).verdict == "ok"  # a cartoon, its picture not captioned
    assert judge(read(headline_only, url="https://herald.test/news/2026/budget-vote.html"), probe).verdict == "soft-404"


def test_a_shell_the_browser_built_nothing_into_is_dead_unless_it_names_its_url() -> None:
    shell = page("<div id='app'></div><script src='/app.js'></script>",
                 title="Harbour ferry fire poll | Harbour Herald")
    assert built_nothing(read(shell, url=STUB_URL)) == Verdict("ok", ["names-url", "rendered"], 0.3)
    assert built_nothing(read(shell)) == Verdict("soft-404", ["empty-content", "rendered"], 0.8)
    assert built_nothing(None).verdict == "soft-404"
