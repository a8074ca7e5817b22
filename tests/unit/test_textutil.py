"""Fingerprints and text normalisation."""

from __future__ import annotations

import unicodedata

from crawler.textutil import clean_text, hamming, sha1_digest, simhash, tokens

STORY = ("The city council approved a plan to rebuild the northern bridge after months of talks. "
         "Union leaders welcomed the budget for next year in a statement released late on Friday. "
         "Energy regulators reviewed the report on coastal erosion ahead of the winter season.")


def test_simhash_is_close_for_an_edit_and_far_for_another_story() -> None:
    edited = STORY.replace("late on Friday", "early on Saturday")
    other = "Museum curators rejected plans for a solar farm despite strong objections from fishing cooperatives."
    assert hamming(simhash(STORY) or "", simhash(edited) or "") <= 12
    assert hamming(simhash(STORY) or "", simhash(other) or "") >= 20
    assert simhash("too short") is None


def test_cjk_text_is_tokenised_per_character() -> None:
    assert tokens("国务院发布 guideline 2025") == ["国", "务", "院", "发", "布", "guideline", "2025"]
    assert simhash("国务院发布了关于工业互联网发展的指导意见") is not None


def test_sha1_digest_has_the_warc_form() -> None:
    assert sha1_digest(b"") == "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"


def test_clean_text_normalises_nfc_spaces_and_paragraphs() -> None:
    decomposed = unicodedata.normalize("NFD", "Café")
    assert clean_text(f"  {decomposed}\u00a0 au   lait \r\n\r\n\n second\tline \n third ") == (
        "Café au lait\n\nsecond line\n\nthird")
