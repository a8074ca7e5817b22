"""The audit: what became of every article URL of a site between two points in time, from the catalog.

States (../shared/DESIGN.md section 4), decided from the URL's own captures, oldest first:
- the reference is the last good capture at the window's start (else the first good one inside it);
- after the last good capture, the last *decisive* verdict decides: `not-found` -> `deleted` (`confirmed`
  when two not-found fetches at least AUDIT_CONFIRM_AFTER apart agree), `soft-404` -> `soft-deleted`,
  `blocked` -> `blocked`. Transient failures (`error`, and fetches nobody could judge) are never decisive:
  a URL that only failed since its last good capture is `unreachable`, whatever the count;
- a URL whose latest capture is good: `moved` when it now redirects elsewhere and the page there carries the
  same story (else `soft-deleted`: the redirect replaced the story), `changed` when its title, text,
  authors or dates differ from the reference (with the text's similarity and a diff), `new` when first seen
  inside the window, else `unchanged`;
- a `deleted` or `soft-deleted` URL whose story (near-identical text) turns up at another URL first seen in a
  later crawl is `moved` too, with no redirect: the evidence says so.
Absence from a crawl is no evidence at all (a crawl does not reach every old URL; rechecks do), and a URL
not fetched inside the window is left out of it: earlier captures are its baseline, not its state.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from w3lib.url import canonicalize_url

from archive.auditmodel import AuditReport, AuditRow, CaptureRef, CrawlPoint, TextPair
from archive.catalog import Catalog, CrawlInfo, utc_now
from archive.words import words
from crawler.errors import ConfigError

DECISIVE = {"not-found": "deleted", "soft-404": "soft-deleted", "blocked": "blocked"}
DEAD = ("deleted", "soft-deleted")
MOVE_MIN_WORDS = 40  # a dead story's text must be this long before its copy elsewhere counts as a move
SIMHASH_BANDS = 4  # 4 x 16 bits: two texts within 3 bits share a band; further ones are checked by hand


class AuditError(ConfigError):
    """The audit cannot run as asked (empty store, unknown site, a bad --from / --to): exit 2, say why."""


@dataclass(frozen=True)
class AuditOptions:
    """Thresholds (AUDIT_*), and what the caller wants beyond the rows."""

    confirm_after: float = 86400.0
    moved_similarity: float = 0.9
    redirect_similarity: float = 0.5
    simhash_bits: int = 6
    series: bool = False  # the state of every URL as of each crawl (the report's chart)
    texts: bool = False  # both texts of every changed and moved row (the report's side-by-side views)

    @classmethod
    def from_config(cls, config: Any, **extra: bool) -> AuditOptions:
        return cls(config.confirm_after, config.moved_similarity, config.redirect_similarity, config.simhash_bits,
                   **extra)


@dataclass(slots=True, eq=False)  # compared by identity: list.index must not compare every field
class Item:
    title: str | None
    authors: str | None  # as the catalog holds them (JSON): compared, never shown
    published: str | None
    modified: str | None
    section: str | None
    text_hash: str | None
    simhash: str | None  # hex, as in the item

    @property
    def simhash_int(self) -> int | None:
        try:
            return int(self.simhash, 16) if self.simhash else None
        except ValueError:
            return None


@dataclass(slots=True, eq=False)
class Cap:
    """One capture of the URL, parsed from a catalog row."""

    crawl_id: str
    started: str
    fetched_at: str
    status: int | None
    verdict: str | None
    reasons: tuple[str, ...]
    final_url: str | None
    kind: str | None
    warc: tuple[str, int, int, str] | None  # filename, offset, length, record id
    redirected: bool
    item: Item | None
    title: str | None = None  # the page's <title>, from the crawl log (an item's title is the story's)

    @property
    def good(self) -> bool:
        """The story was there: `ok`, or no verdict of its own but the item its final URL gave in the same crawl
        (a redirect to a URL the crawl had fetched already, `/a` -> `/a/` and http -> https included)."""
        if self.verdict == "ok":
            return True
        return self.verdict is None and self.item is not None

    def ref(self) -> CaptureRef:
        warc = dict(zip(("filename", "offset", "length", "record_id"), self.warc, strict=True)) if self.warc \
            else None
        return CaptureRef(self.crawl_id, self.fetched_at, self.status, self.verdict, self.reasons, self.final_url,
                          self.kind, warc)


@dataclass
class _Pending:
    """A dead URL whose story may have moved, waiting for the second pass."""

    row: AuditRow
    text_hash: str
    simhash: int | None
    after: str  # its last good capture's crawl start: the new URL must be first seen later


@dataclass
class _Story:
    """Where a URL's story was first seen good: candidates for moves without redirects."""

    url: str
    started: str
    text_hash: str
    simhash: int | None
    title: str | None = None


