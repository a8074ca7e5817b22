"""A synthetic store for the audit benchmark: one site, ten crawls, >= 1M captures, with the ground truth.

`write_store` writes a `file://` store in the format a real crawl writes (../shared/DESIGN.md section 4,
checked against `scrapy demo`): per crawl, crawl-log, item and dropped-item parts written by the crawl's
own `archive.parts.PartWriter` (10,000 records a part, STORE_PART_MAX_RECORDS), one sorted CDXJ per WARC
(rotated at 1 GB, ARCHIVE_MAX_FILE_SIZE) and crawl.json last, listing every object with size and sha256.
The WARCs are not written (the catalog reads none): pointers and CDXJ lines say where the records would
be, and the WARCs are not in `objects`.

Every URL lives a seeded life story (edited, deleted, soft-deleted, moved with or without a redirect,
failing for a crawl or two, blocked, new; most stay unchanged) and `Truth` says what an audit of the whole
window should find. What real crawls do, reproduced because an audit must read it right:
- a redirect whose target the crawl had already requested (Scrapy's dupefilter) is logged with the hop's
  status (301), `redirect-to-seen-url` in its reasons and `warc` pointing at the hop's record; so in news
  crawls (which fetch the home page first) a redirect to home is never followed, and a moved URL is followed
  only when it is met before its new URL, whose own request is then dropped without a log entry;
- recheck crawls fetch archived URLs with dont_filter: every redirect is followed, and a second item for
  the same canonical URL goes to `dropped/` (`duplicate-url`);
- a followed redirect is logged with the final status (200) and `warc` at the final response, whose CDXJ
  line is keyed by the final URL; each hop has its own CDXJ line (status 301, empty payload);
- payloads archived before (in this crawl or an earlier one) are `revisit` records (`warc/revisit` in the
  CDXJ): every 404 page after the first, unchanged pages whose HTML is stable (half the URLs: the other
  half carry a per-crawl sidebar), robots.txt;
- a 503 is retried twice (three captures in the CDXJ, one log entry); a timeout has no record at all
  (`warc`, `status`, `final_url` null);
- the log's `content_digest` is of the HTML, the item's of the text, the CDXJ's of the raw payload: three
  different digests; the CDXJ time (WARC-Date) is often a second before `fetched_at`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import platform
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from multiprocessing import get_context
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from archive.catalogparts import loads as catalog_loads  # noqa: E402
from archive.parts import PartWriter  # noqa: E402
from archive.store import sha256_file  # noqa: E402
from archive.warcfile import iipc_name  # noqa: E402
from crawler.textutil import sha1_digest, simhash  # noqa: E402

SITE = "synth"
HOST = "https://www.synth-times.example"
HOME = HOST + "/"
SURT_HOST = "example,synth-times)"  # archive.cdxj.url_key of HOST (our paths are lower-case, without queries)
BRAND = " - The Synth Times"
SECTIONS = ("world", "politics", "business", "tech", "science", "health", "sport", "culture", "climate", "opinion")
PART_RECORDS, PART_BYTES = 10_000, 64 * 1024 * 1024  # STORE_PART_MAX_RECORDS, STORE_PART_MAX_BYTES
WARC_MAX = 1_000_000_000  # ARCHIVE_MAX_FILE_SIZE
EMPTY = sha1_digest(b"")  # a redirect's payload: never deduplicated (the archiver skips empty bodies)
EXPECTED = {"unchanged": "unchanged", "edited": "changed", "deleted": "deleted", "soft-404": "soft-deleted",
            "redirect-home": "soft-deleted", "moved": "moved", "moved-silent": "moved", "transient": "unchanged",
            "blocked": "blocked", "new": "new", "moved-target": "new"}
# Life stories and their shares of the URLs of the first crawl; the rest stay unchanged. New URLs come on top.
SHARES = (("edited", 0.03), ("deleted", 0.02), ("soft-404", 0.005), ("redirect-home", 0.005), ("moved", 0.01),
          ("moved-silent", 0.005), ("transient", 0.01), ("blocked", 0.01))
NEW_SHARE = 0.05

_SUBJECTS = (
    "The city council", "Regional officials", "A coalition of farmers", "The central bank", "Local residents",
    "Shipping companies", "The health ministry", "University researchers", "Union leaders", "The port authority",
    "Several start-ups", "The national railway", "Energy regulators", "A group of teachers", "Insurers",
    "The weather service", "Museum curators", "Airport operators", "Fishing cooperatives", "Water engineers",
    "The finance committee", "Hospital managers", "The tenants' association", "Bus drivers", "The district court",
    "Wine growers", "The opposition party", "Police commanders", "The competition authority", "Parents' groups",
    "The chamber of commerce", "Lorry drivers", "The housing agency", "Climate scientists", "The mayor's office",
    "Dock workers", "The school board", "Nurses' unions", "The planning inspectorate", "Software engineers")
_VERBS = (
    "announced", "postponed", "approved", "criticised", "welcomed", "questioned", "unveiled", "rejected",
    "expanded", "reviewed", "defended", "funded", "delayed", "simplified", "tested", "published", "scrapped",
    "challenged", "endorsed", "revised", "blocked", "backed", "audited", "opposed", "drafted", "extended",
    "suspended", "renegotiated", "costed", "mapped")
_OBJECTS = (
    "a plan to rebuild the northern bridge", "new rules on short-term rentals", "the budget for next year",
    "a pilot programme for electric buses", "the report on coastal erosion", "a proposal to extend opening hours",
    "changes to the pension scheme", "a study of air quality near schools", "the merger of two hospitals",
    "an agreement on grain exports", "a review of flood defences", "the tender for the new tram line",
    "plans for a solar farm", "the reform of apprenticeships", "a survey of household spending",
    "a ban on night flights", "the closure of a rural clinic", "a tax on sugary drinks", "the new cycling lanes",
    "a fund for small farms", "the restoration of the old harbour", "a cap on energy prices",
    "the sale of public land", "a curfew for delivery vans", "the expansion of the airport",
    "a registry of empty homes", "the contract for school meals", "a scheme to insulate old flats",
    "rules on facial recognition cameras", "the price of season tickets", "a water recycling plant",
    "the rezoning of the industrial estate", "a law on data retention", "the rescue of a steel mill",
    "a wind farm off the coast", "the timetable for the metro extension", "a levy on tourist stays",
    "the list of protected trees", "a hotline for flood warnings", "the pay deal for care workers")
_ADJUNCTS = (
    "on Tuesday", "after months of talks", "despite strong objections", "ahead of the winter season",
    "in a statement released late on Friday", "following a public consultation", "at a crowded meeting",
    "according to documents seen by reporters", "for the second time this year", "without giving a date",
    "amid rising costs", "in front of a small crowd", "after an independent audit", "with little warning",
    "before the summer recess", "during a tense hearing", "in an open letter", "under pressure from donors",
    "after a leaked memo", "on the eve of the elections", "as protesters gathered outside", "by a narrow margin",
    "in a rare joint statement", "after a court ruling", "in a televised address", "at the third attempt")
_QUOTES = (
    "We have listened carefully and this is the right decision", "Nobody expected the costs to rise so fast",
    "The figures speak for themselves", "It will take years before anyone sees the benefit",
    "We are asking for patience and for trust", "This is only the first step", "We were never consulted",
    "The decision was taken behind closed doors", "People here feel forgotten", "We will appeal",
    "It is a good day for the region", "The money simply is not there", "We expect more details next week",
    "Nobody wins from a long dispute", "Safety must come first", "The numbers do not add up")
_FIRST = ("Maria", "Tomas", "Aiko", "Daniel", "Leila", "Pedro", "Sofia", "Chen", "Grace", "Lukas", "Nadia", "Oliver",
          "Ines", "Kwame", "Hana", "Mateo", "Olga", "Ravi", "Elif", "Jonas", "Amara", "Felix", "Yuki", "Bruno",
          "Zara", "Anton", "Lina", "Omar", "Petra", "Samuel")
_LAST = ("Lindqvist", "Okafor", "Tanaka", "Brennan", "Haddad", "Alves", "Ivanova", "Wei", "Mensah", "Hoffmann",
         "Rahman", "Grant", "Moreau", "Kowalski", "Nakamura", "Silva", "Novak", "Eriksen", "Costa", "Yilmaz",
         "Fischer", "Dubois", "Sato", "Rossi", "Petrov", "Larsen", "Kaya", "Byrne", "Duarte", "Horvat")
_ROLES = ("a spokesperson", "the chair", "a local councillor", "an economist", "a resident", "the director",
          "a union representative", "a researcher", "the minister", "a shop owner")
_NOUNS = ("deficit", "ridership", "waiting list", "rent index", "harvest", "turnout", "fare", "budget", "backlog",
          "emissions", "caseload", "payroll")
_SYLLABLES = ("var", "holm", "bri", "stad", "lun", "dor", "kel", "mar", "wick", "ton", "ash", "fen", "gar", "ley",
              "nor", "vik", "sel", "bur", "cal", "den", "ros", "tham", "ock", "ber", "mel")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_TAGS = ("transport", "economy", "housing", "energy", "education", "health", "environment", "justice", "labour",
         "local", "budget", "elections")
_QUALIFIERS = ("officials confirm", "documents show", "report finds", "after review", "court hears")


class Story(NamedTuple):
    """One version of an article: what its item says."""

    title: str
    text: str
    authors: list[str]
    tags: list[str]


def _sentence(rng: random.Random, where: str, who: list[str]) -> str:
    r = rng.random()
    if r < 0.14:
        return f'"{rng.choice(_QUOTES)}," said {rng.choice(who)}, {rng.choice(_ROLES)} in {where}.'
    if r < 0.28:
        return (f"The {rng.choice(_NOUNS)} in {where} {rng.choice(('rose', 'fell', 'stood'))} "
                f"{rng.choice(('by', 'to', 'near'))} {rng.randint(2, 60)}.{rng.randint(0, 9)} percent "
                f"in {rng.choice(_MONTHS)}.")
    if r < 0.45:
        return (f"In {where}, {rng.choice(_SUBJECTS).lower()} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
                f"{rng.choice(_ADJUNCTS)}.")
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_ADJUNCTS)}."


def article(seed: int, key: int) -> Story:
    """Article `key`'s first version: 4-7 paragraphs (~1-3 KB) about its own made-up place and people, with
    its own figures, so no two articles share their text (simhashes of two articles differ by >= ~13 bits)."""
    rng = random.Random(seed * 1_000_003 + key)
    where = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    who = [f"{rng.choice(_FIRST)} {rng.choice(_LAST)}" for _ in range(3)]
    paragraphs = [" ".join(_sentence(rng, where, who) for _ in range(rng.randint(3, 5)))
                  for _ in range(rng.randint(4, 7))]
    title = f"{rng.choice(_SUBJECTS)} in {where} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
    return Story(title, "\n\n".join(paragraphs), who[:rng.choice((1, 1, 2))], rng.sample(_TAGS, rng.randint(1, 3)))


def revised(seed: int, key: int, first: Story, retitled: bool) -> Story:
    """The edited version: a correction paragraph appended; sometimes a new title."""
    rng = random.Random(seed * 1_000_003 + key + 500_000_000)
    note = (f"Correction: an earlier version of this article misstated the position of "
            f"{rng.choice(_SUBJECTS).lower()} on {rng.choice(_OBJECTS)}. "
            + _sentence(rng, "the region", ["the editor"]))
    title = f"{first.title}, {rng.choice(_QUALIFIERS)}" if retitled else first.title
    return Story(title, f"{first.text}\n\n{note}", first.authors, first.tags)


def slug(title: str, words: int = 7) -> str:
    return "-".join("".join(c.lower() if c.isalnum() else " " for c in title).split()[:words])


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class Life:
    """One article URL over the crawls."""

    story: str
    section: int
    appear: int = 0  # first crawl it exists in
    event: int = -1  # crawl from which its story happens (-1: nothing happens)
    again: int = -1  # transient: a second failing crawl
    variant: int = 0  # deleted: 404 / 410; soft-404: error-title / empty-content; transient: 503 / timeout
    partner: int = -1  # moved: index of the new URL; moved-target: of the old one
    key: int = 0  # whose text it serves
    volatile: bool = False  # its HTML changes every crawl (a sidebar), so its payload is never a revisit
    retitled: bool = False
    url: str = ""
    published: str = ""
    modified: str = ""  # of the edited version
    title: str = ""  # filled by a first parallel pass, with the simhash of each version (first, edited)
    sim: str = ""
    sim1: str = ""


@dataclass
class Plan:
    """Everything a crawl's worker needs, sent once per worker."""

    seed: int
    lives: list[Life]
    starts: list[datetime]
    crawl_ids: list[str]
    spiders: list[str]
    first: dict[str, int]  # shared error pages -> the crawl that archived them first (later: revisits)
    store_uri: str
    placeholders: bool = True  # write each WARC as a sparse file of zeros, of the size its records add up to


