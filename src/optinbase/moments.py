"""Times that come from outside: RFC 3339 allows offsets up to ±23:59, so a
valid-looking `9999-12-31T23:59:59-23:59` is year 10000 in UTC and
`0001-01-01T00:00:00+23:59` is year 0. Python cannot hold either once
converted (OverflowError on comparison, arithmetic or storage), so such a time
is refused where it enters (a 422 naming the field, an import row's rejection),
never stored to fail every later read of it (a segment's count, an export)."""

from __future__ import annotations

import datetime as dt
from typing import Optional

UTC = dt.timezone.utc
OUT_OF_RANGE = "is outside the years 1 to 9999 once converted to UTC"
NAIVE = "needs a time zone (RFC 3339, e.g. ...Z)"


def range_problem(moment: dt.datetime) -> Optional[str]:
    """Why `moment` cannot be used as a point in time (no zone, or off the
    calendar once in UTC), or None."""
    if moment.tzinfo is None:
        return NAIVE
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return OUT_OF_RANGE
    return None