def _iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _fmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resolve_point(value: str | None, crawls: list[CrawlInfo], end: bool, flag: str) -> str | None:
    """A crawl id or an ISO date/time -> a catalog time. A crawl as `--to` includes that crawl whole; a date
    as `--to` includes that whole day. Naive times are UTC."""
    if not value:
        return None
    for crawl in crawls:
        if crawl.crawl_id == value:
            if end:
                return max(filter(None, (crawl.finished_at, crawl.last_fetch, crawl.started_at)), default=None)
            return crawl.started_at
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + (timedelta(days=1, seconds=-1) if end
                                                                            else timedelta())
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError:
        raise AuditError(f"{flag} {value!r} is neither a crawl id of the store nor an ISO 8601 date "
                         "(2026-12-01 or 2026-12-01T06:00:00Z)") from None
    return _fmt(moment)


def same_page(a: str | None, b: str | None) -> bool:
    """Two URLs of one page: canonical form, scheme, a leading `www.` and a trailing slash aside (a site that
    moves to https or to www. moved no story)."""
    if not a or not b:
        return a == b

    def key(url: str) -> str:
        rest = canonicalize_url(url).split("://", 1)[-1]
        return rest.removeprefix("www.").rstrip("/")

    return a == b or key(a) == key(b)


