"""When a scheduled job is due: cron expressions in a site's time zone, with a fixed jitter per job.

The cron arithmetic is croniter's (day-of-week and day-of-month rules, `@hourly`-style aliases, daylight
saving time: a 02:30 job on the night clocks spring forward runs at 03:00, once; on the night they fall
back, a job in the repeated hour runs in both, as croniter counts them, where Vixie cron runs it once).
Five fields as cron has them; a sixth is seconds, as croniter reads it (`* * * * * */10`: every ten
seconds), which tests use.

Jitter: many sites on `0 * * * *` would all start on the same second. Each job starts a fixed offset after
its cron time, between 0 and the site's `jitter`, derived from the site and job name, so the offset is the
same across restarts and on every machine (a random one would move slots and could run one twice).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

# Words a site config may use for a recheck cadence, as croniter's aliases.
ALIASES = {"hourly": "@hourly", "daily": "@daily", "weekly": "@weekly", "monthly": "@monthly",
           "midnight": "@midnight", "yearly": "@yearly", "annually": "@annually"}


def normalize_cron(value: str) -> str:
    """The expression croniter will read; ValueError saying what is wrong (for the site config's message)."""
    text = " ".join(value.split())
    text = ALIASES.get(text.lower(), text)
    if not text:
        raise ValueError("expected a cron expression such as '0 */6 * * *' or 'hourly'")
    if not croniter.is_valid(text):
        raise ValueError(f"not a cron expression croniter can read: {value!r} (five fields: minute hour "
                         "day-of-month month day-of-week, e.g. '0 */6 * * *'; or hourly, daily, weekly, @hourly)")
    return text


MAX_COUNTED = 10_000  # missed slots counted one by one; past this, "at least this many"


@dataclass(frozen=True)
class DueSlots:
    count: int
    newest: datetime | None


@dataclass(frozen=True)
class Cadence:
    """One job's slots: cron times in `zone`; each is due `offset` after it."""

    expression: str
    zone: str
    offset: timedelta

    @classmethod
    def of(cls, expression: str, zone: str, jitter: float, job: str) -> Cadence:
        return cls(normalize_cron(expression), zone, timedelta(seconds=jitter_offset(job, jitter)))

    def slots_after(self, after: datetime) -> Iterator[datetime]:
        """Cron times strictly after `after` (UTC, aware), in order, for ever."""
        it = croniter(self.expression, after.astimezone(ZoneInfo(self.zone)))
        while True:
            yield it.get_next(datetime).astimezone(UTC)

    def due_between(self, after: datetime, now: datetime) -> DueSlots:
        """Slots after `after` whose start time (slot + offset) has come by `now`: how many, and the newest."""
        count, newest = 0, None
        for slot in self.slots_after(after):
            if slot + self.offset > now:
                break
            count, newest = count + 1, slot
            if count >= MAX_COUNTED:  # a fine cron left alone for months: count no further, find the newest
                newest = self.latest_slot(now - self.offset) or slot
                break
        return DueSlots(count, newest)

    def next_start(self, after: datetime) -> datetime:
        """When the first slot after `after` starts."""
        return next(self.slots_after(after)) + self.offset

    def latest_slot(self, now: datetime) -> datetime | None:
        """The newest cron time at or before `now`."""
        it = croniter(self.expression, now.astimezone(ZoneInfo(self.zone)) + timedelta(microseconds=1))
        try:
            return it.get_prev(datetime).astimezone(UTC)
        except (ValueError, KeyError):  # croniter finds no earlier time (an expression with a year in the past)
            return None


def jitter_offset(job: str, jitter: float) -> float:
    """A whole number of seconds in [0, jitter], fixed for `job`."""
    if jitter <= 0:
        return 0.0
    value = int.from_bytes(hashlib.sha256(job.encode()).digest()[:8], "big")
    return float(value % (int(jitter) + 1))
