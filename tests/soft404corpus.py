"""A labelled corpus of pages for the page classifier: error templates in the languages our sites use, in
the styles real sites use, and live pages that resemble them (briefs, photo pages, articles whose
template carries an error block).

Each page is built from a few lines of text per language inside a news-site layout (navigation, footer,
optionally JSON-LD), so the classifier meets the words where real pages have them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class Labelled:
    name: str
    lang: str
    style: str
    expect: str  # ok | soft-404 | blocked | needs-render
    html: str


# (lang, page title, heading, explanation): how error pages phrase it.
NOT_FOUND = [
    ("en", "Page not found | The Daily Courier", "Sorry, we can't find that page", "It may have been moved."),
    ("en", "404 - The Morning Post", "Oops! That page can’t be found.", "Nothing was found at this location."),
    ("zh-Hans", "页面不存在 - 新闻网", "对不起，您访问的页面不存在", "请检查网址是否正确，或返回首页。"),
    ("zh-Hant", "找不到網頁 - 新聞網", "抱歉，您要找的頁面不存在", "請檢查網址或返回首頁。"),
    ("es", "Página no encontrada - El Diario", "Lo sentimos, la página que buscas no existe", "Vuelve a la portada."),
    ("fr", "Page introuvable - Le Quotidien", "Cette page n'existe pas ou plus", "Retournez à l'accueil."),
    ("de", "Seite nicht gefunden - Die Zeitung", "Die Seite wurde nicht gefunden", "Zur Startseite."),
    ("pt", "Página não encontrada - O Jornal", "Esta página não existe", "Volte para a página inicial."),
    ("ru", "Страница не найдена — Газета", "Такой страницы не существует", "Вернитесь на главную."),
    ("ja", "ページが見つかりません | 新聞", "お探しのページは見つかりませんでした", "トップページへ戻る"),
    ("ar", "الصفحة غير موجودة - الجريدة", "عذراً، الصفحة المطلوبة غير موجودة", "العودة إلى الصفحة الرئيسية"),
]
REMOVED = [
    ("en", "The Daily Courier", "This article has been removed", "The story is no longer available."),
    ("en", "Video - The Daily Courier", "This video is unavailable", "Video unavailable."),
    ("zh-Hans", "新闻网", "该文章已删除", "内容已被删除。"),
    ("fr", "Le Quotidien", "Cet article a été supprimé", "Contenu indisponible."),
    ("de", "Die Zeitung", "Dieser Artikel wurde entfernt", "Inhalt nicht verfügbar."),
    ("ru", "Газета", "Материал удалён", "Страница удалена."),
]
SEARCH = [
    ("en", "Search results for “election” - The Daily Courier", "Search results for “election”", ""),
    ("es", "Resultados de búsqueda - El Diario", "Resultados de la búsqueda", ""),
    ("zh-Hans", "搜索结果 - 新闻网", "搜索结果", ""),
]
BLOCKED = [
    ("en", "Subscribe - The Daily Courier", "Subscribe to continue reading", "Subscribers only."),
    ("en", "Just a moment...", "Verify you are human", "Please complete the CAPTCHA."),
]
# A story's opening sentences in each language (enough for a brief with article markup).
STORY = {
    "en": "The city council approved a plan on Tuesday to rebuild the northern bridge after months of talks "
          "with residents and engineers. Work is due to start in the spring and last two years, officials said, "
          "and a ferry will run while the bridge is closed.",
    "zh-Hans": "国务院近日印发关于推进工业互联网发展的指导意见，提出到二〇二五年基本形成覆盖各地区、各行业的工业"
               "互联网网络基础设施。有关负责人表示，将加大财政支持力度，扩大市场准入。",
    "es": "El ayuntamiento aprobó el martes un plan para reconstruir el puente norte tras meses de negociaciones con "
          "vecinos e ingenieros. Las obras empezarán en primavera y durarán dos años, según fuentes municipales.",
    "fr": "Le conseil municipal a approuvé mardi un projet de reconstruction du pont nord après des mois de "
          "discussions avec les habitants et les ingénieurs. Les travaux débuteront au printemps.",
    "de": "Der Stadtrat hat am Dienstag nach monatelangen Gesprächen mit Anwohnern und Ingenieuren den Neubau der "
          "Nordbrücke beschlossen. Die Arbeiten sollen im Frühjahr beginnen und zwei Jahre dauern.",
    "pt": "A câmara municipal aprovou na terça-feira um plano para reconstruir a ponte norte depois de meses de "
          "conversas com moradores e engenheiros. As obras começam na primavera e duram dois anos.",
    "ru": "Городской совет во вторник одобрил план реконструкции северного моста после нескольких месяцев "
          "переговоров с жителями и инженерами. Работы начнутся весной и продлятся два года.",
    "ja": "市議会は火曜日、住民や技術者との数か月にわたる協議を経て、北橋の建て替え計画を承認した。工事は春に始まり、"
          "二年間続く見通しだと市の担当者は述べた。",
    "ar": "وافق مجلس المدينة يوم الثلاثاء على خطة لإعادة بناء الجسر الشمالي بعد أشهر من المحادثات مع السكان "
          "والمهندسين. ومن المقرر أن تبدأ الأعمال في الربيع وتستمر عامين.",
}
HEADLINE = {"en": "Council approves plan to rebuild northern bridge", "zh-Hans": "国务院印发工业互联网发展指导意见",
            "es": "El ayuntamiento aprueba reconstruir el puente norte", "fr": "Le pont nord sera reconstruit",
            "de": "Stadtrat beschließt Neubau der Nordbrücke", "pt": "Câmara aprova reconstrução da ponte norte",
            "ru": "Совет одобрил реконструкцию северного моста", "ja": "北橋の建て替え計画を承認",
            "ar": "الموافقة على إعادة بناء الجسر الشمالي"}


def _layout(lang: str, title: str, main: str, head: str = "") -> str:
    nav = "".join(f'<a href="/{s}/">{s.title()}</a>' for s in ("world", "business", "sport", "culture"))
    return (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)}</title>{head}'
            f"</head><body><header><nav>{nav}</nav></header>{main}"
            '<footer><a href="/about">About</a> <a href="/privacy">Privacy</a> © 2026</footer></body></html>')


def _jsonld(lang: str, kind: str = "NewsArticle") -> str:
    data = {"@context": "https://schema.org", "@type": kind, "headline": HEADLINE[lang], "inLanguage": lang,
            "datePublished": "2026-11-20T08:00:00+00:00", "author": {"@type": "Person", "name": "A. Writer"}}
    return f'<script type="application/ld+json">{json.dumps(data, ensure_ascii=False)}</script>'


def _error_page(lang: str, title: str, heading: str, text: str) -> str:
    return _layout(lang, title, f"<main><h1>{escape(heading)}</h1><p>{escape(text)}</p></main>")


def corpus() -> list[Labelled]:
    pages: list[Labelled] = []
    for style, rows, expect in (("cms-404", NOT_FOUND, "soft-404"), ("removed", REMOVED, "soft-404"),
                                ("search", SEARCH, "soft-404"), ("login-wall", BLOCKED, "blocked")):
        for n, (lang, title, heading, text) in enumerate(rows):
            pages.append(Labelled(f"{style}-{lang}-{n}", lang, style, expect, _error_page(lang, title, heading, text)))
    for lang, story in STORY.items():
        headline = HEADLINE[lang]
        block = (f'<div class="error-box"><h2>{escape(NOT_FOUND[[r[0] for r in NOT_FOUND].index(lang)][2])}</h2>'
                 "</div>" if lang in [r[0] for r in NOT_FOUND] else "")
        article = f"<article><h1>{escape(headline)}</h1><time datetime=\"2026-11-20\">2026-11-20</time>" \
                  f"<p>{escape(story)}</p></article>"
        pages.append(Labelled(f"brief-{lang}", lang, "brief", "ok",
                              _layout(lang, f"{headline} - News", f"<main>{article}</main>", _jsonld(lang))))
        pages.append(Labelled(f"mixed-{lang}", lang, "mixed", "ok",
                              _layout(lang, f"{headline} - News", f"{block}<main>{article}</main>{block}",
                                      _jsonld(lang))))
    photo = ('<main><article><h1>In pictures: the northern bridge at dawn</h1><figure><img src="/p/1.jpg">'
             "<figcaption>Commuters cross the old bridge for the last time before work begins.</figcaption>"
             '</figure></article></main>')
    pages.append(Labelled("photo-en", "en", "photo", "ok", _layout(
        "en", "In pictures: the northern bridge at dawn", photo,
        '<meta property="og:type" content="article">' + _jsonld("en", "ImageObject"))))
    shell = '<div id="root"></div><script src="/static/app.js"></script>'
    spa = f'<!DOCTYPE html><html lang="en"><head><title>News</title></head><body>{shell}</body></html>'
    pages.append(Labelled("spa-shell-en", "en", "spa-shell", "needs-render", spa))
    empty = "<main><article><h1></h1><div class=\"body\"></div></article></main>"
    pages.append(Labelled("empty-template-en", "en", "empty", "soft-404", _layout("en", "The Daily Courier", empty)))
    return pages
