"""Third pipeline: one story, stored once.

Within a crawl: a second item with the same canonical URL is dropped (reason `duplicate-url`, kept in
`dropped/`); an item whose text is the same (content digest) or nearly the same (simhash within
PIPELINE_NEAR_DUPLICATE_BITS) as an earlier one at another URL, a syndicated copy, is stored as a link:
`duplicate_of` names the first copy's canonical URL and its text is not stored again.

What the pipeline remembers lives on disk, in SQLite, not in Python dicts: it grows with every item of
the crawl (every canonical URL, and the URL of every first copy, which `duplicate_of` must name). The dicts
took about 940 bytes an item (tests/unit/test_pipelines.py), close to 1 GB for a 1M-item crawl. Compact
hashed keys in memory would not be enough: the first copies' URLs must still be kept whole, and Python's
objects (a dict entry, an int, a str, four band-list entries) would still come to some 300 bytes an item.
In SQLite memory stays flat (its page cache, `CACHE_KIB`), keys stay exact (no hash collisions), and a
lookup is a B-tree search in a file the OS caches; the disk it takes is about 215 bytes an item. The file
is scratch: no journal, no fsync, unlinked as soon as it is open, so the OS reclaims it when the crawl
ends, however it ends (a SIGKILL leaves nothing behind). It goes to the temporary directory (TMPDIR), not
to the spool, whose every file recovery would upload. The price is time: about four times the dicts'
(0.1-0.4 ms an item on a loaded 2-core machine), still on the reactor thread.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from typing import Any

from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem

from crawler.config import pipeline_config
from crawler.items import ArticleItem
from pipelines.validate import Dropper

BANDS = 4  # simhash in 4 bands of 16 bits: copies at most 3 bits apart share a band (more bits: fewer found)
COMMIT_EVERY = 1000  # items a transaction spans: committing every item (its pages written each time) took 2x
CACHE_KIB = 4096  # SQLite's page cache: all the memory the pipeline's state takes, whatever the crawl's size

_SCHEMA = """
CREATE TABLE urls (url TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE digests (digest TEXT PRIMARY KEY, url TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE firsts (id INTEGER PRIMARY KEY, url TEXT NOT NULL);
-- the simhash in every band row: candidates are compared where they lie together, one page or two, and
-- only the match's URL is looked up
CREATE TABLE bands (band INTEGER, part TEXT, id INTEGER, simhash TEXT, PRIMARY KEY (band, part, id)) WITHOUT ROWID;
"""

_ADD_BANDS = "INSERT INTO bands VALUES " + ", ".join(["(?, ?, ?, ?)"] * BANDS)
# Candidates compared in one band at most. Pages built from one template (score tables, wire briefs, the
# sample web's generated stories) share band values far more often than chance: at 14k stories of the
# sample web a lookup met ~90 candidates, growing with the crawl, where random simhashes would meet one.
# Past the cap a near copy can still be found through another band; one that is missed is stored whole
# (storage, not a wrong link), so the cap bounds the work per item whatever the crawl's size.
BAND_CANDIDATES = 32
# every band's candidates in one statement, in the order the per-band lists had: band, then insertion
_IN_BANDS = " UNION ALL ".join(
    f"SELECT * FROM (SELECT simhash, id FROM bands WHERE band = {band} AND part = ? ORDER BY id "
    f"LIMIT {BAND_CANDIDATES})" for band in range(BANDS))


def _part(band: int, simhash: str) -> str:
    """The band's 16 bits: 4 of the simhash's hex digits."""
    return simhash[band * 4:(band + 1) * 4]


def scratch_db(directory: str | None = None) -> sqlite3.Connection:
    """A private SQLite database in a file that no longer has a name (see the module docstring)."""
    fd, path = tempfile.mkstemp(prefix="palimpsest-dedup-", suffix=".sqlite", dir=directory)
    os.close(fd)
    try:
        db = sqlite3.connect(path)  # transactions opened by the first write, committed by the pipeline
        db.execute("PRAGMA journal_mode=OFF")  # no -journal file, which would need the name
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA locking_mode=EXCLUSIVE")  # one user: no lock calls, no cache revalidation
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        db.executescript(_SCHEMA)
    finally:
        os.unlink(path)
    return db


class DedupPipeline:
    def __init__(self, drop: Dropper, near_bits: int = 3, directory: str | None = None) -> None:
        self.drop, self.near_bits = drop, near_bits
        self.db = scratch_db(directory)
        self._uncommitted = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> DedupPipeline:
        return cls(Dropper.of(crawler), pipeline_config(crawler.settings).near_duplicate_bits)

    def close_spider(self) -> None:
        self.db.close()  # uncommitted writes go with it: the file is scratch

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, ArticleItem):
            return item
        db = self.db
        self._uncommitted += 1
        if self._uncommitted >= COMMIT_EVERY:
            db.commit()
            self._uncommitted = 0
        if db.execute("INSERT OR IGNORE INTO urls VALUES (?)", (item.canonical_url,)).rowcount == 0:
            self.drop(item, "duplicate-url")
            raise DropItem(f"duplicate of {item.canonical_url}")
        row = db.execute("SELECT url FROM digests WHERE digest = ?", (item.content_digest,)).fetchone()
        first = (row[0] if row else None) or self._near(item.simhash)
        if first is not None:
            item.duplicate_of, item.text = first, ""
            self.drop.stats.inc_value("pipelines/linked_duplicates")
            return item
        db.execute("INSERT OR REPLACE INTO digests VALUES (?, ?)", (item.content_digest, item.canonical_url))
        if item.simhash:
            first_id = db.execute("INSERT INTO firsts (url) VALUES (?)", (item.canonical_url,)).lastrowid
            bands = [(band, _part(band, item.simhash), first_id, item.simhash) for band in range(BANDS)]
            db.execute(_ADD_BANDS, [value for row in bands for value in row])
        return item

    def _near(self, simhash: str | None) -> str | None:
        """The earliest first copy within `near_bits` in the first band that holds one (as the dicts did)."""
        if not simhash:
            return None
        candidates = self.db.execute(_IN_BANDS, [_part(band, simhash) for band in range(BANDS)]).fetchall()
        value, bits = int(simhash, 16), self.near_bits
        for other, first_id in candidates:
            if (int(other, 16) ^ value).bit_count() <= bits:
                return str(self.db.execute("SELECT url FROM firsts WHERE id = ?", (first_id,)).fetchone()[0])
        return None
