"""The audit as one self-contained HTML page: counts, a chart of the window, and the stories that changed.

Python computes plain data (counts, chart coordinates, diff segments, capped lists) and the Jinja2 template
(`templates/report.html.j2`, autoescaped) writes every piece of markup, so no story title or URL reaches the
page without escaping. The page loads nothing: inline CSS, inline SVG, no script, and a Content-Security-Policy
that forbids any fetch, because a report is read offline, long after the crawl, and must not call the sites it
describes.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import jinja2

from archive.auditmodel import STATES, AuditReport, AuditRow, CaptureRef, CrawlPoint
from archive.words import WORD, unspaced

# Caps that keep a 100k-URL audit a page a browser opens in a second (a few MB at most). What is left out is
# counted on the page and is all in the JSON lines / CSV outputs.
MAX_TABLE_ROWS = 2000  # rows of the table of URLs whose state is not `unchanged`
MAX_DIFFS = 300  # `changed` rows whose text diff is rendered
MAX_MOVED = 300  # `moved` pairs shown side by side
MAX_SECTION_ROWS = 500  # site+section lines of the counts table
MAX_TIMELINE = 10  # captures listed per URL (the first and the last ones, the middle elided)
MAX_TIMELINE_CAPTURES = 5000  # captures listed on the whole page; later rows keep their first/last summary
MAX_DIFF_WORDS = 1200  # words of one rendered diff (deleted + inserted + context)
MAX_UNIFIED_LINES = 400  # lines of a unified diff shown when the texts themselves are not in the report
CONTEXT_WORDS = 12  # unchanged words kept around each change; longer unchanged runs are elided
EXCERPT_CHARS = 700  # text excerpt of each side of a moved pair
OPEN_DIFFS = 3  # the first diffs are open on load, so the page shows what a diff looks like
MAX_X_LABELS = 10  # crawl labels under the chart; markers are drawn for every crawl anyway

# One colour per state, shared by badges, tiles and the chart (worst news warm, good news cool, calm grey).
STATE_COLOURS: dict[str, str] = {
    "deleted": "#b42318",
    "soft-deleted": "#dc6803",
    "moved": "#7a3ec8",
    "blocked": "#8a5a2b",
    "unreachable": "#667085",
    "changed": "#1f6fd1",
    "new": "#13875b",
    "unchanged": "#98a2b3",
}

CHART_WIDTH = 960
CHART_HEIGHT = 320
CHART_MARGIN = (18, 20, 62, 64)  # top, right, bottom, left: room for the axis labels

PARAGRAPH = "\n\n"  # the token a blank line becomes in a word diff, so paragraphs survive the diff
_WORDS = re.compile(r"\n\s*\n|" + WORD)
TEMPLATES = Path(__file__).parent / "templates"


class Segment(NamedTuple):
    """A piece of a word diff: op is equal | delete | insert | skip (an elided run; text says how long)."""

    op: str
    text: str


# --- the chart -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    count: int
    crawl_id: str
    recheck: bool


@dataclass(frozen=True)
class Line:
    """One state across the window: its polyline and a marker per crawl."""

    state: str
    colour: str
    points: str  # "x,y x,y ..." for <polyline points>
    markers: list[Marker]


@dataclass(frozen=True)
class XTick:
    x: float
    date: str
    time: str
    crawl_id: str
    recheck: bool
    complete: bool
    labelled: bool  # the label is drawn (only every n-th one when crawls are many)


@dataclass(frozen=True)
class YTick:
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    """Everything the template needs to draw the window's states as inline SVG, in SVG user units."""

    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    lines: list[Line]
    x_ticks: list[XTick]
    y_ticks: list[YTick]
    recheck_bands: list[tuple[float, float]]  # x, width of a faint band behind each recheck crawl
    log_scale: bool
    marker: float  # radius of a crawl's marker: smaller as crawls get many, none past 80 (lines stay readable)

    @property
    def empty(self) -> bool:
        return not self.x_ticks