@dataclass
class Truth:
    """What an audit of the whole window (first crawl to last) should find, and what was written."""

    expected: dict[str, str]  # url -> audit state (archive.auditmodel.STATES)
    new_url: dict[str, str]  # moved url -> where it went
    story: dict[str, str]  # url -> its life story (finer than the state: soft-404 vs redirect-home, ...)
    crawls: list[dict[str, Any]] = field(default_factory=list)  # per crawl: id, spider, entries, items, ...
    seconds: float = 0.0  # generation wall time

    @property
    def captures(self) -> int:
        """Crawl-log entries (one per requested URL per crawl), all kinds."""
        return sum(c["entries"] for c in self.crawls)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> Truth:
        return cls(**json.loads(path.read_text()))


def _draw(rng: random.Random) -> str:
    r = rng.random()
    for story, share in SHARES:
        if r < share:
            return story
        r -= share
    return "unchanged"


def _event(rng: random.Random, story: str, crawls: int) -> int:
    """Deaths and moves early enough for two later fetches; edits and blocks any time after the first."""
    return rng.randint(1, crawls - 1) if story in ("edited", "blocked") else rng.randint(1, crawls - 2)


def _lives(rng: random.Random, urls: int, crawls: int) -> list[Life]:
    lives = []
    for _ in range(urls):
        story = _draw(rng)
        life = Life(story, rng.randrange(len(SECTIONS)), volatile=rng.random() < 0.5)
        if story != "unchanged":
            life.event = _event(rng, story, crawls)
        life.variant = int(rng.random() < {"deleted": 0.3, "soft-404": 0.35, "transient": 0.4}.get(story, 0))
        life.retitled = story == "edited" and rng.random() < 0.3
        if story == "transient" and life.event + 1 <= crawls - 2 and rng.random() < 0.4:
            life.again = life.event + 1
        lives.append(life)
    for _ in range(round(urls * NEW_SHARE)):
        lives.append(Life("new", rng.randrange(len(SECTIONS)), appear=rng.randint(1, crawls - 1),
                          volatile=rng.random() < 0.5))
    for i, life in enumerate(list(lives)):
        life.key = i
        if life.story in ("moved", "moved-silent"):
            life.partner = len(lives)
            section = life.section if rng.random() < 0.5 else rng.randrange(len(SECTIONS))
            lives.append(Life("moved-target", section, appear=life.event, partner=i, key=i, volatile=life.volatile))
    return lives


