"""When an archived article is due for a recheck: a decaying cadence by age since it was first seen.

With steps (1h, 6h, 1d, 3d, 7d, 30d) an article first seen at T is due at T+1h, T+6h, T+1d, T+3d, T+7d,
T+30d, then every 30 days (T+60d, T+90d, ...): stories change most in their first hours, and a site's
archive is still worth a look years later. It is due when no fetch happened since its latest due point,
so a recheck that ran late (or a scheduler that was down) checks it once, not once per missed point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def last_due_point(age: float, steps: Sequence[float]) -> float | None:
    """The latest due point (seconds after first seen) at or before `age`; None before the first step."""
    if not steps or age < steps[0]:
        return None
    last = steps[-1]
    if age <= last:
        return max(s for s in steps if s <= age)
    return last * math.floor(age / last)


def is_due(first_seen: float, last_fetched: float, now: float, steps: Sequence[float]) -> bool:
    """Whether a URL first seen at `first_seen` and last fetched at `last_fetched` (POSIX times) is due."""
    point = last_due_point(now - first_seen, steps)
    return point is not None and last_fetched < first_seen + point