def _scale(count: int, top: int, log_scale: bool) -> float:
    """0..1 on the y axis: log10(1+n) when counts span orders of magnitude, so 40 deletions next to 90k
    unchanged URLs are still a visible line; linear otherwise."""
    if top <= 0:
        return 0.0
    if log_scale:
        return math.log10(1 + count) / math.log10(1 + top)
    return count / top


def _nice_top(n: int) -> int:
    """The first 1, 2, 5 x 10^k at or above n: the top of the y axis."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= n:
                return m * step
        step *= 10


def _y_values(top: int, log_scale: bool) -> list[int]:
    if log_scale:
        values, step = [0], 1
        while step <= top:
            values.append(step)
            step *= 10
        return values
    step = _nice_top(max(1, top // 5)) if top > 5 else 1
    return list(range(0, top + 1, step))


def _short(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def _when(stamp: str) -> tuple[str, str]:
    """('2026-11-03', '14:00') of an ISO stamp; the stamp itself when it does not parse."""
    try:
        parsed = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp, ""
    return parsed.strftime("%Y-%m-%d"), parsed.strftime("%H:%M")


def build_chart(series: Sequence[CrawlPoint], width: int = CHART_WIDTH, height: int = CHART_HEIGHT) -> Chart:
    """Coordinates of one polyline per state present in the window, crawls evenly spaced in time order.

    Even spacing rather than a time axis: a recheck a day after a weekly crawl would otherwise sit on top of
    it; the dates are in the labels. One crawl is a single column of markers in the middle.
    """
    top_m, right_m, bottom_m, left_m = CHART_MARGIN
    left, right, top, bottom = float(left_m), float(width - right_m), float(top_m), float(height - bottom_m)
    points = sorted(series, key=lambda p: p.started_at)
    present = [s for s in STATES if any(p.states.get(s, 0) for p in points)]
    largest = max((p.states.get(s, 0) for p in points for s in present), default=0)
    smallest = min((p.states.get(s, 0) for p in points for s in present if p.states.get(s, 0)), default=0)
    log_scale = largest >= 20 and largest > 10 * max(smallest, 1)
    y_top = 10 ** math.ceil(math.log10(largest)) if log_scale else _nice_top(max(largest, 1))

    def x_of(i: int) -> float:
        if len(points) == 1:
            return round((left + right) / 2, 1)
        pad = (right - left) / (2 * len(points)) if len(points) < 8 else 28.0  # room for the end labels
        return round(left + pad + i * (right - left - 2 * pad) / (len(points) - 1), 1)

    def y_of(count: int) -> float:
        return round(bottom - _scale(count, y_top, log_scale) * (bottom - top), 1)

    every = max(1, -(-len(points) // MAX_X_LABELS))
    x_ticks = []
    for i, p in enumerate(points):
        date, time = _when(p.started_at)
        x_ticks.append(XTick(x_of(i), date, time, p.crawl_id, p.kind == "recheck", p.complete,
                             labelled=(len(points) - 1 - i) % every == 0))  # the latest crawl always
    slot = (right - left) / max(len(points), 1)
    band = min(slot * 0.8, 28.0)
    bands = [(round(t.x - band / 2, 1), round(band, 1)) for t in x_ticks if t.recheck]
    lines = []
    for state in present:
        markers = [Marker(x_of(i), y_of(p.states.get(state, 0)), p.states.get(state, 0), p.crawl_id,
                          p.kind == "recheck") for i, p in enumerate(points)]
        lines.append(Line(state, STATE_COLOURS[state], " ".join(f"{m.x},{m.y}" for m in markers), markers))
    y_ticks = [YTick(y_of(v), _short(v)) for v in _y_values(y_top, log_scale)] if points else []
    marker = 3.8 if len(points) <= 30 else 2.6 if len(points) <= 80 else 0.0  # 0: lines only (and rechecks)
    return Chart(width, height, left, right, top, bottom, lines, x_ticks, y_ticks, bands, log_scale, marker)


# --- word diffs --------------------------------------------------------------------------------------------


def _tokens(text: str) -> list[str]:
    """Words, and a PARAGRAPH token for each blank line, so a diff keeps the story's paragraphs."""
    return [PARAGRAPH if t.startswith("\n") else t for t in _WORDS.findall(text)]