def _fingerprints(task: tuple[int, list[tuple[int, bool, bool]]]) -> list[tuple[int, str, str, str]]:
    """(key, title, simhash, edited simhash) for a chunk of keys: the costly part (simhash), done once."""
    seed, keys = task
    out = []
    for key, edited, retitled in keys:
        first = article(seed, key)
        second = revised(seed, key, first, retitled) if edited else None
        out.append((key, first.title, simhash(first.text) or "", (simhash(second.text) or "") if second else ""))
    return out


def _dates(rng: random.Random, lives: list[Life], starts: list[datetime]) -> None:
    for i, life in enumerate(lives):
        if life.story == "moved-target":
            continue
        before = starts[life.appear]
        hours = rng.uniform(1, 20) if life.appear else rng.uniform(1, 24 * 120)
        published = before - timedelta(hours=hours)
        life.published = iso(published)
        if life.story == "edited":
            life.modified = iso(starts[life.event] - timedelta(hours=rng.uniform(1, 20)))
        life.url = f"{HOST}/{SECTIONS[life.section]}/{published:%Y/%m/%d}/{slug(life.title)}-{i}.html"
    for j, life in enumerate(lives):
        if life.story == "moved-target":
            old = lives[life.partner]
            life.published, life.title, life.sim = old.published, old.title, old.sim
            day = old.published[:10].replace("-", "/")
            life.url = f"{HOST}/{SECTIONS[life.section]}/{day}/{slug(old.title)}-{j}.html"