def similarity(a: str | None, b: str | None) -> float:
    """Share of words the two texts have in common, in order (difflib), in [0, 1]."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    return round(difflib.SequenceMatcher(None, words(a), words(b), autojunk=False).ratio(), 4)


def text_diff(a: str, b: str) -> list[str]:
    """A unified diff of the two texts, paragraph by paragraph, one line of context."""
    return list(difflib.unified_diff(a.split("\n\n"), b.split("\n\n"), "before", "after", n=1, lineterm=""))


def _parse(rows: list[tuple[Any, ...]], started: dict[str, str]) -> list[Cap]:
    caps = []
    for r in rows:
        item = None
        if r[20] is not None or r[15] is not None:
            item = Item(r[15], r[16], r[17], r[18], r[19], r[20], r[21])
        warc = (r[8], r[9], r[10], r[11]) if r[8] else None
        caps.append(Cap(r[1], started.get(r[1], r[2]), r[2], r[3], r[4], tuple(r[5].split("\n")) if r[5] else (),
                        r[6], r[7], warc, bool(r[12]) and not same_page(r[0], r[6]), item, r[14]))
    return caps  # the catalog gives them by fetch time, crawl by crawl


class Auditor:
    """Decides the state of each URL; `texts` fetches an item's text from the catalog by its key."""

    def __init__(self, options: AuditOptions, texts: Callable[[str | None], str | None], window_start: str) -> None:
        self.options, self.texts, self.w0 = options, texts, window_start
        self.detail = True  # False while the chart's states are decided (state only)
        # url -> (title, text key) before and after, for changed and moved rows (the report's side by side)
        self.pairs: dict[str, tuple[tuple[str | None, str | None], tuple[str | None, str | None]]] = {}

    def pair(self, url: str, before: Cap, after: Cap) -> None:
        if self.options.texts and before.item is not None and after.item is not None:
            self.pairs[url] = ((before.item.title, before.item.text_hash), (after.item.title, after.item.text_hash))

    def decide(self, url: str, site: str, caps: list[Cap], keep_timeline: bool = True) -> AuditRow:
        """The row of one URL (moves without redirects are found later, across URLs)."""
        good_caps = [c for c in caps if c.good]
        ref = next((c for c in reversed(good_caps) if c.started <= self.w0), None) or (good_caps[0] if good_caps
                                                                                       else None)
        latest_good = good_caps[-1] if good_caps else None
        item = next((c.item for c in reversed(caps) if c.item is not None), None)
        section = next((c.item.section for c in reversed(caps) if c.item is not None and c.item.section), None)
        row = AuditRow(url=url, site=site, state="unchanged", first_capture=(ref or caps[0]).ref(),
                       last_capture=caps[-1].ref(), section=section,
                       title=item.title if item else next((c.title for c in reversed(caps) if c.title), None),
                       captures=len(caps))
        self._decide(row, caps, ref, latest_good)
        if keep_timeline and row.state != "unchanged":  # an unchanged row's first and last capture say it all
            row.timeline = [c.ref() for c in caps]
        return row

    def _decide(self, row: AuditRow, caps: list[Cap], ref: Cap | None, latest_good: Cap | None) -> AuditRow:
        opts = self.options
        after = caps[caps.index(latest_good) + 1:] if latest_good is not None else caps
        is_new = caps[0].started > self.w0
        decisive = [c for c in after if c.verdict in DECISIVE]
        if decisive:
            last = decisive[-1]
            row.state = DECISIVE[str(last.verdict)]
            why = ", ".join(last.reasons) or "no reason"
            row.evidence.append(f"{last.verdict} since {decisive[0].fetched_at} ({why}; {len(decisive)} "
                                f"fetch{'es' if len(decisive) > 1 else ''})")
            if latest_good is not None:
                row.evidence.append(f"last good capture {latest_good.fetched_at} ({latest_good.crawl_id})")
            else:
                row.evidence.append("never answered with the story in this archive")
            transient = [c for c in after if c.verdict not in DECISIVE and c.fetched_at > last.fetched_at]
            if transient:
                row.evidence.append(f"then {len(transient)} failed fetches, the last {transient[-1].fetched_at}")
            if row.state == "deleted":
                found = [c for c in after if c.verdict == "not-found"]
                span = (_iso(found[-1].fetched_at) - _iso(found[0].fetched_at)).total_seconds()
                row.confirmed = len(found) >= 2 and span >= opts.confirm_after
            return row
        if after:
            row.state = "unreachable"
            reasons = sorted({r for c in after for r in c.reasons} or {"no-verdict"})
            since = f"since the last good capture {latest_good.fetched_at}" if latest_good else "and never a good one"
            row.evidence.append(f"{len(after)} failed fetch{'es' if len(after) > 1 else ''} {since}, the last "
                                f"{after[-1].fetched_at} ({', '.join(reasons)}): transient, no proof of deletion")
            return row
        assert latest_good is not None and ref is not None
        dead_spells = [c for c in caps
                       if c.verdict in DECISIVE and ref.fetched_at < c.fetched_at < latest_good.fetched_at]
        if dead_spells:
            row.evidence.append(f"was {dead_spells[0].verdict} at {dead_spells[0].fetched_at}, answered again "
                                f"{latest_good.fetched_at}")
        if latest_good.redirected and not same_page(ref.final_url, latest_good.final_url):
            return self._redirected(row, ref, latest_good)
        self._compare(row, ref, latest_good)
        if is_new:  # first seen inside the window; edited since, it is `changed` (and says it is new)
            row.state = "new" if row.state == "unchanged" else row.state
            row.evidence.insert(0, f"first seen {caps[0].fetched_at} ({caps[0].crawl_id})")
        return row

    def story_similarity(self, a: Cap, b: Cap) -> float | None:
        """The texts' similarity; without both texts (a near-duplicate item stores none), 1.0 for the same
        text key, else the simhashes' share of equal bits; None when nothing can be compared."""
        if a.item is None or b.item is None:
            return None
        if a.item.text_hash and a.item.text_hash == b.item.text_hash:
            return 1.0
        before, after = self._text(a), self._text(b)
        if before is not None and after is not None:
            return similarity(before, after)
        x, y = a.item.simhash_int, b.item.simhash_int
        return round(1 - (x ^ y).bit_count() / 64, 4) if x is not None and y is not None else None

    def _redirected(self, row: AuditRow, ref: Cap, latest: Cap) -> AuditRow:
        hops = f"redirects to {latest.final_url}"
        score = self.story_similarity(ref, latest)
        row.similarity = score
        if score is not None and score >= self.options.redirect_similarity:
            row.state, row.new_url = "moved", latest.final_url
            row.evidence += [hops + f" (since {latest.fetched_at})", f"the same story there (similarity {score})"]
            self.pair(row.url, ref, latest)
        else:
            row.state = "soft-deleted"
            row.evidence += [hops + f" (since {latest.fetched_at})", "another page there, not the story"
                             + (f" (similarity {score})" if score is not None else " (no article text there)")]
        return row

    def _text(self, cap: Cap) -> str | None:
        return self.texts(cap.item.text_hash) if cap.item else None

    def _compare(self, row: AuditRow, ref: Cap, latest: Cap) -> None:
        if ref is latest or ref.item is None or latest.item is None:
            if ref.item is None and latest.item is None and ref is not latest:
                row.evidence.append("no article text in either capture: compared by status and verdict only")
            return
        a, b = ref.item, latest.item
        fields = [name for name, x, y in (("title", a.title, b.title), ("text", a.text_hash, b.text_hash),
                                          ("authors", a.authors, b.authors), ("published", a.published, b.published),
                                          ("modified", a.modified, b.modified)) if x != y]
        if not fields:
            row.similarity = 1.0
            return
        row.state, row.changed_fields = "changed", fields
        if not self.detail:
            return  # the state is all the chart needs: no texts read, no similarity, no diff
        self.pair(row.url, ref, latest)
        before, after = self._text(ref), self._text(latest)
        row.similarity = self.story_similarity(ref, latest)
        if "text" in fields and before is not None and after is not None:
            row.diff = text_diff(before, after)
        row.evidence.append(f"{', '.join(fields)} changed between {ref.fetched_at} and {latest.fetched_at}")