def _join(tokens: Iterable[str], after: str | None) -> str:
    """Tokens as text, a space between words, none around paragraph breaks; `after` is the token before."""
    out, prev = [], after
    for tok in tokens:
        if prev is not None and PARAGRAPH not in (tok, prev) and not (unspaced(tok) or unspaced(prev)):
            out.append(" ")
        out.append(tok)
        prev = tok
    return "".join(out)


class _DiffWriter:
    """Segments of a word diff as they are appended: the spacing between them, and the word budget."""

    def __init__(self, max_words: int) -> None:
        self.out: list[Segment] = []
        self.prev: str | None = None  # the last token written (deleted or not): decides the next separator
        self.budget = max_words
        self.cut = False

    def emit(self, op: str, toks: list[str], space_given: bool = False) -> bool:
        """Append toks as one segment; True when it needed a space before it (given to the text before)."""
        count = sum(t != PARAGRAPH for t in toks)
        if count > self.budget:
            kept, seen = [], 0
            for tok in toks:
                seen += tok != PARAGRAPH
                if seen > self.budget:
                    break
                kept.append(tok)
            toks, count, self.cut = kept, self.budget, True
        if not toks:
            return False
        text = _join(toks, self.prev)
        spaced = op != "equal" and text.startswith(" ")
        if spaced:  # the space between words is not part of the change
            text = text[1:]
            if space_given:
                pass  # the change it replaces already took the space: `a <del>x</del><ins>y</ins> b`
            elif self.out and self.out[-1].op == "equal":
                self.out[-1] = Segment("equal", self.out[-1].text + " ")
            else:
                self.out.append(Segment("equal", " "))
        self.out.append(Segment(op, text))
        self.prev = toks[-1]
        self.budget -= count
        return spaced

    def skip(self, text: str) -> None:
        """An elision marker; it stands on its own, so no space is glued to what follows."""
        self.out.append(Segment("skip", text))
        self.prev = PARAGRAPH


def word_diff(before: str, after: str, context: int = CONTEXT_WORDS,
              max_words: int = MAX_DIFF_WORDS) -> list[Segment]:
    """The changes from `before` to `after`, word by word (difflib, as `diff` users expect), as segments.

    Dropping the `delete` segments gives `after` back (words and paragraphs), dropping the `insert` ones gives
    `before`, so a reader sees exactly what changed; the space between words is never inside a change.
    Unchanged runs longer than twice `context` keep `context` words each side and a `skip` segment saying how
    many words were elided; past `max_words` words the diff stops with a `skip` saying so. Equal texts give no
    segments at all.
    """
    a, b = _tokens(before), _tokens(after)
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    if all(op == "equal" for op, *_ in opcodes):
        return []
    w = _DiffWriter(max_words)
    for n, (op, i1, i2, j1, j2) in enumerate(opcodes):
        if op == "equal":
            run = a[i1:i2]
            keep_head = 0 if n == 0 else context
            keep_tail = 0 if n == len(opcodes) - 1 else context
            if len(run) >= keep_head + keep_tail + max(context, 1):  # elide only what is worth a marker
                w.emit("equal", run[:keep_head])
                w.skip(f"{sum(t != PARAGRAPH for t in run[keep_head:len(run) - keep_tail])} unchanged words")
                w.emit("equal", run[len(run) - keep_tail:])
            else:
                w.emit("equal", run)
        elif op == "insert":
            w.emit("insert", b[j1:j2])
        else:
            before_delete = w.prev
            spaced = w.emit("delete", a[i1:i2])
            if op == "replace" and not w.cut:
                w.prev = before_delete  # the insert takes the place of the delete, after the same word
                w.emit("insert", b[j1:j2], space_given=spaced)
        if w.cut:
            w.skip(f"diff cut at {max_words:,} words")
            break
    return w.out


