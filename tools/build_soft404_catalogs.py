"""Gather what error pages, sign-in walls and empty search pages say from real platforms' translation
catalogs (tests/soft404data/catalogs.json), for the lexicon (tools/build_soft404_lexicon.py).

The sources are Python packages on PyPI whose gettext catalogs (.po) or translation tables carry those
messages in many languages: Sphinx, MkDocs Material, CKAN, Wagtail, Indico, django-oscar, Mezzanine,
Flask-AppBuilder, Plone, Weblate, pretix, django CMS, Misago, Postorius. A message is taken when its English
text says one of three things (the patterns below, on the English only): a page or item is not found or gone,
the reader must sign in or lacks permission, a search found nothing. Each entry keeps its package, version,
file and English text. The lexicon files each entry under the split of its platform (tests/soft404real.py),
as it does for tests/soft404data/errorpages.json; the corpus of tests/soft404real.py is built from
errorpages.json alone, never from these.

    pip download --no-deps -d /tmp/catalogs sphinx==9.0.4 mkdocs-material==9.8.2 ckan==2.12.0 \\
        wagtail==8.0.1 indico==3.2.9 plone.app.locales==7.0.4 weblate==5.14.3 pretix==2026.8.0 \\
        django-cms==5.1.3 misago==0.39.6 postorius==1.3.13 django-oscar==4.2.1 mezzanine==6.1.1 \\
        flask-appbuilder==5.3.0
    python tools/build_soft404_catalogs.py /tmp/catalogs/*.whl
"""

from __future__ import annotations

import ast
import json
import re
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "soft404data" / "catalogs.json"
PLATFORMS = {"sphinx": "Sphinx", "mkdocs_material": "MkDocs Material", "ckan": "CKAN", "wagtail": "Wagtail",
             "indico": "Indico", "plone_app_locales": "Plone", "weblate": "Weblate", "pretix": "pretix",
             "django_cms": "django-cms", "misago": "Misago", "postorius": "Postorius", "django_oscar": "django-oscar",
             "mezzanine": "Mezzanine", "flask_appbuilder": "Flask-AppBuilder"}
MAX_CHARS = 160  # a message a page states, not a paragraph of help
KINDS = {
    "not-found": re.compile(
        r"\b(?:page|item|dataset|resource|document|content|post|article|record|event|product)s? (?:you "
        r"(?:requested|are looking for) )?(?:was |could )?not (?:be )?found\b|\bpage (?:does not|doesn't) exist\b"
        r"|\bpage you (?:requested|are looking for)\b|\bno longer available\b"
        r"|\b(?:page|item|dataset|content|resource|article|event) has been (?:removed|deleted)\b", re.IGNORECASE),
    "login": re.compile(
        r"\b(?:you (?:must|need to|have to|might need to)|please) (?:be )?(?:log(?:ged)? ?in|sign(?:ed)? ?in) to "
        r"(?:view|see|access|read|continue)\b|\bnot (?:authori[sz]ed|allowed|permitted) to (?:view|see|access|read)\b"
        r"|\b(?:do not|don't) have (?:the )?(?:permission|access|sufficient privileges) to (?:view|see|access|read)\b"
        r"|^(?:access denied|permission denied|insufficient privileges|log ?in required)\b", re.IGNORECASE),
    "search": re.compile(
        r"\bno (?:matching )?(?:search )?(?:results|documents|matches)(?: (?:were )?found)?\b"
        r"|\bdid not match any documents\b|^nothing (?:was )?found\b", re.IGNORECASE),
}
DEVELOPER = re.compile(r"%r|_|\bconfig|\bfile\b|\bcommand|\bAPI\b|\bemail", re.IGNORECASE)  # not said to a reader
_TAG = re.compile(r"<[^<>\n]{1,200}>")  # markup inside a message ("No results in '<span>%(title)s</span>'")
_MATERIAL = re.compile(r'"(search\.result\.none)":\s*"([^"]+)"')


def messages(po: str) -> Iterator[tuple[str, str]]:
    """(English, translation) of a gettext catalog's messages, fuzzy ones left out; the first form of a
    plural."""
    for entry in po.split("\n\n"):
        fields: dict[str, str] = {}
        field, fuzzy = "", False
        for raw in entry.splitlines():
            line = raw.strip()
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            elif line.startswith("#") or not line:
                continue
            elif line.startswith('"') and field:
                fields[field] += _unquote(line)
            else:
                field, _, rest = line.partition(" ")
                fields[field] = _unquote(rest.strip())
        english, text = fields.get("msgid", ""), fields.get("msgstr", fields.get("msgstr[0]", ""))
        if english and text and not fuzzy:
            yield english, text


def _unquote(quoted: str) -> str:
    try:
        value = ast.literal_eval(quoted)
    except (ValueError, SyntaxError):
        return ""
    return value if isinstance(value, str) else ""


_SENTENCE_END = re.compile(r"[.!?]\s+\S")


def kind_of(english: str) -> str | None:
    """What a message says, from its English; None for a message of several sentences (a translation's
    sentences cannot be matched to the English ones, and the others say something else)."""
    if not english or len(english) > MAX_CHARS or DEVELOPER.search(english) or _SENTENCE_END.search(english):
        return None
    return next((kind for kind, pattern in KINDS.items() if pattern.search(english)), None)


def _lang_of(path: str) -> str:
    """The language a catalog is in, from its path (`locale/pt_BR/LC_MESSAGES/x.po`, `.../de.po`)."""
    parts = path.split("/")
    if "LC_MESSAGES" in parts:
        return parts[parts.index("LC_MESSAGES") - 1].replace("_", "-")
    return Path(path).stem.split(".")[-1].replace("_", "-")


def from_wheel(wheel: Path) -> list[dict[str, str]]:
    name, version = wheel.name.split("-")[:2]
    platform = PLATFORMS[name.lower()]
    found = []
    with zipfile.ZipFile(wheel) as archive:
        for path in sorted(archive.namelist()):
            if path.endswith(".po"):
                for english, text in messages(_TAG.sub(" ", archive.read(path).decode("utf-8", "replace"))):
                    kind = kind_of(english)
                    if kind and _lang_of(path) not in ("en", "en-US") and text.strip() != english.strip():
                        found.append({"platform": platform, "kind": kind, "lang": _lang_of(path), "body": text,
                                      "english": english, "source": f"{name} {version}: {path}"})
            elif "/partials/languages/" in path and path.endswith(".html"):  # MkDocs Material's tables
                for key, text in _MATERIAL.findall(archive.read(path).decode("utf-8")):
                    found.append({"platform": platform, "kind": "search", "lang": Path(path).stem, "body": text,
                                  "english": "No matching documents", "source": f"{name} {version}: {path} {key}"})
    return found


def main() -> None:
    entries = [entry for wheel in sys.argv[1:] for entry in from_wheel(Path(wheel))]
    english = {(e["platform"], e["kind"], e["english"]) for e in entries}
    for platform, kind, text in sorted(english):  # the English too, once per message
        entries.append({"platform": platform, "kind": kind, "lang": "en", "body": text, "english": text,
                        "source": f"{platform}: msgid"})
    unique = {(e["platform"], e["kind"], e["lang"], e["body"]): e for e in entries}
    OUT.write_text(json.dumps(sorted(unique.values(), key=lambda e: (e["platform"], e["kind"], e["lang"],
                                                                       e["body"])), ensure_ascii=False, indent=0)
                   + "\n", encoding="utf-8")
    print(f"wrote {len(unique)} messages to {OUT}")


if __name__ == "__main__":
    main()
