"""The lexicon matches a platform's phrase whole, in order; live headlines that share most of its words, in
any language, are no error page ("Trumps Tweet wurde gelöscht" is not "Der Beitrag wurde gelöscht")."""

from __future__ import annotations

import pytest

from crawler.soft404.features import title_cue
from crawler.soft404.lexicon import Phrases, words


def test_a_phrase_matches_whole_and_in_order() -> None:
    german = Phrases({"die angeforderte seite wurde nicht gefunden"})
    assert german.found_in(words("Fehler: Die angeforderte Seite wurde nicht gefunden."))
    assert not german.found_in(words("Die gesuchte Seite wurde nicht gefunden"))
    assert not german.found_in(words("Nicht gefunden: die angeforderte Seite wurde"))


@pytest.mark.parametrize("title", [
    "Trumps Tweet wurde gelöscht – Hafenbote", "Kommentar wurde gelöscht – Hafenbote",
    "Erste Ergebnisse: Leiche im Rhein gefunden", "Ergebnisse der Landtagswahl: keine Mehrheit",
    "Keine Ergebnisse: Gipfel ohne Einigung", "Resultados da busca por desaparecidos em Petrópolis",
    "Aucun résultat pour les négociations", "Die Seite ist nicht fertig", "Tweet verwijderd na ophef | NOS",
    "Видео удалено с YouTube после жалобы",
])
def test_live_headlines_near_an_error_phrase_say_no_error(title: str) -> None:
    assert title_cue(title) is None