# --- the page's data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptureView:
    fetched_at: str
    crawl_id: str
    status: int | None
    verdict: str | None
    reasons: tuple[str, ...]
    final_url: str | None
    final_href: str | None
    record: str | None  # filename#offset
    record_id: str | None
    gap: int = 0  # > 0: a marker for this many captures left out here


@dataclass(frozen=True)
class RowView:
    """One URL of the table, with what the template needs already resolved (links, anchors, timeline)."""

    row: AuditRow
    href: str | None
    new_href: str | None
    timeline: list[CaptureView]  # empty when the page's budget of captures is spent (MAX_TIMELINE_CAPTURES)
    captures: int
    anchor: str | None  # id of its diff or moved pair on the page, when one is rendered
    first_of_state: bool  # the first row of its state: carries the id the count tiles link to


@dataclass(frozen=True)
class DiffView:
    row: AuditRow
    anchor: str
    href: str | None
    title: list[Segment]  # word diff of the titles; empty when they did not change or are not known
    segments: list[Segment]  # word diff of the texts, from report.texts
    unified: list[str]  # else the row's unified diff, capped
    unified_cut: int  # lines of it left out
    has_text: bool
    open: bool


@dataclass(frozen=True)
class MovedView:
    row: AuditRow
    anchor: str
    old_href: str | None
    new_href: str | None
    old_title: str | None
    new_title: str | None
    old_excerpt: str | None
    new_excerpt: str | None


@dataclass
class ReportView:
    """The whole page as plain data: what `render_report` hands the template."""

    report: AuditReport
    states: tuple[str, ...]
    colours: dict[str, str]
    totals: dict[str, int]
    total: int
    counts: dict[str, dict[str, int]]
    sections: list[tuple[str, str, dict[str, int]]]
    sections_cut: int
    chart: Chart
    rows: list[RowView]
    rows_total: int  # rows whose state is not unchanged
    diffs: list[DiffView]
    diffs_total: int
    moved: list[MovedView]
    moved_total: int
    caps: dict[str, int] = field(default_factory=dict)

    @property
    def rows_cut(self) -> int:
        return self.rows_total - len(self.rows)

    @property
    def diffs_cut(self) -> int:
        return self.diffs_total - len(self.diffs)

    @property
    def moved_cut(self) -> int:
        return self.moved_total - len(self.moved)


