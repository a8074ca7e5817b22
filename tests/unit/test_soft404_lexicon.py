"""The lexicon's near matches: another platform's wording of a known message is found; words common on live
pages, a language's short function words, words far apart or a paragraph's chance meetings are not."""

from __future__ import annotations

from crawler.soft404.features import title_cue
from crawler.soft404.lexicon import NEAR_MAX_WORDS, Phrases, lexicon_cue, words

GERMAN = Phrases({"die angeforderte seite wurde nicht gefunden"}, common=frozenset({"die", "seite", "nicht"}))


def near(phrases: Phrases, text: str) -> bool:
    return bool(phrases.near_spans(words(text).split()))


def test_another_wording_of_a_known_message_is_a_near_match() -> None:
    assert not GERMAN.found_in(words("Die gesuchte Seite wurde nicht gefunden"))  # not said whole
    assert near(GERMAN, "Die gesuchte Seite wurde nicht gefunden")
    assert near(GERMAN, "Fehler: die angeforderte Seite wurde leider nicht gefunden.")


def test_common_words_short_words_far_apart_words_and_paragraphs_are_no_near_match() -> None:
    assert not near(GERMAN, "Die Seite ist nicht fertig")  # only words every page uses
    albanian = Phrases({"nuk ka dokumente të përputhshme"})  # "no matching documents"
    assert not near(albanian, "Mund të jetë hequr, riemërtuar, ose nuk ka ekzistuar kurrë")  # nuk, ka, të: "not",
    # "has", "to": rare on live pages only because few are Albanian
    assert not near(GERMAN, "Die Polizei wurde gerufen, doch der angeforderte Krankenwagen kam spät; am Abend "
                            "wurde er im Hafen gefunden")  # the words, but far apart
    story = ("Die angeforderte Akte wurde im Archiv nicht gefunden, sagte der Sprecher am Dienstag, und die "
             "Ermittler suchen weiter nach dem verschwundenen Ordner aus dem Jahr 1998 im Keller des Rathauses")
    assert len(story.split()) > NEAR_MAX_WORDS and not near(GERMAN, story)


def test_the_shipped_lexicon_knows_other_wordings_but_not_headlines() -> None:
    assert lexicon_cue("Die gesuchte Seite wurde leider nicht gefunden") == "error-text"
    assert title_cue("Die gesuchte Seite wurde leider nicht gefunden – Hafenbote") == "error-text"
    for headline in ("A quiet night at the harbour", "Die Seite der Stadt, die niemand kennt",
                     "Vermisster Bergsteiger nach fünf Tagen noch nicht gefunden"):
        assert title_cue(f"{headline} – Hafenbote") is None, headline