class _Stories:
    """First good texts of URLs, by text key and by simhash band, for moves without redirects."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.by_hash: dict[str, list[_Story]] = {}
        self.bands: list[dict[int, list[_Story]]] = [{} for _ in range(SIMHASH_BANDS)]

    def add(self, story: _Story) -> None:
        self.by_hash.setdefault(story.text_hash, []).append(story)
        if story.simhash is not None:
            for band, index in enumerate(self.bands):
                index.setdefault((story.simhash >> (16 * band)) & 0xFFFF, []).append(story)

    def candidates(self, text_hash: str, simhash: int | None) -> Iterable[_Story]:
        """Each URL once: by the same text key, then by simhash bands."""
        seen: set[str] = set()
        for story in self.by_hash.get(text_hash, ()):
            seen.add(story.url)
            yield story
        if simhash is None:
            return
        for band, index in enumerate(self.bands):
            for story in index.get((simhash >> (16 * band)) & 0xFFFF, ()):
                if story.url not in seen and story.simhash is not None \
                        and (story.simhash ^ simhash).bit_count() <= self.bits:
                    seen.add(story.url)
                    yield story


def run_audit(catalog: Catalog, site: str | None, window_from: str | None, window_to: str | None,
              options: AuditOptions) -> AuditReport:
    """Audit one site (None: every site of the store) over the window."""
    sites = catalog.sites()
    if not sites:
        raise AuditError(f"the store {catalog.store.uri} holds no crawls: nothing to audit")
    if site is not None and site not in sites:
        raise AuditError(f"no crawls of site {site!r} in {catalog.store.uri} (its sites: {', '.join(sites)})")
    report = AuditReport(sites=[site] if site else sites, window_from=None, window_to=None, generated_at=utc_now(),
                         store_uri=catalog.store.uri, rows=[])
    catalog.db.execute("BEGIN")  # one snapshot of the catalog: another update may commit while we read
    try:
        every = catalog.crawls()  # a crawl id names a point in time for every site
        for name in report.sites:
            try:
                _audit_site(catalog, name, window_from, window_to, options, report, every)
            except NoCrawlInWindowError as exc:
                if site is not None:
                    raise
                report.unreadable.append(str(exc))
    finally:
        catalog.db.execute("COMMIT")
    return report


class NoCrawlInWindowError(AuditError):
    """A site has no crawl in the window (an error when it is the one asked for, a note among several)."""


def _audit_site(catalog: Catalog, site: str, window_from: str | None, window_to: str | None,
                options: AuditOptions, report: AuditReport, every: list[CrawlInfo]) -> None:
    crawls = [c for c in every if c.site == site]
    start = resolve_point(window_from, every, end=False, flag="--from")
    end = resolve_point(window_to, every, end=True, flag="--to")
    if start and end and end < start:
        raise AuditError(f"--to {window_to} is before --from {window_from}")
    started = {c.crawl_id: c.started_at or "" for c in crawls}
    in_window = [c for c in crawls if (not start or (c.started_at or "") >= start)
                 and (not end or (c.started_at or "") <= end)]
    if not in_window:
        raise NoCrawlInWindowError(f"no crawl of site {site!r} started between {start or 'the first'} and "
                                   f"{end or 'the last'}")
    w0 = start or in_window[0].started_at or ""
    report.window_from = report.window_from or w0
    report.window_to = end or max((c.finished_at or c.started_at or "") for c in in_window)
    report.unreadable += [f"{c.crawl_id}: {p}" for c in in_window for p in c.problems]
    first_crawl = crawls[0].started_at or "" if crawls else ""
    auditor = Auditor(options, catalog.text, w0)
    stories = _Stories(options.simhash_bits)
    pending: list[_Pending] = []
    rows: dict[str, AuditRow] = {}
    points: list[tuple[CrawlInfo, dict[str, int]]] = [(c, {}) for c in in_window] if options.series else []
    for url, raw in catalog.article_history(site, end):
        caps = _parse(raw, started)
        if caps[-1].started < w0:
            continue  # not fetched inside the window: nothing to say about it there
        row = auditor.decide(url, site, caps)
        rows[url] = row
        first_good = next((c for c in caps if c.good and c.item and c.item.text_hash), None)
        # A story first seen in the site's first crawl cannot be where another one moved (that one was alive
        # then, or its last good capture, which the new URL must follow, is later): not indexed.
        if first_good is not None and first_good.started <= first_crawl:
            first_good = None
        if first_good is not None and first_good.item is not None and first_good.item.text_hash:
            stories.add(_Story(url, first_good.started, first_good.item.text_hash, first_good.item.simhash_int,
                               first_good.item.title))
        last_good = next((c for c in reversed(caps) if c.good and c.item and c.item.text_hash), None)
        if row.state in DEAD and row.new_url is None and last_good is not None and last_good.item is not None \
                and last_good.item.text_hash:
            pending.append(_Pending(row, last_good.item.text_hash, last_good.item.simhash_int, last_good.started))
        _count_points(auditor, url, site, caps, points)
    _find_moves(pending, stories, rows, auditor, options)
    report.rows += rows.values()
    report.series += [CrawlPoint(c.crawl_id, c.started_at or "", c.spider or "news", c.state == "complete", counts)
                      for c, counts in points]
    if options.texts:
        _collect_texts(report, auditor, catalog)


def _count_points(auditor: Auditor, url: str, site: str, caps: list[Cap],
                  points: list[tuple[CrawlInfo, dict[str, int]]]) -> None:
    """The URL's state as of each crawl of the chart: decided again only where it has new captures (a state
    changes only with a capture), carried forward elsewhere, and without texts (state only)."""
    state, decided = None, 0
    auditor.detail = False
    try:
        for crawl, counts in points:
            seen = [c for c in caps if c.started <= (crawl.started_at or "")]
            if seen and len(seen) != decided:
                state, decided = auditor.decide(url, site, seen, keep_timeline=False).state, len(seen)
            if state is not None:
                counts[state] = counts.get(state, 0) + 1
    finally:
        auditor.detail = True


def _find_moves(pending: list[_Pending], stories: _Stories, rows: dict[str, AuditRow], auditor: Auditor,
                options: AuditOptions) -> None:
    """A dead URL whose story is at a URL first seen after its last good capture: moved, without a redirect."""
    for dead in pending:
        before = auditor.texts(dead.text_hash)
        if before is None or len(words(before)) < MOVE_MIN_WORDS:
            continue  # a caption, a paywall teaser, a template's few lines: the same at many URLs, no proof
        found_at: list[tuple[float, _Story]] = []
        for story in stories.candidates(dead.text_hash, dead.simhash):
            if story.url == dead.row.url or story.started <= dead.after:
                continue
            score = 1.0 if story.text_hash == dead.text_hash else similarity(before, auditor.texts(story.text_hash))
            if score >= options.moved_similarity:
                found_at.append((score, story))
        if not found_at:
            continue
        found_at.sort(key=lambda pair: -pair[0])
        if len(found_at) > 1 and found_at[1][0] == found_at[0][0]:
            dead.row.evidence.append(f"the same story is at {len(found_at)} later URLs (e.g. {found_at[0][1].url}, "
                                     f"{found_at[1][1].url}): a copy, not a move that can be told")
            continue
        score, found = found_at[0]
        if options.texts:
            auditor.pairs[dead.row.url] = ((dead.row.title, dead.text_hash), (found.title, found.text_hash))
        row, target = dead.row, rows.get(found.url)
        row.evidence.insert(0, f"the same story (similarity {score}) is at {found.url}, first seen "
                               f"{target.first_capture.fetched_at if target else '?'}; found by its text, no "
                               "redirect leads there")
        row.state, row.new_url, row.similarity = "moved", found.url, score
        if target is not None:
            target.evidence.append(f"the story moved here from {row.url}")


def _collect_texts(report: AuditReport, auditor: Auditor, catalog: Catalog) -> None:
    """Both texts behind changed and moved rows, for the report's side-by-side views (never in JSON)."""
    for url, ((before_title, before_key), (after_title, after_key)) in auditor.pairs.items():
        before, after = catalog.text(before_key), catalog.text(after_key)
        if before is not None and after is not None:
            report.texts[url] = TextPair(before_title, before, after_title, after)
