"""The seed page (shared/seeds) rebuilt as HTML the ways such pages are really served.

The text file is the page as captured: site chrome with the "page not found" block, the story, then the
chrome again. `build(style)` wraps those parts in China Daily-like markup:
- "visible": the error block shows above and below the story (as captured);
- "hidden": the template carries the error block on every page, hidden with CSS;
- "error-only": what the site answers with 200 for a URL that does not exist: the chrome and the block alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

SEED = Path(__file__).resolve().parents[1].parent / "shared" / "seeds" / "chinadaily-industrial-internet-2017.txt"
URL = "https://www.chinadaily.com.cn/a/201711/28/WS5a1cd7a6a31010.html"


@dataclass(frozen=True)
class SeedParts:
    error_heading: str
    error_advice: str
    section: str
    title: str
    byline: str
    story: list[str]
    widgets: list[str]


def parts() -> SeedParts:
    blocks = [b.strip() for b in SEED.read_text(encoding="utf-8").split("\n\n") if b.strip()]
    heading = next(b for b in blocks if b.startswith("Sorry, the page"))
    advice = next(b for b in blocks if b.startswith("Please check the URL"))
    section_at = next(i for i, b in enumerate(blocks) if b.endswith("Business\\Industries"))
    end = next(i for i, b in enumerate(blocks) if b.startswith("Today's Top News"))
    return SeedParts(
        error_heading=heading, error_advice=advice, section="Business\\Industries",
        title=blocks[section_at + 1], byline=blocks[section_at + 2], story=blocks[section_at + 3:end],
        widgets=["Today's Top News", "Editor's picks", "Most Viewed"],
    )


def build(style: str) -> str:
    p = parts()
    hidden = ' style="display:none"' if style == "hidden" else ""
    error = (f'<div class="error-box"{hidden}><h2>{escape(p.error_heading)}</h2><p>{escape(p.error_advice)}</p>'
             '<a href="#top">BACK TO THE TOP</a></div>')
    header = ('<div class="topnav"><a href="/">China Daily Website - Connecting China Connecting the World</a>'
              '<a href="/us">US</a><a href="/europe">EUROPE</a><a href="/africa">AFRICA</a><a href="/asia">ASIA</a>'
              '<a href="https://cn.chinadaily.com.cn/">中文</a><a href="/fr">Français</a></div>')
    footer = ('<div class="footer"><p>Copyright 1995 - . All rights reserved. The content published in this site '
              "belongs to China Daily Information Co (CDIC).</p><p>License for publishing multimedia online 0108263"
              "</p><p>Registration Number: 130349</p><p>FOLLOW US</p></div>")
    story = ""
    if style != "error-only":
        paragraphs = "".join(f"<p>{escape(t)}</p>" for t in p.story)
        widgets = "".join(f'<div class="widget"><h3>{escape(w)}</h3></div>' for w in p.widgets)
        story = (f'<div class="main"><div class="breadcrumb">{escape(p.section)}</div><h1>{escape(p.title)}</h1>'
                 f'<div class="info">{escape(p.byline)}</div><div id="Content">{paragraphs}</div></div>{widgets}')
    title = p.title if style != "error-only" else "China Daily Website - Connecting China Connecting the World"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)} - Chinadaily.com.cn'
            f"</title></head><body>{header}{error}{footer}{story}{header}{error}{footer}</body></html>")
