"""What tools/build_soft404_catalogs.py takes from a platform's gettext catalog for the lexicon: messages a
reader is shown, by what their English says; fuzzy and developer messages never."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

TOOL = Path(__file__).resolve().parents[2] / "tools" / "build_soft404_catalogs.py"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_soft404_catalogs", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PO = r'''msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"
"PO-Revision-Date: YEAR-MO-DA HO:MI+ZONE\n"

#: ckan/views/dataset.py:1
msgid "Dataset not found"
msgstr "Conjunto de datos no encontrado"

#, fuzzy
msgid "Resource not found"
msgstr "Recurso encontrado"

msgid ""
"You must be logged in to "
"access your dashboard."
msgstr ""
"Debe iniciar sesión para "
"acceder a su panel."

msgid "One result found"
msgid_plural "%d results found"
msgstr[0] "Un resultado"
msgstr[1] "%d resultados"

msgid "Untranslated page not found"
msgstr ""
'''


def test_messages_are_read_whole_and_fuzzy_or_untranslated_ones_left_out(tool: ModuleType) -> None:
    assert list(tool.messages(PO)) == [
        ("Dataset not found", "Conjunto de datos no encontrado"),
        ("You must be logged in to access your dashboard.", "Debe iniciar sesión para acceder a su panel."),
        ("One result found", "Un resultado"),
    ]


@pytest.mark.parametrize(("english", "kind"), [
    ("Dataset not found", "not-found"),
    ("The page you requested does not exist.", "not-found"),
    ("You must be logged in to access your dashboard.", "login"),
    ("User %s not authorized to read package %s", "login"),
    ("Access denied", "login"),
    ("Your search did not match any documents.", "search"),
    ("No matching documents", "search"),
    ("html_static_path entry %r does not exist", None),  # said to a developer, not to a reader
    ("favicon file %r does not exist", None),
    ("Log in", None),  # on every page's header
    ("Event not found. Please see below for details.", None),  # a second sentence says something else
    ("Search", None),
])
def test_a_message_is_filed_by_what_its_english_says(tool: ModuleType, english: str, kind: str | None) -> None:
    assert tool.kind_of(english) == kind


def test_the_language_is_read_from_the_catalog_s_path(tool: ModuleType) -> None:
    assert tool._lang_of("ckan/i18n/pt_BR/LC_MESSAGES/ckan.po") == "pt-BR"
    assert tool._lang_of("sphinx/locale/de/LC_MESSAGES/sphinx.po") == "de"