def safe_href(url: str | None) -> str | None:
    """The URL as a link target only when it is http(s): a `javascript:` or `data:` URL in a crawl log is
    shown as text, never made clickable (autoescaping does not stop those)."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url if scheme in ("http", "https") else None


def _record(capture: CaptureRef) -> tuple[str | None, str | None]:
    warc = capture.warc or {}
    filename = warc.get("filename")
    where = None if not filename else (f"{filename}#{warc['offset']}" if warc.get("offset") is not None
                                       else str(filename))
    record_id = warc.get("record_id")
    return where, (str(record_id) if record_id else None)


def _capture_view(capture: CaptureRef) -> CaptureView:
    record, record_id = _record(capture)
    return CaptureView(capture.fetched_at, capture.crawl_id, capture.status, capture.verdict, capture.reasons,
                       capture.final_url, safe_href(capture.final_url), record, record_id)


def timeline_view(row: AuditRow, limit: int = MAX_TIMELINE) -> list[CaptureView]:
    """The row's captures, oldest first; past `limit`, the first and last halves with a gap marker between
    (the reference capture and the latest ones are what a reader checks)."""
    captures = row.timeline or [row.first_capture, row.last_capture]
    if len(captures) <= limit:
        return [_capture_view(c) for c in captures]
    head, tail = limit // 2, limit - limit // 2
    gap = len(captures) - head - tail
    marker = CaptureView("", "", None, None, (), None, None, None, None, gap=gap)
    return ([_capture_view(c) for c in captures[:head]] + [marker]
            + [_capture_view(c) for c in captures[len(captures) - tail:]])


def excerpt(text: str | None, limit: int = EXCERPT_CHARS) -> str | None:
    """The start of a story, cut at a word boundary."""
    if text is None:
        return None
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + " …"


def _order(row: AuditRow) -> tuple[int, str, str, str]:
    return STATES.index(row.state) if row.state in STATES else len(STATES), row.site, row.section or "", row.url


def build_view(report: AuditReport) -> ReportView:
    """What the page shows, capped (see the constants at the top), computed once so the template only loops."""
    counts = report.counts()
    totals = dict.fromkeys(STATES, 0)
    for per_site in counts.values():
        for state, n in per_site.items():
            totals[state] = totals.get(state, 0) + n
    by_section = [(site, section, c) for (site, section), c in report.counts_by_section().items()]
    notable = sorted((r for r in report.rows if r.state != "unchanged"), key=_order)

    changed = [r for r in notable if r.state == "changed"]
    diffs = []
    for i, row in enumerate(changed[:MAX_DIFFS]):
        pair = report.texts.get(row.url)
        unified = row.diff or []
        title: list[Segment] = []
        if pair is not None and pair.before_title is not None and pair.after_title is not None:
            title = word_diff(pair.before_title, pair.after_title, context=1000)
        diffs.append(DiffView(
            row=row, anchor=f"diff-{i}", href=safe_href(row.url), title=title,
            segments=word_diff(pair.before_text, pair.after_text) if pair is not None else [],
            unified=unified[:MAX_UNIFIED_LINES], unified_cut=max(0, len(unified) - MAX_UNIFIED_LINES),
            has_text=pair is not None, open=i < OPEN_DIFFS))

    moved_rows = [r for r in notable if r.state == "moved"]
    moved = []
    for i, row in enumerate(moved_rows[:MAX_MOVED]):
        pair = report.texts.get(row.url)
        moved.append(MovedView(
            row=row, anchor=f"moved-{i}", old_href=safe_href(row.url), new_href=safe_href(row.new_url),
            old_title=(pair.before_title if pair else None) or row.title,
            new_title=pair.after_title if pair else None,
            old_excerpt=excerpt(pair.before_text) if pair else None,
            new_excerpt=excerpt(pair.after_text) if pair else None))

    anchors = {id(d.row): d.anchor for d in diffs} | {id(m.row): m.anchor for m in moved}
    rows, seen, budget = [], set(), MAX_TIMELINE_CAPTURES
    for row in notable[:MAX_TABLE_ROWS]:
        timeline = timeline_view(row) if budget > 0 else []
        budget -= len(timeline)
        rows.append(RowView(row=row, href=safe_href(row.url), new_href=safe_href(row.new_url),
                            timeline=timeline, captures=len(row.timeline) or 2,
                            anchor=anchors.get(id(row)), first_of_state=row.state not in seen))
        seen.add(row.state)

    return ReportView(
        report=report, states=STATES, colours=STATE_COLOURS, totals=totals, total=len(report.rows),
        counts=counts, sections=by_section[:MAX_SECTION_ROWS], sections_cut=max(0, len(by_section) - MAX_SECTION_ROWS),
        chart=build_chart(report.series), rows=rows, rows_total=len(notable),
        diffs=diffs, diffs_total=len(changed), moved=moved, moved_total=len(moved_rows),
        caps={"table": MAX_TABLE_ROWS, "diffs": MAX_DIFFS, "moved": MAX_MOVED, "sections": MAX_SECTION_ROWS})


@cache
def _environment() -> jinja2.Environment:
    """One environment per process: autoescape on for every template, undefined names are errors."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_report(report: AuditReport) -> str:
    """The audit as one HTML document that needs nothing else to open."""
    return _environment().get_template("report.html.j2").render(view=build_view(report))


def write_report(report: AuditReport, path: Path) -> None:
    """Write the page under a temporary name and rename it, as every file of the store is written: a reader
    never opens half a report."""
    html = render_report(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