def make_plan(root: Path, urls: int, crawls: int, seed: int, workers: int) -> Plan:
    """Life stories, crawl times and ids, and (in parallel) the titles and simhashes of every text."""
    if crawls < 3:
        raise ValueError("at least 3 crawls: a deletion is confirmed by two fetches after the first")
    rng = random.Random(seed)
    lives = _lives(rng, urls, crawls)
    base = datetime(2026, 5, 4, 2, 0, tzinfo=UTC) + timedelta(minutes=rng.randrange(240))
    starts = [base + timedelta(days=c, minutes=rng.randrange(30), seconds=rng.randrange(60)) for c in range(crawls)]
    spiders = ["recheck" if c and c % 4 == 0 else "news" for c in range(crawls)]
    ids = [f"{SITE}-{'recheck-' if spider == 'recheck' else ''}{start:%Y%m%dT%H%M%SZ}"
           for spider, start in zip(spiders, starts, strict=True)]
    own = [(i, life.story == "edited", life.retitled) for i, life in enumerate(lives) if life.key == i]
    chunks = [(seed, own[n:n + 4000]) for n in range(0, len(own), 4000)]
    for done in _pool_map(_fingerprints, chunks, workers):
        for key, title, sim, sim1 in done:
            life = lives[key]
            life.title, life.sim, life.sim1 = title, sim, sim1
    _dates(rng, lives, starts)

    def first(story: str, variant: int | None = None) -> int:
        return min((x.event for x in lives if x.story == story and variant in (None, x.variant)), default=0)

    shared = {"notfound": 0, "shell": first("soft-404", 1), "403": first("blocked"), "503": first("transient", 0)}
    return Plan(seed, lives, starts, ids, spiders, shared, f"file://{root}")


_WORKER: dict[str, Any] = {}  # a worker's plan and its cache of texts (~250 MB at 100k URLs)


def _init(plan: Plan) -> None:
    _WORKER["plan"], _WORKER["texts"] = plan, {}


def _pool_map(fn: Callable[[Any], Any], tasks: list[Any], workers: int, plan: Plan | None = None) -> Iterator[Any]:
    """Results in completion order; in this process when `workers` is 1 (for profiling)."""
    if workers <= 1:
        if plan is not None:
            _init(plan)
        yield from map(fn, tasks)
        return
    ctx = get_context("fork")
    with ctx.Pool(workers, _init if plan else None, (plan,) if plan else ()) as pool:
        yield from pool.imap_unordered(fn, tasks)


def outcome(life: Life, c: int) -> str:
    """What fetching the URL at crawl `c` finds."""
    if life.event < 0 or c < life.event or life.story in ("edited", "moved-target"):
        return "ok"
    if life.story == "transient":
        return "error" if c in (life.event, life.again) else "ok"
    return {"deleted": "gone", "moved-silent": "gone", "soft-404": "soft", "redirect-home": "home",
            "moved": "redirect", "blocked": "blocked"}[life.story]


