"""What error pages say, in the languages our sites use: the wording of 404 templates, removal notices,
"video unavailable", login walls and "search results for" pages, as CMSs and news sites phrase them.

A cue is evidence, never a verdict: the mixed pages this project started from carry "page not found" text
in the template of every live article. Cues are matched on short, prominent text only (title, headings,
the first lines of the main block), where an error page states its error and an article states its story.
"""

from __future__ import annotations

import re

_NOT_FOUND = [
    # English
    r"page (?:you requested |you are looking for |you were looking for )?(?:was |could not be |cannot be |can't be )?"
    r"(?:not found|found)", r"\b404\b", r"not found", r"page (?:doesn't|does not|no longer) exists?",
    r"no longer (?:available|exists)", r"(?:article|story|page|content) (?:has been|was) (?:removed|deleted)",
    r"(?:video|content) (?:is )?unavailable", r"this (?:video|page|content) is (?:not|no longer) available",
    r"we (?:can't|cannot|couldn't) find (?:that|the|this) page", r"\boops\b", r"nothing (?:was )?found",
    r"page unavailable", r"error 404", r"something went wrong",
    # Chinese (simplified and traditional)
    "页面不存在", "页面未找到", "找不到(?:该|此|您要的)?页面", "您访问的页面不存在", "页面已删除", "文章已删除",
    "内容已被删除", "该内容不存在", "抱歉.{0,12}(?:不存在|找不到)", "頁面不存在", "找不到(?:網頁|頁面)", "網頁不存在",
    "文章已刪除", "內容已被刪除", "您要找的頁面",
    # Spanish
    r"p[aá]gina no encontrada", r"no (?:se ha podido|pudimos) encontrar", r"la p[aá]gina (?:que buscas )?no existe",
    r"contenido no disponible", r"art[ií]culo (?:ha sido )?eliminado",
    # French
    r"page (?:introuvable|non trouv[ée]e)", r"(?:cette|la) page (?:demand[ée]e )?n'existe (?:pas|plus)",
    r"article (?:a été )?supprim[ée]", r"contenu (?:indisponible|introuvable)", r"erreur 404",
    # German
    r"seite (?:wurde )?nicht gefunden", r"diese seite existiert nicht", r"artikel (?:wurde )?(?:entfernt|gelöscht)",
    r"inhalt nicht (?:verfügbar|gefunden)", r"fehler 404",
    # Portuguese
    r"p[aá]gina n[aã]o encontrada", r"esta p[aá]gina n[aã]o existe", r"conte[uú]do indispon[ií]vel",
    r"not[ií]cia (?:foi )?(?:removida|exclu[ií]da)",
    # Russian
    r"страница не найдена", r"такой страницы (?:не существует|нет)", r"материал (?:был )?удал[её]н", r"ошибка 404",
    r"страница (?:удалена|не существует)",
    # Japanese
    "ページが見つかりません", "お探しのページは見つかりませんでした", "ページは存在しません", "ページは存在しない",
    "記事は削除されました", "指定されたページは",
    # Arabic
    "الصفحة غير موجودة", "لم يتم العثور على الصفحة", "الصفحة المطلوبة غير موجودة", "تم حذف", "خطأ 404",
]
_SEARCH = [r"search results? for", r"results for[:“\"]", "搜索结果", "搜尋結果", r"resultados de (?:la )?b[uú]squeda",
           r"r[ée]sultats de (?:la )?recherche", r"suchergebnisse", r"результаты поиска", "検索結果", "نتائج البحث"]
_BLOCKED = [r"(?:sign|log) ?in to (?:continue|read)", r"subscribe to (?:continue|read)", r"subscribers only",
            r"access denied", r"verify you are (?:a )?human", r"captcha", r"are you a robot", "请登录", "登录后",
            r"acc[eè]s refus[ée]", r"zugriff verweigert", r"доступ запрещ[её]н"]

NOT_FOUND = re.compile("|".join(f"(?:{p})" for p in _NOT_FOUND), re.IGNORECASE)
SEARCH = re.compile("|".join(f"(?:{p})" for p in _SEARCH), re.IGNORECASE)
BLOCKED = re.compile("|".join(f"(?:{p})" for p in _BLOCKED), re.IGNORECASE)
# Each pattern alone, for how much of a title its wording covers (one alternation finds no overlapping matches).
EACH = tuple(re.compile(p, re.IGNORECASE) for p in (*_NOT_FOUND, *_SEARCH, *_BLOCKED))


def error_cue(text: str) -> str | None:
    """The reason code an error page's prominent text gives, if any."""
    if NOT_FOUND.search(text):
        return "error-text"
    if SEARCH.search(text):
        return "search-page"
    if BLOCKED.search(text):
        return "blocked-text"
    return None