class Warcs:
    """Where the crawl's records would land: offsets in rotating WARC files, and their sorted CDXJ."""

    def __init__(self, crawl_dir: Path, host: str, objects: list[dict[str, Any]], rng: random.Random,
                 placeholders: bool) -> None:
        self.dir, self.host, self.objects, self.rng = crawl_dir, host, objects, rng
        self.placeholders = placeholders
        self.name: str | None = None
        self.serial = self.offset = self.lines_total = 0
        self.lines: list[str] = []
        self.records: Counter[str] = Counter()

    def record(self, url: str, mime: str | None, status: int | None, digest: str, revisit: bool, ts: str,
               moment: datetime, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """One response (or revisit) record and its CDXJ line; returns the crawl log's `warc` pointer."""
        if self.name is None:
            self.name = iipc_name("PALIMPSEST", moment, self.serial, self.host)
            self.serial += 1
            self.offset = self.rng.randint(430, 520)  # the warcinfo record
        length = self.rng.randint(520, 700) if revisit else self._length(mime, digest)
        fields: dict[str, Any] = {"url": url, "mime": "warc/revisit" if revisit else mime}
        if fields["mime"] is None:
            del fields["mime"]
        if status is not None:
            fields["status"] = str(status)
        fields.update(digest=digest, length=str(length), offset=str(self.offset), filename=self.name)
        fields.update(extra or {})
        path = url[len(HOST):]
        if len(path) > 1:
            path = path.rstrip("/")  # surt drops a trailing slash, but the root's
        self.lines.append(f"{SURT_HOST}{path} {ts} {json.dumps(fields)}")
        pointer = {"filename": self.name, "offset": self.offset, "length": length,
                   "record_id": f"<urn:uuid:{self._uuid()}>"}
        self.records["revisit" if revisit else "response"] += 1
        self.offset += length + self.rng.randint(420, 560)  # the request record
        return pointer

    def _length(self, mime: str | None, digest: str) -> int:
        if digest == EMPTY:
            return self.rng.randint(440, 500)
        return self.rng.randint(9_000, 45_000) if mime == "text/html" else self.rng.randint(450, 25_000)

    def _uuid(self) -> str:
        x = f"{self.rng.getrandbits(128) & ~(0xF << 76) & ~(0x3 << 62) | (0x4 << 76) | (0x2 << 62):032x}"
        return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"

    def end_exchange(self, metadata: bool = True) -> None:
        """After an exchange's records (and its crawl-log metadata record): rotate at the size limit."""
        if metadata:
            self.offset += self.rng.randint(800, 3000)
        if self.offset >= WARC_MAX:
            self.close()

    def close(self) -> None:
        """The WARC (a sparse placeholder of its full size) and its CDXJ, each under a temporary name first."""
        if self.name is None:
            return
        prefix = f"crawls/{self.dir.name}"
        if self.placeholders:
            (self.dir / "warc").mkdir(parents=True, exist_ok=True)
            warc = self.dir / "warc" / self.name
            with warc.with_name(self.name + ".open").open("wb") as fh:
                fh.truncate(self.offset)
            warc.with_name(self.name + ".open").rename(warc)
            self.objects.append({"key": f"{prefix}/warc/{self.name}", "size": self.offset,
                                 "sha256": _zeros_sha256(self.offset)})
        (self.dir / "cdxj").mkdir(parents=True, exist_ok=True)
        path = self.dir / "cdxj" / (self.name.removesuffix(".warc.gz") + ".cdxj")
        tmp = path.with_name(path.name + ".open")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.writelines(line + "\n" for line in sorted(self.lines))
        tmp.rename(path)
        self.objects.append({"key": f"{prefix}/cdxj/{path.name}", "size": path.stat().st_size,
                             "sha256": sha256_file(path)})
        self.lines_total += len(self.lines)
        self.lines, self.name = [], None


def _zeros_sha256(size: int, chunk: bytes = bytes(1 << 22)) -> str:
    """The sha256 of a placeholder WARC (all zeros), without reading it back."""
    digest = hashlib.sha256()
    whole, rest = divmod(size, len(chunk))
    for _ in range(whole):
        digest.update(chunk)
    digest.update(chunk[:rest])
    return digest.hexdigest()


class Crawl:
    """One crawl's files, generated URL by URL in crawl order."""

    def __init__(self, plan: Plan, c: int, texts: dict[tuple[int, int], tuple[Story, str]]) -> None:
        self.plan, self.c, self.texts, self.lives = plan, c, texts, plan.lives
        self.crawl_id, self.spider = plan.crawl_ids[c], plan.spiders[c]
        self.recheck = self.spider == "recheck"
        self.kind = "recheck" if self.recheck else "article"
        self.dir = Path(plan.store_uri.removeprefix("file://")) / "crawls" / self.crawl_id
        self.rng = random.Random(plan.seed * 7_919 + c)
        self.objects: list[dict[str, Any]] = []
        self.warcs = Warcs(self.dir, "synth-crawler-1", self.objects, self.rng, plan.placeholders)
        prefix = f"crawls/{self.crawl_id}"
        self.parts = {name: PartWriter(self._stored, f"{prefix}/{name}", self.dir / name, PART_RECORDS, PART_BYTES,
                                       fsync=False) for name in ("log", "items", "dropped")}
        self.t0 = plan.starts[c].timestamp() + 2.0
        self.n = 0
        self.seen: set[str] = set()  # news crawls: what the dupefilter has seen
        self.archived: set[str] = set()  # payloads archived in this crawl
        self.canonical: set[str] = set()  # item URLs stored in this crawl
        self.stats: Counter[str] = Counter()
        self._times: dict[int, tuple[str, str, datetime]] = {}

    def _stored(self, key: str, path: Path) -> None:
        self.objects.append({"key": key, "size": path.stat().st_size, "sha256": sha256_file(path)})

    def _time(self, second: int) -> tuple[str, str, datetime]:
        got = self._times.get(second)
        if got is None:
            moment = datetime.fromtimestamp(second, UTC)
            got = self._times[second] = (iso(moment), f"{moment:%Y%m%d%H%M%S}", moment)
        return got

    def tick(self, back: float = 0.0) -> tuple[str, str, datetime]:
        """(fetched_at, CDXJ time of the response, its datetime) for the next fetch, ~33 fetches a second."""
        now = self.t0 + self.n * 0.03
        self.n += 1
        fetched = self._time(int(now))[0]
        _, ts, moment = self._time(int(now - 0.4 - back))
        return fetched, ts, moment

    def payload(self, name: str, first_crawl: int) -> tuple[str, str, bool]:
        """(HTML digest for the log, raw payload digest for the CDXJ, revisit?) of a payload named `name`."""
        revisit = name in self.archived or first_crawl < self.c
        self.archived.add(name)
        return sha1_digest(f"html {name}".encode()), sha1_digest(f"raw {name}".encode()), revisit

    def log(self, url: str, final: str | None, redirects: list[dict[str, Any]], status: int | None,
            mime: str | None, fetched: str, verdict: str | None, reasons: list[str], score: float | None,
            kind: str, title: str | None = None, digest: str | None = None, sim: str | None = None,
            warc: dict[str, Any] | None = None, error: str | None = None) -> None:
        self.parts["log"].write({
            "url": url, "final_url": final, "redirects": redirects, "status": status, "mime": mime,
            "fetched_at": fetched, "verdict": verdict, "reasons": reasons, "score": score, "kind": kind,
            "title": title, "content_digest": digest, "simhash": sim, "warc": warc, "crawl_id": self.crawl_id,
            "site": SITE, "error": error, "render": None, "probe": None})
        self.stats[f"crawllog/kind/{kind}"] += 1
        if verdict:
            self.stats[f"soft404/verdict/{verdict}"] += 1

    def fetch(self, url: str, kind: str, mime: str, status: int, verdict: str | None, reasons: list[str],
              score: float | None, name: str, first_crawl: int, title: str | None = None, sim: str | None = None,
              redirects: list[dict[str, Any]] | None = None, requested: str | None = None) -> dict[str, Any]:
        """A fetch answered at `url` (after `redirects` of `requested`): records, CDXJ lines, log entry."""
        fetched, ts, moment = self.tick()
        for hop in redirects or ():
            self.warcs.record(hop["url"], "text/html", hop["status"], EMPTY, False, ts, moment)
        html, raw, revisit = self.payload(name, first_crawl)
        extra = {"verdict": verdict, "reasons": reasons} if verdict or reasons else None
        warc = self.warcs.record(url, mime, status, raw, revisit, ts, moment, extra)
        self.warcs.end_exchange()
        self.log(requested or url, url, redirects or [], status, mime, fetched, verdict, reasons, score, kind,
                 title, html, sim, warc)
        return {"fetched_at": fetched, "warc": warc}

    def story(self, i: int) -> tuple[Story, str]:
        """The text URL `i` serves at this crawl, and its text digest (cached: most texts recur every crawl)."""
        life = self.lives[i]
        key = life.key
        version = int(life.story == "edited" and self.c >= life.event)
        got = self.texts.get((key, version))
        if got is None:
            first = article(self.plan.seed, key)
            text = revised(self.plan.seed, key, first, self.lives[key].retitled) if version else first
            got = self.texts[(key, version)] = (text, sha1_digest(text.text.encode()))
        return got

    def page(self, i: int, requested: str, redirects: list[dict[str, Any]]) -> None:
        """URL `i`'s article page, asked for as `requested`: log entry and item."""
        life = self.lives[i]
        (story, digest), edited = self.story(i), life.story == "edited" and self.c >= life.event
        sim = self.lives[life.key].sim1 if edited else self.lives[life.key].sim
        name = f"page {i} {int(edited)}" + (f" {self.c}" if life.volatile else "")
        first = self.c if life.volatile else life.event if edited else life.appear
        page_sim = f"{int(sim, 16) ^ 0x0100_2000_0040_0008:016x}" if sim else None  # template text included
        got = self.fetch(life.url, self.kind, "text/html", 200, "ok", ["article-evidence"], 0.05, name, first,
                         story.title + BRAND, page_sim, redirects, requested)
        item = {"url": life.url, "canonical_url": life.url, "site": SITE, "section": SECTIONS[life.section],
                "title": story.title, "authors": story.authors, "published": life.published,
                "modified": life.modified if edited else life.published, "language": "en", "text": story.text,
                "summary": None, "tags": story.tags, "images": [f"{HOST}/img/{life.key}.jpg"],
                "fetched_at": got["fetched_at"], "crawl_id": self.crawl_id, "content_digest": digest,
                "simhash": sim or None, "warc": got["warc"], "duplicate_of": None}
        if life.url in self.canonical:  # pipelines/dedup.py: a second item for one canonical URL
            self.parts["dropped"].write({"reason": "duplicate-url", **item})
            self.stats["pipelines/dropped/duplicate-url"] += 1
            return
        self.canonical.add(life.url)
        self.parts["items"].write(item)

    def dead(self, url: str, status: int, verdict: str, reasons: list[str], score: float, name: str,
             title: str, kind: str | None = None) -> None:
        self.fetch(url, kind or self.kind, "text/html", status, verdict, reasons, score, name, self.plan.first[name],
                   title + BRAND if title else "The Synth Times", "376233feb41bfd04" if name == "notfound" else
                   "5552a3dab419fb08")

    def redirect(self, url: str, target: str, reasons: list[str], follow: Callable[[list[dict[str, Any]]], object],
                 verdict: str | None) -> None:
        """A 301 from `url` to `target`: followed, or logged as a redirect to a URL the crawl has seen."""
        hops = [{"url": url, "status": 301}]
        if not self.recheck and target in self.seen:
            fetched, ts, moment = self.tick()
            warc = self.warcs.record(url, "text/html", 301, EMPTY, False, ts, moment)
            self.warcs.end_exchange(metadata=False)  # request_dropped: no metadata record, no CDXJ annotation
            self.log(url, target, hops, 301, None, fetched, verdict, [*reasons, "redirect-to-seen-url"],
                     0.9 if verdict else None, self.kind, warc=warc)
            return
        self.seen.add(target)
        follow(hops)

    def error(self, life: Life) -> None:
        """A transient failure, after RetryMiddleware's two retries: three 503s captured, or three timeouts
        and no record at all."""
        if life.variant:
            self.n += 2
            self.log(life.url, None, [], None, None, self.tick()[0], "error", ["timeout"], 0.0, self.kind,
                     error=f"DownloadTimeoutError: Getting {life.url} took longer than 30.0 seconds.")
            return
        first = self.plan.first["503"]
        for _ in range(2):
            _, ts, moment = self.tick()
            _, raw, revisit = self.payload("503", first)
            self.warcs.record(life.url, "text/html", 503, raw, revisit, ts, moment)
            self.warcs.end_exchange(metadata=False)
        self.fetch(life.url, self.kind, "text/html", 503, "error", ["status-503"], 0.0, "503", first,
                   "Service Unavailable", None)

    def article(self, i: int) -> None:
        life = self.lives[i]
        if not self.recheck:
            if life.url in self.seen:
                return  # reached earlier through a redirect: the dupefilter drops the request, nothing is logged
            self.seen.add(life.url)
        what = outcome(life, self.c)
        if what == "ok":
            self.page(i, life.url, [])
        elif what == "gone":
            status = 410 if life.variant else 404
            self.dead(life.url, status, "not-found", [f"status-{status}"], 1.0 if status == 410 else 0.95,
                      "notfound", "Page not found")
        elif what == "soft":
            if life.variant:
                self.dead(life.url, 200, "soft-404", ["empty-content"], 0.8, "shell", "")
            else:
                self.dead(life.url, 200, "soft-404", ["error-title"], 0.9, "notfound", "Page not found")
        elif what == "blocked":
            self.dead(life.url, 403, "blocked", ["status-403"], 0.0, "403", "Access denied")
        elif what == "error":
            self.error(life)
        elif what == "home":
            self.redirect(life.url, HOME, ["redirect-to-home"], lambda hops: self.fetch(
                HOME, self.kind, "text/html", 200, "soft-404", ["redirect-to-home"], 0.9, f"home {self.c}", self.c,
                "The Synth Times", "5051abf2fd8ed124", hops, life.url), "soft-404")
        else:
            target = life.partner
            self.redirect(life.url, self.lives[target].url, [], lambda hops: self.page(target, life.url, hops), None)

    def fronts(self) -> list[tuple[str, str]]:
        """robots.txt, sitemap, feed, home and section fronts: fetched first; pagination pages come later."""
        self.fetch(f"{HOST}/robots.txt", "other", "text/plain", 200, "ok", ["not-html"], 0.1, "robots", 0)
        if self.recheck:
            return []
        self.fetch(f"{HOST}/sitemap_index.xml", "sitemap", "application/xml", 200, "ok", ["not-html"], 0.1,
                   f"sitemap {self.c}", self.c)
        self.fetch(f"{HOST}/feeds/latest.xml", "feed", "application/rss+xml", 200, "ok", ["not-html"], 0.1,
                   f"feed {self.c}", self.c)
        self.section(HOME, "The Synth Times")
        pages = max(1, min(10, len(self.lives) // 10_000))
        later = []
        for name in SECTIONS:
            self.section(f"{HOST}/{name}/", f"{name.capitalize()}{BRAND}", ["article-evidence"])
            later += [(f"{HOST}/{name}/page/{p}/", f"{name.capitalize()} - page {p}{BRAND}")
                      for p in range(2, pages + 1)]
        return later

    def section(self, url: str, title: str, reasons: list[str] | None = None) -> None:
        self.seen.add(url)
        sim = f"{self.rng.getrandbits(64):016x}"
        self.fetch(url, "section", "text/html", 200, "ok", reasons or ["content"], 0.05 if reasons else 0.2,
                   f"section {url} {self.c}", self.c, title, sim)

    def probe(self) -> None:
        """The host probe: a URL that cannot exist, shaped like an article's."""
        token = "".join(self.rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(28))
        day = self.plan.starts[self.c] - timedelta(days=1)
        self.dead(f"{HOST}/{SECTIONS[self.c % len(SECTIONS)]}/{day:%Y/%m/%d}/{token}.html", 404, "not-found",
                  ["status-404"], 0.95, "notfound", "Page not found", kind="probe")

    def run(self) -> dict[str, Any]:
        began = time.perf_counter()
        later = self.fronts()
        self.probe()
        order = [i for i, life in enumerate(self.lives) if life.appear <= self.c]
        self.rng.shuffle(order)
        every = max(1, len(order) // (len(later) + 1))
        for n, i in enumerate(order):
            if later and n % every == every - 1:
                self.section(*later.pop())
            self.article(i)
        for url, title in later:
            self.section(url, title)
        self.warcs.close()
        for part in self.parts.values():
            part.close()
        return self.manifest(time.perf_counter() - began)

    def manifest(self, seconds: float) -> dict[str, Any]:
        """crawl.json, written last (under a temporary name, then renamed), as crawler/run.py writes it."""
        logs, items, dropped = (self.parts[n].total_records for n in ("log", "items", "dropped"))
        started = self.plan.starts[self.c]
        finished = datetime.fromtimestamp(int(self.t0 + self.n * 0.03 + 3), UTC)
        stats = {"archive/records/response": self.warcs.records["response"],
                 "archive/records/revisit": self.warcs.records["revisit"], "crawllog/entries": logs,
                 **self.stats, "elapsed_time_seconds": (finished - started).total_seconds(),
                 "finish_reason": "finished", "finish_time": iso(finished), "item_scraped_count": items,
                 "pipelines/stored": items, "start_time": iso(started)}
        manifest = {
            "crawl_id": self.crawl_id, "site": SITE, "spider": self.spider, "store_uri": self.plan.store_uri,
            "started_at": iso(started), "finished_at": iso(finished), "finish_reason": "finished", "complete": True,
            "waiting": [], "site_config": SITE_CONFIG, "settings": SETTINGS, "versions": _versions(),
            "counts": {"log_entries": logs, "items": items, "dropped_items": dropped,
                       "revisits": self.warcs.records["revisit"]},
            "stats": dict(sorted(stats.items())), "objects": sorted(self.objects, key=lambda o: o["key"])}
        path = self.dir / "crawl.json"
        tmp = path.with_name(".crawl.json.tmp")
        tmp.write_bytes(json.dumps(manifest, ensure_ascii=False, indent=2, default=str).encode())
        tmp.rename(path)
        return {"crawl_id": self.crawl_id, "spider": self.spider, "started_at": iso(started), "entries": logs,
                "items": items, "dropped": dropped, "cdxj_lines": self.warcs.lines_total,
                "revisits": self.warcs.records["revisit"], "files": len(self.objects) + 1,
                "bytes": sum(o["size"] for o in self.objects) + path.stat().st_size, "seconds": seconds,
                "kinds": {k.removeprefix("crawllog/kind/"): v for k, v in self.stats.items() if "/kind/" in k}}


SITE_CONFIG = {"name": SITE, "base_url": HOME, "allowed_domains": ["www.synth-times.example"], "timezone": "UTC",
               "language": "en", "obey_robots": True, "max_pages_per_section": 10, "max_depth": 1,
               "sections": [{"name": s, "url": f"{HOST}/{s}/", "max_pages": None} for s in SECTIONS],
               "feeds": [f"{HOST}/feeds/latest.xml"], "sitemaps": [], "sitemap_from_robots": True,
               "max_sitemap_urls": 50000, "article_patterns": [], "section_patterns": [], "deny_patterns": [],
               "politeness": {"delay": 0.0, "concurrency_per_host": 8, "autothrottle": False}, "render": "auto",
               "render_rules": [], "headers": {}, "allow_private_networks": False}
SETTINGS = {"USER_AGENT": "Palimpsest/0.1 (news archiving crawler; Scrapy)", "ROBOTSTXT_OBEY": True,
            "CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 8, "DOWNLOAD_DELAY": 0.0,
            "AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_TIMEOUT": 30, "DOWNLOAD_MAXSIZE": 33554432, "RETRY_TIMES": 2,
            "STORE_URI": "", "CRAWL_ID": ""}


def _versions() -> dict[str, str]:
    out = {"palimpsest": "0.1.0", "python": platform.python_version()}
    for name in ("scrapy", "twisted", "trafilatura", "lxml", "w3lib", "feedparser", "warcio"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out


def _crawl(c: int) -> dict[str, Any]:
    return Crawl(_WORKER["plan"], c, _WORKER["texts"]).run()


def write_store(root: Path, urls: int = 100_000, crawls: int = 10, seed: int = 1, workers: int = 2,
                progress: Callable[[str], None] = print, placeholders: bool = True) -> Truth:
    """Write the store at `root` (which must not hold crawls yet) and return its ground truth.

    `placeholders`: write each WARC as a sparse file of zeros of its full size, listed in `objects`, so a
    catalog that checks CDXJ offsets against WARC sizes finds the store whole (~0 bytes on disk, ~16 GB
    apparent at full size: copy with `cp --sparse=always`); without, there are no WARCs at all."""
    began = time.perf_counter()
    if (root / "crawls").exists() and any((root / "crawls").iterdir()):
        raise FileExistsError(f"{root}/crawls is not empty")
    root.mkdir(parents=True, exist_ok=True)
    plan = make_plan(root.resolve(), urls, crawls, seed, workers)
    plan.placeholders = placeholders
    progress(f"  plan: {len(plan.lives):,} URLs, titles and simhashes in {time.perf_counter() - began:.1f} s")
    summaries = []
    for done in _pool_map(_crawl, list(range(crawls)), workers, plan):
        summaries.append(done)
        progress(f"  {done['crawl_id']:<32} {done['spider']:<8} {done['entries']:>9,} entries {done['items']:>9,} "
                 f"items {done['cdxj_lines']:>9,} CDXJ lines  {done['seconds']:5.1f} s  "
                 f"({len(summaries)}/{crawls}, {time.perf_counter() - began:.0f} s)")
    summaries.sort(key=lambda s: s["started_at"])
    lives = plan.lives
    truth = Truth({x.url: EXPECTED[x.story] for x in lives},
                  {x.url: lives[x.partner].url for x in lives if x.story in ("moved", "moved-silent")},
                  {x.url: x.story for x in lives}, summaries)
    truth.seconds = time.perf_counter() - began
    return truth


def _lines(path: Path) -> Iterable[bytes]:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            yield from fh
    else:
        with path.open("rb") as fh:
            yield from fh


def read_floor(root: Path) -> tuple[int, float]:
    """(rows, seconds) to merely read what the catalog reads: every crawl.json, every log and item line
    gunzipped and parsed, every CDXJ line read. No catalog can index the store faster than this."""
    began = time.perf_counter()
    rows = 0
    loads = catalog_loads  # the catalog's own parser (orjson): the floor reads as fast as the catalog can
    for crawl in sorted((root / "crawls").iterdir()):
        loads((crawl / "crawl.json").read_bytes())
        rows += 1
        for prefix in ("log", "items"):
            for part in sorted((crawl / prefix).glob("part-*.jsonl.gz")):
                for line in _lines(part):
                    loads(line)
                    rows += 1
        for cdxj in sorted((crawl / "cdxj").glob("*.cdxj")):
            rows += sum(1 for _ in _lines(cdxj))
    return rows, time.perf_counter() - began


def disk_bytes(root: Path) -> tuple[int, int]:
    """(bytes on disk, apparent bytes): the placeholder WARCs are sparse."""
    stats = [p.stat() for p in root.rglob("*") if p.is_file()]
    return sum(s.st_blocks * 512 for s in stats), sum(s.st_size for s in stats)
